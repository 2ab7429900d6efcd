package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/awdaflow/awdaflow/activities"
)

// Application is one row of the read model.
type Application struct {
	ApplicantRef string `json:"applicantRef"`
	WorkflowID   string `json:"workflowId"`
	Seq          int64  `json:"seq"`
	Stage        string `json:"stage"`
	Stuck        bool   `json:"stuck"`
	StuckStep    string `json:"stuckStep,omitempty"`
	StuckReason  string `json:"stuckReason,omitempty"`
	// StuckSince is when the loan was parked on StuckStep (nil when not
	// stuck): the first write that showed it stuck there.
	StuckSince  *time.Time `json:"stuckSince,omitempty"`
	AwdaUserID  string     `json:"awdaUserId,omitempty"`
	AwdaLoanNo  string     `json:"awdaLoanNo,omitempty"`
	OrderNo     string     `json:"orderNo,omitempty"`
	LoanStatus  string     `json:"loanStatus,omitempty"`
	Amount      int64      `json:"amount"`
	Tenor       int        `json:"tenor"`
	TenorUnit   string     `json:"tenorUnit"`
	Terminal    bool       `json:"terminal"`
	Reason      string     `json:"reason,omitempty"`   // why it ended (terminal stages)
	Operator    string     `json:"operator,omitempty"` // who ended it, when operations did
	RequestHash string     `json:"-"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

const applicationColumns = `applicant_ref, workflow_id, seq, stage, stuck, stuck_step, stuck_reason, stuck_since,
	coalesce(awda_user_id, ''), coalesce(awda_loan_no, ''), coalesce(order_no, ''), loan_status,
	amount, tenor, tenor_unit, terminal, reason, operator, coalesce(request_hash, ''), created_at, updated_at`

func scanApplication(row pgx.Row) (*Application, error) {
	var a Application
	err := row.Scan(&a.ApplicantRef, &a.WorkflowID, &a.Seq, &a.Stage, &a.Stuck, &a.StuckStep, &a.StuckReason, &a.StuckSince,
		&a.AwdaUserID, &a.AwdaLoanNo, &a.OrderNo, &a.LoanStatus,
		&a.Amount, &a.Tenor, &a.TenorUnit, &a.Terminal, &a.Reason, &a.Operator, &a.RequestHash, &a.CreatedAt, &a.UpdatedAt)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// UpsertApplication writes the workflow's projection of one application. A
// write whose Seq is not greater than the stored one changes nothing in the
// row, so a retried or late activity never moves a row backwards, with two
// exceptions for what a workflow task retried after a worker died can
// leave behind (its first attempt's local activity wrote a Seq with the
// state of that attempt, and the attempt that completed, having seen more
// events, writes the same Seq with another state, or ends the loan with a
// lower Seq than the first attempt reached): a terminal write applies over
// a row that is not terminal whatever their Seqs (the loan has ended; its
// last write must show it), and AWDA IDs the row lacks are filled in from
// any write (the inbox routes AWDA's pushes by them, and they never change
// back). AWDA IDs, once known, are kept if a later projection leaves them
// empty. The create-time columns (request_hash, created_at) are never
// touched.
//
// The projection's Trail is stored in the same statement (one transaction),
// each entry once by (WorkflowID, Seq): a retry or a repeat adds nothing,
// and the entries of a late write are kept even though its row is not (they
// are the loan's history, which a later row does not contain). Entries
// without a Seq (from histories before the trail) are skipped.
func (s *Store) UpsertApplication(ctx context.Context, p activities.ApplicationProjection) error {
	if p.ApplicantRef == "" || p.WorkflowID == "" {
		return errors.New("store: upsert application: applicant ref and workflow ID are required")
	}
	updated := p.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	var stuckSince *time.Time
	if p.Stuck {
		stuckSince = &updated
	}
	t := trailColumns(p.Trail)
	_, err := s.pool.Exec(ctx, strings.ReplaceAll(`
		WITH trail AS (
			INSERT INTO loan_trail (workflow_id, seq, at, kind, from_state, to_state, event_id, note, operator)
			SELECT $2, t.* FROM unnest($18::bigint[], $19::timestamptz[], $20::text[], $21::text[], $22::text[],
				$23::text[], $24::text[], $25::text[]) AS t
			ON CONFLICT (workflow_id, seq) DO NOTHING
		)
		INSERT INTO applications AS a (applicant_ref, workflow_id, seq, stage, stuck, stuck_step, stuck_reason, stuck_since,
			awda_user_id, awda_loan_no, order_no, loan_status, amount, tenor, tenor_unit, terminal, reason, operator, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), NULLIF($10, ''), NULLIF($11, ''), $12, $13, $14, $15, $16,
			$26, $27, $17)
		ON CONFLICT (applicant_ref) DO UPDATE SET
			workflow_id  = CASE WHEN {newer} THEN EXCLUDED.workflow_id ELSE a.workflow_id END,
			seq          = GREATEST(a.seq, EXCLUDED.seq),
			stage        = CASE WHEN {newer} THEN EXCLUDED.stage ELSE a.stage END,
			stuck        = CASE WHEN {newer} THEN EXCLUDED.stuck ELSE a.stuck END,
			stuck_step   = CASE WHEN {newer} THEN EXCLUDED.stuck_step ELSE a.stuck_step END,
			stuck_reason = CASE WHEN {newer} THEN EXCLUDED.stuck_reason ELSE a.stuck_reason END,
			-- Parked on the same step as before: still the first time it was
			-- seen there.
			stuck_since  = CASE WHEN NOT {newer} THEN a.stuck_since
			                    WHEN EXCLUDED.stuck AND a.stuck AND a.stuck_step = EXCLUDED.stuck_step
			                    THEN coalesce(a.stuck_since, EXCLUDED.stuck_since)
			                    ELSE EXCLUDED.stuck_since END,
			awda_user_id = CASE WHEN {newer} THEN coalesce(EXCLUDED.awda_user_id, a.awda_user_id)
			                    ELSE coalesce(a.awda_user_id, EXCLUDED.awda_user_id) END,
			awda_loan_no = CASE WHEN {newer} THEN coalesce(EXCLUDED.awda_loan_no, a.awda_loan_no)
			                    ELSE coalesce(a.awda_loan_no, EXCLUDED.awda_loan_no) END,
			order_no     = CASE WHEN {newer} THEN coalesce(EXCLUDED.order_no, a.order_no)
			                    ELSE coalesce(a.order_no, EXCLUDED.order_no) END,
			loan_status  = CASE WHEN {newer} THEN EXCLUDED.loan_status ELSE a.loan_status END,
			amount       = CASE WHEN {newer} THEN EXCLUDED.amount ELSE a.amount END,
			tenor        = CASE WHEN {newer} THEN EXCLUDED.tenor ELSE a.tenor END,
			tenor_unit   = CASE WHEN {newer} THEN EXCLUDED.tenor_unit ELSE a.tenor_unit END,
			terminal     = CASE WHEN {newer} THEN EXCLUDED.terminal ELSE a.terminal END,
			reason       = CASE WHEN {newer} THEN EXCLUDED.reason ELSE a.reason END,
			operator     = CASE WHEN {newer} THEN EXCLUDED.operator ELSE a.operator END,
			updated_at   = CASE WHEN {newer} THEN EXCLUDED.updated_at ELSE a.updated_at END
		WHERE {newer}
			OR (a.awda_user_id IS NULL AND EXCLUDED.awda_user_id IS NOT NULL)
			OR (a.awda_loan_no IS NULL AND EXCLUDED.awda_loan_no IS NOT NULL)
			OR (a.order_no IS NULL AND EXCLUDED.order_no IS NOT NULL)`, "{newer}", projectionNewer),
		p.ApplicantRef, p.WorkflowID, p.Seq, p.Stage, p.Stuck, p.StuckStep, p.StuckReason, stuckSince,
		p.AwdaUserID, p.AwdaLoanNo, p.OrderNo, p.LoanStatus, p.Amount, p.Tenor, p.TenorUnit, p.Terminal, updated,
		t.seq, t.at, t.kind, t.from, t.to, t.eventID, t.note, t.operator,
		p.Reason, p.Operator)
	if err != nil {
		return fmt.Errorf("store: upsert application %s: %w", p.ApplicantRef, err)
	}
	return nil
}

// projectionNewer is when a projection's row replaces the stored one (see
// UpsertApplication).
const projectionNewer = `(a.seq < EXCLUDED.seq OR (EXCLUDED.terminal AND NOT a.terminal))`

// CreateApplication records a new application for the API's idempotent
// create, before its workflow starts. created is true when this call claimed
// ref (a new row, or a row the workflow wrote first without a request hash);
// otherwise existingHash is the hash the ref was created with: equal to
// requestHash for a retry of the same request, different for a conflict.
func (s *Store) CreateApplication(ctx context.Context, ref, workflowID, requestHash string, amount int64, tenor int, tenorUnit string) (created bool, existingHash string, err error) {
	if ref == "" || workflowID == "" || requestHash == "" {
		return false, "", errors.New("store: create application: ref, workflow ID and request hash are required")
	}
	var claimed string
	err = s.pool.QueryRow(ctx, `
		INSERT INTO applications AS a (applicant_ref, workflow_id, request_hash, amount, tenor, tenor_unit)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (applicant_ref) DO UPDATE SET request_hash = EXCLUDED.request_hash
		WHERE a.request_hash IS NULL
		RETURNING request_hash`,
		ref, workflowID, requestHash, amount, tenor, tenorUnit).Scan(&claimed)
	if err == nil {
		return true, claimed, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, "", fmt.Errorf("store: create application %s: %w", ref, err)
	}
	err = s.pool.QueryRow(ctx, `SELECT request_hash FROM applications WHERE applicant_ref = $1`, ref).Scan(&existingHash)
	if err != nil {
		return false, "", fmt.Errorf("store: create application %s: %w", ref, err)
	}
	return false, existingHash, nil
}

// ReleaseApplicationClaim undoes CreateApplication's claim of ref with
// requestHash, when the create it served turned out to start nothing (the
// workflow ID already existed in Temporal): a row the claim inserted, which
// no workflow has reported on (seq 0), is deleted; a row a workflow wrote
// goes back to having no request hash. A row another request claimed since
// (another hash) is left alone.
func (s *Store) ReleaseApplicationClaim(ctx context.Context, ref, requestHash string) error {
	_, err := s.pool.Exec(ctx, `
		WITH gone AS (
			DELETE FROM applications WHERE applicant_ref = $1 AND request_hash = $2 AND seq = 0
			RETURNING applicant_ref
		)
		UPDATE applications SET request_hash = NULL
		WHERE applicant_ref = $1 AND request_hash = $2 AND seq > 0 AND NOT EXISTS (SELECT 1 FROM gone)`,
		ref, requestHash)
	if err != nil {
		return fmt.Errorf("store: release application claim %s: %w", ref, err)
	}
	return nil
}

// GetApplication returns one application, or ErrNotFound.
func (s *Store) GetApplication(ctx context.Context, ref string) (*Application, error) {
	a, err := scanApplication(s.pool.QueryRow(ctx,
		`SELECT `+applicationColumns+` FROM applications WHERE applicant_ref = $1`, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get application %s: %w", ref, err)
	}
	return a, nil
}

// ApplicationByLoanNo returns the application of an AWDA loan, or ErrNotFound.
func (s *Store) ApplicationByLoanNo(ctx context.Context, loanNo string) (*Application, error) {
	a, err := scanApplication(s.pool.QueryRow(ctx,
		`SELECT `+applicationColumns+` FROM applications WHERE awda_loan_no = $1`, loanNo))
	if errors.Is(err, pgx.ErrNoRows) || loanNo == "" {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: application by loan no: %w", err)
	}
	return a, nil
}

// ApplicationByUserID returns the application of an AWDA user: the open one if
// there is one, else the newest. ErrNotFound if none.
func (s *Store) ApplicationByUserID(ctx context.Context, userID string) (*Application, error) {
	a, err := scanApplication(s.pool.QueryRow(ctx,
		`SELECT `+applicationColumns+` FROM applications WHERE awda_user_id = $1
		ORDER BY terminal, created_at DESC, applicant_ref DESC LIMIT 1`, userID))
	if errors.Is(err, pgx.ErrNoRows) || userID == "" {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: application by user id: %w", err)
	}
	return a, nil
}

// WorkflowIDByLoanNo routes a loan-status notification: the workflow ID of the
// application with AWDA loan number loanNo, or ErrNotFound.
func (s *Store) WorkflowIDByLoanNo(ctx context.Context, loanNo string) (string, error) {
	a, err := s.ApplicationByLoanNo(ctx, loanNo)
	if err != nil {
		return "", err
	}
	return a.WorkflowID, nil
}

// WorkflowIDByUserID routes an authorization notification: the workflow ID of
// the AWDA user's application (see ApplicationByUserID), or ErrNotFound.
func (s *Store) WorkflowIDByUserID(ctx context.Context, userID string) (string, error) {
	a, err := s.ApplicationByUserID(ctx, userID)
	if err != nil {
		return "", err
	}
	return a.WorkflowID, nil
}

// ListFilter selects applications. Zero values select everything.
type ListFilter struct {
	Stage  string
	Stuck  *bool
	Limit  int    // 1..MaxListLimit; 0 means DefaultListLimit
	Cursor string // from the previous page's nextCursor
}

const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// ErrInvalidCursor is returned by ListApplications for a cursor it did not
// make (the API answers 400).
var ErrInvalidCursor = errors.New("store: invalid cursor")

type cursor struct {
	CreatedAt time.Time `json:"t"`
	Ref       string    `json:"r"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	// A NUL cannot be in a text value: PostgreSQL would refuse the query
	// (22021), and a client's bad cursor would look like an outage.
	if err != nil || json.Unmarshal(b, &c) != nil || c.Ref == "" || c.CreatedAt.IsZero() || strings.ContainsRune(c.Ref, 0) {
		return cursor{}, ErrInvalidCursor
	}
	return c, nil
}

