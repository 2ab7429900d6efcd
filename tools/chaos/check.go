package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/workflows"
)

// Checks, in the order of the summary table.
const (
	CheckOutcomes    = "terminal states as expected"
	CheckOneLoan     = "one loan per orderNo"
	CheckTransitions = "transitions once, forward"
	CheckInbox       = "webhook_inbox complete, drained"
	CheckForwarders  = "forwarders shared, none signalled twice"
	CheckRuns        = "one run per workflow ID"
	CheckPushes      = "every push acknowledged"
	CheckChaos       = "chaos applied"
)

// Checks lists every check, in display order.
var Checks = []string{CheckOutcomes, CheckOneLoan, CheckTransitions, CheckInbox, CheckForwarders, CheckRuns, CheckPushes, CheckChaos}

// Violation is one thing that went wrong.
type Violation struct {
	Check string
	// Subject is what it is about: an applicant ref, an orderNo, "sandbox",
	// "webhook_inbox", "schedule".
	Subject string
	Detail  string
}

func (v Violation) String() string { return v.Check + ": " + v.Subject + ": " + v.Detail }

// Run statuses as Temporal's visibility names them (enumspb
// WorkflowExecutionStatus without its prefix, in title case).
const (
	RunRunning        = "Running"
	RunCompleted      = "Completed"
	RunContinuedAsNew = "ContinuedAsNew"
)

// Execution is one run of a workflow ID, as visibility lists it.
type Execution struct {
	RunID  string
	Status string
}

// Applicant is what the run left behind for one applicant.
type Applicant struct {
	Ref        string
	Scenario   demo.Scenario
	Expected   workflows.Stage
	WorkflowID string
	// Demo is the outcome the demo driver saw (a stage or demo.Outcome*).
	Demo string
	// API is the application's stage from GET /v1/applications/{ref} after
	// the run, APITerminal its terminal flag; APIErr when it could not be
	// read.
	API         string
	APITerminal bool
	APIErr      string
	// Result is the workflow's result (nil with ResultErr: still running,
	// failed, or unreadable).
	Result    *workflows.LoanResult
	ResultErr string
	// Status is the answer to the status query after the run (StatusErr when
	// it failed): the recorded transitions.
	Status    *workflows.Status
	StatusErr string
	// Runs are the executions of WorkflowID (RunsErr when they could not be
	// listed).
	Runs    []Execution
	RunsErr string
}

// OrderNo is the applicant's orderNo, derived from its workflow ID as the
// workflow derives it.
func (a *Applicant) OrderNo() string { return workflows.OrderNo(a.WorkflowID) }

// WantsLoan reports whether the scenario reaches loan/submit: all but the
// ineligible applicant and the borrower who withdraws before authorizing.
func WantsLoan(s demo.Scenario) bool { return s != demo.Ineligible && s != demo.Cancel }

// Chaos is what the run actually did to the system, from its own log of
// the schedule and from the sandbox's counters.
type Chaos struct {
	WorkerKills      int
	StarterKills     int
	TemporalKills    int
	TemporalRestarts int
	PostgresRestarts int
	StarterRestarts  int
	// StaleTimestamps counts requests the sandbox refused with 1003.
	StaleTimestamps int
	// Duplicates is the delivery setting: extra copies of every push.
	Duplicates int
}

// Want is the chaos a run must have applied to count.
type Want struct {
	WorkerKills      int // at least
	StarterKills     int // at least
	TemporalKills    int // exactly
	TemporalRestarts int // exactly
	PostgresRestarts int
	StarterRestarts  int
	Duplicates       int
	Busy             bool // busy codes were answered
	Timeouts         bool // timeouts were injected, some applied
	StaleTimestamps  bool // 1003 was answered
}

