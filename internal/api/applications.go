package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// CreatedResponse answers POST /v1/applications (202).
type CreatedResponse struct {
	ApplicationID string `json:"applicationId"` // the applicant ref
	WorkflowID    string `json:"workflowId"`
	// Created is false when this request repeated an earlier one (same
	// body): the answer is the same application.
	Created bool `json:"created"`
	// Stage and Terminal are the read model's, on a repeat of a create
	// whose workflow has already reported (Created false): where the loan
	// stands, or how it ended.
	Stage    string `json:"stage,omitempty"`
	Terminal bool   `json:"terminal,omitempty"`
}

// startTimeout bounds the calls a create makes to PostgreSQL and Temporal.
const startTimeout = 15 * time.Second

func (s *Server) createApplication(w http.ResponseWriter, r *http.Request) {
	var req ApplicationRequest
	if !decodeJSON(w, r, &req, MaxJSONBytes, false) {
		return
	}
	if errs := req.validate(); len(errs) > 0 {
		validationProblem(w, r, errs)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), startTimeout)
	defer cancel()
	errs, err := s.checkDocuments(ctx, req.ApplicantRef, req.Documents)
	if err != nil {
		s.unavailable(w, r, "database", err)
		return
	}
	if len(errs) > 0 {
		validationProblem(w, r, errs)
		return
	}

	hash := requestHash(&req)
	ref := req.ApplicantRef
	wfID := workflows.LoanWorkflowID(ref)
	created, existing, err := s.store.CreateApplication(ctx, ref, wfID, hash, req.Loan.Amount, req.Loan.Tenor, string(req.Loan.TenorUnit))
	if err != nil {
		s.unavailable(w, r, "database", err)
		return
	}
	if !created && existing == store.ErasedRequestHash {
		problem(w, r, http.StatusConflict, TypeErased,
			"this applicant's personal data was erased; the applicantRef cannot be used again")
		return
	}
	if !created && existing != hash {
		problem(w, r, http.StatusConflict, TypeConflict,
			"an application with this applicantRef exists with a different body")
		return
	}
	if !created {
		// A repeat of an earlier create. Once a workflow has reported on the
		// application (seq > 0) it never starts again: its workflow runs, or
		// ran and may be gone from Temporal after retention, and a second
		// start would begin a second lifecycle for one applicant.
		row, gerr := s.store.GetApplication(ctx, ref)
		if gerr != nil {
			s.unavailable(w, r, "database", gerr)
			return
		}
		if row.Seq > 0 {
			s.answerRepeat(ctx, w, r, row)
			return
		}
	}
	// The documents uploaded without an applicant become theirs, sealed
	// under their data key, so that erasing the applicant finds them.
	if _, err := s.store.BindDocuments(ctx, ref, documentIDs(req.Documents)); err != nil {
		s.unavailable(w, r, "database", err)
		return
	}
	if !s.recheckDocuments(ctx, w, r, &req, created, hash) {
		return
	}
	if !s.startLoan(ctx, w, r, &req, created, hash) {
		return
	}
	w.Header().Set("Location", "/v1/applications/"+ref)
	writeJSON(w, http.StatusAccepted, CreatedResponse{ApplicationID: ref, WorkflowID: wfID, Created: created})
}

