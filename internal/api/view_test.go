package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// Stuck reads the same live and from the read model: {step, reason,
// since}, never "step: reason" in one place and "reason" in another.
func TestStuckReadsTheSameLiveAndFromTheReadModel(t *testing.T) {
	since := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	want := workflows.Stuck{Step: "submit loan", Reason: "configuration: awda /api/partner/v1/loan/submit (code 1005)", Since: since}

	live := viewFromStatus("app-1", &workflows.Status{WorkflowID: "loan:app-1", State: workflows.State{Stage: workflows.StageSubmit, Stuck: &want}})
	row := viewFromRow(&store.Application{ApplicantRef: "app-1", WorkflowID: "loan:app-1", Stage: "SUBMIT", Stuck: true,
		StuckStep: want.Step, StuckReason: want.Reason, StuckSince: &since, UpdatedAt: since.Add(time.Hour)})
	// A row written before the step had its own column.
	legacy := viewFromRow(&store.Application{ApplicantRef: "app-1", WorkflowID: "loan:app-1", Stage: "SUBMIT", Stuck: true,
		StuckReason: want.Step + ": " + want.Reason, UpdatedAt: since})
	// A loan still on the workflow code from before bounded waits.
	older := viewFromRow(&store.Application{ApplicantRef: "app-1", WorkflowID: "loan:app-1", Stage: "SUBMIT", Stuck: true,
		StuckStep: want.Step, StuckReason: want.Step + ": " + want.Reason, StuckSince: &since})
	for name, v := range map[string]ApplicationView{"live": live, "read model": row, "legacy row": legacy, "older workflow": older} {
		if !v.Stuck || v.StuckAt == nil || *v.StuckAt != want {
			t.Errorf("%s: stuck %v at %+v, want %+v", name, v.Stuck, v.StuckAt, want)
		}
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), `"stuckReason"`) || !strings.Contains(string(b), `"stuckAt":{"step":"submit loan","reason":"configuration: awda`) {
			t.Errorf("%s: %s", name, b)
		}
	}
	if v := viewFromRow(&store.Application{ApplicantRef: "app-2", Stage: "REVIEW"}); v.StuckAt != nil {
		t.Errorf("not stuck, yet %+v", v.StuckAt)
	}
}

// How an abandoned loan ended, and who ended it, live and from the read
// model.
func TestAbandonedLoanShowsReasonAndOperator(t *testing.T) {
	reason := "abandoned by operations while stuck at submit loan"
	live := viewFromStatus("app-1", &workflows.Status{WorkflowID: "loan:app-1", Terminal: true, State: workflows.State{
		Stage: workflows.StageFailed, Reason: reason,
		Transitions: []workflows.Transition{
			{Seq: 7, Kind: workflows.KindStuck, To: "submit loan"},
			{Seq: 8, Kind: workflows.KindResumed, From: "submit loan", To: "abandon", Operator: "alice", Note: "borrower unreachable"},
			{Seq: 9, Kind: workflows.KindStage, From: "SUBMIT", To: "FAILED"},
		},
	}})
	row := viewFromRow(&store.Application{ApplicantRef: "app-1", Stage: "FAILED", Terminal: true, Reason: reason, Operator: "alice"})
	for name, v := range map[string]ApplicationView{"live": live, "read model": row} {
		if v.Reason != reason || v.Operator != "alice" {
			t.Errorf("%s: reason %q operator %q", name, v.Reason, v.Operator)
		}
	}
}
