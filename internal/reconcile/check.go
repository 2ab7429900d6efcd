package reconcile

import (
	"fmt"
	"strconv"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// Kinds of mismatch (reconcile_mismatches.kind). docs/operations.md,
// "Reconciliation", says what each means and what to do about it.
const (
	// KindWorkflowMissing: the read model says the loan is active, and
	// Temporal has no workflow with its ID (deleted, or purged after the
	// namespace's retention). Parked: the read-model row is marked stuck.
	KindWorkflowMissing = "workflow_missing"
	// KindWorkflowClosed: the workflow has closed and the read model is
	// not terminal. A workflow that completed has an outcome, written to
	// the read model (repaired); one terminated, failed, timed out or
	// cancelled has none (parked).
	KindWorkflowClosed = "workflow_closed"
	// KindProjectionLag: the read model shows an older stage, stuck flag
	// or AWDA status than the running workflow. Repaired from the
	// workflow's own status query.
	KindProjectionLag = "projection_lag"
	// KindAWDAAhead: AWDA's loan/info has a status (or paid installments)
	// the workflow has not seen: a lost push. Repaired by a notification
	// in the webhook inbox.
	KindAWDAAhead = "awda_ahead"
	// KindAWDABehind: AWDA's status is one the workflow would refuse (it
	// never moves a loan back). Reported only.
	KindAWDABehind = "awda_behind"
	// KindAWDAUnknown: AWDA has no loan with the loan number the workflow
	// holds. Parked.
	KindAWDAUnknown = "awda_unknown"
	// KindUnchecked: Temporal or AWDA could not be asked (busy, timeout);
	// the next run checks the loan again. Reported only.
	KindUnchecked = "unchecked"
)

// Kinds lists every kind, for metrics that must report each (zero when a
// run found none).
var Kinds = []string{KindWorkflowMissing, KindWorkflowClosed, KindProjectionLag, KindAWDAAhead,
	KindAWDABehind, KindAWDAUnknown, KindUnchecked}

// ParkStep is the stuck step a parked read-model row shows.
const ParkStep = "reconcile"

// describeRow is the read model's side of a comparison.
func describeRow(r *store.Application) string {
	s := r.Stage
	if r.Stuck {
		s += " stuck"
	}
	if r.LoanStatus != "" {
		s += " " + r.LoanStatus
	}
	return s + " (seq " + strconv.FormatInt(r.Seq, 10) + ")"
}

// describeStatus is the workflow's side.
func describeStatus(st *workflows.Status) string {
	s := string(st.Stage)
	if st.Stuck != nil {
		s += " stuck"
	}
	if st.LoanStatus != "" {
		s += " " + string(st.LoanStatus)
	}
	return s + " (seq " + strconv.FormatInt(st.Seq, 10) + ")"
}

// projectionBehind reports whether the read model shows less than the
// workflow: an older seq with another stage, stuck flag, AWDA status or
// AWDA loan number. An older seq alone is not enough: the workflow numbers
// transitions it publishes only when the loan comes to rest.
func projectionBehind(r *store.Application, st *workflows.Status) bool {
	if st.Seq <= r.Seq {
		return false
	}
	return r.Stage != string(st.Stage) || r.Stuck != (st.Stuck != nil) ||
		r.LoanStatus != string(st.LoanStatus) || r.AwdaLoanNo != st.LoanNo && st.LoanNo != ""
}

// paid counts the paid installments of a schedule.
func paid(s []awda.Installment) int {
	n := 0
	for _, in := range s {
		if in.Status == awda.InstallmentPaid {
			n++
		}
	}
	return n
}

// compareAWDA says how AWDA's status relates to the workflow's: ahead (a
// status, or an installment paid, the workflow would take and has not
// seen), behind (one it would refuse), or neither.
func compareAWDA(info *awda.LoanInfoResponse, st *workflows.Status) (ahead, behind bool) {
	a, w := info.Status, st.LoanStatus
	switch {
	case !a.Valid() || w.Terminal():
		return false, a.Valid() && a != w
	case a == w:
		repaying := a == awda.LoanRepaying || a == awda.LoanOverdue
		return repaying && paid(info.Schedule) > paid(st.Schedule), false
	case a.Rank() > w.Rank():
		return true, false
	case a.Rank() == w.Rank() && sameStepMove(w, a):
		return true, false
	}
	return false, true
}

// sameStepMove is the loan workflow's rule (workflows/handlers.go): the
// moves within one rank it applies.
func sameStepMove(from, to awda.LoanStatus) bool {
	switch {
	case from == awda.LoanDisburseFailed && to == awda.LoanDisbursed:
		return true
	case from == awda.LoanRepaying && to == awda.LoanOverdue, from == awda.LoanOverdue && to == awda.LoanRepaying:
		return true
	}
	return false
}

// describeAWDA is AWDA's side.
func describeAWDA(info *awda.LoanInfoResponse) string {
	s := string(info.Status)
	if info.Status == awda.LoanRepaying || info.Status == awda.LoanOverdue || len(info.Schedule) > 0 {
		s += fmt.Sprintf(" (%d/%d paid)", paid(info.Schedule), len(info.Schedule))
	}
	return s
}

// EventID is the webhook inbox event ID of the notification a
// reconciliation stores for AWDA's status of loanNo: derived from the loan
// number, the status and (while repaying) the count of paid installments,
// so that a second run, or a retried batch, finds it there instead of
// storing another, and a later installment gets its own.
func EventID(loanNo string, info *awda.LoanInfoResponse) string {
	id := "reconcile-" + loanNo + "-" + string(info.Status)
	if info.Status == awda.LoanRepaying || info.Status == awda.LoanOverdue || info.Status == awda.LoanSettled {
		id += "-p" + strconv.Itoa(paid(info.Schedule))
	}
	return id
}

// event is the LOAN_STATUS notification AWDA would have pushed for info,
// as the webhook receiver stores it: the inbox forwarder signals it like
// any push, and the workflow applies it by its own rules (a final status
// only once AWDA's loan/info confirms it).
func event(loanNo, userID string, info *awda.LoanInfoResponse, prev awda.LoanStatus, occurredAt int64) awda.LoanStatusEvent {
	ev := awda.LoanStatusEvent{
		EventID: EventID(loanNo, info), EventType: awda.EventTypeLoanStatus,
		LoanNo: loanNo, OrderNo: info.OrderNo, UserID: userID, Status: info.Status, OccurredAt: occurredAt,
	}
	if prev.Valid() {
		ev.PrevStatus = prev
	}
	switch info.Status {
	case awda.LoanRepaying, awda.LoanSettled:
		ev.Period = paid(info.Schedule) // the installment paid last
	case awda.LoanOverdue:
		for _, in := range info.Schedule {
			if in.Status != awda.InstallmentPaid {
				ev.Period = in.Period // the first one not paid
				break
			}
		}
	}
	return ev
}