// startLoan starts the application's workflow, and reports whether the
// caller answers 202. A create whose row it claimed only now (created) while
// Temporal already has the workflow ID means the read model and Temporal
// disagree (PostgreSQL restored from an older backup, the read model wiped):
// no workflow starts for this request, so the claim is released and the
// answer is 409, never 202 for nothing.
func (s *Server) startLoan(ctx context.Context, w http.ResponseWriter, r *http.Request, req *ApplicationRequest, created bool, hash string) bool {
	ref := req.ApplicantRef
	wfID := workflows.LoanWorkflowID(ref)
	// Start even when the row existed without a workflow report: a create
	// that crashed between the row and the start is finished by its retry.
	// The workflow ID is never reused (RejectDuplicate) and a running one is
	// never replaced (Fail), so a second start of the same application is
	// refused, which is success here.
	_, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       wfID,
		TaskQueue:                                s.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// What ops filter on from the first moment; the workflow updates
		// them as the loan comes to rest in later stages.
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.ApplicantRefKey.ValueSet(ref),
			workflows.LoanStageKey.ValueSet(string(workflows.StageRegister)),
			workflows.LoanStuckKey.ValueSet(false),
		),
	}, workflows.WorkflowName, req.input(s.loanCfg))
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case err == nil:
		return true
	case !errors.As(err, &already):
		s.unavailable(w, r, "temporal", err)
		return false
	case !created:
		return true
	}
	if rerr := s.store.ReleaseApplicationClaim(ctx, ref, hash); rerr != nil {
		s.unavailable(w, r, "database", rerr)
		return false
	}
	s.log.Warn().Str("request_id", RequestIDFrom(r.Context())).Str("workflow_id", wfID).
		Msg("create refused: the workflow exists in Temporal but the read model had no application for it")
	problem(w, r, http.StatusConflict, TypeAlreadyUsed,
		"applicantRef already used: its workflow "+wfID+" exists in Temporal, but this service has no "+
			"record of the application (was the database restored from an older backup?); "+
			"operations must reconcile it before the applicantRef can be used")
	return false
}

// answerRepeat answers a repeated create for an application a workflow has
// already reported on, from the read model: 202 with the stored stage while
// its workflow runs or after it ended; 409 when the read model says the loan
// is still under way but Temporal no longer has its workflow, since nothing
// would move it.
func (s *Server) answerRepeat(ctx context.Context, w http.ResponseWriter, r *http.Request, row *store.Application) {
	if !row.Terminal {
		_, err := s.temporal.DescribeWorkflow(ctx, row.WorkflowID, "")
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			s.log.Warn().Str("request_id", RequestIDFrom(r.Context())).Str("workflow_id", row.WorkflowID).
				Str("stage", row.Stage).Msg("repeated create: the read model has a loan under way that Temporal does not")
			problem(w, r, http.StatusConflict, TypeAlreadyUsed,
				"applicantRef already used: the application is at "+row.Stage+" in this service's records, but "+
					"its workflow "+row.WorkflowID+" is gone from Temporal; operations must reconcile it")
			return
		case err != nil:
			s.unavailable(w, r, "temporal", err)
			return
		}
	}
	w.Header().Set("Location", "/v1/applications/"+row.ApplicantRef)
	writeJSON(w, http.StatusAccepted, CreatedResponse{ApplicationID: row.ApplicantRef, WorkflowID: row.WorkflowID,
		Stage: row.Stage, Terminal: row.Terminal})
}

