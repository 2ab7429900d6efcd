//go:build integration

package testenv_test

import (
	"context"
	"os"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

// TestMain is the package's only one (integration builds): other test
// files of testenv must not declare another.
func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m)) }

var stageKey = temporal.NewSearchAttributeKeyKeyword("LoanStage")

// stageWorkflow upserts a search attribute, runs an activity and returns its
// answer: the smallest workflow that exercises what the harness provides.
func stageWorkflow(ctx workflow.Context, name string) (string, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, stageKey.ValueSet("REGISTER")); err != nil {
		return "", err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, greet, name).Get(ctx, &out)
	return out, err
}

func greet(_ context.Context, name string) (string, error) { return "hello " + name, nil }

// waitWorkflow returns the payload of the first "go" signal.
func waitWorkflow(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &v)
	return v, nil
}

func startWorker(t *testing.T, c client.Client, tq string) {
	t.Helper()
	w := worker.New(c, tq, worker.Options{})
	w.RegisterWorkflow(stageWorkflow)
	w.RegisterWorkflow(waitWorkflow)
	w.RegisterActivity(greet)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

func TestSharedDevServer(t *testing.T) {
	c := testenv.NewTemporalClient(t, client.Options{})
	_, ns := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range testenv.SearchAttributes {
		if got := sas.GetCustomAttributes()[sa.Name]; got != sa.Type {
			t.Errorf("search attribute %s: type %v, want %v", sa.Name, got, sa.Type)
		}
	}

	tq := "testenv-" + t.Name()
	startWorker(t, c, tq)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "testenv-stage-" + time.Now().Format("150405.000000"), TaskQueue: tq}, stageWorkflow, "harness")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out != "hello harness" {
		t.Fatalf("workflow result %q", out)
	}
	desc, err := c.DescribeWorkflow(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if stage, ok := desc.TypedSearchAttributes.GetKeyword(stageKey); !ok || stage != "REGISTER" {
		t.Fatalf("LoanStage = %q, %v; want REGISTER", stage, ok)
	}
}

// A dev server of the test's own keeps its workflows across a graceful
// restart and across SIGKILL, on the same address, and clients and workers
// dialed before reconnect by themselves.
func TestDedicatedDevServerSurvivesRestartAndKill(t *testing.T) {
	s := testenv.StartTemporal(t)
	c := testenv.NewTemporalClient(t, client.Options{HostPort: s.HostPort(), Namespace: s.Namespace()})
	tq := "testenv-restart"
	startWorker(t, c, tq)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "testenv-wait", TaskQueue: tq}, waitWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the first workflow task has run, so the restart interrupts
	// a workflow that is genuinely parked on its signal.
	waitForEvent(ctx, t, c, run, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("server still running after Stop")
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}

	if err := c.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), "go", "after restarts"); err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out != "after restarts" {
		t.Fatalf("workflow result %q", out)
	}
}

func waitForEvent(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun, want enumspb.EventType) {
	t.Helper()
	for {
		it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetEventType() == want {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %v event: %v", want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