// ListApplications returns applications newest first (by creation time, then
// applicant ref), one page at a time. nextCursor is empty on the last page.
// Pages are stable under concurrent inserts: the cursor is a position in the
// order (keyset), not an offset.
func (s *Store) ListApplications(ctx context.Context, f ListFilter) ([]Application, string, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 0 || limit > MaxListLimit:
		return nil, "", fmt.Errorf("store: list applications: limit must be between 1 and %d", MaxListLimit)
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Stage != "" {
		where = append(where, "stage = "+arg(f.Stage))
	}
	if f.Stuck != nil {
		if *f.Stuck {
			where = append(where, "stuck")
		} else {
			where = append(where, "NOT stuck")
		}
	}
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, fmt.Sprintf("(created_at, applicant_ref) < (%s, %s)", arg(c.CreatedAt), arg(c.Ref)))
	}
	q := `SELECT ` + applicationColumns + ` FROM applications`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, applicant_ref DESC LIMIT ` + arg(limit+1)

	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list applications: %w", err)
	}
	defer rows.Close()
	out := make([]Application, 0, limit)
	for rows.Next() {
		a, err := scanApplication(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: list applications: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list applications: %w", err)
	}
	var next string
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = cursor{CreatedAt: last.CreatedAt, Ref: last.ApplicantRef}.encode()
	}
	return out, next, nil
}

// StageCount is how many open loans rest in one stage of the read model,
// and how many of them are stuck there.
type StageCount struct {
	Stage string
	Open  int
	Stuck int
}

// CountOpenLoans counts the open (not terminal) applications by stage, in
// stage order; a stage without open loans is not listed. An application the
// API created whose workflow has not written its first projection yet has
// stage "". One index-only scan (applications_open_stage_idx).
func (s *Store) CountOpenLoans(ctx context.Context) ([]StageCount, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT stage, count(*), count(*) FILTER (WHERE stuck)
		FROM applications WHERE NOT terminal GROUP BY stage ORDER BY stage`)
	if err != nil {
		return nil, fmt.Errorf("store: count open loans: %w", err)
	}
	counts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StageCount, error) {
		var c StageCount
		return c, r.Scan(&c.Stage, &c.Open, &c.Stuck)
	})
	if err != nil {
		return nil, fmt.Errorf("store: count open loans: %w", err)
	}
	return counts, nil
}
