package chaos

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/workflows"
)

// ---- a run in which nothing went wrong ----

func stageTr(from, to workflows.Stage) workflows.Transition {
	return workflows.Transition{Kind: workflows.KindStage, From: string(from), To: string(to)}
}

func loanTr(from, to awda.LoanStatus, eventID string) workflows.Transition {
	return workflows.Transition{Kind: workflows.KindLoanStatus, From: string(from), To: string(to), EventID: eventID}
}

func authTr(typ string, from, to awda.AuthStatus, eventID string) workflows.Transition {
	return workflows.Transition{Kind: workflows.KindAuth, From: string(from), To: string(to), EventID: eventID, Note: typ}
}

// stagesTo are the stage transitions from nothing through the working
// stages up to and including last, then to the outcome.
func stagesTo(last, outcome workflows.Stage) []workflows.Transition {
	var out []workflows.Transition
	prev := workflows.Stage("")
	for _, s := range workflows.Stages {
		out = append(out, stageTr(prev, s))
		prev = s
		if s == last {
			break
		}
	}
	return append(out, stageTr(prev, outcome))
}

// loanStatuses chains statuses into transitions, each with its own event
// (SIGNED comes from the sign call, without one).
func loanStatuses(ref string, statuses ...awda.LoanStatus) []workflows.Transition {
	var out []workflows.Transition
	prev := awda.LoanStatus("")
	for i, s := range statuses {
		ev := ref + "-ev" + string(rune('a'+i))
		if s == awda.LoanSigned {
			ev = ""
		}
		out = append(out, loanTr(prev, s, ev))
		prev = s
	}
	return out
}

func fabricate(ref string, sc demo.Scenario) Applicant {
	id := workflows.LoanWorkflowID(ref)
	want := sc.Expected()
	a := Applicant{
		Ref: ref, Scenario: sc, Expected: want, WorkflowID: id,
		Demo: string(want), API: string(want), APITerminal: true,
		Result: &workflows.LoanResult{Outcome: want, OrderNo: workflows.OrderNo(id)},
		Runs:   []Execution{{RunID: ref + "-run1", Status: RunCompleted}},
	}
	st := &workflows.Status{ApplicantRef: ref, WorkflowID: id, Terminal: true}
	st.Stage, st.OrderNo = want, workflows.OrderNo(id)
	auths := []workflows.Transition{
		authTr("EKYC", awda.AuthPending, awda.AuthSuccess, ref+"-auth1"),
		authTr("TELCO", awda.AuthPending, awda.AuthSuccess, ref+"-auth2"),
	}
	var statuses []awda.LoanStatus
	switch sc {
	case demo.Ineligible:
		st.Transitions = stagesTo(workflows.StageEligibility, want)
	case demo.Cancel:
		st.Transitions = stagesTo(workflows.StageAuthorizations, want)
	case demo.Reject:
		statuses = []awda.LoanStatus{awda.LoanSubmitted, awda.LoanUnderReview, awda.LoanRejected}
		st.Transitions = append(stagesTo(workflows.StageReview, want), auths...)
	case demo.Overdue:
		statuses = []awda.LoanStatus{awda.LoanSubmitted, awda.LoanUnderReview, awda.LoanApproved, awda.LoanSigned,
			awda.LoanDisbursing, awda.LoanDisbursed, awda.LoanOverdue, awda.LoanRepaying, awda.LoanRepaying, awda.LoanSettled}
		st.Transitions = append(stagesTo(workflows.StageRepayment, want), auths...)
	case demo.DisburseFail:
		statuses = []awda.LoanStatus{awda.LoanSubmitted, awda.LoanUnderReview, awda.LoanApproved, awda.LoanSigned,
			awda.LoanDisbursing, awda.LoanDisburseFailed, awda.LoanDisbursed, awda.LoanRepaying, awda.LoanSettled}
		st.Transitions = append(stagesTo(workflows.StageRepayment, want), auths...)
	default:
		statuses = []awda.LoanStatus{awda.LoanSubmitted, awda.LoanUnderReview, awda.LoanApproved, awda.LoanSigned,
			awda.LoanDisbursing, awda.LoanDisbursed, awda.LoanRepaying, awda.LoanRepaying, awda.LoanSettled}
		st.Transitions = append(stagesTo(workflows.StageRepayment, want), auths...)
	}
	st.Transitions = append(st.Transitions, loanStatuses(ref, statuses...)...)
	if len(statuses) > 0 {
		st.LoanStatus = statuses[len(statuses)-1]
	}
	st.Ignored = []workflows.Ignored{{Signal: workflows.LoanStatusSignal.Name, EventID: ref + "-eva", Reason: "duplicate eventId"}}
	a.Status = st
	return a
}

