package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// InboxRow is a webhook_inbox row's metadata, for operations: AWDA's opaque
// IDs, statuses, counts and times, never the payload.
type InboxRow struct {
	ID          int64      `json:"id"`
	Source      string     `json:"source"`
	EventID     string     `json:"eventId"`
	LoanNo      string     `json:"loanNo,omitempty"`
	UserID      string     `json:"awdaUserId,omitempty"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	Reason      string     `json:"reason,omitempty"` // last_error
	WorkflowID  string     `json:"workflowId,omitempty"`
	ReceivedAt  time.Time  `json:"receivedAt"`
	DeliveredAt *time.Time `json:"deliveredAt,omitempty"`
	ClaimedBy   string     `json:"claimedBy,omitempty"`
}

const inboxRowColumns = `id, source, event_id, coalesce(loan_no, ''), coalesce(user_id, ''), status, attempts, last_error,
	coalesce(workflow_id, ''), received_at, delivered_at, coalesce(claimed_by, '')`

func scanInboxRow(row pgx.Row) (InboxRow, error) {
	var r InboxRow
	err := row.Scan(&r.ID, &r.Source, &r.EventID, &r.LoanNo, &r.UserID, &r.Status, &r.Attempts, &r.Reason,
		&r.WorkflowID, &r.ReceivedAt, &r.DeliveredAt, &r.ClaimedBy)
	return r, err
}

// OrphanInbox returns up to limit orphan rows with an ID above afterID, in
// ID order.
func (s *Store) OrphanInbox(ctx context.Context, afterID int64, limit int) ([]InboxRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+inboxRowColumns+` FROM webhook_inbox
		WHERE status = 'orphan' AND id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: orphan inbox: %w", err)
	}
	defer rows.Close()
	var out []InboxRow
	for rows.Next() {
		r, err := scanInboxRow(rows)
		if err != nil {
			return nil, fmt.Errorf("store: orphan inbox: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// InboxRowByID returns one row's metadata and its payload opened (for
// InspectPayload, which keeps only its non-personal fields), or
// ErrNotFound. A payload that does not open comes back nil with the row and
// the error.
func (s *Store) InboxRowByID(ctx context.Context, id int64) (InboxRow, []byte, error) {
	var sealed []byte
	var r InboxRow
	err := s.pool.QueryRow(ctx, `SELECT `+inboxRowColumns+`, payload_sealed FROM webhook_inbox WHERE id = $1`, id).Scan(
		&r.ID, &r.Source, &r.EventID, &r.LoanNo, &r.UserID, &r.Status, &r.Attempts, &r.Reason,
		&r.WorkflowID, &r.ReceivedAt, &r.DeliveredAt, &r.ClaimedBy, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return InboxRow{}, nil, ErrNotFound
	}
	if err != nil {
		return InboxRow{}, nil, fmt.Errorf("store: inbox row %d: %w", id, err)
	}
	if len(sealed) == 0 {
		return r, nil, ErrInboxPayloadErased
	}
	p, err := s.sealer.Open(sealed, inboxAAD(r.Source, r.EventID))
	if err != nil {
		return r, nil, fmt.Errorf("store: inbox row %d: open payload: %w", id, err)
	}
	return r, p, nil
}

// ErrInboxPayloadErased is InboxRowByID on a row whose payload an erasure
// emptied (EraseApplicant): its metadata is returned, no payload.
var ErrInboxPayloadErased = errors.New("store: the inbox row's payload was erased with the applicant's personal data")

// Redelivery is what Redeliver did with one row.
type Redelivery struct {
	ID         int64  `json:"id"`
	FromStatus string `json:"fromStatus,omitempty"`
	// Redelivered: the row is pending again. Otherwise Reason says why not
	// (unknown row, or a status that cannot be redelivered).
	Redelivered bool   `json:"redelivered"`
	Reason      string `json:"reason,omitempty"`
}

// ErrNoOperator is Redeliver called without an operator or a reason.
var ErrNoOperator = errors.New("store: an operator and a reason are required")

// Redeliver puts orphan or rejected inbox rows back to pending, due at
// once, unrouted and with no attempt (a forwarder routes them afresh: after
// a fix, a loan that now has an application gets its notification), and
// audits each in inbox_redeliveries with operator and reason, in one
// transaction. Delivered and pending rows are left alone and reported.
// operator and reason must not contain personal data.
func (s *Store) Redeliver(ctx context.Context, ids []int64, operator, reason string) ([]Redelivery, error) {
	operator, reason = strings.TrimSpace(operator), strings.TrimSpace(reason)
	if operator == "" || reason == "" {
		return nil, ErrNoOperator
	}
	out := make([]Redelivery, len(ids))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		for i, id := range ids {
			out[i] = Redelivery{ID: id}
			var r InboxRow
			var erased bool
			err := tx.QueryRow(ctx, `SELECT id, source, event_id, status, attempts, last_error,
					octet_length(payload_sealed) = 0 FROM webhook_inbox
				WHERE id = $1 FOR UPDATE`, id).Scan(&r.ID, &r.Source, &r.EventID, &r.Status, &r.Attempts, &r.Reason, &erased)
			if errors.Is(err, pgx.ErrNoRows) {
				out[i].Reason = "no such inbox row"
				continue
			}
			if err != nil {
				return err
			}
			out[i].FromStatus = r.Status
			if r.Status != InboxOrphan && r.Status != InboxRejected {
				out[i].Reason = "only orphan and rejected rows are redelivered; this one is " + r.Status
				continue
			}
			if erased {
				out[i].Reason = "its payload was erased with the applicant's personal data; nothing is left to deliver"
				continue
			}
			if _, err := tx.Exec(ctx, `
				UPDATE webhook_inbox SET status = 'pending', next_attempt_at = $2, attempts = 0, last_error = '',
					workflow_id = NULL, delivered_at = NULL
				WHERE id = $1`, id, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO inbox_redeliveries (inbox_id, source, event_id, from_status, attempts, last_error, operator, reason, at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				id, r.Source, r.EventID, r.Status, r.Attempts, r.Reason, operator, reason, now); err != nil {
				return err
			}
			out[i].Redelivered = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: redeliver: %w", err)
	}
	return out, nil
}

// AllOrphanIDs returns the IDs of every orphan row, in ID order.
func (s *Store) AllOrphanIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM webhook_inbox WHERE status = 'orphan' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: orphan IDs: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// InboxRedeliveryAudit is one row of inbox_redeliveries.
type InboxRedeliveryAudit struct {
	InboxID    int64     `json:"inboxId"`
	FromStatus string    `json:"fromStatus"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"lastError"`
	Operator   string    `json:"operator"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// InboxRedeliveries returns the audit of one inbox row's redeliveries,
// oldest first.
func (s *Store) InboxRedeliveries(ctx context.Context, inboxID int64) ([]InboxRedeliveryAudit, error) {
	rows, err := s.pool.Query(ctx, `SELECT inbox_id, from_status, attempts, last_error, operator, reason, at
		FROM inbox_redeliveries WHERE inbox_id = $1 ORDER BY id`, inboxID)
	if err != nil {
		return nil, fmt.Errorf("store: inbox redeliveries: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[InboxRedeliveryAudit])
}
