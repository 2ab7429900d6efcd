//go:build integration

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/workflows"
)

// changedLoanApplication is the loan workflow with a change a deploy must
// not ship without workflow.GetVersion: a timer before anything else, so
// its first command differs from what every running loan recorded.
func changedLoanApplication(ctx workflow.Context, in workflows.LoanApplicationInput) (*workflows.LoanResult, error) {
	if err := workflow.Sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	return workflows.LoanApplication(ctx, in)
}

// Loans parked on the dev server by the in-process worker (the sandbox is
// not on autopilot: they wait for the borrower's authorizations): the gate
// lists them over several visibility pages and replays every one, oldest
// first, and passes; `worker replay-gate` with the worker's environment
// says the same; with a changed workflow registered the gate fails and
// names every one of them; a -max below their number fails the gate
// instead of replaying some.
func TestReplayGateOnRunningLoans(t *testing.T) {
	s := newStack(t)
	cfg := s.config(t)
	app := newApp(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Stop(context.Background()) }()

	c := s.client(t)
	ring, err := codec.ParseKeyRing(s.keys)
	if err != nil {
		t.Fatal(err)
	}
	// The loans' payloads are under their applicants' data keys: the gate
	// reads them from DATABASE_URL as `worker replay-gate` does.
	keys, done := gateDataKeys(func(k string) string { return s.env[k] }, ring)
	defer done()
	ids := startParkedLoans(ctx, t, c, cfg.Temporal.Namespace, 5)

	const pageSize = 2
	count := func() int {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: cfg.Temporal.Namespace, Query: DefaultGateQuery})
		if err != nil {
			t.Fatal(err)
		}
		return int(resp.GetCount())
	}
	running := count()
	if running < len(ids) {
		t.Fatalf("visibility counts %d running loans, fewer than the %d started", running, len(ids))
	}

	var out bytes.Buffer
	res, err := runGate(ctx, c, cfg.Temporal.Namespace, ring, gateOptions{Keys: keys, Query: DefaultGateQuery, PageSize: pageSize, Parallel: 3}, &out)
	if err != nil {
		t.Fatalf("gate: %v\n%s", err, out.String())
	}
	if len(res.Failed) != 0 {
		t.Fatalf("the worker's own code failed to replay %v:\n%s", res.Failed, out.String())
	}
	if len(res.IDs) != running || res.Pages < (running+pageSize-1)/pageSize {
		t.Errorf("replayed %d workflows over %d pages of %d; visibility counts %d running", len(res.IDs), res.Pages, pageSize, running)
	}
	if mine := inOrder(res.IDs, ids); !slices.Equal(mine, ids) {
		t.Errorf("the loans, in the gate's order: %v; started (oldest first): %v", mine, ids)
	}

	// The command as the Job runs it: the worker binary, the worker's
	// environment.
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin, replayGateCommand, "-page-size", strconv.Itoa(pageSize))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	want := fmt.Sprintf("replay-gate: PASS: replayed %d, failed 0, oldest started at ", running)
	if err != nil || !strings.Contains(stdout.String(), want) {
		t.Errorf("worker replay-gate: %v, want exit 0 and %q\n%s%s", err, want, stdout.String(), stderr.String())
	}

	// A deploy of a changed workflow: every running loan would break.
	out.Reset()
	changed := func(r worker.WorkflowRegistry) {
		r.RegisterWorkflowWithOptions(changedLoanApplication, workflow.RegisterOptions{Name: workflows.WorkflowName})
	}
	res, err = runGate(ctx, c, cfg.Temporal.Namespace, ring, gateOptions{Keys: keys, Query: DefaultGateQuery, PageSize: pageSize, Parallel: 3, Register: changed}, &out)
	if err != nil {
		t.Fatalf("gate: %v", err)
	}
	for _, id := range ids {
		if !slices.Contains(res.Failed, id) || !strings.Contains(out.String(), "FAIL "+id+": ") {
			t.Errorf("%s is not named as failing:\n%s", id, out.String())
		}
	}
	if !strings.Contains(res.summary(), "replay-gate: FAIL: ") {
		t.Errorf("summary %q", res.summary())
	}

	// A cap below the number of running loans fails; it never passes a part.
	out.Reset()
	if _, err := runGate(ctx, c, cfg.Temporal.Namespace, ring, gateOptions{Keys: keys, Query: DefaultGateQuery, PageSize: pageSize, Parallel: 1, Max: len(ids) - 1}, &out); err == nil || !strings.Contains(err.Error(), "-max") {
		t.Errorf("with -max %d under %d running loans: %v", len(ids)-1, running, err)
	}
}

// startParkedLoans starts n loans one after the other and waits until each
// waits for its authorizations and visibility shows it so; it returns their
// workflow IDs, oldest first.
func startParkedLoans(ctx context.Context, t *testing.T, c client.Client, namespace string, n int) []string {
	t.Helper()
	prefix := fmt.Sprintf("gate-%d-", time.Now().UnixNano())
	var ids []string
	for i := range n {
		ref := prefix + strconv.Itoa(i)
		in := applicantInput(ref)
		// One borrower each: the sandbox refuses a NIK or a mobile twice.
		in.Applicant.NIK = fmt.Sprintf("31710155059%05d", i+1)
		in.Applicant.Mobile = fmt.Sprintf("0812345%05d", i+1)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.LoanWorkflowID(ref), TaskQueue: workflows.TaskQueue,
		}, workflows.LoanApplication, in)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "test over") })
		ids = append(ids, run.GetID())
	}
	for _, id := range ids {
		waitFor(t, id+" to wait for its authorizations", time.Minute, func() bool {
			st, err := workflows.StatusQuery.Get(ctx, c, id, "")
			return err == nil && st.Stage == workflows.StageAuthorizations
		})
	}
	q := DefaultGateQuery + ` AND LoanStage = "` + string(workflows.StageAuthorizations) + `"`
	waitFor(t, "visibility to show the parked loans", 30*time.Second, func() bool {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: q})
		return err == nil && int(resp.GetCount()) >= n
	})
	return ids
}

// inOrder is the elements of want in the order all has them.
func inOrder(all, want []string) []string {
	var out []string
	for _, id := range all {
		if slices.Contains(want, id) {
			out = append(out, id)
		}
	}
	return out
}
