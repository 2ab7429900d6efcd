package reconcile_test

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/internal/reconcile"
)

// book is a fake read model of n active loans, handed out in batches as
// the store's keyset query would, recording each batch's input.
type book struct {
	refs    []string
	batches []reconcile.BatchInput
	done    []reconcile.DoneInput
}

func newBook(n int) *book {
	b := &book{}
	for i := range n {
		b.refs = append(b.refs, string(rune('a'+i/26))+string(rune('a'+i%26)))
	}
	return b
}

func (b *book) batch(_ context.Context, in reconcile.BatchInput) (reconcile.BatchResult, error) {
	b.batches = append(b.batches, in)
	res := reconcile.BatchResult{Last: in.After}
	for _, r := range b.refs {
		if r > in.After && res.Fetched < in.Limit {
			res.Fetched++
			res.Checked++
			res.Last = r
		}
	}
	return res, nil
}

func (b *book) finish(_ context.Context, in reconcile.DoneInput) (map[string]int, error) {
	b.done = append(b.done, in)
	return map[string]int{reconcile.KindAWDAAhead: 1}, nil
}

func newEnv(b *book) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(reconcile.Reconcile, workflow.RegisterOptions{Name: reconcile.WorkflowName})
	env.RegisterActivityWithOptions(b.batch, activityName("ReconcileBatch"))
	env.RegisterActivityWithOptions(b.finish, activityName("ReconcileDone"))
	return env
}

// Batches walk the book with the cursor each returns, until one comes back
// short; then the run is closed once, with the count and the run's ID and
// start fixed by the first run.
func TestReconcileWalksTheBookThenCloses(t *testing.T) {
	b := newBook(25)
	env := newEnv(b)
	env.SetStartWorkflowOptions(startOptions("awdaflow-reconcile-2026-12-05T21:30:00Z"))
	env.ExecuteWorkflow(reconcile.WorkflowName, reconcile.RunInput{BatchSize: 10})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var res reconcile.RunResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Checked != 25 || len(b.batches) != 3 || len(b.done) != 1 || res.Mismatches[reconcile.KindAWDAAhead] != 1 {
		t.Fatalf("result %+v after %d batches and %d closes; want 25 checked in 3 batches, closed once", res, len(b.batches), len(b.done))
	}
	wantAfter := []string{"", "aj", "at"}
	for i, in := range b.batches {
		if in.After != wantAfter[i] || in.Limit != 10 || in.RunID != "awdaflow-reconcile-2026-12-05T21:30:00Z" ||
			in.MinAge != reconcile.DefaultMinAge || !in.Started.Equal(b.batches[0].Started) {
			t.Errorf("batch %d: %+v, want after %q, limit 10, the run's ID and start", i, in, wantAfter[i])
		}
	}
	if d := b.done[0]; d.Checked != 25 || d.RunID != res.RunID || !d.Started.Equal(b.batches[0].Started) {
		t.Errorf("done %+v", d)
	}
}

// A run with more batches than it takes continues as new with its cursor,
// count, ID and start: the next run resumes where it stopped.
func TestReconcileContinuesAsNewWithItsCursor(t *testing.T) {
	b := newBook(100)
	env := newEnv(b)
	env.SetStartWorkflowOptions(startOptions("awdaflow-reconcile-x"))
	env.ExecuteWorkflow(reconcile.WorkflowName, reconcile.RunInput{BatchSize: 10, BatchesPerRun: 3})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("error %v, want continue-as-new", err)
	}
	var next reconcile.RunInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Cursor != "bd" || next.Checked != 30 || next.RunID != "awdaflow-reconcile-x" || next.Started.IsZero() ||
		next.BatchesPerRun != 3 || next.BatchSize != 10 || len(b.done) != 0 {
		t.Fatalf("next run's input %+v (closed %d times), want cursor bd, 30 checked, the same run", next, len(b.done))
	}

	// The next run starts from the cursor and finishes the book (with the
	// default batches per run).
	next.BatchesPerRun = 0
	b2 := &book{refs: b.refs}
	env2 := newEnv(b2)
	env2.ExecuteWorkflow(reconcile.WorkflowName, next)
	var res reconcile.RunResult
	if err := env2.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if b2.batches[0].After != "bd" || res.Checked != 100 || res.RunID != "awdaflow-reconcile-x" {
		t.Errorf("resumed from %q, result %+v; want from bd, 100 checked in all, the same run", b2.batches[0].After, res)
	}
}

func TestReconcileRefusesBadInput(t *testing.T) {
	b := newBook(5)
	env := newEnv(b)
	env.ExecuteWorkflow(reconcile.WorkflowName, reconcile.RunInput{BatchSize: 0})
	if env.GetWorkflowError() == nil || len(b.batches) != 0 {
		t.Errorf("error %v after %d batches, want a refusal before any", env.GetWorkflowError(), len(b.batches))
	}
}
