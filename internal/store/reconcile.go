package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Actions the reconciliation takes on a mismatch (reconcile_mismatches.action).
const (
	ActionRepaired = "repaired" // put right through the normal path
	ActionParked   = "parked"   // left for operations, with a reason
	ActionNone     = "none"     // reported only (e.g. expected to heal itself)
)

// Mismatch is one disagreement a reconciliation run found between a loan's
// workflow in Temporal, its read-model row and AWDA. No personal data: the
// values are stages, statuses and AWDA's opaque IDs.
type Mismatch struct {
	RunID          string     `json:"runId"`
	ApplicantRef   string     `json:"applicantRef"`
	WorkflowID     string     `json:"workflowId"`
	Kind           string     `json:"kind"`
	TemporalValue  string     `json:"temporal"`
	ReadModelValue string     `json:"readModel"`
	AWDAValue      string     `json:"awda"`
	Action         string     `json:"action"`
	Reason         string     `json:"reason"`
	DetectedAt     time.Time  `json:"detectedAt"`
	ResolvedAt     *time.Time `json:"resolvedAt,omitempty"`
}

// ReconcileRun is one reconciliation run.
type ReconcileRun struct {
	RunID      string     `json:"runId"`
	StartedAt  time.Time  `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Checked    int64      `json:"checked"`
	Cursor     string     `json:"cursor"`
}

// ActiveApplications returns up to limit read-model rows that are not
// terminal, with applicant_ref after after, in applicant_ref order: a
// keyset page for the reconciliation, which resumes from the last ref of a
// page.
func (s *Store) ActiveApplications(ctx context.Context, after string, limit int) ([]Application, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+applicationColumns+` FROM applications
		WHERE NOT terminal AND applicant_ref > $1 ORDER BY applicant_ref LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: active applications: %w", err)
	}
	defer rows.Close()
	var out []Application
	for rows.Next() {
		a, err := scanApplication(rows)
		if err != nil {
			return nil, fmt.Errorf("store: active applications: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: active applications: %w", err)
	}
	return out, nil
}

// RecordReconcileBatch records one finished batch of run runID, all in one
// transaction: the run (created by its first batch, started at started),
// its cursor (the last ref the batch checked) and count, and the batch's
// mismatches, each once per (run, applicant, kind): a batch retried after
// a crash records nothing twice, and its count is added once.
func (s *Store) RecordReconcileBatch(ctx context.Context, runID string, started time.Time, cursor string, checked int, ms []Mismatch) error {
	if runID == "" {
		return errors.New("store: record reconcile batch: run ID is required")
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Only a batch that moves the cursor forward counts: a retry of a
		// recorded batch finds its cursor there already.
		_, err := tx.Exec(ctx, `
			INSERT INTO reconcile_runs (run_id, started_at, checked, cursor) VALUES ($1, $2, $3, $4)
			ON CONFLICT (run_id) DO UPDATE SET checked = reconcile_runs.checked + EXCLUDED.checked, cursor = EXCLUDED.cursor
			WHERE reconcile_runs.cursor < EXCLUDED.cursor`, runID, started, checked, cursor)
		if err != nil {
			return fmt.Errorf("store: record reconcile run %s: %w", runID, err)
		}
		for _, m := range ms {
			switch m.Action {
			case ActionRepaired, ActionParked, ActionNone:
			default:
				return fmt.Errorf("store: record mismatch: unknown action %q", m.Action)
			}
			_, err := tx.Exec(ctx, `
				INSERT INTO reconcile_mismatches (run_id, applicant_ref, workflow_id, kind, temporal_value, read_model_value,
					awda_value, action, reason, detected_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (run_id, applicant_ref, kind) DO NOTHING`,
				runID, m.ApplicantRef, m.WorkflowID, m.Kind, m.TemporalValue, m.ReadModelValue, m.AWDAValue,
				m.Action, m.Reason, m.DetectedAt)
			if err != nil {
				return fmt.Errorf("store: record mismatch: %w", err)
			}
		}
		return nil
	})
}

