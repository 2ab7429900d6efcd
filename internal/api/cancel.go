package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// What a borrower's cancel means, by how far the loan has got (the
// workflow's rules; docs/operations.md, "What cancel does per stage"):
//
//   - before the loan is submitted to AWDA: accepted, the loan ends CANCELLED;
//   - submitted, not signed (REVIEW, AGREEMENT): accepted, the loan ends
//     CANCELLED here, but AWDA has no cancel endpoint: AWDA keeps the loan
//     unsigned (with its last status, e.g. APPROVED) and never disburses it.
//     The answer says so in its note;
//   - once signing has started: refused, 409 (the workflow would record the
//     cancel as ignored and go on).
const (
	NoteCancelBeforeSubmission = "the application ends CANCELLED; no loan was submitted to AWDA"
	// At SUBMIT the submission may be in flight: the workflow honours the
	// cancel when it returns, as after submission if AWDA took it.
	NoteCancelDuringSubmission = "the application ends CANCELLED; if its submission to AWDA is in flight, " +
		"AWDA keeps the loan unsigned and never disburses it (AWDA has no cancel endpoint)"
	// The workflow's own reason for it, and what the read model shows.
	NoteCancelAfterSubmission = "the application ends CANCELLED: " + workflows.ReasonWithdrawnAfterSubmission +
		"; its loanStatus stays AWDA's last (e.g. APPROVED)"
	DetailCancelTooLate = "too late to cancel: the agreement is signed"
)

// liveStatus asks an open workflow for its status: workflows.ErrNotOpen
// when it has closed, a *serviceerror.NotFound when there is no such
// workflow.
func (s *Server) liveStatus(ctx context.Context, wfID string) (*workflows.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, s.queryTO)
	defer cancel()
	st, err := workflows.StatusQuery.GetOpen(ctx, s.temporal, wfID)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// cancelStanding classifies a loan for a cancel: ended, too late (signing
// started or done), or accepted with the note that says what it means.
func cancelStanding(st *workflows.Status) (ended, tooLate bool, note string) {
	ls := awda.LoanStatus(st.LoanStatus)
	signed := ls == awda.LoanSettled || ls.Rank() >= awda.LoanSigned.Rank() && !ls.Terminal() ||
		st.Agreement != nil && !st.Agreement.SignedAt.IsZero()
	// At AGREEMENT with the agreement fetched, the loan offers the
	// signature (next: SIGN_AGREEMENT) until a signature arrives; without a
	// next action it is signing (or parked while signing).
	signing := st.Stage == workflows.StageAgreement && st.Agreement != nil && st.Next == nil
	switch {
	case st.Terminal || ls.Terminal() && !signed:
		return true, false, ""
	case signed || signing || st.Stage == workflows.StageDisbursement || st.Stage == workflows.StageRepayment:
		return false, true, ""
	case st.LoanNo != "" || st.Stage == workflows.StageReview || st.Stage == workflows.StageAgreement:
		return false, false, NoteCancelAfterSubmission
	case st.Stage == workflows.StageSubmit:
		return false, false, NoteCancelDuringSubmission
	}
	return false, false, NoteCancelBeforeSubmission
}

// ignoredCancels counts the cancels the workflow recorded as ignored, and
// the time of the last.
func ignoredCancels(st *workflows.Status) (n int, last time.Time) {
	for _, ig := range st.Ignored {
		if ig.Signal == workflows.CancelSignal.Name {
			n++
			last = ig.At
		}
	}
	return n, last
}

// cancelApplication withdraws an application for the borrower, and says
// what that means at the loan's stage: 202 with a note, or 409 when it has
// ended or is signed. The loan's stage decides, asked live before the
// signal; asked again after it, the workflow's own verdict wins (a
// signature that arrived in between makes the cancel too late).
func (s *Server) cancelApplication(w http.ResponseWriter, r *http.Request) {
	ref, ok := s.pathRef(w, r)
	if !ok {
		return
	}
	arg, ok := decodeCancel(w, r)
	if !ok {
		return
	}
	wfID := workflows.LoanWorkflowID(ref)
	before, err := s.liveStatus(r.Context(), wfID)
	var notFound *serviceerror.NotFound
	switch {
	case errors.Is(err, workflows.ErrNotOpen) || errors.As(err, &notFound):
		s.notOpen(w, r, ref)
		return
	case err != nil:
		s.unavailable(w, r, "temporal", err)
		return
	}
	ended, tooLate, note := cancelStanding(before)
	switch {
	case ended:
		problem(w, r, http.StatusConflict, TypeWrongStage, "the application has ended")
		return
	case tooLate:
		problem(w, r, http.StatusConflict, TypeWrongStage, DetailCancelTooLate)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), startTimeout)
	defer cancel()
	err = workflows.CancelSignal.Send(ctx, s.temporal, wfID, arg)
	switch {
	case errors.As(err, &notFound):
		s.notOpen(w, r, ref)
		return
	case err != nil:
		s.unavailable(w, r, "temporal", err)
		return
	}
	// A query after the signal sees the workflow task that took it. If the
	// query fails, the stage asked before stands (the signal is recorded).
	if after, err := s.liveStatus(r.Context(), wfID); err == nil {
		n0, t0 := ignoredCancels(before)
		if n1, t1 := ignoredCancels(after); n1 > n0 || n1 > 0 && !t1.Equal(t0) {
			problem(w, r, http.StatusConflict, TypeWrongStage, DetailCancelTooLate)
			return
		}
	}
	writeJSON(w, http.StatusAccepted, SignalResponse{ApplicationID: ref, WorkflowID: wfID, Signal: workflows.CancelSignal.Name, Note: note})
}
