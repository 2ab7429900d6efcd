package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// InboxLease is how long a forwarder owns the pending rows it claimed. After
// it, a row is due again, so a crashed forwarder delays delivery but never
// loses it.
const InboxLease = 30 * time.Second

// InboxEntry is a verified AWDA notification to store before answering AWDA.
type InboxEntry struct {
	Source  string // SourceLoanStatus or SourceAuthorization
	EventID string // AWDA's eventId: the dedupe key with Source
	LoanNo  string // AWDA IDs for routing; not personal data
	UserID  string
	Payload []byte // the raw body; sealed at rest
	// TraceParent is the W3C traceparent of the request that brought it
	// (tracing.TraceParent), "" when untraced.
	TraceParent string
}

// InboxItem is a pending notification handed to a forwarder.
type InboxItem struct {
	ID         int64
	Source     string
	EventID    string
	LoanNo     string
	UserID     string
	WorkflowID string // set if an earlier attempt resolved it
	Attempts   int    // including this one: the claim's fencing token (InboxOutcome.Attempt)
	ReceivedAt time.Time
	Payload    []byte // opened
	// TraceParent is the receipt's traceparent, "" when untraced.
	TraceParent string
	// LeaseUntil is when the claim's lease ends: from then on another
	// forwarder may claim the row, so its claimer must not signal it any
	// more (inbox.Deliverer stops short of it).
	LeaseUntil time.Time
}

func inboxAAD(source, eventID string) []byte {
	return []byte("webhook_inbox/" + source + "/" + eventID)
}

