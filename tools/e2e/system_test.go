//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

// binDir holds the worker and starter binaries, built by the first stack
// and run by every stack of the test process (see TestMain).
var binDir string

// system is the whole system for one test (tools/stack): its own
// database, sandbox, starter and worker around the Temporal dev server and
// the PostgreSQL server the tests of this process share.
type system struct {
	*stack.Stack
	t *testing.T
	// temporal is a client without the codec: search attributes and
	// histories as they are stored.
	temporal client.Client
	// prefix starts every applicant ref of the test.
	prefix string

	mu       sync.Mutex
	prefixes []string // of the refs this test started, terminated at the end
}

var prefixes struct {
	sync.Mutex
	n int
}

// newSystem starts everything and waits until the starter and the worker
// are ready. The sandbox runs with seed, on autopilot with small delays,
// and retries its pushes quickly while the starter starts.
func newSystem(t *testing.T, seed uint64) *system {
	t.Helper()
	hostPort, ns := testenv.Temporal(t)
	pgURL := testenv.PostgresURL(t)

	prefixes.Lock()
	prefixes.n++
	prefix := fmt.Sprintf("e2e%d-%s", prefixes.n, strconv.FormatUint(rand.Uint64()%(36*36*36*36), 36))
	prefixes.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		BinDir:            binDir,
		Build:             []string{"./tools/cmd/demo"}, // TestDemoCommand
		LogDir:            t.TempDir(),                  // survives Close, for the logs of a failed test
		TemporalAddress:   hostPort,
		TemporalNamespace: ns,
		DatabaseURL:       pgURL,
		Sandbox: sandbox.Config{
			Seed:      seed,
			Autopilot: sandbox.Autopilot{Enabled: true, MinDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
			Delivery:  sandbox.Delivery{RetryBase: 100 * time.Millisecond, RetryMax: 2 * time.Second},
		},
		StarterEnv: []string{
			"STARTER_FORWARD_INTERVAL=200ms",
			"STARTER_RETRY_MAX_BACKOFF=1s",
			"STARTER_UPDATE_TIMEOUT=20s",
		},
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &system{Stack: st, t: t, prefix: prefix, prefixes: []string{prefix}}
	t.Cleanup(func() {
		// The loans of this test that are still open end with it, so that
		// the worker of a later test does not pick them up.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s.mu.Lock()
		refPrefixes := append([]string(nil), s.prefixes...)
		s.mu.Unlock()
		for _, p := range refPrefixes {
			if _, err := st.TerminateOpen(ctx, p, "e2e test over"); err != nil {
				t.Logf("terminate the open loans %s*: %v", p, err)
			}
		}
		cancel()
		if err := st.Close(); err != nil {
			t.Errorf("close the stack: %v", err)
		}
		if t.Failed() {
			t.Logf("starter log (tail):\n%s", stack.Tail(st.Starter.LogPath, 60))
			t.Logf("worker log (tail):\n%s", stack.Tail(st.Worker.LogPath, 60))
			// Kept in $E2E_LOG_DIR, when set.
			if dir := os.Getenv("E2E_LOG_DIR"); dir != "" {
				kept, err := st.CopyLogs(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-")
				t.Logf("kept %v (%v)", kept, err)
			}
		}
	})
	s.temporal = testenv.NewTemporalClient(t, client.Options{HostPort: hostPort, Namespace: ns})
	return s
}

// refPrefix records a prefix of refs started outside s.run (the demo
// command's), so that their open loans are terminated at the end.
func (s *system) refPrefix(p string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prefixes = append(s.prefixes, p)
	return p
}

// options are the demo options of this stack for plan: every applicant at
// once, refs starting with s.prefix, a short poll interval.
func (s *system) options(plan []demo.Scenario) demo.Options {
	o := s.DemoOptions(s.prefix)
	o.Plan = plan
	o.Concurrency = len(plan)
	o.Seed = 1
	o.PollInterval = 250 * time.Millisecond
	o.Timeout = 4 * time.Minute
	return o
}

// run drives the applicants and logs the summary table.
func (s *system) run(ctx context.Context, o demo.Options) *demo.Summary {
	s.t.Helper()
	s.refPrefix(o.RefPrefix)
	sum, err := demo.Run(ctx, o)
	if err != nil {
		s.t.Fatalf("demo: %v", err)
	}
	var b strings.Builder
	_ = sum.WriteTable(&b)
	s.t.Logf("summary:\n%s", b.String())
	return sum
}

// checkOutcomes fails the test for every applicant not in its expected
// terminal state, and shows what the loan was doing: its status (stage,
// stuck reason, authorizations, transitions; no personal data) and the
// notifications AWDA sent about it.
func (s *system) checkOutcomes(sum *demo.Summary) {
	s.t.Helper()
	for _, r := range sum.Mismatches() {
		s.t.Errorf("%s (%s): expected %s, got %s: %s; stages %v; problems %v",
			r.Ref, r.Scenario, r.Expected, r.Actual, r.Reason, r.Stages, r.Problems)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := s.API.Application(ctx, r.Ref)
		cancel()
		if err != nil || v.Live == nil {
			continue
		}
		st := v.Live
		b, _ := json.Marshal(map[string]any{"stage": st.Stage, "stuck": st.Stuck, "loanStatus": st.LoanStatus,
			"authorizations": st.Authorizations, "transitions": st.Transitions, "ignored": st.Ignored})
		s.t.Logf("%s: status %s", r.Ref, b)
		var pushes []string
		for _, ev := range s.Sandbox.Events() {
			switch {
			case ev.Auth != nil && ev.Auth.UserID == st.UserID:
				pushes = append(pushes, fmt.Sprintf("%s %s %s", ev.EventID, ev.Auth.AuthType, ev.Auth.Status))
			case ev.Loan != nil && ev.Loan.LoanNo == st.LoanNo && st.LoanNo != "":
				pushes = append(pushes, fmt.Sprintf("%s %s", ev.EventID, ev.Loan.Status))
			}
		}
		s.t.Logf("%s: AWDA pushed %v", r.Ref, pushes)
	}
}

// checkOneLoanPerOrder fails the test unless AWDA (the sandbox) holds
// exactly one loan for every applicant that reached submission and none for
// the others, and no orderNo or user has two.
func (s *system) checkOneLoanPerOrder(sum *demo.Summary) *sandbox.Stats {
	s.t.Helper()
	st := s.Sandbox.Stats()
	if len(st.DuplicateOrderNos) != 0 || len(st.UsersWithSeveralLoans) != 0 {
		s.t.Errorf("duplicate loans: orderNos %v, users %v", st.DuplicateOrderNos, st.UsersWithSeveralLoans)
	}
	for no, n := range st.LoansByOrderNo {
		if n != 1 {
			s.t.Errorf("orderNo %s has %d loans", no, n)
		}
	}
	for _, r := range sum.Results {
		want := 1
		if r.Scenario == demo.Ineligible || r.Scenario == demo.Cancel {
			want = 0 // never submitted
		}
		if r.OrderNo == "" {
			s.t.Errorf("%s: no orderNo in the application", r.Ref)
			continue
		}
		if r.OrderNo != workflows.OrderNo(workflows.LoanWorkflowID(r.Ref)) {
			s.t.Errorf("%s: orderNo %s is not the one derived from the workflow ID", r.Ref, r.OrderNo)
		}
		if got := st.LoansByOrderNo[r.OrderNo]; got != want {
			s.t.Errorf("%s (%s): %d loans at AWDA for orderNo %s, want %d", r.Ref, r.Scenario, got, r.OrderNo, want)
		}
	}
	return &st
}
