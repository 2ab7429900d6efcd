//go:build integration

package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/store"
)

// A batch recorded twice (its activity retried after the write) counts
// its loans and records its mismatches once; a batch behind the cursor
// changes nothing. Finishing a run resolves the earlier runs' mismatches it
// did not find again, and only those.
func TestReconcileRunsRecordOnceAndResolve(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 21, 30, 0, 0, time.UTC)
	mm := func(run, ref, kind string) store.Mismatch {
		return store.Mismatch{ApplicantRef: ref, WorkflowID: "loan:" + ref, Kind: kind, Action: store.ActionParked,
			Reason: "r", DetectedAt: t0}
	}
	for range 2 {
		if err := st.RecordReconcileBatch(ctx, "run-1", t0, "b", 2, []store.Mismatch{mm("run-1", "a", "workflow_missing"), mm("run-1", "b", "awda_ahead")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordReconcileBatch(ctx, "run-1", t0, "a", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordReconcileBatch(ctx, "run-1", t0, "c", 1, nil); err != nil {
		t.Fatal(err)
	}
	counts, err := st.FinishReconcileRun(ctx, "run-1", t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.LatestReconcileRun(ctx)
	if err != nil || run.RunID != "run-1" || run.Checked != 3 || run.Cursor != "c" || run.FinishedAt == nil {
		t.Fatalf("run %+v, %v; want 3 checked (the repeated batch once), cursor c, finished", run, err)
	}
	if counts["workflow_missing"] != 1 || counts["awda_ahead"] != 1 {
		t.Errorf("counts %v", counts)
	}
	if err := st.RecordReconcileBatch(ctx, "run-1", t0, "b", 1, []store.Mismatch{{Kind: "x", Action: "fixed"}}); err == nil {
		t.Error("an unknown action was recorded")
	}

	// The next day a only.
	t1 := t0.Add(24 * time.Hour)
	m := mm("run-2", "a", "workflow_missing")
	m.DetectedAt = t1
	if err := st.RecordReconcileBatch(ctx, "run-2", t1, "c", 3, []store.Mismatch{m}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinishReconcileRun(ctx, "run-2", t1, t1.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ms, err := st.ReconcileMismatches(ctx, "run-1")
	if err != nil || len(ms) != 2 {
		t.Fatalf("run-1 mismatches %+v, %v", ms, err)
	}
	for _, m := range ms {
		if resolved := m.ResolvedAt != nil; resolved != (m.ApplicantRef == "b") {
			t.Errorf("%s %s resolved %v: want only b's, which run-2 did not find again", m.ApplicantRef, m.Kind, resolved)
		}
	}
	if run, _ := st.LatestReconcileRun(ctx); run.RunID != "run-2" {
		t.Errorf("latest run %s", run.RunID)
	}
	if _, err := st.ReconcileRunByID(ctx, "run-9"); err != store.ErrNotFound {
		t.Errorf("unknown run: %v", err)
	}
}