// Observations is everything Check reads.
type Observations struct {
	Applicants []Applicant
	// Sandbox is the sandbox's stats once the pushes were drained.
	Sandbox sandbox.Stats
	// Inbox counts webhook_inbox rows by status (InboxErr when unreadable),
	// and Orphans the orphan and rejected rows by why (OrphanClosed,
	// OrphanUnrouted, or the row's own reason).
	Inbox    map[string]int
	Orphans  map[string]int
	InboxErr string
	// InboxRows are every webhook_inbox row, and Starters the names of the
	// starter replicas whose forwarders shared them.
	InboxRows []InboxRow
	Starters  []string
	Chaos     Chaos
	Want      Want
}

// InboxRow is one webhook_inbox row after the run.
type InboxRow struct {
	Source, EventID, Status string
	// Attempts counts its claims; ClaimedBy names the starter replica of
	// the latest one (the one that delivered it, for a delivered row).
	Attempts  int
	ClaimedBy string
}

// Report is the audit's result.
type Report struct {
	Violations []Violation
	// Checked counts the items each check looked at (applicants, orderNos,
	// transitions, rows, runs, pushes).
	Checked map[string]int
	// Figures are the run's numbers for the summary, by name.
	Figures map[string]int
}

// OK reports whether nothing was lost.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// Failed counts the violations of one check.
func (r *Report) Failed(check string) int {
	n := 0
	for _, v := range r.Violations {
		if v.Check == check {
			n++
		}
	}
	return n
}

type checker struct {
	o *Observations
	r *Report
}

func (c *checker) fail(check, subject, format string, args ...any) {
	c.r.Violations = append(c.r.Violations, Violation{Check: check, Subject: subject, Detail: fmt.Sprintf(format, args...)})
}

// Check audits o.
func Check(o *Observations) *Report {
	c := &checker{o: o, r: &Report{Checked: map[string]int{}, Figures: map[string]int{
		// Shown even when nothing came to them.
		"duplicate notifications ignored": 0,
		"inbox orphan (workflow closed)":  0,
	}}}
	c.outcomes()
	c.oneLoan()
	c.transitions()
	c.inbox()
	c.forwarders()
	c.runs()
	c.pushes()
	c.chaos()
	return c.r
}

// ---- terminal states ----

func (c *checker) outcomes() {
	for i := range c.o.Applicants {
		a := &c.o.Applicants[i]
		c.r.Checked[CheckOutcomes]++
		want := string(a.Expected)
		if a.Demo != want {
			c.fail(CheckOutcomes, a.Ref, "%s: the demo driver saw %s, want %s", a.Scenario, a.Demo, want)
		}
		switch {
		case a.APIErr != "":
			c.fail(CheckOutcomes, a.Ref, "%s: the API could not be read: %s", a.Scenario, a.APIErr)
		case a.API != want || !a.APITerminal:
			c.fail(CheckOutcomes, a.Ref, "%s: the API shows %s (terminal %v), want %s", a.Scenario, a.API, a.APITerminal, want)
		}
		switch {
		case a.Result == nil:
			c.fail(CheckOutcomes, a.Ref, "%s: no workflow result: %s", a.Scenario, orDash(a.ResultErr))
		case string(a.Result.Outcome) != want:
			c.fail(CheckOutcomes, a.Ref, "%s: the workflow ended %s (%s), want %s", a.Scenario, a.Result.Outcome, a.Result.Reason, want)
		case a.Result.OrderNo != a.OrderNo():
			c.fail(CheckOutcomes, a.Ref, "the workflow result carries orderNo %s, not %s (derived from %s)", a.Result.OrderNo, a.OrderNo(), a.WorkflowID)
		}
	}
}

// ---- AWDA loans ----

