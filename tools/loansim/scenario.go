package loansim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// Start is the simulated time every scenario starts at.
var Start = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

// Kind is what a scripted event does.
type Kind string

// Scripted events. AWDA-side events (status, pay, overdue, settle-all)
// change the loan at the AWDA sandbox; a push event delivers one LOAN_STATUS
// notification; the rest are the borrower, operations or the harness.
const (
	KAuthorize   Kind = "authorize"    // the borrower completes the authorizations; AWDA calls back
	KCard        Kind = "card"         // the borrower submits a valid card; Card.Verdict is AWDA's answer
	KCardResolve Kind = "card-resolve" // AWDA finishes VERIFYING the card (Card.Final); no push
	KBadCard     Kind = "bad-card"     // an invalid card update: must be refused with no effect
	KStatus      Kind = "status"       // AWDA moves the loan to Status
	KPay         Kind = "pay"          // the borrower pays installment Period (Status is the result)
	KOverdue     Kind = "overdue"      // AWDA marks installment Period overdue
	KSettleAll   Kind = "settle-all"   // early settlement: every installment paid at once
	KPush        Kind = "push"         // AWDA's push of EventID (Status, Period) reaches the webhook
	KSign        Kind = "sign"         // the borrower signs the agreement on offer
	KBadSign     Kind = "bad-sign"     // an invalid signature update: must be refused with no effect
	KCancel      Kind = "cancel"       // the borrower withdraws
	KRetry       Kind = "retry"        // ops retry (ignored unless stuck)
	KAbandon     Kind = "abandon"      // ops abandon (ignored unless stuck)
	KFault       Kind = "fault"        // AWDA faults start (Fault)
	KRestore     Kind = "restore"      // an outage of Fault.Path ends
	KForceCAN    Kind = "force-can"    // the server suggests continue-as-new
	// KForge delivers a forged LOAN_STATUS push: a final Status (SETTLED,
	// CANCELLED, REJECTED) under a fresh EventID that AWDA never sent, with
	// the loan's real loanNo and orderNo, as anyone who can signal the
	// workflow could. AWDA's loan/info never says that status.
	KForge Kind = "forge"
)

// Forge is a forged push delivered in the same callback as a real one (one
// workflow task): before it when First.
type Forge struct {
	Status  awda.LoanStatus
	EventID string
	First   bool
}

// Fault is an AWDA misbehaviour queued on one path.
type Fault struct {
	Path  string
	Codes []awda.Code // busy (100, 1000, 1011) or stale timestamp (1003) answers, in order
	Lost  bool        // the next call is applied but its answer is lost (a timeout)
	// Outage makes every call fail (busy) until the matching KRestore.
	Outage bool
}

// Card is one card the borrower submits.
type Card struct {
	Bank      string
	AccountNo string          // personal data: must never leave AWDA in plain text
	Verdict   awda.CardStatus // AWDA's first answer: BOUND, FAILED or VERIFYING
	Final     awda.CardStatus // for KCardResolve: BOUND or FAILED
}

// Masked is the card's account number as AWDA lists it.
func (c Card) Masked() string { return "****" + c.AccountNo[len(c.AccountNo)-4:] }

// Event is one scripted event at At after Start.
type Event struct {
	At      time.Duration
	Kind    Kind
	Status  awda.LoanStatus
	EventID string
	Period  int
	Card    *Card
	Fault   *Fault
	Variant int // which invalid update (KBadCard, KBadSign)
	// CAN also suggests continue-as-new in the same callback, just before
	// the event's action: the push and the suggestion land in one task.
	CAN bool
	// Forge, on a KPush, also delivers a forged push in the same task.
	Forge *Forge
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s", fmtDur(e.At), e.Kind)
	if e.Status != "" {
		s += " " + string(e.Status)
	}
	if e.EventID != "" {
		s += " " + e.EventID
	}
	if e.Period > 0 {
		s += fmt.Sprintf(" p%d", e.Period)
	}
	if e.Card != nil {
		s += fmt.Sprintf(" %s/%s", e.Card.Bank, e.Card.Verdict)
		if e.Kind == KCardResolve {
			s += "->" + string(e.Card.Final)
		}
	}
	if e.Fault != nil {
		s += " " + e.Fault.Path
		switch {
		case e.Fault.Lost:
			s += " applied-then-lost"
		case e.Fault.Outage:
			s += " outage"
		default:
			s += fmt.Sprint(" ", e.Fault.Codes)
		}
	}
	if e.Forge != nil {
		s += fmt.Sprintf(" +forged %s %s", e.Forge.Status, e.Forge.EventID)
		if e.Forge.First {
			s += " first"
		}
	}
	if e.CAN {
		s += " +CAN"
	}
	return s
}

