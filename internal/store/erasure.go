package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/awdaflow/awdaflow/internal/codec"
)

// ErasedRequestHash replaces an erased application's request hash (a digest
// of the borrower's create request): a create for the same applicantRef is
// then a conflict, never a new claim of the row.
const ErasedRequestHash = "erased"

// ErasedInboxNote is the last_error of an inbox row whose payload an erasure
// wiped while it was still pending or orphaned.
const ErasedInboxNote = "payload erased with the applicant's data"

// ErasureRequest is what EraseApplicant needs: which applicant, who asks and
// why (the audit), and what the caller did before (Terminated: it ended
// the loan's running workflow, as a forced erasure does).
type ErasureRequest struct {
	ApplicantRef string
	Operator     string
	Reason       string
	RequestID    string
	Forced       bool
	Terminated   bool
}

// Erasure is the audit row of one applicant's erasure.
type Erasure struct {
	ApplicantRef       string    `json:"applicantRef"`
	WorkflowID         string    `json:"workflowId"`
	DataKeyID          string    `json:"dataKeyId"`
	Operator           string    `json:"operator"`
	Reason             string    `json:"reason"`
	RequestID          string    `json:"requestId,omitempty"`
	Forced             bool      `json:"forced"`
	WorkflowTerminated bool      `json:"workflowTerminated"`
	DocumentsDeleted   int       `json:"documentsDeleted"`
	InboxRowsErased    int       `json:"inboxRowsErased"`
	ActionKeysDeleted  int       `json:"actionKeysDeleted"`
	ErasedAt           time.Time `json:"erasedAt"`
}

const erasureColumns = `applicant_ref, workflow_id, data_key_id, operator, reason, request_id, forced,
	workflow_terminated, documents_deleted, inbox_rows_erased, action_keys_deleted, erased_at`

func scanErasure(row pgx.Row) (*Erasure, error) {
	var e Erasure
	err := row.Scan(&e.ApplicantRef, &e.WorkflowID, &e.DataKeyID, &e.Operator, &e.Reason, &e.RequestID, &e.Forced,
		&e.WorkflowTerminated, &e.DocumentsDeleted, &e.InboxRowsErased, &e.ActionKeysDeleted, &e.ErasedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &e, err
}

// GetErasure returns the applicant's erasure, or ErrNotFound.
func (s *Store) GetErasure(ctx context.Context, ref string) (*Erasure, error) {
	e, err := scanErasure(s.pool.QueryRow(ctx, `SELECT `+erasureColumns+` FROM erasures WHERE applicant_ref = $1`, ref))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("store: get erasure: %w", err)
	}
	return e, err
}

// EraseApplicant erases an applicant's personal data, in one transaction:
// it destroys their data key (its sealed material nulled, erased_at set; a
// tombstone is stored when they never had one, so they never get one), deletes
// their documents and action keys, wipes the payloads of the inbox rows of
// their loan, replaces the application's request hash, and records the
// erasure. It keeps the application row (stages, amounts, dates, AWDA's
// numbers) and loan_trail. created is false, and the first erasure is
// returned unchanged, when the applicant was erased already. An unknown
// applicant (no application) is ErrNotFound.
//
// The caller ends a running workflow first and, after it, drops the key
// from its codec cache (codec.DataKeys.Forget).
func (s *Store) EraseApplicant(ctx context.Context, r ErasureRequest) (e *Erasure, created bool, err error) {
	if r.ApplicantRef == "" || r.Operator == "" || r.Reason == "" {
		return nil, false, errors.New("store: erase applicant: ref, operator and reason are required")
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		e, created, err = s.erase(ctx, tx, r)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("store: erase applicant: %w", err)
	}
	return e, created, nil
}

