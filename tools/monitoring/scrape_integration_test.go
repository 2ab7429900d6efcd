//go:build integration

package monitoring_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/reconcile"
	"github.com/awdaflow/awdaflow/internal/retention"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/monitoring"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m)) }

// named is every metric the rules and the dashboards name, with the labels
// they use it with and where, and the names the recording rules define.
type named struct {
	uses     monitoring.Uses
	where    map[string]string // metric → the first rule or panel naming it
	recorded map[string]bool
}

func namedMetrics(t *testing.T) named {
	t.Helper()
	qs, recorded := monitoring.RuleQueries(prometheusRule(t).Spec.Groups)
	ds, err := monitoring.ReadDashboards(filepath.Join(root(t), monitoring.DashboardsDir))
	if err != nil {
		t.Fatal(err)
	}
	n := named{uses: monitoring.Uses{}, where: map[string]string{}, recorded: recorded}
	for _, q := range append(qs, monitoring.DashboardQueries(ds)...) {
		u, err := monitoring.MetricUses(q.Expr)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		for m, labels := range u {
			if _, ok := n.where[m]; !ok {
				n.where[m] = q.Where
			}
			if n.uses[m] == nil {
				n.uses[m] = map[string]bool{}
			}
			for l := range labels {
				n.uses[m][l] = true
			}
		}
	}
	return n
}

func scrape(t *testing.T, url string) monitoring.Scrape {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s/metrics: %s", url, resp.Status)
	}
	s, err := monitoring.ParseScrape(resp.Body)
	if err != nil {
		t.Fatalf("%s/metrics: %v", url, err)
	}
	return s
}

// Every metric an alert rule or a dashboard panel names is on /metrics of
// the real binaries, with every label the rule or panel selects on or
// groups by. The stack (tools/stack: the worker and starter binaries, the
// AWDA sandbox, PostgreSQL, the Temporal dev server) runs a few loans of
// different outcomes; AWDA answers busy to loan submissions until the
// worker shows a failed activity (so the failure metrics exist); and after
// the loans, a retry and a signature sent to a settled loan fail in
// Temporal (NOT_FOUND), as a signal and as an update.
func TestRulesAndDashboardsNameEmittedMetrics(t *testing.T) {
	n := namedMetrics(t)
	st := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	if err := st.Admin.SetFaults(ctx, map[string]sandbox.Fault{awda.PathLoanSubmit: {BusyRate: 1}}); err != nil {
		t.Fatal(err)
	}
	o := st.DemoOptions("mon" + fmt.Sprint(time.Now().UnixNano()%1e6))
	o.Plan = []demo.Scenario{demo.Happy, demo.Happy, demo.DisburseFail, demo.Reject, demo.Ineligible}
	o.Concurrency, o.PollInterval, o.Timeout = len(o.Plan), 100*time.Millisecond, 2*time.Minute
	type result struct {
		sum *demo.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := demo.Run(ctx, o)
		done <- result{sum, err}
	}()
	waitFor(t, ctx, "a failed activity attempt on the worker", func() bool {
		s := scrape(t, st.WorkerURL)
		return s["temporal_activity_execution_failed_total"] != nil && s["awdaflow_awda_calls_total"]["outcome"]["busy"]
	})
	if err := st.Admin.SetFaults(ctx, map[string]sandbox.Fault{}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("demo: %v", r.err)
	}
	settled := ""
	for _, res := range r.sum.Results {
		if res.Actual != string(res.Expected) {
			t.Errorf("%s (%s): %s, want %s: %s", res.Ref, res.Scenario, res.Actual, res.Expected, res.Reason)
		}
		if res.Actual == string(workflows.StageSettled) {
			settled = res.Ref
		}
	}
	if settled == "" {
		t.Fatal("no loan settled")
	}
	// The loan shows SETTLED as soon as its stage is; its workflow closes
	// once the last projection is written. Signals to it fail then.
	waitFor(t, ctx, "the settled loan's workflow to close", func() bool {
		d, err := st.Client.DescribeWorkflow(ctx, workflows.LoanWorkflowID(settled), "")
		return err == nil && d.WorkflowExecutionMetadata.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	})
	if err := st.API.Retry(ctx, settled, "monitoring-test", "a signal to a closed loan"); err == nil {
		t.Errorf("retry of settled loan %s accepted", settled)
	}
	sig := api.SignatureRequest{AgreementID: "AG-closed", Consent: true, ClientIP: "192.0.2.1"}
	if _, err := st.API.Sign(ctx, settled, "", sig); err == nil {
		t.Errorf("signature of settled loan %s accepted", settled)
	}

	// A retention sweep and a reconciliation, as their schedules would run
	// them at night: their alerts' gauges exist once one has finished.
	for id, gauge := range map[string]string{
		retention.ScheduleID(store.RetentionAWDACalls): retention.LastSuccessName,
		reconcile.ScheduleID:                           reconcile.LastSuccessName,
	} {
		if err := st.Client.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "a run of "+id, func() bool { return scrape(t, st.WorkerURL)[gauge] != nil })
	}

	got := scrape(t, st.WorkerURL)
	got.Merge(scrape(t, st.StarterURL))
	checkNamed(t, n, got)
	checkPrimed(t, got)
}

