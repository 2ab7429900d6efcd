package loansim

import (
	"testing"

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