var cleanScenarios = []demo.Scenario{demo.Happy, demo.AuthFail, demo.CardRetry, demo.Overdue, demo.Reject,
	demo.Ineligible, demo.DisburseFail, demo.Cancel}

func cleanRun() *Observations {
	o := &Observations{
		Sandbox: sandbox.Stats{LoansByOrderNo: map[string]int{}, DuplicateOrderNos: []string{}},
		Inbox:   map[string]int{store.InboxPending: 0, store.InboxDelivered: 42, store.InboxOrphan: 8, store.InboxRejected: 0},
		Orphans: map[string]int{OrphanClosed: 8},
		Chaos:   Chaos{WorkerKills: 14, TemporalRestarts: 1, PostgresRestarts: 1, StarterRestarts: 1, StaleTimestamps: 9, Duplicates: 3},
		Want: Want{WorkerKills: 5, TemporalRestarts: 1, PostgresRestarts: 1, StarterRestarts: 1, Duplicates: 3,
			Busy: true, Timeouts: true, StaleTimestamps: true},
	}
	for i, sc := range cleanScenarios {
		a := fabricate(demo.RefFor("chaos-t", i, sc), sc)
		o.Applicants = append(o.Applicants, a)
		if WantsLoan(sc) {
			o.Sandbox.LoansByOrderNo[a.OrderNo()] = 1
			o.Sandbox.Loans++
		}
	}
	// The inbox rows: each applicant's notification its workflow saw twice
	// (fabricate's "-eva") was claimed twice, its first outcome lost; the
	// two starters delivered rows alike.
	o.Starters = []string{"starter", "starter-2"}
	for i, a := range o.Applicants {
		o.InboxRows = append(o.InboxRows, InboxRow{Source: store.SourceLoanStatus, EventID: a.Ref + "-eva", Status: store.InboxDelivered,
			Attempts: 2, ClaimedBy: o.Starters[i%2]})
	}
	for i := len(o.InboxRows); i < 42; i++ {
		o.InboxRows = append(o.InboxRows, InboxRow{Source: store.SourceLoanStatus, EventID: "ev" + string(rune('A'+i)),
			Status: store.InboxDelivered, Attempts: 1, ClaimedBy: o.Starters[i%2]})
	}
	for i := range 8 {
		o.InboxRows = append(o.InboxRows, InboxRow{Source: store.SourceAuthorization, EventID: "orphan" + string(rune('a'+i)),
			Status: store.InboxOrphan, Attempts: 1, ClaimedBy: o.Starters[i%2]})
	}
	o.Sandbox.Pushes = sandbox.PushStats{Events: 50, Deliveries: 200, Sent: 260, Acknowledged: 200, Failed: 60}
	o.Sandbox.Faults = sandbox.FaultStats{Busy: 40, Timeouts: 9, TimeoutsApplied: 4}
	return o
}