func startStack(t *testing.T) *stack.Stack {
	t.Helper()
	hostPort, ns := testenv.Temporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		LogDir:            t.TempDir(),
		TemporalAddress:   hostPort,
		TemporalNamespace: ns,
		DatabaseURL:       testenv.PostgresURL(t),
		Sandbox: sandbox.Config{
			Autopilot: sandbox.Autopilot{Enabled: true, NoDelay: true},
			Delivery:  sandbox.Delivery{RetryBase: 100 * time.Millisecond, RetryMax: time.Second},
		},
		StarterEnv: []string{"STARTER_FORWARD_INTERVAL=200ms", "STARTER_RETRY_MAX_BACKOFF=1s"},
		Logf:       t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := st.TerminateOpen(ctx, "mon", "monitoring test over"); err != nil {
			t.Logf("terminate the open loans: %v", err)
		}
		if t.Failed() {
			t.Logf("worker log (tail):\n%s", stack.Tail(st.Worker.LogPath, 40))
			t.Logf("starter log (tail):\n%s", stack.Tail(st.Starter.LogPath, 40))
		}
		if err := st.Close(); err != nil {
			t.Errorf("close the stack: %v", err)
		}
	})
	return st
}

// waitFor polls cond until it holds; the test fails when ctx ends first.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

func checkNamed(t *testing.T, n named, got monitoring.Scrape) {
	t.Helper()
	for _, m := range n.uses.Names() {
		if n.recorded[m] {
			continue
		}
		if reason, ok := monitoring.Exceptions[m]; ok {
			if got[m] != nil {
				t.Errorf("%s is on /metrics: drop it from monitoring.Exceptions (%q)", m, reason)
			}
			continue
		}
		if got[m] == nil {
			t.Errorf("%s (named by %s) is not on /metrics of the worker or the starter", m, n.where[m])
			continue
		}
		var missing []string
		for l := range n.uses[m] {
			if !got.Has(m, l) && !monitoring.TargetLabels[l] {
				missing = append(missing, l)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s (named by %s) has no label %s on /metrics", m, n.where[m], strings.Join(missing, ", "))
		}
	}
	for m := range monitoring.Exceptions {
		if n.uses[m] == nil {
			t.Errorf("monitoring.Exceptions lists %s, which no rule or panel names: drop it", m)
		}
	}
}

// The workflow task failure counters the worker primes at 0 carry the
// labels, and the values, of the SDK's own workflow task series: a real
// failure lands on the same series.
func checkPrimed(t *testing.T, got monitoring.Scrape) {
	t.Helper()
	const primed, sdk = "temporal_workflow_task_execution_failed_total", "temporal_workflow_task_execution_latency_seconds_count"
	if got[primed] == nil || got[sdk] == nil {
		t.Fatalf("%s or %s missing", primed, sdk)
	}
	for l, vs := range got[sdk] {
		for v := range vs {
			if !got[primed][l][v] {
				t.Errorf("%s has no %s=%q, which %s has", primed, l, v, sdk)
			}
		}
	}
	for l := range got[primed] {
		if l != "failure_reason" && got[sdk][l] == nil {
			t.Errorf("%s has label %s, which the SDK's %s has not", primed, l, sdk)
		}
	}
	for _, r := range []string{"NonDeterminismError", "GrpcMessageTooLarge"} {
		if !got[primed]["failure_reason"][r] {
			t.Errorf("%s{failure_reason=%q} not primed", primed, r)
		}
	}
}
