package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Retention kinds: what a sweep deletes (internal/retention).
const (
	// RetentionDocuments are the documents of loans closed (terminal in the
	// read model) before the cutoff. A document uploaded after its loan
	// closed goes once it is itself older than the cutoff. Documents no
	// application references are RetentionUnreferencedDocuments'.
	RetentionDocuments = "documents"
	// RetentionInbox are webhook_inbox rows delivered before the cutoff.
	// Pending, orphan and rejected rows are kept for operations.
	RetentionInbox = "inbox"
	// RetentionAWDACalls are awda_calls rows of calls made before the
	// cutoff.
	RetentionAWDACalls = "awda_calls"
	// RetentionUnreferencedDocuments are documents uploaded before the
	// cutoff that no application references: uploaded without an applicant
	// ref and never bound by a create, or uploaded with an applicant ref
	// that has no row in applications. A document of an application, open
	// or closed, is never one of them.
	RetentionUnreferencedDocuments = "unreferenced_documents"
)

// RetentionKinds lists every kind, in the order the sweeps are scheduled.
var RetentionKinds = []string{RetentionDocuments, RetentionInbox, RetentionAWDACalls, RetentionUnreferencedDocuments}

// retentionDeletes delete at most $2 rows older than $1, by primary key
// through the indexes of migration 00009 (and awda_calls_called_at_idx), so
// a batch holds its locks briefly and a sweep stopped between batches
// resumes by running the next one. SKIP LOCKED: a row another transaction
// holds is left for the next batch or sweep rather than waited on.
var retentionDeletes = map[string]string{
	RetentionDocuments: `
		DELETE FROM documents WHERE id IN (
			SELECT d.id FROM documents d JOIN applications a ON a.applicant_ref = d.applicant_ref
			WHERE d.applicant_ref IS NOT NULL AND d.created_at < $1 AND a.terminal AND a.updated_at < $1
			LIMIT $2 FOR UPDATE OF d SKIP LOCKED)`,
	RetentionInbox: `
		DELETE FROM webhook_inbox WHERE id IN (
			SELECT id FROM webhook_inbox WHERE status = 'delivered' AND delivered_at < $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`,
	RetentionAWDACalls: `
		DELETE FROM awda_calls WHERE id IN (
			SELECT id FROM awda_calls WHERE called_at < $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`,
	// Not a delete: it locks the batch, which retentionRechecks deletes.
	// Each arm has its partial index (migrations 00014 and 00009); an
	// applicant ref is looked up in applications by primary key.
	RetentionUnreferencedDocuments: `
		SELECT id::text FROM documents WHERE id IN (
			(SELECT id FROM documents WHERE applicant_ref IS NULL AND created_at < $1 LIMIT $2)
			UNION ALL
			(SELECT d.id FROM documents d WHERE d.applicant_ref IS NOT NULL AND d.created_at < $1
				AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.applicant_ref = d.applicant_ref) LIMIT $2))
		LIMIT $2 FOR UPDATE SKIP LOCKED`,
}

// retentionRechecks delete, for the kinds whose rows another table's
// commits can take out of the sweep, the rows ($1) the kind's
// retentionDeletes statement locked, if they still qualify. The condition
// is evaluated again by a second statement, in the same transaction, so
// with a snapshot taken after the locks: a single statement would judge an
// application created during it by its own older snapshot, and would
// delete a loose document that a create bound to that new application
// between the statement's start and its lock (PostgreSQL re-checks a row
// updated meanwhile against the statement's snapshot of other tables).
// Once the rows are locked nobody can bind them, and every application
// committed before the re-check is seen.
var retentionRechecks = map[string]string{
	RetentionUnreferencedDocuments: `
		DELETE FROM documents d WHERE d.id = ANY($1::uuid[]) AND d.created_at < $2
			AND (d.applicant_ref IS NULL
				OR NOT EXISTS (SELECT 1 FROM applications a WHERE a.applicant_ref = d.applicant_ref))`,
}

// ErrUnknownRetentionKind is returned for a kind RetentionKinds does not
// list.
var ErrUnknownRetentionKind = errors.New("store: unknown retention kind")

// DeleteExpired deletes at most limit rows of kind older than cutoff and
// returns how many it deleted: fewer than limit means none was left (but
// rows locked by others). Deleting is idempotent, so a batch retried after
// a crash deletes what is still there.
func (s *Store) DeleteExpired(ctx context.Context, kind string, cutoff time.Time, limit int) (int64, error) {
	q, ok := retentionDeletes[kind]
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownRetentionKind, kind)
	}
	if limit <= 0 {
		return 0, fmt.Errorf("store: delete expired %s: limit %d: want a positive batch size", kind, limit)
	}
	if recheck, ok := retentionRechecks[kind]; ok {
		n, err := s.deleteRechecked(ctx, q, recheck, cutoff, limit)
		if err != nil {
			return 0, fmt.Errorf("store: delete expired %s: %w", kind, err)
		}
		return n, nil
	}
	tag, err := s.pool.Exec(ctx, q, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("store: delete expired %s: %w", kind, err)
	}
	return tag.RowsAffected(), nil
}

// deleteRechecked locks a batch with lock ($1 cutoff, $2 limit; it returns
// the IDs) and deletes what recheck ($1 the IDs, $2 cutoff) still finds
// expired, in one transaction. A row the re-check spares (a create bound it
// meanwhile) makes the batch short, which ends the sweep early: the next
// day's sweep takes what is left.
func (s *Store) deleteRechecked(ctx context.Context, lock, recheck string, cutoff time.Time, limit int) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lock, cutoff, limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return err
		}
		tag, err := tx.Exec(ctx, recheck, ids, cutoff)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// RecordRetentionSweep stores the end of a successful sweep of kind: when
// it finished, how many rows it deleted and how long it took. A later
// sweep replaces an earlier one; an older report (a retried activity that
// lost a race) never moves the record back.
func (s *Store) RecordRetentionSweep(ctx context.Context, kind string, at time.Time, deleted int64, took time.Duration) error {
	if !slices.Contains(RetentionKinds, kind) {
		return fmt.Errorf("%w %q", ErrUnknownRetentionKind, kind)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO retention_sweeps (kind, last_success_at, last_deleted, last_duration_s) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind) DO UPDATE SET last_success_at = EXCLUDED.last_success_at,
			last_deleted = EXCLUDED.last_deleted, last_duration_s = EXCLUDED.last_duration_s
		WHERE retention_sweeps.last_success_at < EXCLUDED.last_success_at`,
		kind, at, deleted, took.Seconds())
	if err != nil {
		return fmt.Errorf("store: record retention sweep %s: %w", kind, err)
	}
	return nil
}

// RetentionSweep is the last successful sweep of a kind.
type RetentionSweep struct {
	Kind    string
	At      time.Time
	Deleted int64
	Took    time.Duration
}

// LastRetentionSweeps returns the last successful sweep of every kind that
// has had one.
func (s *Store) LastRetentionSweeps(ctx context.Context) ([]RetentionSweep, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, last_success_at, last_deleted, last_duration_s FROM retention_sweeps ORDER BY kind`)
	if err != nil {
		return nil, fmt.Errorf("store: last retention sweeps: %w", err)
	}
	defer rows.Close()
	var out []RetentionSweep
	for rows.Next() {
		var r RetentionSweep
		var secs float64
		if err := rows.Scan(&r.Kind, &r.At, &r.Deleted, &secs); err != nil {
			return nil, fmt.Errorf("store: last retention sweeps: %w", err)
		}
		r.Took = time.Duration(secs * float64(time.Second))
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: last retention sweeps: %w", err)
	}
	return out, nil
}
