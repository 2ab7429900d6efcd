package api

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Problem is an error answer, RFC 9457 (application/problem+json). Detail
// and the field details never quote a submitted value: a value may be a NIK,
// a phone number or an account number.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"requestId,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
	// Verdict is the workflow's refusal of a bank card or signature.
	Verdict *Verdict `json:"verdict,omitempty"`
}

// FieldError names one invalid field of a request by its JSON path
// ("applicant.personal.gender", "emergencyContacts[1].mobile") and says what
// is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Problem types. Clients branch on Type, not on Title or Detail.
const (
	ProblemTypePrefix  = "https://awdaflow.dev/problems/"
	TypeValidation     = ProblemTypePrefix + "validation"   // 422, with errors
	TypeMalformed      = ProblemTypePrefix + "malformed"    // 400: not JSON, wrong types, unknown fields
	TypeUnauthorized   = ProblemTypePrefix + "unauthorized" // 401
	TypeNotFound       = ProblemTypePrefix + "not-found"    // 404
	TypeConflict       = ProblemTypePrefix + "conflict"     // 409: another body for an existing ref
	TypeAlreadyUsed    = ProblemTypePrefix + "already-used" // 409: Temporal and the read model disagree on the ref
	TypeWrongStage     = ProblemTypePrefix + "wrong-stage"  // 409: the application is not waiting for this
	TypeRejected       = ProblemTypePrefix + "rejected"     // 422: the workflow or AWDA refused
	TypeTooLarge       = ProblemTypePrefix + "too-large"    // 413
	TypeUnsupported    = ProblemTypePrefix + "unsupported"  // 415
	TypeUnavailable    = ProblemTypePrefix + "unavailable"  // 503: Temporal or the database is unreachable
	TypeUpstream       = ProblemTypePrefix + "upstream"     // 502: AWDA failed
	TypeTimeout        = ProblemTypePrefix + "timeout"      // 504: no verdict in time
	TypeInternal       = ProblemTypePrefix + "internal"     // 500
	TypeMethodNotAllow = ProblemTypePrefix + "method-not-allowed"
)

// ContentTypeProblem is the media type of Problem answers.
const ContentTypeProblem = "application/problem+json"

func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if r != nil {
		p.Instance = r.URL.Path
		p.RequestID = RequestIDFrom(r.Context())
	}
	b, err := json.Marshal(p)
	if err != nil { // cannot happen: plain strings and ints
		b = []byte(`{"type":"` + TypeInternal + `","title":"Internal Server Error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", ContentTypeProblem)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}

func problem(w http.ResponseWriter, r *http.Request, status int, typ, detail string) {
	writeProblem(w, r, Problem{Type: typ, Status: status, Detail: detail})
}

func validationProblem(w http.ResponseWriter, r *http.Request, errs []FieldError) {
	writeProblem(w, r, Problem{
		Type:   TypeValidation,
		Title:  "Validation failed",
		Status: http.StatusUnprocessableEntity,
		Detail: "the request has invalid fields; see errors",
		Errors: errs,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		problem(w, nil, http.StatusInternalServerError, TypeInternal, "encoding the answer failed")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