func (c *checker) oneLoan() {
	loans := c.o.Sandbox.LoansByOrderNo
	ours := map[string]bool{}
	for i := range c.o.Applicants {
		a := &c.o.Applicants[i]
		no := a.OrderNo()
		ours[no] = true
		c.r.Checked[CheckOneLoan]++
		want := 0
		if WantsLoan(a.Scenario) {
			want = 1
		}
		got := loans[no]
		// A loan that never ended may not have reached loan/submit: the
		// outcome check reports it; only a second loan is news here.
		unfinished := a.Result == nil && got < want
		if got != want && !unfinished {
			c.fail(CheckOneLoan, a.Ref, "%s: AWDA holds %d loans for orderNo %s, want %d", a.Scenario, got, no, want)
		}
	}
	for _, no := range sortedKeys(loans) {
		n := loans[no]
		switch {
		case !ours[no]:
			c.r.Checked[CheckOneLoan]++
			c.fail(CheckOneLoan, no, "AWDA holds %d loans for an orderNo no applicant has", n)
		case n < 0 || n > 1 && !slices.Contains(c.o.Sandbox.DuplicateOrderNos, no):
			// Counted above per applicant; only an inconsistent report is new.
			c.fail(CheckOneLoan, no, "%d loans, yet not listed among the sandbox's duplicate orderNos", n)
		}
	}
	for _, no := range c.o.Sandbox.DuplicateOrderNos {
		if loans[no] <= 1 {
			c.fail(CheckOneLoan, no, "listed among the sandbox's duplicate orderNos with %d loans", loans[no])
		}
	}
	c.r.Figures["AWDA loans"] = c.o.Sandbox.Loans
}

// ---- recorded transitions ----

func (c *checker) transitions() {
	for i := range c.o.Applicants {
		a := &c.o.Applicants[i]
		if a.Status == nil {
			c.r.Checked[CheckTransitions]++
			c.fail(CheckTransitions, a.Ref, "the status query failed: %s", orDash(a.StatusErr))
			continue
		}
		c.loanTransitions(a)
	}
}

func (c *checker) loanTransitions(a *Applicant) {
	st := a.Status
	byEvent := map[string]int{}
	var (
		stage      workflows.Stage
		loanStatus awda.LoanStatus
		succeeded  = map[string]bool{}
	)
	for k, t := range st.Transitions {
		c.r.Checked[CheckTransitions]++
		at := fmt.Sprintf("transition %d (%s %s→%s", k+1, t.Kind, orDash(t.From), t.To)
		if t.EventID != "" {
			at += ", event " + t.EventID
		}
		at += ")"
		if t.EventID != "" {
			if prev, ok := byEvent[t.EventID]; ok {
				c.fail(CheckTransitions, a.Ref, "%s: event applied again (first at transition %d)", at, prev+1)
			} else {
				byEvent[t.EventID] = k
			}
		}
		switch t.Kind {
		case workflows.KindStage:
			from, to := workflows.Stage(t.From), workflows.Stage(t.To)
			switch {
			case from != stage:
				c.fail(CheckTransitions, a.Ref, "%s: recorded from %s, but the stage was %s", at, orDash(t.From), orDash(string(stage)))
			case stage.Terminal():
				c.fail(CheckTransitions, a.Ref, "%s: after the outcome %s", at, stage)
			case !to.Terminal() && stageIndex(to) <= stageIndex(from):
				c.fail(CheckTransitions, a.Ref, "%s: the stage moved backwards", at)
			}
			stage = to
		case workflows.KindLoanStatus:
			from, to := awda.LoanStatus(t.From), awda.LoanStatus(t.To)
			switch {
			case from != loanStatus:
				c.fail(CheckTransitions, a.Ref, "%s: recorded from %s, but the loan status was %s", at, orDash(t.From), orDash(string(loanStatus)))
			case loanStatus.Terminal() && (from != to || t.EventID == ""):
				// A repeat of the final status from an event of its own
				// (AWDA sends SETTLED again) is recorded and moves nothing,
				// as the workflow records every repeat; anything else after
				// it is a move.
				c.fail(CheckTransitions, a.Ref, "%s: after the final status %s", at, loanStatus)
			case from == to && t.EventID == "":
				c.fail(CheckTransitions, a.Ref, "%s: a repeat of the status without a notification", at)
			case from != "" && from != to && !forward(from, to):
				c.fail(CheckTransitions, a.Ref, "%s: the loan status moved backwards", at)
			}
			loanStatus = to
		case workflows.KindAuth:
			// Lists and fresh pages change an authorization's status
			// without a transition; only callbacks record one. A success
			// is never taken back.
			typ := t.Note
			if awda.AuthStatus(t.From) == awda.AuthSuccess || succeeded[typ] {
				c.fail(CheckTransitions, a.Ref, "%s: %s changed after it succeeded", at, typ)
			}
			if awda.AuthStatus(t.To) == awda.AuthSuccess {
				succeeded[typ] = true
			}
		}
	}
	switch {
	case stage != st.Stage:
		c.fail(CheckTransitions, a.Ref, "the transitions end at stage %s, the state says %s", orDash(string(stage)), orDash(string(st.Stage)))
	case loanStatus != st.LoanStatus:
		c.fail(CheckTransitions, a.Ref, "the transitions end at loan status %s, the state says %s", orDash(string(loanStatus)), orDash(string(st.LoanStatus)))
	}
	for _, ig := range st.Ignored {
		if ig.Reason == "duplicate eventId" {
			c.r.Figures["duplicate notifications ignored"]++
		}
	}
	c.r.Figures["transitions"] += len(st.Transitions)
}

