package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Inbox sources and statuses, as stored in webhook_inbox.
const (
	SourceLoanStatus    = "loan_status"
	SourceAuthorization = "authorization"

	InboxPending   = "pending"
	InboxDelivered = "delivered"
	InboxOrphan    = "orphan"
	InboxRejected  = "rejected"
)

// InboxLease is how long a delivery attempt owns a pending row: a row just
// inserted belongs to its receiver, a claimed row to its forwarder, for this
// long. After it, the row is due again, so a crashed owner delays delivery
// but never loses it.
const InboxLease = 30 * time.Second

// InboxEntry is a verified AWDA notification to store before answering AWDA.
type InboxEntry struct {
	Source  string // SourceLoanStatus or SourceAuthorization
	EventID string // AWDA's eventId: the dedupe key with Source
	LoanNo  string // AWDA IDs for routing; not personal data
	UserID  string
	Payload []byte // the raw body; sealed at rest
}

// InboxItem is a pending notification handed to a forwarder.
type InboxItem struct {
	ID         int64
	Source     string
	EventID    string
	LoanNo     string
	UserID     string
	WorkflowID string // set if an earlier attempt resolved it
	Attempts   int    // including this one
	ReceivedAt time.Time
	Payload    []byte // opened
}

func inboxAAD(source, eventID string) []byte {
	return []byte("webhook_inbox/" + source + "/" + eventID)
}

// InsertInbox stores a notification once per (source, event ID). inserted is
// false for a duplicate, and id is then the existing row's. A new row is
// pending, counts one attempt, and is leased to the caller for InboxLease:
// the receiver tries to deliver it at once, and forwarders leave it alone
// meanwhile.
func (s *Store) InsertInbox(ctx context.Context, e InboxEntry) (id int64, inserted bool, err error) {
	if e.Source != SourceLoanStatus && e.Source != SourceAuthorization {
		return 0, false, fmt.Errorf("store: insert inbox: unknown source %q", e.Source)
	}
	if e.EventID == "" {
		return 0, false, errors.New("store: insert inbox: event ID is required")
	}
	sealed, err := s.sealer.Seal(e.Payload, inboxAAD(e.Source, e.EventID))
	if err != nil {
		return 0, false, fmt.Errorf("store: insert inbox: seal: %w", err)
	}
	now := s.now()
	err = s.pool.QueryRow(ctx, `
		INSERT INTO webhook_inbox (source, event_id, received_at, payload_sealed, loan_no, user_id, attempts, next_attempt_at)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), 1, $7)
		ON CONFLICT (source, event_id) DO NOTHING
		RETURNING id`,
		e.Source, e.EventID, now, sealed, e.LoanNo, e.UserID, now.Add(InboxLease)).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("store: insert inbox: %w", err)
	}
	// A duplicate. This is a new statement, so it sees the row even if a
	// concurrent insert committed it after our INSERT began.
	err = s.pool.QueryRow(ctx, `SELECT id FROM webhook_inbox WHERE source = $1 AND event_id = $2`,
		e.Source, e.EventID).Scan(&id)
	if err != nil {
		return 0, false, fmt.Errorf("store: insert inbox: %w", err)
	}
	return id, false, nil
}

// MarkDelivered records that the notification was signalled to workflowID.
func (s *Store) MarkDelivered(ctx context.Context, id int64, workflowID string) error {
	return s.setInbox(ctx, id, `status = 'delivered', delivered_at = $2, workflow_id = $3, last_error = ''`,
		s.now(), workflowID)
}

// MarkOrphan records that the notification has no open workflow (unknown
// loan, or its workflow has closed): it is kept for reconciliation and never
// retried. reason must not contain personal data.
func (s *Store) MarkOrphan(ctx context.Context, id int64, reason string) error {
	return s.setInbox(ctx, id, `status = 'orphan', last_error = $2`, reason)
}

// MarkRejected records that the notification cannot be applied (e.g. a
// verified body that does not parse); it is never retried. reason must not
// contain personal data.
func (s *Store) MarkRejected(ctx context.Context, id int64, reason string) error {
	return s.setInbox(ctx, id, `status = 'rejected', last_error = $2`, reason)
}

// MarkFailed records a failed delivery attempt; the row stays pending and is
// due again at nextAttemptAt. errText must not contain personal data.
func (s *Store) MarkFailed(ctx context.Context, id int64, errText string, nextAttemptAt time.Time) error {
	return s.setInbox(ctx, id, `last_error = $2, next_attempt_at = $3`, errText, nextAttemptAt)
}

func (s *Store) setInbox(ctx context.Context, id int64, set string, args ...any) error {
	// Only a pending row moves: a late report from a slow attempt must not
	// turn a delivered row back into a failed one.
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_inbox SET `+set+` WHERE id = $1 AND status = 'pending'`,
		append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("store: update inbox %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_inbox WHERE id = $1)`, id).Scan(&exists); err != nil {
			return fmt.Errorf("store: update inbox %d: %w", id, err)
		}
		if !exists {
			return ErrNotFound
		}
	}
	return nil
}

// ClaimPending leases up to limit pending notifications that are due at now
// (oldest due first) and returns them opened. Each claimed row counts one
// more attempt and is not due again before now+InboxLease, so concurrent
// forwarders (SKIP LOCKED) never get the same row; the claimer reports the
// outcome with MarkDelivered, MarkOrphan, MarkRejected or MarkFailed. A row
// whose payload does not open (a key missing from the ring) is left pending
// with that error and skipped.
func (s *Store) ClaimPending(ctx context.Context, limit int, now time.Time) ([]InboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM webhook_inbox
			WHERE status = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		)
		UPDATE webhook_inbox w
		SET attempts = w.attempts + 1, next_attempt_at = $3
		FROM due WHERE w.id = due.id
		RETURNING w.id, w.source, w.event_id, coalesce(w.loan_no, ''), coalesce(w.user_id, ''),
			coalesce(w.workflow_id, ''), w.attempts, w.received_at, w.payload_sealed`,
		now, limit, now.Add(InboxLease))
	if err != nil {
		return nil, fmt.Errorf("store: claim pending: %w", err)
	}
	var (
		items  []InboxItem
		sealed [][]byte
	)
	for rows.Next() {
		var it InboxItem
		var p []byte
		if err := rows.Scan(&it.ID, &it.Source, &it.EventID, &it.LoanNo, &it.UserID,
			&it.WorkflowID, &it.Attempts, &it.ReceivedAt, &p); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: claim pending: %w", err)
		}
		items = append(items, it)
		sealed = append(sealed, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claim pending: %w", err)
	}
	out := items[:0]
	for i, it := range items {
		p, err := s.sealer.Open(sealed[i], inboxAAD(it.Source, it.EventID))
		if err != nil {
			_ = s.MarkFailed(ctx, it.ID, "open payload: "+err.Error(), now.Add(InboxLease))
			continue
		}
		it.Payload = p
		out = append(out, it)
	}
	return out, nil
}

// CountByStatus returns the number of inbox rows per status, every status
// present (zero if none), for metrics and ops.
func (s *Store) CountByStatus(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{InboxPending: 0, InboxDelivered: 0, InboxOrphan: 0, InboxRejected: 0}
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM webhook_inbox GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("store: count inbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: count inbox: %w", err)
		}
		counts[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count inbox: %w", err)
	}
	return counts, nil
}
