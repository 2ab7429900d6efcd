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
	StuckReason  string
	AwdaUserID   string
	AwdaLoanNo   string
	OrderNo      string
	LoanStatus   string // AWDA's last known status
	Amount       int64
	Tenor        int
	TenorUnit    string
	Terminal     bool
	Reason       string    // why the loan ended (terminal stages): AWDA's reason or the deadline missed; no PII
	UpdatedAt    time.Time // the workflow time of the transition
}
