package reconcile

import (
	"encoding/json"
	"testing"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

func schedule(paid, n int) []awda.Installment {
	var s []awda.Installment
	for i := 1; i <= n; i++ {
		st := awda.InstallmentUnpaid
		if i <= paid {
			st = awda.InstallmentPaid
		}
		s = append(s, awda.Installment{Period: i, Status: st})
	}
	return s
}

// AWDA is ahead when it has a status the workflow would take (forward, or
// a legal move within a step) or more installments paid; behind when it
// has one the workflow would refuse.
func TestCompareAWDA(t *testing.T) {
	for _, c := range []struct {
		awda, wf              awda.LoanStatus
		awdaPaid, wfPaid      int
		wantAhead, wantBehind bool
	}{
		{awda.LoanRejected, awda.LoanUnderReview, 0, 0, true, false},
		{awda.LoanCancelled, awda.LoanApproved, 0, 0, true, false},
		{awda.LoanDisbursed, awda.LoanSigned, 0, 0, true, false},
		{awda.LoanSettled, awda.LoanRepaying, 3, 2, true, false},
		{awda.LoanOverdue, awda.LoanRepaying, 1, 1, true, false},
		{awda.LoanRepaying, awda.LoanOverdue, 2, 1, true, false},
		{awda.LoanDisbursed, awda.LoanDisburseFailed, 0, 0, true, false},
		{awda.LoanRepaying, awda.LoanRepaying, 2, 1, true, false}, // an installment paid, its push lost
		{awda.LoanSubmitted, "", 0, 0, true, false},
		{awda.LoanRepaying, awda.LoanRepaying, 1, 1, false, false},
		{awda.LoanUnderReview, awda.LoanUnderReview, 0, 0, false, false},
		{awda.LoanUnderReview, awda.LoanApproved, 0, 0, false, true},
		{awda.LoanDisburseFailed, awda.LoanDisbursed, 0, 0, false, true},
		{awda.LoanApproved, awda.LoanRejected, 0, 0, false, true}, // the workflow's status is final
		{awda.LoanSettled, awda.LoanSettled, 3, 3, false, false},
	} {
		info := &awda.LoanInfoResponse{Status: c.awda, Schedule: schedule(c.awdaPaid, 3)}
		st := &workflows.Status{State: workflows.State{LoanStatus: c.wf, Schedule: schedule(c.wfPaid, 3)}}
		ahead, behind := compareAWDA(info, st)
		if ahead != c.wantAhead || behind != c.wantBehind {
			t.Errorf("AWDA %s (%d paid), workflow %q (%d paid): ahead %v behind %v, want %v %v",
				c.awda, c.awdaPaid, c.wf, c.wfPaid, ahead, behind, c.wantAhead, c.wantBehind)
		}
	}
}

// The read model is behind only with an older seq and something visible
// that differs.
func TestProjectionBehind(t *testing.T) {
	row := &store.Application{Seq: 4, Stage: "REVIEW", LoanStatus: "SUBMITTED", AwdaLoanNo: "L1"}
	for _, c := range []struct {
		name string
		st   workflows.State
		want bool
	}{
		{"same", workflows.State{Seq: 4, Stage: workflows.StageReview, LoanStatus: awda.LoanSubmitted, LoanNo: "L1"}, false},
		{"newer seq, same view", workflows.State{Seq: 6, Stage: workflows.StageReview, LoanStatus: awda.LoanSubmitted, LoanNo: "L1"}, false},
		{"newer stage", workflows.State{Seq: 6, Stage: workflows.StageAgreement, LoanStatus: awda.LoanSubmitted, LoanNo: "L1"}, true},
		{"newer status", workflows.State{Seq: 5, Stage: workflows.StageReview, LoanStatus: awda.LoanUnderReview, LoanNo: "L1"}, true},
		{"stuck", workflows.State{Seq: 5, Stage: workflows.StageReview, LoanStatus: awda.LoanSubmitted, LoanNo: "L1",
			Stuck: &workflows.Stuck{Step: "review", Reason: "deadline"}}, true},
		{"older seq, other stage", workflows.State{Seq: 3, Stage: workflows.StageSubmit}, false},
	} {
		st := &workflows.Status{State: c.st}
		if got := projectionBehind(row, st); got != c.want {
			t.Errorf("%s: behind %v, want %v", c.name, got, c.want)
		}
	}
}

// The event ID is the same for the same news, and differs for another
// installment paid.
func TestEventIDIsDeterministic(t *testing.T) {
	a := EventID("L1", &awda.LoanInfoResponse{Status: awda.LoanRejected})
	if a != "reconcile-L1-REJECTED" || a != EventID("L1", &awda.LoanInfoResponse{Status: awda.LoanRejected}) {
		t.Errorf("event ID %q", a)
	}
	p1 := EventID("L1", &awda.LoanInfoResponse{Status: awda.LoanRepaying, Schedule: schedule(1, 3)})
	p2 := EventID("L1", &awda.LoanInfoResponse{Status: awda.LoanRepaying, Schedule: schedule(2, 3)})
	if p1 == p2 || p1 != "reconcile-L1-REPAYING-p1" {
		t.Errorf("installments 1 and 2: %q, %q", p1, p2)
	}
	ev := event("L1", "U1", &awda.LoanInfoResponse{OrderNo: "AF1", Status: awda.LoanOverdue, Schedule: schedule(1, 3)}, awda.LoanRepaying, 5)
	if ev.Period != 2 || ev.PrevStatus != awda.LoanRepaying || ev.OrderNo != "AF1" || ev.EventType != awda.EventTypeLoanStatus {
		t.Errorf("overdue event %+v, want period 2 (the first unpaid)", ev)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := awda.ParseLoanStatusEvent(body); err != nil || *got != ev {
		t.Errorf("the inbox parses %+v, %v; want %+v", got, err, ev)
	}
}
