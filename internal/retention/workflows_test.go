package retention_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/internal/retention"
	"github.com/awdaflow/awdaflow/internal/store"
)

// fakeStore hands out a fixed number of expired rows, batch by batch, and
// records each batch's cutoff.
type fakeStore struct {
	left     int64
	cutoffs  []time.Time
	recorded []store.RetentionSweep
}

func (f *fakeStore) DeleteExpired(_ context.Context, _ string, cutoff time.Time, limit int) (int64, error) {
	f.cutoffs = append(f.cutoffs, cutoff)
	n := min(f.left, int64(limit))
	f.left -= n
	return n, nil
}

func (f *fakeStore) RecordRetentionSweep(_ context.Context, kind string, at time.Time, deleted int64, took time.Duration) error {
	f.recorded = append(f.recorded, store.RetentionSweep{Kind: kind, At: at, Deleted: deleted, Took: took})
	return nil
}

func (f *fakeStore) LastRetentionSweeps(context.Context) ([]store.RetentionSweep, error) {
	return f.recorded, nil
}

func newEnv(t *testing.T, st *fakeStore) *testsuite.TestWorkflowEnvironment {
	return newEnvLogging(t, st, zerolog.Nop())
}

func newEnvLogging(t *testing.T, st *fakeStore, log zerolog.Logger) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	a, err := retention.NewActivities(st, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	env.RegisterWorkflowWithOptions(retention.Sweep, workflow.RegisterOptions{Name: retention.WorkflowName})
	env.RegisterActivity(a)
	return env
}

// Batches until one comes back short, all with the cutoff fixed at the
// start, then records the sweep.
func TestSweepBatchesUntilShort(t *testing.T) {
	st := &fakeStore{left: 25}
	var logs bytes.Buffer
	env := newEnvLogging(t, st, zerolog.New(&logs))
	var batches, done int
	env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, err error) {
		switch info.ActivityType.Name {
		case "RetentionDeleteBatch":
			batches++
		case "RetentionSweepDone":
			done++
		}
	})
	start := env.Now()
	env.ExecuteWorkflow(retention.WorkflowName, retention.SweepInput{Kind: store.RetentionInbox, MaxAge: 30 * 24 * time.Hour, BatchSize: 10})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var res retention.SweepResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 25 || batches != 3 || done != 1 || st.left != 0 {
		t.Errorf("deleted %d in %d batches, %d done; %d left; want 25 in 3, 1 done, 0 left", res.Deleted, batches, done, st.left)
	}
	if len(st.recorded) != 1 || st.recorded[0].Kind != store.RetentionInbox || st.recorded[0].Deleted != 25 {
		t.Errorf("recorded sweeps %+v, want the inbox sweep with 25 deleted", st.recorded)
	}
	// One line per sweep, with kinds, counts and times only: no row's
	// content can reach it.
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	keys := slices.Sorted(maps.Keys(line))
	if fmt.Sprint(keys) != "[component deleted kind level message took]" || line["deleted"] != 25.0 {
		t.Errorf("log line %v, want component, deleted (25), kind, level, message and took only", line)
	}
	want := start.Add(-30 * 24 * time.Hour)
	for i, c := range st.cutoffs {
		if !c.Equal(want) {
			t.Errorf("batch %d cutoff %s, want %s", i, c, want)
		}
	}
}

// A sweep with more batches than a run takes continues as new, carrying
// its cutoff and count, so its history stays small.
func TestSweepContinuesAsNew(t *testing.T) {
	st := &fakeStore{left: 1000}
	env := newEnv(t, st)
	cutoff := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	env.ExecuteWorkflow(retention.WorkflowName, retention.SweepInput{Kind: store.RetentionAWDACalls,
		MaxAge: time.Hour, BatchSize: 10, BatchesPerRun: 3, Cutoff: cutoff, Started: cutoff, Deleted: 5})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("error %v, want continue-as-new", err)
	}
	if can.WorkflowType.Name != retention.WorkflowName {
		t.Errorf("continued as %q", can.WorkflowType.Name)
	}
	var next retention.SweepInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Deleted != 35 || !next.Cutoff.Equal(cutoff) || next.Kind != store.RetentionAWDACalls || next.BatchesPerRun != 3 {
		t.Errorf("next run's input %+v, want 35 deleted so far and the same cutoff", next)
	}
	if len(st.cutoffs) != 3 {
		t.Errorf("%d batches in the run, want 3", len(st.cutoffs))
	}
}

func TestSweepRefusesBadInput(t *testing.T) {
	for _, in := range []retention.SweepInput{
		{Kind: "applications", MaxAge: time.Hour, BatchSize: 1},
		{Kind: store.RetentionDocuments, MaxAge: 0, BatchSize: 1},
		{Kind: store.RetentionDocuments, MaxAge: time.Hour, BatchSize: 0},
	} {
		st := &fakeStore{left: 5}
		env := newEnv(t, st)
		env.ExecuteWorkflow(retention.WorkflowName, in)
		if env.GetWorkflowError() == nil || len(st.cutoffs) != 0 {
			t.Errorf("%+v: error %v after %d batches, want a refusal before any", in, env.GetWorkflowError(), len(st.cutoffs))
		}
	}
}
