package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// TypeActive is the problem of an erasure refused because the loan's
// workflow still runs (409).
const TypeActive = ProblemTypePrefix + "loan-active"

// TypeErased is the problem of a create for an applicant whose personal data
// was erased (409): the applicantRef cannot be used again.
const TypeErased = ProblemTypePrefix + "erased"

// ErasureRequest is the body of POST /v1/applicants/{ref}/erasure.
type ErasureRequest struct {
	// Operator is who asks (recorded in the audit), as for retry and abandon.
	Operator string `json:"operator"`
	// Reason is why (recorded), e.g. the borrower's request under UU 27/2022.
	Reason string `json:"reason"`
	// Force erases a loan whose workflow still runs: it is terminated first.
	Force bool `json:"force,omitempty"`
}

// ErasureResponse answers an erasure (200): the audit record, and whether
// this request made it (false: it was erased before, by the record's
// operator).
type ErasureResponse struct {
	store.Erasure
	Created bool `json:"created"`
}

// terminateReason is what the history of a loan ended by a forced erasure
// says; it names no one.
const terminateReason = "ended by a forced erasure of the applicant's personal data (see the erasure audit)"

func (s *Server) eraseApplicant(w http.ResponseWriter, r *http.Request) {
	ref, ok := s.pathRef(w, r)
	if !ok {
		return
	}
	var in ErasureRequest
	if !decodeJSON(w, r, &in, MaxJSONBytes, false) {
		return
	}
	in.Operator, in.Reason = strings.TrimSpace(in.Operator), strings.TrimSpace(in.Reason)
	if errs := validateErasure(in); len(errs) > 0 {
		validationProblem(w, r, errs)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), startTimeout)
	defer cancel()
	// A repeat answers the recorded erasure, whatever the loan does now.
	if prev, err := s.store.GetErasure(ctx, ref); err == nil {
		writeJSON(w, http.StatusOK, ErasureResponse{Erasure: *prev})
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		s.unavailable(w, r, "database", err)
		return
	}
	if _, err := s.store.GetApplication(ctx, ref); errors.Is(err, store.ErrNotFound) {
		problem(w, r, http.StatusNotFound, TypeNotFound, "no such application")
		return
	} else if err != nil {
		s.unavailable(w, r, "database", err)
		return
	}
	terminated, ok := s.endForErasure(ctx, w, r, ref, in.Force)
	if !ok {
		return
	}
	e, created, err := s.store.EraseApplicant(ctx, store.ErasureRequest{ApplicantRef: ref, Operator: in.Operator,
		Reason: in.Reason, RequestID: RequestIDFrom(r.Context()), Forced: in.Force, Terminated: terminated})
	if err != nil {
		s.unavailable(w, r, "database", err)
		return
	}
	// This process forgets the key now; the others within their cache TTL.
	s.store.DataKeys().Forget(ref)
	s.log.Info().Str("request_id", RequestIDFrom(r.Context())).Str("workflow_id", e.WorkflowID).
		Str("data_key_id", e.DataKeyID).Bool("forced", e.Forced).Bool("terminated", e.WorkflowTerminated).
		Int("documents_deleted", e.DocumentsDeleted).Msg("applicant data erased")
	writeJSON(w, http.StatusOK, ErasureResponse{Erasure: *e, Created: created})
}

func validateErasure(in ErasureRequest) []FieldError {
	var fe fieldErrors
	if in.Operator == "" {
		fe.add("operator", "required: who asks for the erasure")
	}
	if in.Reason == "" {
		fe.add("reason", "required: why the data is erased")
	}
	fe.maxLen("operator", in.Operator, 100)
	fe.maxLen("reason", in.Reason, 500)
	return fe
}

// endForErasure checks the loan's workflow: closed or gone, the erasure
// proceeds; running, it is refused (409) unless forced, and a forced
// erasure terminates it first. It reports whether it terminated it, and ok
// false when it has answered the request itself.
func (s *Server) endForErasure(ctx context.Context, w http.ResponseWriter, r *http.Request, ref string, force bool) (terminated, ok bool) {
	wfID := workflows.LoanWorkflowID(ref)
	d, err := s.temporal.DescribeWorkflow(ctx, wfID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, true // purged by Temporal's retention, or never started
	case err != nil:
		s.unavailable(w, r, "temporal", err)
		return false, false
	case d.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return false, true
	case !force:
		problem(w, r, http.StatusConflict, TypeActive,
			"the loan of this applicant is still active (workflow "+wfID+" is running): erase it after the loan has "+
				"ended, or set force to end it now (it is terminated, and cannot be resumed)")
		return false, false
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = s.temporal.TerminateWorkflow(tctx, wfID, "", terminateReason)
	if err != nil && !errors.As(err, &notFound) {
		s.unavailable(w, r, "temporal", err)
		return false, false
	}
	return err == nil, true
}