func (s *Store) erase(ctx context.Context, tx pgx.Tx, r ErasureRequest) (*Erasure, bool, error) {
	var wfID string
	var loanNo, userID *string
	// The row lock serialises two erasures of one applicant.
	err := tx.QueryRow(ctx, `SELECT workflow_id, awda_loan_no, awda_user_id FROM applications
		WHERE applicant_ref = $1 FOR UPDATE`, r.ApplicantRef).Scan(&wfID, &loanNo, &userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, ErrNotFound
	}
	if err != nil {
		return nil, false, err
	}
	if prev, err := scanErasure(tx.QueryRow(ctx, `SELECT `+erasureColumns+` FROM erasures WHERE applicant_ref = $1`, r.ApplicantRef)); err == nil {
		return prev, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	now := s.now().UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it
	e := &Erasure{ApplicantRef: r.ApplicantRef, WorkflowID: wfID, Operator: r.Operator, Reason: r.Reason,
		RequestID: r.RequestID, Forced: r.Forced, WorkflowTerminated: r.Terminated, ErasedAt: now}
	if e.DataKeyID, err = destroyDataKey(ctx, tx, r.ApplicantRef, now); err != nil {
		return nil, false, err
	}
	if e.DocumentsDeleted, err = execCount(ctx, tx, `DELETE FROM documents WHERE applicant_ref = $1`, r.ApplicantRef); err != nil {
		return nil, false, err
	}
	// The inbox rows of the loan: routed to its workflow, or naming its
	// AWDA loan; an authorization notification names only the AWDA user.
	// Their payloads are AWDA's notifications, delivered into the history
	// (under the data key); the rows stay, without them, for dedupe.
	e.InboxRowsErased, err = execCount(ctx, tx, `UPDATE webhook_inbox SET payload_sealed = ''::bytea,
			status = CASE WHEN status IN ('pending', 'orphan') THEN 'rejected' ELSE status END,
			last_error = CASE WHEN status IN ('pending', 'orphan') THEN $4 ELSE last_error END
		WHERE octet_length(payload_sealed) > 0 AND (workflow_id = $1 OR (loan_no IS NOT NULL AND loan_no = $2)
			OR (source = 'authorization' AND workflow_id IS NULL AND user_id IS NOT NULL AND user_id = $3))`,
		wfID, loanNo, userID, ErasedInboxNote)
	if err != nil {
		return nil, false, err
	}
	if e.ActionKeysDeleted, err = execCount(ctx, tx, `DELETE FROM action_keys WHERE workflow_id = $1`, wfID); err != nil {
		return nil, false, err
	}
	note := "personal data erased"
	if r.Terminated {
		note = "ended by a forced erasure of the applicant's personal data"
	}
	// A loan whose workflow the erasure ended is over: the read model says so.
	_, err = tx.Exec(ctx, `UPDATE applications SET request_hash = $2, updated_at = $3,
			terminal = terminal OR $4, reason = CASE WHEN $4 AND NOT terminal THEN $5 ELSE reason END
		WHERE applicant_ref = $1`, r.ApplicantRef, ErasedRequestHash, now, r.Terminated, note)
	if err != nil {
		return nil, false, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO erasures (`+erasureColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ApplicantRef, e.WorkflowID, e.DataKeyID, e.Operator, e.Reason, e.RequestID, e.Forced,
		e.WorkflowTerminated, e.DocumentsDeleted, e.InboxRowsErased, e.ActionKeysDeleted, e.ErasedAt)
	if err != nil {
		return nil, false, err
	}
	return e, true, nil
}

// destroyDataKey nulls the applicant's data key, or stores an erased
// tombstone when they have none, and returns its ID.
func destroyDataKey(ctx context.Context, tx pgx.Tx, ref string, now time.Time) (string, error) {
	var id string
	err := tx.QueryRow(ctx, `UPDATE data_keys SET sealed = NULL, erased_at = coalesce(erased_at, $2)
		WHERE applicant_ref = $1 RETURNING id`, ref, now).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	if id, err = codec.NewDataKeyID(); err != nil {
		return "", err
	}
	// A key created concurrently (the row lock on the application does not
	// cover data_keys) is erased by the conflict's update.
	err = tx.QueryRow(ctx, `INSERT INTO data_keys (id, applicant_ref, ring_key_id, sealed, created_at, erased_at)
		VALUES ($1, $2, '', NULL, $3, $3)
		ON CONFLICT (applicant_ref) DO UPDATE SET sealed = NULL, erased_at = coalesce(data_keys.erased_at, $3)
		RETURNING id`, id, ref, now).Scan(&id)
	return id, err
}

func execCount(ctx context.Context, tx pgx.Tx, sql string, args ...any) (int, error) {
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