// requestHash is the SHA-256 of the canonical form of a validated request:
// the struct marshalled again, so key order, spacing and the spelling of a
// mobile number (08…, +628…) do not make two equal applications differ.
func requestHash(req *ApplicationRequest) string {
	b, _ := json.Marshal(req)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func documentIDs(refs []activities.DocumentRef) []string {
	ids := make([]string, len(refs))
	for i, d := range refs {
		ids[i] = d.DocumentID
	}
	return ids
}

// recheckDocuments checks the request's documents again once the create
// has claimed the application and bound them, and reports whether the
// caller goes on. The unreferenced_documents retention sweep deletes a
// document that no application references once it is older than
// RETENTION_UNREFERENCED_DOCUMENTS_DAYS, and may have done so between
// checkDocuments and BindDocuments; from now on the documents are the
// application's, which that sweep never deletes (it re-checks under its
// row locks, and checkDocuments' lock waits for a sweep holding one). A
// document gone is the same 422 as an unknown one, and the claim this
// request made is released, so that the create can be sent again, with
// the document uploaded anew.
func (s *Server) recheckDocuments(ctx context.Context, w http.ResponseWriter, r *http.Request, req *ApplicationRequest, created bool, hash string) bool {
	errs, err := s.checkDocuments(ctx, req.ApplicantRef, req.Documents)
	if err != nil {
		s.unavailable(w, r, "database", err)
		return false
	}
	if len(errs) == 0 {
		return true
	}
	if created {
		if err := s.store.ReleaseApplicationClaim(ctx, req.ApplicantRef, hash); err != nil {
			s.unavailable(w, r, "database", err)
			return false
		}
	}
	validationProblem(w, r, errs)
	return false
}

// checkDocuments reports the referenced documents that do not exist, were
// uploaded for another applicant, or were uploaded as another image type. FOR KEY SHARE makes it wait for a
// retention sweep that holds one of them (FOR UPDATE) and answer from what
// the sweep left; it does not block a create binding them.
func (s *Server) checkDocuments(ctx context.Context, applicantRef string, refs []activities.DocumentRef) ([]FieldError, error) {
	ids := documentIDs(refs)
	rows, err := s.store.Pool().Query(ctx, `SELECT id::text, image_type, coalesce(applicant_ref, '') FROM documents
		WHERE id = ANY($1::uuid[]) FOR KEY SHARE`, ids)
	if err != nil {
		return nil, err
	}
	types, owners := map[string]string{}, map[string]string{}
	for rows.Next() {
		var id, typ, owner string
		if err := rows.Scan(&id, &typ, &owner); err != nil {
			rows.Close()
			return nil, err
		}
		types[id], owners[id] = typ, owner
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var fe fieldErrors
	for i, d := range refs {
		f := "documents[" + strconv.Itoa(i) + "].documentId"
		typ, ok := types[strings.ToLower(d.DocumentID)]
		switch {
		case !ok:
			fe.add(f, "no such document; upload it first (POST /v1/documents)")
		case owners[strings.ToLower(d.DocumentID)] != "" && owners[strings.ToLower(d.DocumentID)] != applicantRef:
			// Another applicant's ID card or selfie must never go into this
			// loan; the answer does not say whose it is.
			fe.add(f, "the document was uploaded for another applicant; upload it for this applicantRef")
		case typ != "" && typ != string(d.Type):
			fe.add(f, "the document was uploaded as "+typ)
		}
	}
	return fe, nil
}

// ---- reading ----

// ApplicationView answers GET /v1/applications/{ref} and lists. Source says
// where it comes from: "workflow" (the live status query) or "readModel"
// (the applications table: the workflow has closed, or Temporal did not
// answer in time).
type ApplicationView struct {
	ApplicationID string `json:"applicationId"`
	WorkflowID    string `json:"workflowId"`
	Source        string `json:"source"`
	Stage         string `json:"stage"`
	Stuck         bool   `json:"stuck"`
	// StuckAt is where a stuck loan is parked, why and since when, in the
	// same words live and from the read model (live.stuck is the same).
	StuckAt  *workflows.Stuck `json:"stuckAt,omitempty"`
	Terminal bool             `json:"terminal"`
	// Reason is why the loan ended (terminal stages).
	Reason string `json:"reason,omitempty"`
	// Operator is who ended it, when operations did (abandon).
	Operator   string     `json:"operator,omitempty"`
	LoanStatus string     `json:"loanStatus,omitempty"`
	AwdaUserID string     `json:"awdaUserId,omitempty"`
	AwdaLoanNo string     `json:"awdaLoanNo,omitempty"`
	OrderNo    string     `json:"orderNo,omitempty"`
	Amount     int64      `json:"amount"`
	Tenor      int        `json:"tenor"`
	TenorUnit  string     `json:"tenorUnit"`
	CreatedAt  *time.Time `json:"createdAt,omitempty"`
	UpdatedAt  *time.Time `json:"updatedAt,omitempty"`
	// Next is what the loan waits for from the borrower (live only).
	Next *workflows.NextAction `json:"next,omitempty"`
	// Live is the workflow's whole status: transitions, authorizations,
	// agreement, schedule (live only). It holds no personal data.
	Live *workflows.Status `json:"live,omitempty"`
	// Trail is every transition of the loan written to the database, oldest
	// first (GET of one application only). It outlives Temporal's
	// retention; for an open loan the newest transitions may be in
	// live.transitions before they are here.
	Trail []workflows.Transition `json:"trail,omitempty"`
}

// Sources of an ApplicationView.
const (
	SourceWorkflow  = "workflow"
	SourceReadModel = "readModel"
)

// StageNew is the stage of an application whose workflow has not reported
// yet.
const StageNew = "NEW"

func viewFromRow(a *store.Application) ApplicationView {
	created, updated := a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	stage := a.Stage
	if stage == "" {
		stage = StageNew
	}
	v := ApplicationView{
		ApplicationID: a.ApplicantRef, WorkflowID: a.WorkflowID, Source: SourceReadModel,
		Stage: stage, Stuck: a.Stuck, Terminal: a.Terminal, Reason: a.Reason, Operator: a.Operator,
		LoanStatus: a.LoanStatus, AwdaUserID: a.AwdaUserID, AwdaLoanNo: a.AwdaLoanNo, OrderNo: a.OrderNo,
		Amount: a.Amount, Tenor: a.Tenor, TenorUnit: a.TenorUnit,
		CreatedAt: &created, UpdatedAt: &updated,
	}
	if a.Stuck {
		v.StuckAt = &workflows.Stuck{Step: a.StuckStep, Reason: a.StuckReason, Since: updated}
		if a.StuckSince != nil {
			v.StuckAt.Since = a.StuckSince.UTC()
		}
		// Rows written before the step had a column of its own, and loans
		// still running the workflow code from before bounded waits, write
		// "step: reason" as the reason; step names have no colon.
		if step, reason, ok := strings.Cut(a.StuckReason, ": "); ok && (v.StuckAt.Step == "" || v.StuckAt.Step == step) {
			v.StuckAt.Step, v.StuckAt.Reason = step, reason
		}
	}
	return v
}

func viewFromStatus(ref string, st *workflows.Status) ApplicationView {
	v := ApplicationView{
		ApplicationID: ref, WorkflowID: st.WorkflowID, Source: SourceWorkflow,
		Stage: string(st.Stage), Terminal: st.Terminal, Reason: st.Reason,
		LoanStatus: string(st.LoanStatus), AwdaUserID: st.UserID, AwdaLoanNo: st.LoanNo, OrderNo: st.OrderNo,
		Amount: st.Amount, Tenor: st.Tenor, TenorUnit: string(st.TenorUnit),
		Next: st.Next, Live: st,
	}
	if v.Stage == "" {
		v.Stage = StageNew
	}
	if st.Stuck != nil {
		stuck := *st.Stuck
		v.Stuck, v.StuckAt = true, &stuck
	}
	if st.Stage == workflows.StageFailed {
		v.Operator = abandonedBy(st.Transitions)
	}
	return v
}

// abandonedBy is the operator of the abandon that ended a loan, from its
// transitions ("" if operations did not end it).
func abandonedBy(ts []workflows.Transition) string {
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Kind == workflows.KindResumed && ts[i].To == "abandon" {
			return ts[i].Operator
		}
	}
	return ""
}

// trailView turns stored trail entries into the transitions' wire form.
func trailView(es []activities.TrailEntry) []workflows.Transition {
	out := make([]workflows.Transition, len(es))
	for i, e := range es {
		out[i] = workflows.Transition{Seq: e.Seq, At: e.At.UTC(), Kind: e.Kind, From: e.From, To: e.To,
			EventID: e.EventID, Note: e.Note, Operator: e.Operator}
	}
	return out
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	if !ValidRef(ref) {
		problem(w, r, http.StatusNotFound, TypeNotFound, "no such application")
		return
	}
	wfID := workflows.LoanWorkflowID(ref)
	qctx, cancel := context.WithTimeout(r.Context(), s.queryTO)
	st, err := workflows.StatusQuery.GetOpen(qctx, s.temporal, wfID)
	cancel()
	if err == nil {
		if st.WorkflowID == "" {
			st.WorkflowID = wfID
		}
		v := viewFromStatus(ref, &st)
		// The live answer stands without the stored trail: the status
		// holds the latest transitions.
		if tr, terr := s.store.Trail(r.Context(), wfID); terr == nil {
			v.Trail = trailView(tr)
		} else {
			s.log.Warn().Str("request_id", RequestIDFrom(r.Context())).Str("workflow_id", wfID).
				Str("error_type", errorType(terr)).Msg("reading the trail failed; answering without it")
		}
		writeJSON(w, http.StatusOK, v)
		return
	}
	var notFound *serviceerror.NotFound
	if !errors.Is(err, workflows.ErrNotOpen) && !errors.As(err, &notFound) {
		// Temporal is slow or away: the read model still answers.
		s.log.Warn().Str("request_id", RequestIDFrom(r.Context())).Str("workflow_id", wfID).
			Str("error_type", errorType(err)).Msg("status query failed; answering from the read model")
	}
	a, gerr := s.store.GetApplication(r.Context(), ref)
	switch {
	case errors.Is(gerr, store.ErrNotFound):
		problem(w, r, http.StatusNotFound, TypeNotFound, "no such application")
	case gerr != nil:
		s.unavailable(w, r, "database", gerr)
	default:
		v := viewFromRow(a)
		tr, terr := s.store.Trail(r.Context(), a.WorkflowID)
		if terr != nil {
			s.unavailable(w, r, "database", terr)
			return
		}
		v.Trail = trailView(tr)
		writeJSON(w, http.StatusOK, v)
	}
}

// ListResponse answers GET /v1/applications.
type ListResponse struct {
	Items []ApplicationView `json:"items"`
	// NextCursor fetches the next page; empty on the last.
	NextCursor string `json:"nextCursor,omitempty"`
}

// knownStage reports whether s is a working stage or an outcome.
func knownStage(s string) bool {
	st := workflows.Stage(s)
	if st.Terminal() {
		return true
	}
	for _, w := range workflows.Stages {
		if w == st {
			return true
		}
	}
	return false
}

func (s *Server) listApplications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var fe fieldErrors
	f := store.ListFilter{Stage: q.Get("stage"), Cursor: q.Get("cursor")}
	if f.Stage != "" && !knownStage(f.Stage) {
		fe.add("stage", "not a stage")
	}
	if v := q.Get("stuck"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fe.add("stuck", "must be true or false")
		} else {
			f.Stuck = &b
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxListLimit {
			fe.add("limit", "must be an integer from 1 to "+strconv.Itoa(store.MaxListLimit))
		} else {
			f.Limit = n
		}
	}
	if len(fe) > 0 {
		writeProblem(w, r, Problem{Type: TypeMalformed, Status: http.StatusBadRequest, Title: "Invalid query",
			Detail: "the query has invalid parameters; see errors", Errors: fe})
		return
	}
	items, next, err := s.store.ListApplications(r.Context(), f)
	if errors.Is(err, store.ErrInvalidCursor) {
		writeProblem(w, r, Problem{Type: TypeMalformed, Status: http.StatusBadRequest, Title: "Invalid query",
			Detail: "the cursor is not one this API made", Errors: []FieldError{{Field: "cursor", Detail: "invalid cursor"}}})
		return
	}
	if err != nil {
		s.unavailable(w, r, "database", err)
		return
	}
	out := ListResponse{Items: make([]ApplicationView, 0, len(items)), NextCursor: next}
	for i := range items {
		out.Items = append(out.Items, viewFromRow(&items[i]))
	}
	writeJSON(w, http.StatusOK, out)
}