// InsertInbox stores a notification once per (source, event ID). inserted is
// false for a duplicate, and id is then the existing row's. A new row is
// pending and due at once, with no attempt yet: a forwarder claims it
// (ClaimPending).
//
// It is one statement in the common cases, a new row or a duplicate stored
// earlier; only a duplicate racing its first insert takes a second.
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
	// The second branch reads the existing row only when the insert found
	// one (an uncorrelated NOT EXISTS: evaluated once, before the scan).
	err = s.pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO webhook_inbox (source, event_id, received_at, payload_sealed, loan_no, user_id, next_attempt_at, trace_parent)
			VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), $3, NULLIF($7, ''))
			ON CONFLICT (source, event_id) DO NOTHING
			RETURNING id
		)
		SELECT id, true FROM ins
		UNION ALL
		SELECT id, false FROM webhook_inbox
		WHERE source = $1 AND event_id = $2 AND NOT EXISTS (SELECT FROM ins)`,
		e.Source, e.EventID, s.now(), sealed, e.LoanNo, e.UserID, e.TraceParent).Scan(&id, &inserted)
	if err == nil {
		return id, inserted, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("store: insert inbox: %w", err)
	}
	// A duplicate whose first insert committed after this statement's
	// snapshot was taken (the insert waited for it, the read could not see
	// it). A new statement sees it.
	err = s.pool.QueryRow(ctx, `SELECT id FROM webhook_inbox WHERE source = $1 AND event_id = $2`,
		e.Source, e.EventID).Scan(&id)
	if err != nil {
		return 0, false, fmt.Errorf("store: insert inbox: %w", err)
	}
	return id, false, nil
}

// InboxInsert is what InsertInboxBatch did with one entry.
type InboxInsert struct {
	ID       int64 // the new row's; 0 for a duplicate
	Inserted bool  // false: a row with its source and event ID was there already
}

// InsertInboxBatch stores several notifications in one statement, each once
// per (source, event ID), as InsertInbox does: new rows are pending and due
// at once. It returns one InboxInsert per entry, in entries' order; among
// entries of the same source and event ID, the first is the one inserted.
// receivedAt[i] is when entries[i] came in (its received_at). It fails, and
// stores nothing, if any entry is invalid.
//
// Rows are inserted, and take their IDs, in (source, event ID) order: so
// concurrent batches that share event IDs wait for each other in one order
// and never deadlock. A batch holds notifications that were in flight
// together, which AWDA sent without waiting for one another's answer; one
// it sent after another's answer is in a later batch, with a higher ID.
func (s *Store) InsertInboxBatch(ctx context.Context, entries []InboxEntry, receivedAt []time.Time) ([]InboxInsert, error) {
	if len(receivedAt) != len(entries) {
		return nil, errors.New("store: insert inbox batch: one receive time per entry")
	}
	out := make([]InboxInsert, len(entries))
	if len(entries) == 0 {
		return out, nil
	}
	type key struct{ source, eventID string }
	first := make(map[key]int, len(entries))
	var (
		sources, eventIDs, loanNos, userIDs, traces []string
		payloads                                    [][]byte
		times                                       []time.Time
	)
	for i, e := range entries {
		if e.Source != SourceLoanStatus && e.Source != SourceAuthorization {
			return nil, fmt.Errorf("store: insert inbox batch: unknown source %q", e.Source)
		}
		if e.EventID == "" {
			return nil, errors.New("store: insert inbox batch: event ID is required")
		}
		k := key{e.Source, e.EventID}
		if _, dup := first[k]; dup {
			continue
		}
		first[k] = i
		sealed, err := s.sealer.Seal(e.Payload, inboxAAD(e.Source, e.EventID))
		if err != nil {
			return nil, fmt.Errorf("store: insert inbox batch: seal: %w", err)
		}
		sources, eventIDs, loanNos, userIDs = append(sources, e.Source), append(eventIDs, e.EventID), append(loanNos, e.LoanNo), append(userIDs, e.UserID)
		payloads, times, traces = append(payloads, sealed), append(times, receivedAt[i]), append(traces, e.TraceParent)
	}
	rows, err := s.pool.Query(ctx, `
		INSERT INTO webhook_inbox (source, event_id, received_at, payload_sealed, loan_no, user_id, next_attempt_at, trace_parent)
		SELECT t.source, t.event_id, t.received_at, t.payload, NULLIF(t.loan_no, ''), NULLIF(t.user_id, ''), t.received_at,
			NULLIF(t.trace_parent, '')
		FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bytea[], $5::text[], $6::text[], $7::text[])
			AS t(source, event_id, received_at, payload, loan_no, user_id, trace_parent)
		ORDER BY t.source, t.event_id
		ON CONFLICT (source, event_id) DO NOTHING
		RETURNING id, source, event_id`,
		sources, eventIDs, times, payloads, loanNos, userIDs, traces)
	if err != nil {
		return nil, fmt.Errorf("store: insert inbox batch: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id int64
			k  key
		)
		if err := rows.Scan(&id, &k.source, &k.eventID); err != nil {
			return nil, fmt.Errorf("store: insert inbox batch: %w", err)
		}
		out[first[k]] = InboxInsert{ID: id, Inserted: true}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: insert inbox batch: %w", err)
	}
	return out, nil
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
// (the longest due first) and returns them opened, in ID order (the order
// they were stored in). Each claimed row counts one more attempt and is not
// due again before now+InboxLease, so concurrent forwarders (SKIP LOCKED)
// never get the same row; the claimer reports the outcomes with
// RecordInboxOutcomes (or MarkDelivered, MarkOrphan, MarkRejected,
// MarkFailed). A row whose payload does not open (a key missing from the
// ring) is left pending with that error and skipped.
func (s *Store) ClaimPending(ctx context.Context, limit int, now time.Time) ([]InboxItem, error) {
	return s.ClaimPendingBy(ctx, "", limit, now)
}

// ClaimPendingBy is ClaimPending for the replica named by (a host and port,
// never personal data), recorded in the rows' claimed_by: a delivered row
// names the replica whose attempt delivered it. An empty name records NULL.
func (s *Store) ClaimPendingBy(ctx context.Context, by string, limit int, now time.Time) ([]InboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	leaseUntil := now.Add(InboxLease)
	rows, err := s.pool.Query(ctx, `
		WITH due AS (
			SELECT id FROM webhook_inbox
			WHERE status = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		)
		UPDATE webhook_inbox w
		SET attempts = w.attempts + 1, next_attempt_at = $3, claimed_by = NULLIF($4, '')
		FROM due WHERE w.id = due.id
		RETURNING w.id, w.source, w.event_id, coalesce(w.loan_no, ''), coalesce(w.user_id, ''),
			coalesce(w.workflow_id, ''), w.attempts, w.received_at, w.payload_sealed, coalesce(w.trace_parent, '')`,
		now, limit, leaseUntil, by)
	if err != nil {
		return nil, fmt.Errorf("store: claim pending: %w", err)
	}
	var items []InboxItem
	for rows.Next() {
		it := InboxItem{LeaseUntil: leaseUntil} // Payload sealed until opened below
		if err := rows.Scan(&it.ID, &it.Source, &it.EventID, &it.LoanNo, &it.UserID,
			&it.WorkflowID, &it.Attempts, &it.ReceivedAt, &it.Payload, &it.TraceParent); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: claim pending: %w", err)
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claim pending: %w", err)
	}
	// RETURNING has no order of its own.
	slices.SortFunc(items, func(a, b InboxItem) int { return cmp.Compare(a.ID, b.ID) })
	out := items[:0]
	for _, it := range items {
		p, err := s.sealer.Open(it.Payload, inboxAAD(it.Source, it.EventID))
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

// InboxOutcome is what one delivery attempt of a claimed row came to, for
// RecordInboxOutcomes.
type InboxOutcome struct {
	ID int64
	// Status is InboxDelivered, InboxOrphan or InboxRejected, or
	// InboxPending for an attempt that failed: the row is due again at
	// NextAttemptAt.
	Status string
	// WorkflowID is the workflow the row was (or is to be) signalled to,
	// when known; kept so that a retry need not route it again.
	WorkflowID string
	// Reason is why it was not delivered (last_error; empty when
	// delivered). It must not contain personal data.
	Reason        string
	NextAttemptAt time.Time
	// Attempt is the claim's attempt number (InboxItem.Attempts), its
	// fencing token: the outcome is recorded only while no later claim has
	// taken the row (its lease ran out and another forwarder claimed it),
	// so that a stale claimer never moves the lease of the current one.
	// Zero: recorded whatever claim holds the row.
	Attempt int
}

// RecordInboxOutcomes records the outcomes of delivery attempts, all in one
// statement. As with MarkDelivered and the others, only a pending row moves:
// a late report from a slow attempt never undoes a delivery; and an outcome
// whose claim was overtaken by a later one (InboxOutcome.Attempt) is
// dropped: the later claim reports its own.
func (s *Store) RecordInboxOutcomes(ctx context.Context, outs []InboxOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	var (
		ids     = make([]int64, len(outs))
		status  = make([]string, len(outs))
		wfIDs   = make([]string, len(outs))
		reasons = make([]string, len(outs))
		next    = make([]time.Time, len(outs))
		fences  = make([]int32, len(outs))
		now     = s.now()
	)
	for i, o := range outs {
		switch o.Status {
		case InboxPending, InboxDelivered, InboxOrphan, InboxRejected:
		default:
			return fmt.Errorf("store: record inbox outcomes: unknown status %q", o.Status)
		}
		ids[i], status[i], wfIDs[i], reasons[i], next[i] = o.ID, o.Status, o.WorkflowID, o.Reason, o.NextAttemptAt
		fences[i] = int32(o.Attempt)
		if o.Status != InboxPending {
			next[i] = now // unused
		}
	}
	_, err := s.pool.Exec(ctx, `
		UPDATE webhook_inbox w SET
			status = o.status,
			last_error = o.reason,
			workflow_id = coalesce(nullif(o.workflow_id, ''), w.workflow_id),
			delivered_at = CASE WHEN o.status = 'delivered' THEN $6 ELSE w.delivered_at END,
			next_attempt_at = CASE WHEN o.status = 'pending' THEN o.next_attempt_at ELSE w.next_attempt_at END
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $7::int[])
			AS o(id, status, workflow_id, reason, next_attempt_at, attempt)
		WHERE w.id = o.id AND w.status = 'pending' AND (o.attempt = 0 OR w.attempts = o.attempt)`,
		ids, status, wfIDs, reasons, next, now, fences)
	if err != nil {
		return fmt.Errorf("store: record %d inbox outcomes: %w", len(outs), err)
	}
	return nil
}

// InboxRoutes maps routing keys to workflow IDs (RouteInbox). A key with no
// application is absent.
type InboxRoutes struct {
	ByLoanNo  map[string]string
	ByOrderNo map[string]string
	ByUserID  map[string]string
}

// RouteInbox finds, in one round trip, the workflows of the applications
// with these AWDA loan numbers, order numbers and AWDA users: the batch form
// of WorkflowIDByLoanNo and WorkflowIDByUserID (for a user, the open
// application if there is one, else the newest). An empty list is not
// queried; order numbers have no index, so ask for them only when needed.
func (s *Store) RouteInbox(ctx context.Context, loanNos, orderNos, userIDs []string) (InboxRoutes, error) {
	r := InboxRoutes{ByLoanNo: map[string]string{}, ByOrderNo: map[string]string{}, ByUserID: map[string]string{}}
	var (
		parts []string
		args  []any
	)
	if len(loanNos) > 0 {
		args = append(args, loanNos)
		parts = append(parts, fmt.Sprintf(`SELECT 1, awda_loan_no, workflow_id FROM applications WHERE awda_loan_no = ANY($%d::text[])`, len(args)))
	}
	if len(orderNos) > 0 {
		args = append(args, orderNos)
		parts = append(parts, fmt.Sprintf(`SELECT 2, order_no, workflow_id FROM applications WHERE order_no = ANY($%d::text[])`, len(args)))
	}
	if len(userIDs) > 0 {
		args = append(args, userIDs)
		parts = append(parts, fmt.Sprintf(`(SELECT DISTINCT ON (awda_user_id) 3, awda_user_id, workflow_id FROM applications
			WHERE awda_user_id = ANY($%d::text[]) ORDER BY awda_user_id, terminal, created_at DESC, applicant_ref DESC)`, len(args)))
	}
	if len(parts) == 0 {
		return r, nil
	}
	rows, err := s.pool.Query(ctx, strings.Join(parts, "\nUNION ALL\n"), args...)
	if err != nil {
		return r, fmt.Errorf("store: route inbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind      int
			key, wfID string
		)
		if err := rows.Scan(&kind, &key, &wfID); err != nil {
			return r, fmt.Errorf("store: route inbox: %w", err)
		}
		switch kind {
		case 1:
			r.ByLoanNo[key] = wfID
		case 2:
			r.ByOrderNo[key] = wfID
		case 3:
			r.ByUserID[key] = wfID
		}
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("store: route inbox: %w", err)
	}
	return r, nil
}

// InboxBacklog is the state of the pending rows at a moment, for metrics:
// how far the forwarders are behind.
type InboxBacklog struct {
	Pending int // every pending row
	Due     int // of which due (waiting for a forwarder; not claimed, not backing off)
	// OldestDue is when the longest-due row became due (zero if none): its
	// age is the forwarders' lag.
	OldestDue time.Time
	// OldestPending is when the oldest pending row was received (zero if
	// none).
	OldestPending time.Time
}

// InboxBacklog reads the pending rows' state as of now.
func (s *Store) InboxBacklog(ctx context.Context, now time.Time) (InboxBacklog, error) {
	var (
		b                        InboxBacklog
		oldestDue, oldestPending *time.Time
	)
	err := s.pool.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE next_attempt_at <= $1),
			min(next_attempt_at) FILTER (WHERE next_attempt_at <= $1), min(received_at)
		FROM webhook_inbox WHERE status = 'pending'`, now).Scan(&b.Pending, &b.Due, &oldestDue, &oldestPending)
	if err != nil {
		return b, fmt.Errorf("store: inbox backlog: %w", err)
	}
	if oldestDue != nil {
		b.OldestDue = *oldestDue
	}
	if oldestPending != nil {
		b.OldestPending = *oldestPending
	}
	return b, nil
}