// FinishReconcileRun closes run runID at finished and resolves the
// mismatches of earlier runs that this run did not find again (the loan
// agrees now, or is no longer active). It returns the run's mismatch counts
// by kind. Finishing twice changes nothing more.
func (s *Store) FinishReconcileRun(ctx context.Context, runID string, started, finished time.Time) (map[string]int, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A run with no active loan has recorded no batch yet.
		if _, err := tx.Exec(ctx, `
			INSERT INTO reconcile_runs (run_id, started_at, finished_at) VALUES ($1, $2, $3)
			ON CONFLICT (run_id) DO UPDATE SET finished_at = coalesce(reconcile_runs.finished_at, EXCLUDED.finished_at)`,
			runID, started, finished); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			UPDATE reconcile_mismatches m SET resolved_at = $2
			WHERE m.resolved_at IS NULL AND m.run_id <> $1 AND m.detected_at < $3
			  AND NOT EXISTS (SELECT 1 FROM reconcile_mismatches n
			                  WHERE n.run_id = $1 AND n.applicant_ref = m.applicant_ref AND n.kind = m.kind)`,
			runID, finished, started)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: finish reconcile run %s: %w", runID, err)
	}
	return s.mismatchCounts(ctx, runID)
}

// mismatchCounts counts run runID's mismatches by kind.
func (s *Store) mismatchCounts(ctx context.Context, runID string) (map[string]int, error) {
	counts := map[string]int{}
	rows, err := s.pool.Query(ctx, `SELECT kind, count(*) FROM reconcile_mismatches WHERE run_id = $1 GROUP BY kind`, runID)
	if err != nil {
		return nil, fmt.Errorf("store: count mismatches: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("store: count mismatches: %w", err)
		}
		counts[k] = n
	}
	return counts, rows.Err()
}

// LatestReconcileRun returns the run started last, or ErrNotFound.
func (s *Store) LatestReconcileRun(ctx context.Context) (*ReconcileRun, error) {
	return s.reconcileRun(ctx, `SELECT run_id, started_at, finished_at, checked, cursor FROM reconcile_runs
		ORDER BY started_at DESC, run_id DESC LIMIT 1`)
}

// LastFinishedReconcileRun returns the run that finished last, with its
// mismatch counts by kind, or ErrNotFound when none has finished.
func (s *Store) LastFinishedReconcileRun(ctx context.Context) (*ReconcileRun, map[string]int, error) {
	r, err := s.reconcileRun(ctx, `SELECT run_id, started_at, finished_at, checked, cursor FROM reconcile_runs
		WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, run_id DESC LIMIT 1`)
	if err != nil {
		return nil, nil, err
	}
	counts, err := s.mismatchCounts(ctx, r.RunID)
	if err != nil {
		return nil, nil, err
	}
	return r, counts, nil
}

// ReconcileRunByID returns one run, or ErrNotFound.
func (s *Store) ReconcileRunByID(ctx context.Context, runID string) (*ReconcileRun, error) {
	return s.reconcileRun(ctx, `SELECT run_id, started_at, finished_at, checked, cursor FROM reconcile_runs
		WHERE run_id = $1`, runID)
}

func (s *Store) reconcileRun(ctx context.Context, q string, args ...any) (*ReconcileRun, error) {
	var r ReconcileRun
	err := s.pool.QueryRow(ctx, q, args...).Scan(&r.RunID, &r.StartedAt, &r.FinishedAt, &r.Checked, &r.Cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: reconcile run: %w", err)
	}
	return &r, nil
}

// ReconcileMismatches returns run runID's mismatches, by kind then
// applicant.
func (s *Store) ReconcileMismatches(ctx context.Context, runID string) ([]Mismatch, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT run_id, applicant_ref, workflow_id, kind, temporal_value, read_model_value, awda_value, action, reason,
			detected_at, resolved_at
		FROM reconcile_mismatches WHERE run_id = $1 ORDER BY kind, applicant_ref`, runID)
	if err != nil {
		return nil, fmt.Errorf("store: reconcile mismatches: %w", err)
	}
	defer rows.Close()
	var out []Mismatch
	for rows.Next() {
		var m Mismatch
		if err := rows.Scan(&m.RunID, &m.ApplicantRef, &m.WorkflowID, &m.Kind, &m.TemporalValue, &m.ReadModelValue,
			&m.AWDAValue, &m.Action, &m.Reason, &m.DetectedAt, &m.ResolvedAt); err != nil {
			return nil, fmt.Errorf("store: reconcile mismatches: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ParkApplication marks a read-model row that no workflow will write again
// (its workflow is gone from Temporal, or closed without an outcome) as
// stuck on step with reason, so that it shows with the stuck loans
// (awdaflow_loans_stuck, GET /v1/applications?stuck=true) until operations
// deal with it. Its seq is unchanged. A terminal row, or one already parked
// on step, is left alone; parked reports whether the row changed. reason
// must not contain personal data.
func (s *Store) ParkApplication(ctx context.Context, ref, step, reason string) (parked bool, err error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE applications SET stuck = true, stuck_step = $2, stuck_reason = $3, stuck_since = $4, updated_at = $4
		WHERE applicant_ref = $1 AND NOT terminal AND NOT (stuck AND stuck_step = $2)`, ref, step, reason, s.now())
	if err != nil {
		return false, fmt.Errorf("store: park application %s: %w", ref, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ErrNotParked is CloseParkedApplication on a row the reconciliation has
// not parked (or that is terminal already).
var ErrNotParked = errors.New("store: the application is not parked by the reconciliation")

// CloseParkedApplication ends a read-model row the reconciliation parked on
// step (its workflow gone, or closed without an outcome) once operations
// have settled the loan by hand: the row becomes terminal FAILED with the
// operator and reason, as an abandon would leave it, and leaves the stuck
// loans. Its seq is unchanged, so that a workflow that does write again
// (restored in Temporal) still wins. operator and reason must not contain
// personal data.
func (s *Store) CloseParkedApplication(ctx context.Context, ref, step, operator, reason string) error {
	if operator == "" || reason == "" {
		return ErrNoOperator
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE applications SET terminal = true, stage = 'FAILED', stuck = false, stuck_step = '', stuck_reason = '',
			stuck_since = NULL, reason = $3, operator = $4, updated_at = $5
		WHERE applicant_ref = $1 AND stuck AND stuck_step = $2 AND NOT terminal`, ref, step, reason, operator, s.now())
	if err != nil {
		return fmt.Errorf("store: close parked application %s: %w", ref, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotParked
	}
	return nil
}
