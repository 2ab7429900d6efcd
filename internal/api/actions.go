package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// Verdict answers the borrower's bank card and signature (200 when
// accepted; inside the 422 problem when refused).
type Verdict struct {
	Accepted bool   `json:"accepted"`
	Status   string `json:"status,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// HeaderIdempotencyKey makes a bank card or signature submission
// idempotent: the same key again with the same body gets the first
// submission's verdict instead of being processed twice; the same key with
// another body is refused (409), as a create with another body is. Keys are
// per application and route. 1 to 128 characters of [A-Za-z0-9._:-].
const HeaderIdempotencyKey = "Idempotency-Key"

func (s *Server) submitBankCard(w http.ResponseWriter, r *http.Request) {
	ref, ok := s.pathRef(w, r)
	if !ok {
		return
	}
	var in BankCardRequest
	if !decodeJSON(w, r, &in, MaxJSONBytes, false) {
		return
	}
	if errs := validateBankCard(&in); len(errs) > 0 {
		validationProblem(w, r, errs)
		return
	}
	res, ok := update(s, w, r, ref, workflows.SubmitBankCardUpdate, in, workflows.ActionSubmitBankCard)
	if !ok {
		return
	}
	s.verdict(w, r, Verdict(res))
}

func (s *Server) signAgreement(w http.ResponseWriter, r *http.Request) {
	ref, ok := s.pathRef(w, r)
	if !ok {
		return
	}
	var in SignatureRequest
	if !decodeJSON(w, r, &in, MaxJSONBytes, false) {
		return
	}
	if errs := validateSignature(&in); len(errs) > 0 {
		validationProblem(w, r, errs)
		return
	}
	res, ok := update(s, w, r, ref, workflows.SignAgreementUpdate, in, workflows.ActionSignAgreement)
	if !ok {
		return
	}
	s.verdict(w, r, Verdict(res))
}

func (s *Server) verdict(w http.ResponseWriter, r *http.Request, v Verdict) {
	if v.Accepted {
		writeJSON(w, http.StatusOK, v)
		return
	}
	reason := v.Reason
	if reason == "" {
		reason = "refused"
	}
	writeProblemWith(w, r, Problem{Type: TypeRejected, Title: "Refused", Status: http.StatusUnprocessableEntity, Detail: reason}, &v)
}

// update sends a workflow update and waits for its result. It answers the
// failure itself and returns false then: 404 unknown ref, 409 closed or not
// at that stage, 422 refused by the update's validator, 503 Temporal away,
// 504 no verdict within UpdateTimeout.
func update[In, Out any](s *Server, w http.ResponseWriter, r *http.Request, ref string, u workflows.Update[In, Out], in In, action string) (Out, bool) {
	var zero Out
	wfID := workflows.LoanWorkflowID(ref)
	ctx, cancel := context.WithTimeout(r.Context(), s.updateTO)
	defer cancel()
	name := u.Name
	var updateID string // "": the SDK makes one
	// The key is claimed for this body before the update (its ID): the
	// update ID alone would answer another card with the first card's
	// verdict. A claim is released when nothing was recorded under it.
	var release func()
	if key := r.Header.Get(HeaderIdempotencyKey); key != "" {
		if !saneRequestID(key) {
			validationProblem(w, r, []FieldError{{Field: HeaderIdempotencyKey, Detail: "1 to 128 characters of A-Z a-z 0-9 . _ : -"}})
			return zero, false
		}
		b, _ := json.Marshal(in) // validated and normalised: its canonical form
		sum := sha256.Sum256(b)
		same, err := s.store.ClaimActionKey(ctx, wfID, name, key, sum[:])
		if err != nil {
			s.unavailable(w, r, "database", err)
			return zero, false
		}
		if !same {
			problem(w, r, http.StatusConflict, TypeConflict,
				"this "+HeaderIdempotencyKey+" was used for this application with a different body")
			return zero, false
		}
		release = func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			if err := s.store.ReleaseActionKey(rctx, wfID, name, key, sum[:]); err != nil {
				s.log.Warn().Str("request_id", RequestIDFrom(r.Context())).Str("error_type", errorType(err)).
					Msg("releasing an idempotency key failed; a corrected request needs a new key")
			}
		}
		updateID = name + "/" + key
	}
	out, err := u.Execute(ctx, s.temporal, wfID, updateID, in)
	if err == nil {
		return out, true
	}
	var notFound *serviceerror.NotFound
	var appErr *temporal.ApplicationError
	if release != nil && (errors.As(err, &notFound) || errors.As(err, &appErr)) {
		release()
	}
	switch {
	case errors.As(err, &notFound):
		s.notOpen(w, r, ref)
	case errors.As(err, &appErr):
		// Refused by the workflow's validator (nothing was recorded). If the
		// loan is not at the step this action belongs to, that is a conflict
		// with its state; otherwise the input was wrong. The validator says
		// which by the error's type (IsErrorType also takes the spelling of
		// workers older than issue 14, "WrongStage" and "InvalidInput"); a
		// worker older than the types is asked what the loan waits for.
		reason := appErr.Message()
		wrongStage := workflows.IsErrorType(appErr, workflows.ErrTypeWrongStage)
		if !wrongStage && !workflows.IsErrorType(appErr, workflows.ErrTypeInvalidInput) {
			wrongStage = s.waitingFor(r.Context(), wfID) != action
		}
		if wrongStage {
			problem(w, r, http.StatusConflict, TypeWrongStage, reason)
			return zero, false
		}
		writeProblemWith(w, r, Problem{Type: TypeRejected, Title: "Refused", Status: http.StatusUnprocessableEntity, Detail: reason},
			&Verdict{Accepted: false, Reason: reason})
	case ctx.Err() != nil && r.Context().Err() == nil:
		problem(w, r, http.StatusGatewayTimeout, TypeTimeout,
			"no verdict yet; the submission may still be processed: see GET /v1/applications/"+ref)
	default:
		s.unavailable(w, r, "temporal", err)
	}
	return zero, false
}

// waitingFor returns the borrower action the workflow waits for ("" when
// none, or when the query fails). Only refusals from workers that predate
// the typed refusals need it.
func (s *Server) waitingFor(ctx context.Context, wfID string) string {
	ctx, cancel := context.WithTimeout(ctx, s.queryTO)
	defer cancel()
	st, err := workflows.StatusQuery.GetOpen(ctx, s.temporal, wfID)
	if err != nil || st.Next == nil {
		return ""
	}
	return st.Next.Action
}

// notOpen answers for a workflow Temporal does not have open: 409 when the
// application exists (it has ended), 404 when it does not.
func (s *Server) notOpen(w http.ResponseWriter, r *http.Request, ref string) {
	_, err := s.store.GetApplication(r.Context(), ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		problem(w, r, http.StatusNotFound, TypeNotFound, "no such application")
	case err != nil:
		s.unavailable(w, r, "database", err)
	default:
		problem(w, r, http.StatusConflict, TypeWrongStage, "the application has ended")
	}
}

// ---- signals ----

// SignalResponse answers cancel, retry and abandon (202): the request is
// recorded in the workflow; whether a retry or abandon applies (a loan that
// is not stuck ignores them) shows in the application's status. A cancel
// is answered 202 only where the loan takes it, with a note on what it
// means there (cancel.go).
type SignalResponse struct {
	ApplicationID string `json:"applicationId"`
	WorkflowID    string `json:"workflowId"`
	Signal        string `json:"signal"`
	Note          string `json:"note,omitempty"`
}

func decodeCancel(w http.ResponseWriter, r *http.Request) (workflows.CancelRequest, bool) {
	var in workflows.CancelRequest
	if !decodeJSON(w, r, &in, MaxJSONBytes, true) {
		return in, false
	}
	if len(in.Reason) > 500 {
		validationProblem(w, r, []FieldError{{Field: "reason", Detail: "longer than 500 characters"}})
		return in, false
	}
	return in, true
}

func decodeRetry(w http.ResponseWriter, r *http.Request) (workflows.RetryRequest, bool) {
	var in workflows.RetryRequest
	if !decodeJSON(w, r, &in, MaxJSONBytes, true) {
		return in, false
	}
	if errs := opsNote(in.Operator, in.Reason); len(errs) > 0 {
		validationProblem(w, r, errs)
		return in, false
	}
	return in, true
}

func decodeAbandon(w http.ResponseWriter, r *http.Request) (workflows.AbandonRequest, bool) {
	var in workflows.AbandonRequest
	if !decodeJSON(w, r, &in, MaxJSONBytes, true) {
		return in, false
	}
	if errs := opsNote(in.Operator, in.Reason); len(errs) > 0 {
		validationProblem(w, r, errs)
		return in, false
	}
	return in, true
}

func opsNote(operator, reason string) []FieldError {
	var fe fieldErrors
	fe.maxLen("operator", operator, 100)
	fe.maxLen("reason", reason, 500)
	return fe
}

// signal sends a signal to an open workflow. It never starts one: a closed
// or unknown application answers 409 or 404.
func signal[T any](s *Server, sig workflows.Signal[T], decode func(http.ResponseWriter, *http.Request) (T, bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ref, ok := s.pathRef(w, r)
		if !ok {
			return
		}
		arg, ok := decode(w, r)
		if !ok {
			return
		}
		wfID := workflows.LoanWorkflowID(ref)
		ctx, cancel := context.WithTimeout(r.Context(), startTimeout)
		defer cancel()
		err := sig.Send(ctx, s.temporal, wfID, arg)
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			writeJSON(w, http.StatusAccepted, SignalResponse{ApplicationID: ref, WorkflowID: wfID, Signal: sig.Name})
		case errors.As(err, &notFound):
			s.notOpen(w, r, ref)
		default:
			s.unavailable(w, r, "temporal", err)
		}
	}
}

// ---- helpers ----

func (s *Server) pathRef(w http.ResponseWriter, r *http.Request) (string, bool) {
	ref := r.PathValue("ref")
	if !ValidRef(ref) {
		problem(w, r, http.StatusNotFound, TypeNotFound, "no such application")
		return "", false
	}
	return ref, true
}

// unavailable answers 503 for a dependency that failed and logs the error's
// type (not its text, which may quote a host or, from Temporal, a payload
// summary).
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, dep string, err error) {
	s.log.Warn().Str("request_id", RequestIDFrom(r.Context())).Str("dependency", dep).
		Str("error_type", errorType(err)).Msg("dependency failed")
	w.Header().Set("Retry-After", "5")
	problem(w, r, http.StatusServiceUnavailable, TypeUnavailable, dep+" is unavailable; retry later")
}

// errorType names an error for logs without its message.
func errorType(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var unavailable *serviceerror.Unavailable
	if errors.As(err, &unavailable) {
		return "temporal_unavailable"
	}
	var dl *serviceerror.DeadlineExceeded
	if errors.As(err, &dl) {
		return "temporal_deadline_exceeded"
	}
	return fmt.Sprintf("%T", err)
}

// writeProblemWith adds the verdict to a problem answer.
func writeProblemWith(w http.ResponseWriter, r *http.Request, p Problem, v *Verdict) {
	p.Verdict = v
	writeProblem(w, r, p)
}