func TestOrphanReason(t *testing.T) {
	for in, want := range map[string]string{
		"workflow loan:x-0001-happy is not open": OrphanClosed,
		"no application for this loan":           OrphanUnrouted,
		"no application for this user":           OrphanUnrouted,
		"payload: bad":                           "payload: bad",
	} {
		if got := OrphanReason(in); got != want {
			t.Errorf("OrphanReason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanRunPasses(t *testing.T) {
	o := cleanRun()
	r := Check(o)
	for _, v := range r.Violations {
		t.Errorf("unexpected violation: %s", v)
	}
	for _, c := range Checks {
		if r.Checked[c] == 0 {
			t.Errorf("check %q looked at nothing", c)
		}
	}
	if got := r.Checked[CheckOutcomes]; got != len(cleanScenarios) {
		t.Errorf("outcomes checked %d applicants, want %d", got, len(cleanScenarios))
	}
	if r.Figures["duplicate notifications ignored"] != len(cleanScenarios) || r.Figures["rows signalled again after a lost outcome"] != len(cleanScenarios) ||
		r.Figures["inbox rows delivered by starter"] != 21 || r.Figures["inbox rows delivered by starter-2"] != 21 ||
		r.Figures["inbox rows claimed more than once"] != len(cleanScenarios) {
		t.Errorf("figures: %v", r.Figures)
	}
}

// A loan that continued as new has two runs under its ID, chained: that is
// no second start.
// AWDA may send the final status again, as an event of its own, before the
// loan's stage has ended: the workflow records the repeat, which moves
// nothing. A move after the final status is still flagged.
func TestRepeatOfTheFinalStatusIsNoMove(t *testing.T) {
	o := cleanRun()
	a := byScenario(o, demo.Happy)
	i := indexOf(a, workflows.KindLoanStatus, string(awda.LoanSettled))
	insert(a, i+1, loanTr(awda.LoanSettled, awda.LoanSettled, a.Ref+"-again"))
	if r := Check(o); !r.OK() {
		t.Fatalf("violations: %v", r.Violations)
	}
	insert(a, i+2, loanTr(awda.LoanSettled, awda.LoanRepaying, a.Ref+"-back"))
	if r := Check(o); r.Failed(CheckTransitions) == 0 {
		t.Fatal("a move after the final status passed")
	}
}

func TestContinueAsNewChainIsOneLoan(t *testing.T) {
	o := cleanRun()
	a := &o.Applicants[0]
	a.Runs = []Execution{{RunID: "r1", Status: RunContinuedAsNew}, {RunID: "r2", Status: RunCompleted}}
	a.Status.Runs = 1
	if r := Check(o); !r.OK() {
		t.Fatalf("violations: %v", r.Violations)
	}
}

// ---- every violation is flagged ----

func byScenario(o *Observations, sc demo.Scenario) *Applicant {
	for i := range o.Applicants {
		if o.Applicants[i].Scenario == sc {
			return &o.Applicants[i]
		}
	}
	panic("no applicant of scenario " + string(sc))
}

// indexOf finds the transition of kind to status to.
func indexOf(a *Applicant, kind, to string) int {
	for i, t := range a.Status.Transitions {
		if t.Kind == kind && t.To == to {
			return i
		}
	}
	panic("no transition " + kind + " to " + to)
}

func insert(a *Applicant, at int, t workflows.Transition) {
	a.Status.Transitions = slices.Insert(a.Status.Transitions, at, t)
}

func TestEveryViolationIsFlagged(t *testing.T) {
	happy := func(o *Observations) *Applicant { return byScenario(o, demo.Happy) }
	cases := []struct {
		name   string
		mutate func(o *Observations)
		check  string
		detail string
	}{
		// Terminal states.
		{"demo saw another outcome", func(o *Observations) { happy(o).Demo = demo.OutcomeStuck }, CheckOutcomes, "demo driver saw STUCK"},
		{"demo timed out", func(o *Observations) { byScenario(o, demo.Reject).Demo = demo.OutcomeTimeout }, CheckOutcomes, "saw TIMEOUT, want REJECTED"},
		{"API shows a working stage", func(o *Observations) {
			a := happy(o)
			a.API, a.APITerminal = string(workflows.StageRepayment), false
		}, CheckOutcomes, "the API shows REPAYMENT"},
		{"API says not terminal", func(o *Observations) { happy(o).APITerminal = false }, CheckOutcomes, "terminal false"},
		{"API unreadable", func(o *Observations) { happy(o).APIErr = "HTTP 503" }, CheckOutcomes, "could not be read: HTTP 503"},
		{"workflow still running", func(o *Observations) {
			a := byScenario(o, demo.Cancel)
			a.Result, a.ResultErr = nil, "still running"
		}, CheckOutcomes, "no workflow result: still running"},
		{"workflow ended otherwise", func(o *Observations) {
			happy(o).Result = &workflows.LoanResult{Outcome: workflows.StageFailed, Reason: "abandoned", OrderNo: happy(o).OrderNo()}
		}, CheckOutcomes, "ended FAILED"},
		{"result with a foreign orderNo", func(o *Observations) { happy(o).Result.OrderNo = "AF00" }, CheckOutcomes, "orderNo AF00"},

		// AWDA loans.
		{"two loans for one orderNo", func(o *Observations) {
			no := happy(o).OrderNo()
			o.Sandbox.LoansByOrderNo[no] = 2
			o.Sandbox.DuplicateOrderNos = []string{no}
		}, CheckOneLoan, "holds 2 loans"},
		{"a loan where none was due", func(o *Observations) {
			o.Sandbox.LoansByOrderNo[byScenario(o, demo.Ineligible).OrderNo()] = 1
		}, CheckOneLoan, "holds 1 loans for orderNo"},
		{"no loan where one was due", func(o *Observations) {
			delete(o.Sandbox.LoansByOrderNo, byScenario(o, demo.Reject).OrderNo())
		}, CheckOneLoan, "holds 0 loans"},
		{"two loans for a loan that never ended", func(o *Observations) {
			a := happy(o)
			a.Result, a.ResultErr = nil, "still running"
			o.Sandbox.LoansByOrderNo[a.OrderNo()] = 2
			o.Sandbox.DuplicateOrderNos = []string{a.OrderNo()}
		}, "", "holds 2 loans"},
		{"a loan nobody asked for", func(o *Observations) { o.Sandbox.LoansByOrderNo["AFdeadbeef"] = 1 }, CheckOneLoan, "no applicant has"},
		{"duplicates the sandbox did not list", func(o *Observations) {
			o.Sandbox.LoansByOrderNo[happy(o).OrderNo()] = 3
		}, CheckOneLoan, "not listed"},

		// Transitions.
		{"a notification applied twice", func(o *Observations) {
			a := happy(o)
			i := indexOf(a, workflows.KindLoanStatus, string(awda.LoanDisbursed))
			tr := a.Status.Transitions[i]
			insert(a, i+1, loanTr(awda.LoanDisbursed, awda.LoanDisbursed, tr.EventID))
		}, CheckTransitions, "event applied again"},
		{"an authorization callback applied twice", func(o *Observations) {
			a := byScenario(o, demo.AuthFail)
			a.Status.Transitions = append(a.Status.Transitions, authTr("BPJS", awda.AuthPending, awda.AuthFailed, a.Ref+"-auth1"))
		}, CheckTransitions, "event applied again"},
		{"the loan status moved backwards", func(o *Observations) {
			a := happy(o)
			i := indexOf(a, workflows.KindLoanStatus, string(awda.LoanSigned))
			insert(a, i, loanTr(awda.LoanApproved, awda.LoanUnderReview, "late"))
			a.Status.Transitions[i+1].From = string(awda.LoanUnderReview)
		}, CheckTransitions, "moved backwards"},
		{"sideways between alternatives", func(o *Observations) {
			a := byScenario(o, demo.Overdue)
			i := indexOf(a, workflows.KindLoanStatus, string(awda.LoanOverdue))
			insert(a, i, loanTr(awda.LoanDisbursed, awda.LoanDisburseFailed, "odd"))
			a.Status.Transitions[i+1].From = string(awda.LoanDisburseFailed)
		}, CheckTransitions, "moved backwards"},
		{"a status after the final one", func(o *Observations) {
			a := happy(o)
			a.Status.Transitions = append(a.Status.Transitions, loanTr(awda.LoanSettled, awda.LoanRepaying, "zombie"))
			a.Status.LoanStatus = awda.LoanRepaying
		}, CheckTransitions, "after the final status SETTLED"},
		{"a repeat without a notification", func(o *Observations) {
			a := happy(o)
			i := indexOf(a, workflows.KindLoanStatus, string(awda.LoanApproved))
			insert(a, i+1, loanTr(awda.LoanApproved, awda.LoanApproved, ""))
		}, CheckTransitions, "repeat of the status without a notification"},
		{"a status change nobody recorded", func(o *Observations) {
			a := happy(o)
			i := indexOf(a, workflows.KindLoanStatus, string(awda.LoanUnderReview))
			a.Status.Transitions = slices.Delete(a.Status.Transitions, i, i+1)
		}, CheckTransitions, "recorded from UNDER_REVIEW, but the loan status was SUBMITTED"},
		{"the stage moved backwards", func(o *Observations) {
			a := happy(o)
			i := indexOf(a, workflows.KindStage, string(workflows.StageAgreement))
			insert(a, i, stageTr(workflows.StageReview, workflows.StageSubmit))
			insert(a, i+1, stageTr(workflows.StageSubmit, workflows.StageReview))
		}, CheckTransitions, "the stage moved backwards"},
		{"a stage after the outcome", func(o *Observations) {
			a := byScenario(o, demo.Reject)
			a.Status.Transitions = append(a.Status.Transitions, stageTr(workflows.StageRejected, workflows.StageAgreement))
			a.Status.Stage = workflows.StageAgreement
		}, CheckTransitions, "after the outcome REJECTED"},
		{"two outcomes", func(o *Observations) {
			a := byScenario(o, demo.Cancel)
			a.Status.Transitions = append(a.Status.Transitions, stageTr(workflows.StageCancelled, workflows.StageExpired))
			a.Status.Stage = workflows.StageExpired
		}, CheckTransitions, "after the outcome CANCELLED"},
		{"an authorization taken back", func(o *Observations) {
			a := byScenario(o, demo.AuthFail)
			a.Status.Transitions = append(a.Status.Transitions, authTr("EKYC", awda.AuthSuccess, awda.AuthExpired, "late-expiry"))
		}, CheckTransitions, "EKYC changed after it succeeded"},
		{"state and transitions disagree", func(o *Observations) {
			happy(o).Status.LoanStatus = awda.LoanRepaying
		}, CheckTransitions, "the state says REPAYING"},
		{"status query failed", func(o *Observations) {
			a := happy(o)
			a.Status, a.StatusErr = nil, "query timed out"
		}, CheckTransitions, "status query failed: query timed out"},

		// Inbox.
		{"pending inbox rows", func(o *Observations) { o.Inbox[store.InboxPending] = 3 }, CheckInbox, "3 rows still pending"},
		{"inbox unreadable", func(o *Observations) { o.Inbox, o.InboxErr = nil, "connection refused" }, CheckInbox, "connection refused"},
		{"empty inbox", func(o *Observations) {
			o.Inbox = map[string]int{store.InboxPending: 0, store.InboxDelivered: 0}
			o.Orphans = nil
		}, CheckInbox, "no rows at all"},
		{"a notification acknowledged but not stored", func(o *Observations) {
			o.Inbox[store.InboxDelivered]--
		}, CheckInbox, "49 rows for the 50 notifications"},
		{"a row AWDA never sent", func(o *Observations) {
			o.Inbox[store.InboxDelivered]++
		}, CheckInbox, "51 rows for the 50 notifications"},
		{"a notification nobody could route", func(o *Observations) {
			o.Inbox[store.InboxDelivered]--
			o.Inbox[store.InboxOrphan]++
			o.Orphans[OrphanUnrouted] = 1
		}, CheckInbox, "1 notifications orphaned with no application"},
		{"a notification rejected", func(o *Observations) {
			o.Inbox[store.InboxDelivered]--
			o.Inbox[store.InboxRejected]++
			o.Orphans["payload: unexpected end of JSON input"] = 1
		}, CheckInbox, "orphaned or rejected: payload: unexpected end of JSON input"},

		// The forwarders of several starters.
		{"one replica delivered everything", func(o *Observations) {
			for i := range o.InboxRows {
				o.InboxRows[i].ClaimedBy = "starter"
			}
		}, CheckForwarders, "delivered no inbox row"},
		{"signalled twice under one claim", func(o *Observations) {
			o.InboxRows[0].Attempts = 1
		}, CheckForwarders, "signalled twice under one claim"},
		{"seen twice without a row", func(o *Observations) {
			o.InboxRows = o.InboxRows[1:]
		}, CheckForwarders, "the inbox has no row for it"},
		{"delivered by a stranger", func(o *Observations) {
			o.InboxRows[3].ClaimedBy = "elsewhere:8080"
		}, CheckForwarders, "no starter replica of the run"},

		// Runs.
		{"a second start", func(o *Observations) {
			a := happy(o)
			a.Runs = []Execution{{RunID: "r1", Status: "Terminated"}, {RunID: "r2", Status: RunCompleted}}
		}, CheckRuns, "2 runs of"},
		{"continued as new, unknown to the state", func(o *Observations) {
			happy(o).Runs = []Execution{{RunID: "r1", Status: RunContinuedAsNew}, {RunID: "r2", Status: RunCompleted}}
		}, CheckRuns, "continued as new 0 times"},
		{"no run at all", func(o *Observations) { happy(o).Runs = nil }, CheckRuns, "no run of"},
		{"runs unreadable", func(o *Observations) { happy(o).RunsErr = "visibility down" }, CheckRuns, "visibility down"},

		// Pushes.
		{"pushes pending", func(o *Observations) {
			o.Sandbox.Pushes.Pending, o.Sandbox.Pushes.Acknowledged = 2, 198
		}, CheckPushes, "2 deliveries still pending"},
		{"pushes dropped", func(o *Observations) {
			o.Sandbox.Pushes.Dropped, o.Sandbox.Pushes.Acknowledged = 1, 199
		}, CheckPushes, "1 deliveries dropped"},
		{"pushes unacknowledged", func(o *Observations) { o.Sandbox.Pushes.Acknowledged = 150 }, CheckPushes, "150 of 200 deliveries acknowledged"},
		{"pushes without a webhook", func(o *Observations) {
			o.Sandbox.Pushes.Undeliverable, o.Sandbox.Pushes.Events = 2, 52
		}, CheckPushes, "no webhook"},
		{"no pushes at all", func(o *Observations) { o.Sandbox.Pushes = sandbox.PushStats{} }, "", "no notification was emitted"},

		// Chaos that did not happen.
		{"too few kills", func(o *Observations) { o.Chaos.WorkerKills = 2 }, CheckChaos, "worker kills: 2, want at least 5"},
		{"no Temporal restart", func(o *Observations) { o.Chaos.TemporalRestarts = 0 }, CheckChaos, "Temporal restarts: 0, want 1"},
		{"two PostgreSQL restarts", func(o *Observations) { o.Chaos.PostgresRestarts = 2 }, CheckChaos, "PostgreSQL restarts: 2"},
		{"no starter restart", func(o *Observations) { o.Chaos.StarterRestarts = 0 }, CheckChaos, "starter restarts: 0"},
		{"too few starter kills", func(o *Observations) {
			o.Want.StarterKills, o.Chaos.StarterKills = 3, 1
		}, CheckChaos, "starter kills: 1, want at least 3"},
		{"no Temporal kill", func(o *Observations) { o.Want.TemporalKills = 1 }, CheckChaos, "Temporal kills: 0, want 1"},
		{"no duplicates configured", func(o *Observations) { o.Chaos.Duplicates = 0 }, CheckChaos, "duplicate copies"},
		{"duplicates not delivered", func(o *Observations) {
			o.Sandbox.Pushes.Deliveries, o.Sandbox.Pushes.Acknowledged = 50, 50
		}, CheckChaos, "not 4 copies each"},
		{"no busy answers", func(o *Observations) { o.Sandbox.Faults.Busy = 0 }, CheckChaos, "no busy answers"},
		{"no timeouts", func(o *Observations) {
			o.Sandbox.Faults.Timeouts, o.Sandbox.Faults.TimeoutsApplied = 0, 0
		}, CheckChaos, "no timeouts"},
		{"no timeout applied", func(o *Observations) { o.Sandbox.Faults.TimeoutsApplied = 0 }, CheckChaos, "no timeouts applied"},
		{"no 1003", func(o *Observations) { o.Chaos.StaleTimestamps = 0 }, CheckChaos, "no 1003 answers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := cleanRun()
			tc.mutate(o)
			r := Check(o)
			found := false
			for _, v := range r.Violations {
				if tc.check == "" {
					found = found || strings.Contains(v.Detail, tc.detail)
					continue
				}
				if v.Check != tc.check {
					t.Errorf("also flagged under another check: %s", v)
					continue
				}
				if strings.Contains(v.Detail, tc.detail) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %q violation with %q; got %v", tc.check, tc.detail, r.Violations)
			}
			if r.OK() {
				t.Error("Report.OK with violations")
			}
		})
	}
}

// The summary lists every violation and says FAIL; a clean run says PASS.
func TestSummaryListsEveryViolation(t *testing.T) {
	o := cleanRun()
	byScenario(o, demo.Happy).Demo = demo.OutcomeStuck
	o.Inbox[store.InboxPending], o.Inbox[store.InboxDelivered] = 4, 38
	o.Chaos.WorkerKills = 0
	sum := &Summary{Seed: 7, N: len(o.Applicants), Applicants: o.Applicants, Report: Check(o),
		Executed: []Event{{At: 12e9, Action: KillWorker, Down: 1e9}, {At: 80e9, Action: RestartTemporal}}}
	var b bytes.Buffer
	if _, err := sum.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	for _, want := range []string{"seed 7", "FAIL: 3 violations", "demo driver saw STUCK", "4 rows still pending",
		"worker kills: 0", "SCENARIO", "CHECK", "restart Temporal at 80.0s", "worker SIGKILLed 1 times"} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
	for _, c := range []string{CheckOutcomes, CheckInbox, CheckChaos} {
		if !strings.Contains(out, c) {
			t.Errorf("no row for %q", c)
		}
	}

	ok := &Summary{Seed: 7, N: 8, Applicants: cleanRun().Applicants, Report: Check(cleanRun())}
	b.Reset()
	_, _ = ok.WriteTo(&b)
	if !strings.Contains(b.String(), "PASS: nothing lost") || strings.Contains(b.String(), "FAIL") {
		t.Errorf("a clean summary:\n%s", b.String())
	}
}

// An applicant that never ended is reported once, under its outcome: no
// loan at AWDA is no second violation when it never reached loan/submit.
func TestUnfinishedApplicantIsOneViolation(t *testing.T) {
	o := cleanRun()
	a := byScenario(o, demo.Happy)
	a.Demo, a.API, a.APITerminal = demo.OutcomeTimeout, string(workflows.StageDocuments), false
	a.Result, a.ResultErr = nil, "still running"
	delete(o.Sandbox.LoansByOrderNo, a.OrderNo())
	r := Check(o)
	if r.Failed(CheckOneLoan) != 0 || r.Failed(CheckOutcomes) != 3 {
		t.Errorf("violations: %v", r.Violations)
	}
}