func fmtDur(d time.Duration) string {
	days := d / (24 * time.Hour)
	return fmt.Sprintf("d%03d+%s", days, (d - days*24*time.Hour).Truncate(time.Second))
}

// Applicant is the scenario's borrower. Every field is personal data.
type Applicant struct {
	Name, NIK, Mobile, Contact, ContactName string
}

// PII lists the strings that must never reach Temporal or a log in plain text.
func (s *Scenario) PII() []string {
	out := []string{s.Applicant.Name, s.Applicant.NIK, s.Applicant.Mobile, s.Applicant.Contact, s.Applicant.ContactName}
	for _, e := range s.Events {
		if e.Card != nil {
			out = append(out, e.Card.AccountNo)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Scenario is one loan's script: everything AWDA, the borrower, operations
// and the server do, at simulated times. A seed determines it fully.
type Scenario struct {
	Seed       uint64
	Applicant  Applicant
	Tenor      int // months; AWDA's schedule has as many installments
	Ineligible bool
	Config     workflows.Config // overrides passed in the workflow input
	Events     []Event          // sorted by At (stable)
	// Attempt is how many drafts the generator threw away as ambiguous.
	Attempt int
	// ApplicantRef names the loan (its workflow ID, and with it the jitter
	// of its polls and due-date checks); empty: "sim-applicant", every
	// seed's. A due-date storm's loans have one each.
	ApplicantRef string
	// Storm is the family of a due-date storm's loan (0: not one).
	Storm uint64
}

// Span is the time of the last scripted event.
func (s *Scenario) Span() time.Duration {
	if len(s.Events) == 0 {
		return 0
	}
	return s.Events[len(s.Events)-1].At
}

// Dump prints the script, one event a line (account numbers masked).
func (s *Scenario) Dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: tenor %d, ineligible %v, continueAsNewEvents %d, %d events\n", s.Seed, s.Tenor, s.Ineligible, s.Config.ContinueAsNewEvents, len(s.Events))
	if s.Storm != 0 {
		fmt.Fprintf(&b, "  storm family %d, loan %s, dueCheckJitter %s\n", s.Storm, s.ApplicantRef, s.Config.WithDefaults().DueCheckJitter)
	}
	for _, e := range s.Events {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}

// Generate returns the scenario of seed. Drafts the reference model finds
// ambiguous (two decisive things too close to call) are redrawn from the
// same seed, so a seed always yields the same scenario. A share of the
// seeds (ForgeShare) also carries forged pushes, drawn on top of the main
// story.
func Generate(seed uint64) *Scenario { return withForgeries(mainStory(seed)) }

// mainStory is seed's script without forgeries: the one every seed drew
// before issue 13.
func mainStory(seed uint64) *Scenario {
	for attempt := 0; ; attempt++ {
		g := &gen{r: rand.New(rand.NewPCG(seed, uint64(attempt)*0x9E3779B97F4A7C15+1))}
		s := g.draft(seed)
		s.Attempt = attempt
		if p := Predict(s); p.Ambiguous == "" || attempt >= 50 {
			return s
		}
	}
}

// gen draws one draft.
type gen struct {
	r     *rand.Rand
	ev    []Event
	evSeq int
	span  time.Duration
	tenor int
	// signed and disbursedAt are when the borrower signed and AWDA
	// disbursed (0: not in the story).
	signed, disbursedAt time.Duration
}

func (g *gen) p(prob float64) bool { return g.r.Float64() < prob }

// between draws a duration in [lo, hi).
func (g *gen) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(g.r.Int64N(int64(hi-lo)))
}

func (g *gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

func (g *gen) add(e Event) {
	g.ev = append(g.ev, e)
	g.span = max(g.span, e.At)
}

func (g *gen) nextEventID() string {
	g.evSeq++
	return fmt.Sprintf("evt-%04d", g.evSeq)
}

// awda adds an AWDA-side change of kind k at at, and its push deliveries:
// on time, lost, duplicated or late by hours (late pushes reorder with the
// next ones). It returns when the workflow has learnt of the change at the
// latest: its first delivery, or obsBound later through a poll.
func (g *gen) awda(at time.Duration, k Kind, s awda.LoanStatus, period int) time.Duration {
	id := g.nextEventID()
	g.add(Event{At: at, Kind: k, Status: s, EventID: id, Period: period})
	push := func(d time.Duration) { g.add(Event{At: at + d, Kind: KPush, Status: s, EventID: id, Period: period}) }
	switch x := g.r.Float64(); {
	case x < 0.66:
		push(0)
		return at
	case x < 0.78:
		return at + obsBound // lost
	case x < 0.90:
		push(0)
		push(g.between(time.Minute, 12*time.Hour))
		return at
	default:
		d := g.between(time.Hour, 6*time.Hour)
		push(d)
		return at + d
	}
}

// fault maybe queues AWDA faults on path just before at.
func (g *gen) fault(at time.Duration, path string, lostOK bool) {
	switch x := g.r.Float64(); {
	case x < 0.15:
		codes := []awda.Code{awda.CodeBusy, awda.CodeSystemBusy, awda.CodeSystemBusy2, awda.CodeTimestampExpired}
		n := 1 + g.r.IntN(4)
		f := &Fault{Path: path}
		for range n {
			f.Codes = append(f.Codes, codes[g.r.IntN(len(codes))])
		}
		g.add(Event{At: at, Kind: KFault, Fault: f})
	case x < 0.25 && lostOK:
		g.add(Event{At: at, Kind: KFault, Fault: &Fault{Path: path, Lost: true}})
	}
}

// maxOutage bounds a generated outage: what a read's retries outlast in
// the SDK's test environment. There an activity whose RetryPolicy leaves
// MaximumAttempts at 0 gets 10 attempts (defaultMaximumAttemptsForUnitTest:
// unlimited retries would spin its skipping clock), where the server retries
// until ScheduleToClose (RetryBudget, 30 minutes). A read first retries as a
// local activity for ReadBudget (4 s), then as an activity whose 10
// attempts, from 1 s doubling to MaxRetryInterval (1 minute), span 243 s:
// about 4 minutes in all. A longer outage would park the loan in the
// simulator where production rides it out, and whether it does depends on
// whether a poll falls into it, which the model cannot tell without the
// workflow's poll times. Outages stay within 3 minutes; parking after a
// spent retry budget is the workflow tests' business (stuck_test,
// longlived_test).
const maxOutage = 3 * time.Minute

// outage maybe puts loan/info down for a while inside [from, to).
func (g *gen) outage(from, to time.Duration) {
	if to-from < 2*time.Hour || !g.p(0.15) {
		return
	}
	at := g.between(from+time.Hour, to-time.Hour)
	g.add(Event{At: at, Kind: KFault, Fault: &Fault{Path: awda.PathLoanInfo, Outage: true}})
	g.add(Event{At: at + g.between(time.Minute, maxOutage), Kind: KRestore, Fault: &Fault{Path: awda.PathLoanInfo}})
}

// avoid draws a duration in [lo, hi) outside (edge-margin, edge+margin).
func (g *gen) avoid(lo, hi, edge, margin time.Duration) time.Duration {
	for range 100 {
		d := g.between(lo, hi)
		if d <= edge-margin || d >= edge+margin {
			return d
		}
	}
	return lo
}

const day = 24 * time.Hour

func (g *gen) draft(seed uint64) *Scenario {
	s := &Scenario{Seed: seed, Applicant: g.applicant()}
	s.Tenor = pick(g.r, []int{1, 2, 3, 3, 6, 6, 9, 12, 12, 18, 24, 24})
	s.Config = workflows.Config{ContinueAsNewEvents: pick(g.r, []int{100, 200, 400, 1500})}
	if g.p(0.03) {
		s.Ineligible = true
		return s
	}
	g.tenor = s.Tenor
	g.build()
	g.disbursingFirst()
	g.extras()
	slices.SortStableFunc(g.ev, func(a, b Event) int { return int(a.At - b.At) })
	s.Events = g.ev
	return s
}

// applicant draws a borrower.
func (g *gen) applicant() Applicant {
	return Applicant{
		Name:        pick(g.r, []string{"Siti", "Dewi", "Agus", "Rina", "Budi", "Wulan"}) + " " + pick(g.r, []string{"Rahmawati", "Saputra", "Hidayat", "Lestari", "Nugroho"}) + " " + g.digits(3),
		NIK:         nik(g.digits(12)),
		Mobile:      "0812" + g.digits(8),
		Contact:     "0813" + g.digits(8),
		ContactName: "Kontak " + pick(g.r, []string{"Santoso", "Wijaya", "Putri"}) + " " + g.digits(3),
	}
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// nik makes a NIK that AWDA accepts from 12 drawn digits: a Jakarta region
// (3171 and two of them), the applicant's birth date as a woman's NIK
// encodes it (1990-01-05: day+40, 450190) and a serial number from the
// last four (never 0000).
func nik(digits string) string {
	serial := digits[8:]
	if serial == "0000" {
		serial = "0001"
	}
	return "3171" + digits[:2] + "450190" + serial
}

// build writes the main story, stage by stage, with margins around every
// deadline so that the outcome does not hang on a poll's exact time. Each
// stage takes the time the workflow has surely seen the previous one end,
// returns the same for its own, and reports false when the story ends in it.
func (g *gen) build() {
	t, ok := g.authorizations()
	if !ok {
		return
	}
	if t, ok = g.bankCard(t); !ok {
		return
	}
	if t, ok = g.review(t); !ok {
		return
	}
	if t, ok = g.agreement(t); !ok {
		return
	}
	g.disbursement(t)
}

// authorizations: deadline 72h.
func (g *gen) authorizations() (time.Duration, bool) {
	g.fault(0, awda.PathUserRegister, true)
	if g.p(0.03) {
		return 0, false // the borrower never authorizes: EXPIRED
	}
	t := g.between(time.Minute, 60*time.Hour)
	g.add(Event{At: t, Kind: KAuthorize})
	return t, true
}

// bankCard: deadline 72h after the authorizations, seen at t. It returns
// when the bound card is seen (the loan is submitted at once).
func (g *gen) bankCard(t time.Duration) (time.Duration, bool) {
	if g.p(0.25) {
		g.add(Event{At: t + g.between(time.Minute, 10*time.Minute), Kind: KBadCard, Variant: g.r.IntN(4)})
	}
	if g.p(0.03) {
		return t, false // never submits a card: EXPIRED
	}
	t += g.between(30*time.Minute, 6*time.Hour)
	t, refused, ok := g.refusedCards(t)
	if !ok {
		return t, false
	}
	last := g.goodCard(refused)
	g.fault(t, awda.PathBankCardVerify, false)
	g.fault(t, awda.PathLoanSubmit, true)
	return g.cardVerdict(t, last)
}

// bank draws a bank and the length of its account numbers.
func (g *gen) bank() (string, int) {
	switch g.r.IntN(3) {
	case 0:
		return "BCA", 10
	case 1:
		return "BRI", 15
	}
	return "MANDIRI", 13
}

// card draws a card at a drawn bank whose first verdict is v.
func (g *gen) card(v awda.CardStatus) *Card {
	b, n := g.bank()
	return &Card{Bank: b, AccountNo: g.digits(n), Verdict: v}
}

// refusedCards submits the cards AWDA refuses, from t on. It returns when
// the next card comes, the last refused card (nil: none), and false when
// the fifth refusal ends the loan (FAILED).
func (g *gen) refusedCards(t time.Duration) (time.Duration, *Card, bool) {
	fails := 0
	if g.p(0.02) {
		fails = 5 // refused five times: FAILED
	} else if g.p(0.3) {
		fails = 1 + g.r.IntN(2)
	}
	var last *Card
	for range fails {
		last = g.card(awda.CardFailed)
		g.fault(t, awda.PathBankCardVerify, false)
		g.add(Event{At: t, Kind: KCard, Card: last})
		t += g.between(30*time.Minute, 8*time.Hour)
	}
	return t, last, fails != 5
}

// goodCard draws the card AWDA binds, half the time at the bank of the
// card refused last (bug 3's setting).
func (g *gen) goodCard(refused *Card) *Card {
	if refused != nil && g.p(0.5) {
		b := refused.Bank
		c := g.card(awda.CardBound)
		for c.Bank != b {
			c = g.card(awda.CardBound)
		}
		return c
	}
	return g.card(awda.CardBound)
}

// cardVerdict submits last at t and draws AWDA's verdict: BOUND at once,
// or VERIFYING that resolves, fails (and a new card follows) or parks.
func (g *gen) cardVerdict(t time.Duration, last *Card) (time.Duration, bool) {
	switch x := g.r.Float64(); {
	case x < 0.6:
		g.add(Event{At: t, Kind: KCard, Card: last})
	case x < 0.8: // VERIFYING for minutes to days, then BOUND
		last.Verdict = awda.CardVerifying
		g.add(Event{At: t, Kind: KCard, Card: last})
		v := g.avoid(10*time.Minute, 60*time.Hour, 72*time.Hour, 12*time.Hour)
		t += v
		res := *last
		res.Final = awda.CardBound
		g.add(Event{At: t, Kind: KCardResolve, Card: &res})
		t += obsBound
	case x < 0.9: // VERIFYING then FAILED, and a new card
		last.Verdict = awda.CardVerifying
		g.add(Event{At: t, Kind: KCard, Card: last})
		t += g.between(10*time.Minute, 20*time.Hour)
		res := *last
		res.Final = awda.CardFailed
		g.add(Event{At: t, Kind: KCardResolve, Card: &res})
		t += obsBound + g.between(30*time.Minute, 4*time.Hour)
		last = g.card(awda.CardBound)
		g.add(Event{At: t, Kind: KCard, Card: last})
	default: // VERIFYING past CardVerifyDeadline: parked; ops retry or abandon
		last.Verdict = awda.CardVerifying
		g.add(Event{At: t, Kind: KCard, Card: last})
		return g.verifyParked(t, last)
	}
	return t, true
}

// verifyParked: last, submitted at t, is still VERIFYING at the deadline;
// ops abandon, or AWDA binds it and ops retry.
func (g *gen) verifyParked(t time.Duration, last *Card) (time.Duration, bool) {
	park := t + 72*time.Hour
	if g.p(0.25) {
		g.add(Event{At: park + g.between(time.Hour, 2*day), Kind: KAbandon})
		return t, false
	}
	res := *last
	res.Final = awda.CardBound
	resolve := park + g.between(12*time.Hour, 3*day)
	g.add(Event{At: resolve, Kind: KCardResolve, Card: &res})
	retry := park + g.between(time.Hour, 2*day)
	g.add(Event{At: retry, Kind: KRetry})
	return max(resolve, retry) + obsBound, true
}

// review: submitted at t (documents and submit follow the bound card at
// once); deadline 14 days. It reports false unless AWDA approves.
func (g *gen) review(t time.Duration) (time.Duration, bool) {
	t += 10 * time.Minute
	if g.p(0.5) {
		t = g.awda(t+g.between(time.Minute, 2*time.Hour), KStatus, awda.LoanUnderReview, 0)
	}
	g.outage(t, t+3*day)
	review := g.reviewLength()
	dec := t + review
	x := g.r.Float64()
	status := awda.LoanApproved
	switch {
	case x < 0.12:
		status = awda.LoanRejected
	case x < 0.2:
		status = awda.LoanCancelled
	}
	if review > 14*day {
		// Parked on "review" at 14 days; ops act.
		park := t + 14*day
		if g.p(0.2) {
			g.add(Event{At: park + g.between(time.Hour, review-14*day-time.Hour), Kind: KAbandon})
			return t, false
		}
		retry := park + g.between(time.Hour, 3*day)
		g.add(Event{At: retry, Kind: KRetry})
		obs := g.awda(dec, KStatus, status, 0)
		t = max(obs, retry+obsBound)
	} else {
		t = g.awda(dec, KStatus, status, 0)
	}
	return t, status == awda.LoanApproved
}

// agreement: deadline 7 days after the approval is seen at t.
func (g *gen) agreement(t time.Duration) (time.Duration, bool) {
	if g.p(0.3) {
		g.add(Event{At: t + g.between(time.Minute, 20*time.Minute), Kind: KBadSign, Variant: g.r.IntN(3)})
	}
	if g.p(0.03) {
		return t, false // never signs: EXPIRED
	}
	t += g.between(30*time.Minute, 6*day)
	g.fault(t, awda.PathLoanSign, true)
	g.add(Event{At: t, Kind: KSign})
	g.signed = t
	return t, true
}

// disbursement: deadline 30 days after the signature at t; then the
// repayment.
func (g *gen) disbursement(t time.Duration) {
	if g.p(0.8) {
		g.awda(t+g.between(time.Minute, day), KStatus, awda.LoanDisbursing, 0)
	}
	g.outage(t, t+5*day)
	switch x := g.r.Float64(); {
	case x < 0.7:
		t = g.awda(t+g.avoid(time.Hour, 25*day, 30*day, day), KStatus, awda.LoanDisbursed, 0)
	case x < 0.93: // DISBURSE_FAILED parks at once; ops retry, AWDA disburses days later
		obs := g.awda(t+g.between(time.Hour, 10*day), KStatus, awda.LoanDisburseFailed, 0)
		act := obs + g.between(time.Hour, 14*day)
		switch y := g.r.Float64(); {
		case y < 0.15:
			g.add(Event{At: act, Kind: KAbandon})
			return
		case y < 0.25:
			g.awda(act, KStatus, awda.LoanCancelled, 0)
			return
		}
		g.add(Event{At: act, Kind: KRetry})
		t = g.awda(act+g.between(time.Hour, 20*day), KStatus, awda.LoanDisbursed, 0)
	default: // no DISBURSED within 30 days: parked; ops retry
		park := t + 30*day
		dis := park + g.between(day, 10*day)
		retry := park + g.between(time.Hour, 3*day)
		g.add(Event{At: retry, Kind: KRetry})
		obs := g.awda(dis, KStatus, awda.LoanDisbursed, 0)
		t = max(obs, retry+obsBound)
		g.disbursedAt = dis
	}
	if g.disbursedAt == 0 {
		g.disbursedAt = g.lastStatusAt(awda.LoanDisbursed)
	}
	g.repay(t)
}

// disbursingFirst keeps AWDA's own state moving forward. DISBURSING is drawn
// within a day of the signature, independently of the disbursement's
// outcome, which may come sooner: such a DISBURSING (seed 1096: DISBURSED,
// then DISBURSING 12 hours later) moves, with its pushes, halfway between
// the signature and the outcome. Only pushes may come late or reordered;
// AWDA itself never goes back. Moving an event draws nothing, so the other
// seeds keep their scripts.
func (g *gen) disbursingFirst() {
	i := slices.IndexFunc(g.ev, func(e Event) bool { return e.Kind == KStatus && e.Status == awda.LoanDisbursing })
	if i < 0 {
		return
	}
	id, at := g.ev[i].EventID, g.ev[i].At
	next := time.Duration(-1)
	for _, e := range g.ev {
		switch e.Kind {
		case KStatus, KPay, KOverdue, KSettleAll:
			if e.EventID != id && e.Status.Rank() > awda.LoanDisbursing.Rank() && (next < 0 || e.At < next) {
				next = e.At
			}
		}
	}
	if next < 0 || at < next {
		return
	}
	shift := g.signed + (next-g.signed)/2 - at
	for k := range g.ev {
		if g.ev[k].EventID == id {
			g.ev[k].At += shift
		}
	}
}

func (g *gen) lastStatusAt(s awda.LoanStatus) time.Duration {
	for i := len(g.ev) - 1; i >= 0; i-- {
		if g.ev[i].Kind == KStatus && g.ev[i].Status == s {
			return g.ev[i].At
		}
	}
	return 0
}

// reviewLength draws how long AWDA reviews: minutes, hours, days, or past
// the 14-day deadline (never within a day of it).
func (g *gen) reviewLength() time.Duration {
	switch x := g.r.Float64(); {
	case x < 0.3:
		return g.between(time.Minute, time.Hour)
	case x < 0.6:
		return g.between(time.Hour, day)
	case x < 0.9:
		return g.between(day, 12*day)
	}
	return g.between(15*day, 30*day)
}

// repay plays the schedule, with due dates monthly from the disbursement
// day in UTC. The sandbox counts them from the day in WIB, the same day or
// (a disbursement after 17:00 UTC) the next: its due dates are then a day
// later, which the margins below absorb (an overdue mark lands on the due
// day at the earliest).
func (g *gen) repay(seen time.Duration) {
	n := g.tenor
	today := Start.Add(g.disbursedAt).UTC().Truncate(day)
	last := seen
	overdues := 0
	settleAt := 0
	if g.p(0.12) {
		settleAt = 1 + g.r.IntN(n)
	}
	for p := 1; p <= n; p++ {
		due := today.AddDate(0, p, 0).Sub(Start)
		status := awda.LoanRepaying
		if p == n {
			status = awda.LoanSettled
		}
		if p == settleAt {
			at := max(last, due-20*day) + g.between(time.Hour, 10*day)
			g.awda(at, KSettleAll, awda.LoanSettled, p)
			return
		}
		if g.p(0.02) {
			g.awda(max(last, due-25*day)+g.between(time.Hour, 20*day), KStatus, awda.LoanCancelled, 0)
			return
		}
		if overdues < 4 && g.p(0.15) {
			overdues++
			od := due + day + g.between(0, 6*time.Hour)
			g.awda(od, KOverdue, awda.LoanOverdue, p)
			last = g.awda(od+g.between(day, 25*day), KPay, status, p)
			continue
		}
		last = g.awda(max(last+time.Hour, due-g.between(time.Hour, 10*day)), KPay, status, p)
	}
}

// extras sprinkles what may happen at any moment: ops signals while not
// stuck (during repayment and authorizations), continue-as-new suggestions
// (some in the same task as a push), and a borrower's cancel.
func (g *gen) extras() {
	if g.disbursedAt > 0 && g.p(0.3) {
		at := g.disbursedAt + g.between(2*day, 20*day)
		k := KRetry
		if g.p(0.5) {
			k = KAbandon
		}
		if at < g.span {
			g.add(Event{At: at, Kind: k})
		}
	}
	if g.p(0.1) {
		g.add(Event{At: g.between(0, 30*time.Second), Kind: pick(g.r, []Kind{KRetry, KAbandon})})
	}
	for range g.r.IntN(4) {
		if g.p(0.4) {
			var pushes []int
			for i, e := range g.ev {
				if e.Kind == KPush {
					pushes = append(pushes, i)
				}
			}
			if len(pushes) > 0 {
				g.ev[pick(g.r, pushes)].CAN = true
				continue
			}
		}
		g.add(Event{At: g.between(0, g.span+time.Hour), Kind: KForceCAN})
	}
	if g.p(0.25) && g.span > 0 {
		at := g.between(time.Minute, g.span+time.Hour)
		if g.signed == 0 || at < g.signed {
			// Before signing the cancel ends the loan: nothing after it.
			kept := g.ev[:0]
			for _, e := range g.ev {
				if e.At < at {
					kept = append(kept, e)
				}
			}
			g.ev = kept
		}
		g.add(Event{At: at, Kind: KCancel})
	}
}