// forward reports whether a loan may go from one status to another: up the
// lifecycle, or one of the alternations at one step the workflow allows.
func forward(from, to awda.LoanStatus) bool {
	switch {
	case to.Rank() > from.Rank():
		return true
	case from == awda.LoanDisburseFailed && to == awda.LoanDisbursed,
		from == awda.LoanRepaying && to == awda.LoanOverdue,
		from == awda.LoanOverdue && to == awda.LoanRepaying:
		return true
	}
	return false
}

func stageIndex(s workflows.Stage) int {
	if s.Terminal() {
		return len(workflows.Stages)
	}
	return slices.Index(workflows.Stages, s)
}

// ---- webhook inbox ----

// Why an inbox row was orphaned.
const (
	// OrphanClosed: its workflow had closed (a late push for a loan that
	// had already ended); kept for reconciliation, nothing to apply.
	OrphanClosed = "workflow closed"
	// OrphanUnrouted: no application was known for its loan or user when
	// the grace ran out. Every applicant of a run has an application, so
	// such a notification was lost to a read model that lagged.
	OrphanUnrouted = "no application"
)

// OrphanReason classifies an orphan row's recorded reason.
func OrphanReason(lastError string) string {
	switch {
	case strings.HasPrefix(lastError, "no application for this"):
		return OrphanUnrouted
	case strings.HasSuffix(lastError, "is not open"):
		return OrphanClosed
	}
	return lastError
}

func (c *checker) inbox() {
	c.r.Checked[CheckInbox]++
	if c.o.InboxErr != "" {
		c.fail(CheckInbox, "webhook_inbox", "could not be counted: %s", c.o.InboxErr)
		return
	}
	total := 0
	for st, n := range c.o.Inbox {
		total += n
		c.r.Figures["inbox "+st] = n
	}
	c.r.Checked[CheckInbox] = total
	if n := c.o.Inbox[store.InboxPending]; n != 0 {
		c.fail(CheckInbox, "webhook_inbox", "%d rows still pending after the drain", n)
	}
	if total == 0 {
		c.fail(CheckInbox, "webhook_inbox", "no rows at all: no notification reached the starter")
	}
	// One row per notification AWDA sent (its copies are one row): fewer
	// means an acknowledged notification was not stored, more that
	// something was stored that AWDA never sent.
	p := c.o.Sandbox.Pushes
	if sent := p.Events - p.Undeliverable; total != sent {
		c.fail(CheckInbox, "webhook_inbox", "%d rows for the %d notifications AWDA sent", total, sent)
	}
	if ack := p.Acknowledged; ack >= total {
		c.r.Figures["duplicate deliveries absorbed"] = ack - total
	}
	for _, why := range sortedKeys(c.o.Orphans) {
		n := c.o.Orphans[why]
		switch why {
		case OrphanClosed:
			c.r.Figures["inbox orphan (workflow closed)"] = n
		case OrphanUnrouted:
			c.fail(CheckInbox, "webhook_inbox", "%d notifications orphaned with no application for their loan or user: lost before their workflow saw them", n)
		default:
			c.fail(CheckInbox, "webhook_inbox", "%d notifications orphaned or rejected: %s", n, why)
		}
	}
}

