package loansim

import (
	"fmt"
	"slices"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// obsBound is how long after a change at AWDA whose push was lost the
// workflow has surely polled it: the poll backoff cap (6 h) plus its 20%
// jitter, rounded up. The generator keeps every decisive event at least this
// far from a change the workflow may not have seen yet.
const obsBound = 8 * time.Hour

// Wait deadlines and borrower deadlines of workflows.DefaultConfig, restated
// here so that the model does not read the workflow's configuration.
const (
	authDeadline      = 72 * time.Hour
	cardDeadline      = 72 * time.Hour
	verifyDeadline    = 72 * time.Hour
	reviewDeadline    = 14 * day
	agreementDeadline = 7 * day
	disbDeadline      = 30 * day
	maxCardRefusals   = 5
	// close is how near two decisive moments may come before the model
	// calls the draft ambiguous.
	closeBy = time.Hour
)

// Prediction is the reference model's expectation for a scenario.
type Prediction struct {
	Outcome workflows.Stage
	// EndAt is when the loan ends; exact for a borrower's cancel and an
	// abandon (Exact), at most EndAt+pushLatency after a final status
	// pushed while the loan waits (Within), otherwise not checked.
	EndAt  time.Duration
	Exact  bool
	Within bool
	// NotBefore: the loan must not end before it (a final status pushed
	// while loan/info is down ends the loan only once loan/info confirms
	// it). Zero: not checked.
	NotBefore time.Duration
	Why       string
	// Ambiguous says why the script cannot be predicted (the generator
	// redraws such drafts).
	Ambiguous string
}

// pushLatency bounds how long a pushed final status may take to end a
// waiting loan.
const pushLatency = 5 * time.Minute

// model is the reference model's state: what the workflow knows, per the
// semantics of issue 10, derived from the script alone.
type model struct {
	s      *Scenario
	stage  workflows.Stage
	parked string // step a stuck loan is parked on ("" when not)
	signed bool

	deadline time.Duration // the current wait's or borrower's deadline (0: none)
	verify   bool          // a card is VERIFYING
	refusals int
	// cardDeadlineAt is the borrower's bank-card deadline; failedPark is set
	// while parked on a DISBURSE_FAILED (not a deadline).
	cardDeadlineAt time.Duration
	failedPark     bool

	// lastChange is when AWDA last changed the loan without the workflow
	// having learnt it for sure (poll window), and whether it is final.
	pending []obs
	pred    Prediction
	done    bool

	// outages are the script's loan/info outages; submitAt is when the
	// loan was submitted to AWDA (the card seen bound; -1: not yet).
	outages  []span
	submitAt time.Duration
}

// obs is a change at AWDA the workflow learns of at the latest at At.
type obs struct {
	At, Since time.Duration
	Status    awda.LoanStatus
	Card      awda.CardStatus
	Pushed    bool
	// Confirmed: a final status pushed while loan/info was down, applied
	// once loan/info answers again (At).
	Confirmed bool
}

// Predict runs the reference model over s's script.
func Predict(s *Scenario) Prediction {
	m := &model{s: s, stage: workflows.StageAuthorizations, deadline: authDeadline, outages: outages(s.Events), submitAt: -1}
	if s.Ineligible {
		return Prediction{Outcome: workflows.StageIneligible, Why: "not eligible"}
	}
	evs := s.Events
	i := 0
	for !m.done {
		// The next thing: a script event, a deadline, or an observation.
		next := time.Duration(1<<62 - 1)
		what := ""
		if i < len(evs) {
			next, what = evs[i].At, "event"
		}
		if m.deadline > 0 && m.deadline < next {
			next, what = m.deadline, "deadline"
		}
		for _, o := range m.pending {
			if o.At < next {
				next, what = o.At, "obs"
			}
		}
		switch what {
		case "":
			m.ambiguous("the loan never ends (waits with nothing scripted)")
		case "event":
			m.event(evs[i])
			i++
		case "deadline":
			m.fireDeadline(next)
		case "obs":
			k := slices.IndexFunc(m.pending, func(o obs) bool { return o.At == next })
			o := m.pending[k]
			m.pending = slices.Delete(m.pending, k, k+1)
			m.observe(o, next)
		}
	}
	return m.pred
}

func (m *model) end(at time.Duration, outcome workflows.Stage, exact, within bool, why string) {
	m.pred = Prediction{Outcome: outcome, EndAt: at, Exact: exact, Within: within, Why: why}
	m.done = true
}

func (m *model) ambiguous(why string) {
	m.pred.Ambiguous = why
	m.done = true
}

// unsure reports whether the workflow may or may not know of a change at t:
// a poll window is open around t.
func (m *model) unsure(t time.Duration) bool {
	for _, o := range m.pending {
		if !o.Pushed && t+closeBy > o.Since && t < o.At+closeBy {
			return true
		}
	}
	return false
}

func (m *model) park(at time.Duration, step string) {
	m.parked = step
	m.deadline = 0
	_ = at
}

func (m *model) fireDeadline(at time.Duration) {
	if m.unsure(at) {
		m.ambiguous(fmt.Sprintf("deadline at %s while a change may be unseen", fmtDur(at)))
		return
	}
	m.deadline = 0
	switch m.stage {
	case workflows.StageAuthorizations:
		m.end(at, workflows.StageExpired, false, false, "authorizations not completed")
	case workflows.StageBankCard:
		if m.verify {
			m.park(at, "verify bank card")
			return
		}
		m.end(at, workflows.StageExpired, false, false, "no bank card")
	case workflows.StageReview:
		m.park(at, "review")
	case workflows.StageAgreement:
		m.end(at, workflows.StageExpired, false, false, "agreement not signed")
	case workflows.StageDisbursement:
		m.park(at, "disbursement")
	}
}

// enter moves the model to a waiting stage with its deadline.
func (m *model) enter(at time.Duration, st workflows.Stage) {
	if m.stage == workflows.StageBankCard && st == workflows.StageReview {
		m.submitAt = at
	}
	m.stage, m.parked = st, ""
	switch st {
	case workflows.StageReview:
		m.deadline = at + reviewDeadline
	case workflows.StageAgreement:
		m.deadline = at + agreementDeadline
	case workflows.StageDisbursement:
		m.deadline = at + disbDeadline
	default:
		m.deadline = 0
	}
}

// observe applies a change the workflow learns of at t.
func (m *model) observe(o obs, t time.Duration) {
	if o.Card != "" {
		if !m.verify {
			return
		}
		m.verify = false
		if o.Card == awda.CardBound {
			m.enter(t, workflows.StageReview)
			return
		}
		m.refusals++
		if m.refusals >= maxCardRefusals {
			m.end(t, workflows.StageFailed, false, false, "bank card refused 5 times")
			return
		}
		m.deadline = m.cardDeadlineAt
		return
	}
	s := o.Status
	within := o.Pushed
	switch {
	case s == awda.LoanCancelled:
		m.end(t, workflows.StageCancelled, false, within, "cancelled by AWDA")
	case s == awda.LoanRejected:
		m.end(t, workflows.StageRejected, false, within, "rejected by AWDA")
	case s == awda.LoanSettled:
		m.end(t, workflows.StageSettled, false, false, "settled")
	}
	if m.done {
		if o.Confirmed {
			m.pred.NotBefore = t
		}
		return
	}
	if m.parked != "" {
		// Parked: the awaited status pushed resumes a loan parked on a
		// wait deadline; a poll-only change waits for ops.
		if !o.Pushed {
			m.pending = append(m.pending, obs{At: 1<<62 - 1, Since: o.Since, Status: s})
			return
		}
		switch {
		case m.parked == "review" && s == awda.LoanApproved:
			m.enter(t, workflows.StageAgreement)
		case m.parked == "disbursement" && m.stage == workflows.StageDisbursement && s == awda.LoanDisbursed && !m.failedPark:
			m.enter(t, workflows.StageRepayment)
		}
		return
	}
	switch {
	case m.stage == workflows.StageReview && s == awda.LoanApproved:
		m.enter(t, workflows.StageAgreement)
	case m.stage == workflows.StageDisbursement && s == awda.LoanDisbursed:
		m.enter(t, workflows.StageRepayment)
	case m.stage == workflows.StageDisbursement && s == awda.LoanDisburseFailed:
		m.park(t, "disbursement")
		m.failedPark = true
	}
}

// firstPush is the first delivery of eventID at or after at.
func (m *model) firstPush(id string, at time.Duration) (time.Duration, bool) {
	for _, e := range m.s.Events {
		if e.Kind == KPush && e.EventID == id && e.At >= at {
			return e.At, true
		}
	}
	return 0, false
}

// event plays one scripted event.
func (m *model) event(e Event) {
	t := e.At
	switch e.Kind {
	case KAuthorize:
		if m.stage == workflows.StageAuthorizations {
			m.stage = workflows.StageBankCard
			m.deadline = t + cardDeadline
			m.cardDeadlineAt = m.deadline
		}
	case KCard:
		m.card(t, e.Card)
	case KCardResolve:
		at := t + obsBound
		if m.parked != "" {
			at = 1<<62 - 1 // seen after ops retry
		}
		m.pending = append(m.pending, obs{At: at, Since: t, Card: e.Card.Final})
	case KStatus, KPay, KOverdue, KSettleAll:
		m.change(e)
	case KPush:
		// Deliveries are folded into their change's observation; a forged
		// push in the same task is read for.
		if e.Forge != nil {
			m.forged(t)
		}
	case KForge:
		m.forged(t)
	case KSign:
		if m.stage == workflows.StageAgreement && m.parked == "" {
			if m.unsure(t) {
				m.ambiguous("sign while a change may be unseen")
				return
			}
			m.signed = true
			m.enter(t, workflows.StageDisbursement)
		}
	case KCancel:
		if m.signed {
			return // refused: too late
		}
		if m.unsure(t) {
			m.ambiguous("cancel while a change may be unseen")
			return
		}
		m.end(t, workflows.StageCancelled, true, false, "cancelled by the borrower")
	case KRetry:
		m.retry(t)
	case KAbandon:
		if m.parked == "" {
			return
		}
		if m.unsure(t) {
			m.ambiguous("abandon while a change may be unseen")
			return
		}
		m.end(t, workflows.StageFailed, true, false, "abandoned by operations while stuck at "+m.parked)
	}
}

// card: the borrower submits c at t; it counts only while the loan waits
// for a card.
func (m *model) card(t time.Duration, c *Card) {
	if m.stage != workflows.StageBankCard || m.verify || m.parked != "" {
		return
	}
	switch c.Verdict {
	case awda.CardBound:
		m.enter(t, workflows.StageReview)
	case awda.CardFailed:
		m.refusals++
		if m.refusals >= maxCardRefusals {
			m.end(t, workflows.StageFailed, false, false, "bank card refused 5 times")
		}
	case awda.CardVerifying:
		m.verify = true
		m.deadline = t + verifyDeadline
	}
}

// change records AWDA's change e as pending: the workflow learns of it at
// its first push if that comes within obsBound, otherwise by a poll, after
// ops' retry (parked) or at a due-date check (repaying).
func (m *model) change(e Event) {
	t := e.At
	at, pushed := m.firstPush(e.EventID, t)
	confirmed := false
	if until, down := downUntil(m.outages, at); pushed && e.Status.Terminal() && down {
		// Confirmed with loan/info before it ends the loan: once
		// loan/info answers again, and not before if AWDA made the change
		// during the outage (a poll before it may have seen it otherwise).
		from, _ := downUntil(m.outages, t)
		at, confirmed = until, from == until
	}
	if !pushed || at > t+obsBound {
		at, pushed = t+obsBound, false
		if m.parked != "" || m.stage == workflows.StageRepayment {
			at = 1<<62 - 1 // seen after ops retry, or at a due-date check
			if m.stage == workflows.StageRepayment {
				at = t + 40*day
			}
		}
	}
	m.pending = append(m.pending, obs{At: at, Since: t, Status: e.Status, Pushed: pushed, Confirmed: confirmed})
}

// forged: a forged final push reaches the workflow at t. Before the loan is
// submitted it is ignored (AWDA holds no such loan). After, the workflow
// holds it until AWDA's loan/info confirms it, asks at once (or once
// loan/info answers again) and, AWDA saying otherwise, ignores it and
// takes what AWDA does say: every change AWDA made before t is then known,
// as if pushed. The forged status itself changes nothing.
func (m *model) forged(t time.Duration) {
	if m.stage == workflows.StageAuthorizations || m.stage == workflows.StageBankCard {
		for _, o := range m.pending {
			if o.Card != "" && o.Since <= t+closeBy {
				m.ambiguous("forged push while the card may be bound and the loan submitted")
				return
			}
		}
		return
	}
	if m.submitAt >= 0 && t < m.submitAt+closeBy {
		m.ambiguous("forged push while the loan is being submitted")
		return
	}
	read := t
	if until, down := downUntil(m.outages, t); down {
		read = until
	}
	for _, e := range m.s.Events {
		switch e.Kind {
		case KStatus, KPay, KOverdue, KSettleAll:
			if e.At > t && e.At < read+closeBy {
				m.ambiguous(fmt.Sprintf("AWDA changes the loan at %s, near a forged push's read", fmtDur(e.At)))
				return
			}
		}
	}
	var known []obs
	kept := m.pending[:0]
	for _, o := range m.pending {
		if o.Card == "" && o.Since <= t {
			known = append(known, o)
		} else {
			kept = append(kept, o)
		}
	}
	m.pending = kept
	slices.SortStableFunc(known, func(a, b obs) int { return int(a.Since - b.Since) })
	for _, o := range known {
		o.At, o.Pushed = read, true
		if m.observe(o, read); m.done {
			return
		}
	}
}

// retry: ops retry at t, which resumes a parked loan's wait with a fresh
// deadline.
func (m *model) retry(t time.Duration) {
	if m.parked == "" {
		return
	}
	if m.unsure(t) {
		m.ambiguous("retry while a change may be unseen")
		return
	}
	step := m.parked
	m.parked = ""
	switch step {
	case "verify bank card":
		m.deadline = t + verifyDeadline
	case "review":
		m.deadline = t + reviewDeadline
	case "disbursement":
		m.deadline = t + disbDeadline
		m.failedPark = false
	}
	// Changes made while parked are polled after the retry.
	for k := range m.pending {
		if m.pending[k].At == 1<<62-1 {
			m.pending[k].At = t + obsBound
		}
	}
}
