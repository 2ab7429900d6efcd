package activities

import (
	"context"
	"errors"
	"time"
)

// DocumentStore reads a borrower's uploaded documents by reference. Workflow
// inputs and histories carry only document IDs, never the bytes. The
// PostgreSQL implementation (encrypted at rest) lives in internal/store.
type DocumentStore interface {
	GetDocument(ctx context.Context, id string) (*Document, error)
}

// Document is one uploaded image.
type Document struct {
	ID          string
	ContentType string // e.g. image/jpeg
	FileName    string
	Bytes       []byte
}

// ErrDocumentNotFound is returned by a DocumentStore for an unknown ID.
var ErrDocumentNotFound = errors.New("document not found")

// ProjectionWriter keeps the read model (the applications table) current.
// UpsertApplication must be idempotent and must ignore a write whose Seq is
// not greater than the stored one, so a retried or late write never moves a
// row backwards.
type ProjectionWriter interface {
	UpsertApplication(ctx context.Context, p ApplicationProjection) error
}

// ApplicationProjection is the PII-free read model of one application.
type ApplicationProjection struct {
	WorkflowID   string
	ApplicantRef string
	Seq          int64 // per-workflow, strictly increasing with each transition
	Stage        string
	Stuck        bool
	StuckStep    string // the step a stuck loan is parked on ("" when not stuck)
	StuckReason  string // why, in the same words as the status query's stuck.reason
	AwdaUserID   string
	AwdaLoanNo   string
	OrderNo      string
	LoanStatus   string // AWDA's last known status
	Amount       int64
	Tenor        int
	TenorUnit    string
	Terminal     bool
	Reason       string    // why the loan ended (terminal stages): AWDA's reason or the deadline missed; no PII
	Operator     string    // who ended it, when operations did (abandon); no PII
	UpdatedAt    time.Time // the workflow time of the transition
	// Trail holds the loan's transitions not yet written (Seq above the
	// last write that succeeded), oldest first. The writer stores each once
	// by (WorkflowID, TrailEntry.Seq): a retried or repeated write adds
	// nothing, so the trail outlives the workflow state, which keeps only
	// the last few, and Temporal's retention.
	Trail []TrailEntry
}

// TrailEntry is one recorded change of a loan: a stage, an AWDA status, an
// authorization, stuck or resumed (with the operator and their reason). No
// personal data.
type TrailEntry struct {
	Seq      int64 // 1, 2, … per loan, across continue-as-new
	At       time.Time
	Kind     string // stage, loan_status, authorization, stuck, resumed
	From     string
	To       string
	EventID  string // the AWDA notification that caused it
	Note     string
	Operator string // for operator actions (retry, abandon)
}