// ---- the forwarders of several starters ----

// forwarders checks that the starters' forwarders shared the inbox (each
// replica delivered rows: with one doing everything, nothing was shown),
// that every delivered row names a replica, and that every notification a
// workflow saw twice was signalled again by a later claim of its row, after
// the outcome of the first was lost (a replica killed, PostgreSQL away,
// between the signal and its record), never twice under one claim.
// Transitions checks that none was applied twice.
func (c *checker) forwarders() {
	if c.o.InboxErr != "" {
		return // the inbox check says why
	}
	rows := map[string]InboxRow{}
	delivered := map[string]int{}
	for _, x := range c.o.InboxRows {
		c.r.Checked[CheckForwarders]++
		rows[x.Source+"/"+x.EventID] = x
		if x.Attempts > 1 {
			c.r.Figures["inbox rows claimed more than once"]++
		}
		if x.Status != store.InboxDelivered {
			continue
		}
		delivered[x.ClaimedBy]++
		if !slices.Contains(c.o.Starters, x.ClaimedBy) {
			c.fail(CheckForwarders, "webhook_inbox", "row %s/%s delivered by %q, no starter replica of the run", x.Source, x.EventID, x.ClaimedBy)
		}
	}
	for _, name := range c.o.Starters {
		c.r.Figures["inbox rows delivered by "+name] = delivered[name]
		if len(c.o.Starters) > 1 && delivered[name] == 0 {
			c.fail(CheckForwarders, name, "delivered no inbox row: the forwarders did not share the inbox, which shows nothing")
		}
	}
	source := map[string]string{workflows.LoanStatusSignal.Name: store.SourceLoanStatus, workflows.AuthorizationSignal.Name: store.SourceAuthorization}
	c.r.Figures["rows signalled again after a lost outcome"] = 0
	for i := range c.o.Applicants {
		a := &c.o.Applicants[i]
		if a.Status == nil {
			continue
		}
		for _, ig := range a.Status.Ignored {
			if ig.Reason != "duplicate eventId" {
				continue
			}
			c.r.Figures["rows signalled again after a lost outcome"]++
			x, ok := rows[source[ig.Signal]+"/"+ig.EventID]
			switch {
			case !ok:
				c.fail(CheckForwarders, a.Ref, "%s event %s reached the workflow twice, yet the inbox has no row for it", ig.Signal, ig.EventID)
			case x.Attempts < 2:
				c.fail(CheckForwarders, a.Ref, "%s event %s reached the workflow twice, yet its row was claimed once: signalled twice under one claim", ig.Signal, ig.EventID)
			}
		}
	}
}

// ---- runs ----

func (c *checker) runs() {
	for i := range c.o.Applicants {
		a := &c.o.Applicants[i]
		c.r.Checked[CheckRuns]++
		if a.RunsErr != "" {
			c.fail(CheckRuns, a.Ref, "the runs of %s could not be listed: %s", a.WorkflowID, a.RunsErr)
			continue
		}
		if len(a.Runs) == 0 {
			c.fail(CheckRuns, a.Ref, "no run of %s", a.WorkflowID)
			continue
		}
		// Continue-as-new chains one run to the next under the same ID;
		// every other run is a second start.
		var heads []string
		for _, r := range a.Runs {
			if r.Status != RunContinuedAsNew {
				heads = append(heads, r.RunID+" "+r.Status)
			}
		}
		if len(heads) != 1 {
			c.fail(CheckRuns, a.Ref, "%d runs of %s that did not continue as new: %s", len(heads), a.WorkflowID, strings.Join(heads, ", "))
		}
		if a.Status != nil && len(a.Runs) != a.Status.Runs+1 {
			c.fail(CheckRuns, a.Ref, "%d runs of %s, but the loan continued as new %d times", len(a.Runs), a.WorkflowID, a.Status.Runs)
		}
		c.r.Figures["runs"] += len(a.Runs)
	}
}

