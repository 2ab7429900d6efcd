//go:build integration

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

// ServerLaneEnv set to 0 (or false) skips TestServerLane; nothing else
// does: without bin/temporal-server the test fails and says how to build it
// (`make tools` does).
const ServerLaneEnv = "AWDAFLOW_SERVER_LANE"

// TestServerLane is the production lane in CI: Temporal's own server on
// PostgreSQL (persistence and visibility), two workers and two starters
// behind the stack's round-robin proxy, ten loans of every scenario, and one
// worker replica killed with SIGKILL mid-run and left dead: the other
// replica carries every loan to its expected end, AWDA holds one loan per
// order, no loan ran twice, and both starters served the API and AWDA's
// pushes.
func TestServerLane(t *testing.T) {
	if v := os.Getenv(ServerLaneEnv); v != "" {
		if on, err := strconv.ParseBool(v); err == nil && !on {
			t.Skipf("%s=%s: the production lane is disabled", ServerLaneEnv, v)
		}
	}
	began := time.Now()
	s := newServerLane(t)
	t.Logf("stack up in %s", time.Since(began).Round(time.Millisecond))
	if len(s.Workers) != 2 || len(s.Starters) != 2 {
		t.Fatalf("%d workers and %d starters, want 2 of each", len(s.Workers), len(s.Starters))
	}

	plan := append(slices.Clone(demo.Scenarios), demo.Happy, demo.CardRetry)
	o := s.options(plan)
	victim := s.Workers[1]
	var once sync.Once
	killed := make(chan error, 1)
	late := map[string]bool{}
	for _, st := range workflows.Stages[slices.Index(workflows.Stages, workflows.StageDocuments):] {
		late[string(st)] = true
	}
	o.OnProgress = func(p demo.Progress) {
		// Once three loans are at their documents or past them, and not
		// yet done: activities, pushes and updates in flight on both
		// replicas.
		n := 0
		for st, c := range p.Stages {
			if late[st] {
				n += c
			}
		}
		if n >= 3 {
			once.Do(func() {
				t.Logf("kill -9 %s (pid %d) at %s: %d of %d done, stages %v", victim.Name, victim.PID(), p.Elapsed.Round(time.Millisecond), p.Done, p.Total, p.Stages)
				killed <- victim.Kill()
			})
		}
	}
	sum := s.run(context.Background(), o)
	select {
	case err := <-killed:
		if err != nil {
			t.Fatalf("kill %s: %v", victim.Name, err)
		}
	default:
		t.Fatal("the worker replica was never killed: the loans went too fast for the kill's condition")
	}
	if victim.Running() || !s.Workers[0].Running() {
		t.Errorf("after the kill: %s running %v, %s running %v; want only the first", victim.Name, victim.Running(), s.Workers[0].Name, s.Workers[0].Running())
	}
	s.checkOutcomes(sum)
	s.checkOneLoanPerOrder(sum)
	s.checkOneRunEach(sum)
	s.checkBothStartersServed()
	t.Logf("10 loans on the real server in %s (whole test %s)", sum.Elapsed.Round(time.Millisecond), time.Since(began).Round(time.Second))
}

// newServerLane is newSystem on the production lane: the stack's own
// Temporal server (its databases on the PostgreSQL the tests share, dropped
// at the end), two workers and two starters.
func newServerLane(t *testing.T) *system {
	t.Helper()
	pgURL := testenv.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		Server:      true,
		BinDir:      binDir,
		LogDir:      t.TempDir(),
		DatabaseURL: pgURL,
		Sandbox: sandbox.Config{
			Seed:      21,
			Autopilot: sandbox.Autopilot{Enabled: true, MinDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
			Delivery:  sandbox.Delivery{RetryBase: 100 * time.Millisecond, RetryMax: 2 * time.Second},
		},
		StarterEnv: []string{"STARTER_FORWARD_INTERVAL=200ms", "STARTER_RETRY_MAX_BACKOFF=1s", "STARTER_UPDATE_TIMEOUT=20s"},
		Logf:       t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &system{Stack: st, t: t, prefix: "lane-" + strconv.FormatInt(time.Now().UnixNano()%(1<<30), 36)}
	s.prefixes = []string{s.prefix}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range append(slices.Clone(st.Starters), st.Workers...) {
				t.Logf("%s log (tail):\n%s", p.Name, stack.Tail(p.LogPath, 40))
			}
			t.Logf("temporal log (tail):\n%s", stack.Tail(st.Server.LogPath, 40))
		}
		if err := st.Close(); err != nil {
			t.Errorf("close the stack: %v", err)
		}
	})
	s.temporal = st.Client
	return s
}

// checkOneRunEach fails the test for a loan workflow that was started more
// than once.
func (s *system) checkOneRunEach(sum *demo.Summary) {
	s.t.Helper()
	ctx := context.Background()
	for _, r := range sum.Results {
		resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: s.Namespace,
			Query:     fmt.Sprintf("WorkflowId = '%s'", workflows.LoanWorkflowID(r.Ref)),
		})
		if err != nil {
			s.t.Fatal(err)
		}
		if n := len(resp.GetExecutions()); n != 1 {
			s.t.Errorf("%s: %d runs, want 1", r.Ref, n)
		}
	}
}

// checkBothStartersServed reads every starter replica's request counter:
// each must have answered API calls and AWDA's pushes.
func (s *system) checkBothStartersServed() {
	s.t.Helper()
	for i, u := range s.StarterURLs {
		api, hooks, err := requestCounts(u + "/metrics")
		if err != nil {
			s.t.Errorf("%s: %v", s.Starters[i].Name, err)
			continue
		}
		s.t.Logf("%s served %d API requests and %d webhook pushes", s.Starters[i].Name, api, hooks)
		if api == 0 || hooks == 0 {
			s.t.Errorf("%s served %d API requests and %d pushes: the proxy does not spread the load", s.Starters[i].Name, api, hooks)
		}
	}
}

// requestCounts sums awdaflow_http_requests_total of a starter's metrics
// for the API's routes and for the webhooks'.
func requestCounts(metricsURL string) (api, hooks int, err error) {
	resp, err := http.Get(metricsURL)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "awdaflow_http_requests_total{") {
			continue
		}
		f := strings.Fields(line)
		n, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%q: %w", line, err)
		}
		switch {
		case strings.Contains(line, `route="POST /webhooks/`):
			hooks += int(n)
		case strings.Contains(line, "/v1/applications"):
			api += int(n)
		}
	}
	return api, hooks, sc.Err()
}
