//go:build integration

package stack_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

func run(t *testing.T, ctx context.Context, s *stack.Stack, prefix string, n int) {
	t.Helper()
	o := s.DemoOptions(prefix)
	o.N, o.Concurrency, o.Mix = n, n, demo.Mix{demo.Happy: 1}
	o.Tenors = []demo.Tenor{{Tenor: 3, Unit: "MONTH"}}
	o.PollInterval = 100 * time.Millisecond
	o.Timeout = 2 * time.Minute
	sum, err := demo.Run(ctx, o)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	for _, r := range sum.Mismatches() {
		t.Errorf("%s: expected %s, got %s: %s", r.Ref, r.Expected, r.Actual, r.Reason)
	}
}

func alive(pid int) bool { return pid != 0 && syscall.Kill(pid, 0) == nil }

// The whole system comes up, settles loans, survives every restart the
// stack offers (worker SIGKILL, Temporal, PostgreSQL, starter), settles
// loans again, and Close leaves no process and no directory behind.
func TestStackRestartsAndCloses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{
		Sandbox: sandbox.Config{Autopilot: sandbox.Autopilot{Enabled: true, NoDelay: true}},
		Logf:    t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = s.Close()
		}
	}()

	run(t, ctx, s, "stk1", 3)
	if st := s.Sandbox.Stats(); st.LoansByStatus["SETTLED"] != 3 {
		t.Fatalf("sandbox: loans by status %v, want 3 SETTLED", st.LoansByStatus)
	}
	m, err := s.WorkerMemory()
	if err != nil || m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("worker memory %+v, %v", m, err)
	}

	oldWorker := s.Worker.PID()
	if err := s.KillWorker(); err != nil {
		t.Fatal(err)
	}
	if alive(oldWorker) || s.Worker.Running() {
		t.Fatal("worker still alive after KillWorker")
	}
	if err := s.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.RestartTemporal(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := s.RestartPostgres(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.RestartStarter(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Worker.Starts() != 2 || s.Starter.Starts() != 2 {
		t.Fatalf("starts: worker %d, starter %d; want 2 and 2", s.Worker.Starts(), s.Starter.Starts())
	}
	// The loans of before the restarts are still there and close: the read
	// model shows SETTLED once the final projection has landed, a workflow
	// task before the workflow completes, and the worker may have been
	// killed in between; the restarted one completes it.
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	for got := ""; got != "Completed"; {
		d, err := s.Client.DescribeWorkflow(wctx, workflows.LoanWorkflowID(demo.RefFor("stk1", 0, demo.Happy)), "")
		if err != nil {
			t.Fatalf("describe after restarts (last status %q): %v", got, err)
		}
		if got = d.RawResponse.GetWorkflowExecutionInfo().GetStatus().String(); got != "Running" && got != "Completed" {
			t.Fatalf("first loan is %s after the restarts, want Completed", got)
		}
		if got == "Running" {
			select {
			case <-wctx.Done():
				t.Fatalf("first loan still Running a minute after the restarts")
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	run(t, ctx, s, "stk2", 2)
	var rows int
	if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM applications").Scan(&rows); err != nil || rows != 5 {
		t.Fatalf("applications rows %d (%v), want 5", rows, err)
	}

	pids := []int{s.Worker.PID(), s.Starter.PID()}
	dir := s.Dir()
	closed = true
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still alive after Close", pid)
		}
	}
	if s.Temporal.Running() || s.Postgres.Running() {
		t.Error("temporal or postgres still running after Close")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory %s still there after Close (%v)", dir, err)
	}
}
