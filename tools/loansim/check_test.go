package loansim

import (
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"

	"github.com/awdaflow/awdaflow/workflows"
)

// The continue-as-new invariant allows a run the work between two waits past
// the threshold, and still catches a loan that never continues as new.
func TestCheckContinuedAsNew(t *testing.T) {
	s := &Scenario{Config: workflows.Config{ContinueAsNewEvents: 400}}
	for _, tc := range []struct {
		name string
		runs []Run
		want bool
	}{
		{"short loan, one run", []Run{{Events: 380}}, false},
		{"last run ends a little past the threshold", []Run{{Events: 401, CAN: true}, {Events: 404}}, false},
		{"one run, past the threshold by a last step", []Run{{Events: 404}}, false},
		{"one run, never continued as new (bug 5)", []Run{{Events: 11540}}, true},
		{"a run well past the threshold", []Run{{Events: 401, CAN: true}, {Events: 400 + ContinueAsNewSlack + 1}}, true},
	} {
		r := &Result{Scenario: s, Prediction: Prediction{Ambiguous: "not checked here"}, Runs: tc.runs}
		check(r)
		got := false
		for _, v := range r.Violations {
			got = got || v.Invariant == InvContinued
		}
		if got != tc.want {
			t.Errorf("%s: violation %v, want %v (%v)", tc.name, got, tc.want, r.Violations)
		}
	}
}

// AWDA cancels a loan waiting for the borrower's signature, and its
// CANCELLED push arrives while loan/info is down for longer than the
// confirmation read's retries last (20 minutes here; the test environment's
// 10 attempts span about 4, production's RetryBudget 30). The push stays
// held and ends the loan CANCELLED once loan/info answers: the model says
// at the restore; the workflow asks again every PollInterval, so at the
// first read after it. Before confirm-each kept a push whose read failed,
// the push was ignored and, AGREEMENT not polling, the loan expired a week
// later.
func TestFinalPushDuringLongOutage(t *testing.T) {
	h := time.Hour
	s := story(cat(
		st(h, awda.LoanApproved, "e1", true),
		[]Event{{At: 2 * h, Kind: KFault, Fault: &Fault{Path: awda.PathLoanInfo, Outage: true}}},
		st(2*h+time.Minute, awda.LoanCancelled, "e2", true),
		[]Event{{At: 2*h + 20*time.Minute, Kind: KRestore, Fault: &Fault{Path: awda.PathLoanInfo}}},
	)...)
	s.Applicant = Applicant{Name: "Long Outage 001", NIK: "3171014501900001", Mobile: "081200000001", Contact: "081300000001", ContactName: "Kontak Outage 001"}
	r := Simulate(s)
	t.Log(r.Summary())
	restore := 2*h + 20*time.Minute
	if r.Prediction.NotBefore != restore {
		t.Errorf("model: %+v, want the end not before the restore", r.Prediction)
	}
	for _, v := range r.Violations {
		if v.Invariant != InvFinalPush { // the bound below instead
			t.Error(v)
		}
	}
	if poll := workflows.DefaultConfig().PollInterval; r.Outcome != workflows.StageCancelled || r.EndAt < restore || r.EndAt > restore+poll+pushLatency {
		t.Errorf("%s at %s; want CANCELLED between loan/info answering at %s and the next confirmation read, %s later", r.Outcome, fmtDur(r.EndAt), fmtDur(restore), poll)
	}
}