// ---- pushes ----

func (c *checker) pushes() {
	p := c.o.Sandbox.Pushes
	c.r.Checked[CheckPushes] = p.Deliveries
	c.r.Figures["push events"] = p.Events
	c.r.Figures["push deliveries"] = p.Deliveries
	c.r.Figures["push attempts"] = p.Sent
	c.r.Figures["push attempts refused"] = p.Failed
	if p.Events == 0 {
		c.fail(CheckPushes, "sandbox", "no notification was emitted")
	}
	if p.Acknowledged != p.Deliveries {
		c.fail(CheckPushes, "sandbox", "%d of %d deliveries acknowledged", p.Acknowledged, p.Deliveries)
	}
	if p.Pending != 0 {
		c.fail(CheckPushes, "sandbox", "%d deliveries still pending", p.Pending)
	}
	if p.Dropped != 0 {
		c.fail(CheckPushes, "sandbox", "%d deliveries dropped", p.Dropped)
	}
	if p.Undeliverable != 0 {
		c.fail(CheckPushes, "sandbox", "%d events had no webhook to go to", p.Undeliverable)
	}
}

// ---- the chaos itself ----

func (c *checker) chaos() {
	got, want, f := c.o.Chaos, c.o.Want, c.o.Sandbox.Faults
	c.r.Figures["worker kills"] = got.WorkerKills
	c.r.Figures["starter kills"] = got.StarterKills
	c.r.Figures["busy answers"] = f.Busy
	c.r.Figures["timeouts"] = f.Timeouts
	c.r.Figures["timeouts applied"] = f.TimeoutsApplied
	c.r.Figures["1003 answers"] = got.StaleTimestamps
	exact := []struct {
		what      string
		got, want int
	}{
		{"Temporal kills", got.TemporalKills, want.TemporalKills},
		{"Temporal restarts", got.TemporalRestarts, want.TemporalRestarts},
		{"PostgreSQL restarts", got.PostgresRestarts, want.PostgresRestarts},
		{"starter restarts", got.StarterRestarts, want.StarterRestarts},
		{"duplicate copies of each push", got.Duplicates, want.Duplicates},
	}
	for _, e := range exact {
		c.r.Checked[CheckChaos]++
		if e.got != e.want {
			c.fail(CheckChaos, "schedule", "%s: %d, want %d", e.what, e.got, e.want)
		}
	}
	c.r.Checked[CheckChaos]++
	if got.WorkerKills < want.WorkerKills {
		c.fail(CheckChaos, "schedule", "worker kills: %d, want at least %d", got.WorkerKills, want.WorkerKills)
	}
	c.r.Checked[CheckChaos]++
	if got.StarterKills < want.StarterKills {
		c.fail(CheckChaos, "schedule", "starter kills: %d, want at least %d", got.StarterKills, want.StarterKills)
	}
	if want.Duplicates > 0 && c.o.Sandbox.Pushes.Deliveries != (1+want.Duplicates)*(c.o.Sandbox.Pushes.Events-c.o.Sandbox.Pushes.Undeliverable) {
		c.fail(CheckChaos, "sandbox", "%d deliveries of %d events: not %d copies each",
			c.o.Sandbox.Pushes.Deliveries, c.o.Sandbox.Pushes.Events, 1+want.Duplicates)
	}
	flags := []struct {
		what string
		on   bool
		n    int
	}{
		{"busy answers", want.Busy, f.Busy},
		{"timeouts", want.Timeouts, f.Timeouts},
		{"timeouts applied with the answer lost", want.Timeouts, f.TimeoutsApplied},
		{"1003 answers during the clock skew", want.StaleTimestamps, got.StaleTimestamps},
	}
	for _, fl := range flags {
		if !fl.on {
			continue
		}
		c.r.Checked[CheckChaos]++
		if fl.n == 0 {
			c.fail(CheckChaos, "sandbox", "no %s: the fault never bit", fl.what)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
