package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/store"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestAWDAObserverAndSDKMetricsReachPrometheus(t *testing.T) {
	m, err := metrics.New(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())

	obs := m.AWDAObserver()
	ctx := context.Background()
	obs(ctx, awda.CallInfo{Endpoint: awda.PathLoanSubmit, Latency: 30 * time.Millisecond})
	obs(ctx, awda.CallInfo{Endpoint: awda.PathLoanSubmit, Latency: 40 * time.Millisecond})
	obs(ctx, awda.CallInfo{Endpoint: awda.PathLoanSubmit, Code: awda.CodeSystemBusy, Latency: 2 * time.Millisecond,
		Err: &awda.Error{Class: awda.ClassBusy, Code: awda.CodeSystemBusy}})

	// What the SDK does with its handler.
	m.TemporalHandler().WithTags(map[string]string{"namespace": "default"}).Counter("temporal_request").Inc(1)
	m.TemporalHandler().Timer("temporal_request_latency").Record(120 * time.Millisecond)

	out := scrape(t, m.Handler())
	for _, want := range []string{
		metrics.AWDACallsName + `{code="0",endpoint="/api/partner/v1/loan/submit",outcome="ok"} 2`,
		metrics.AWDACallsName + `{code="1000",endpoint="/api/partner/v1/loan/submit",outcome="busy"} 1`,
		metrics.AWDADurationName + `_bucket{endpoint="/api/partner/v1/loan/submit",outcome="ok",le="0.05"} 2`,
		metrics.AWDADurationName + `_bucket{endpoint="/api/partner/v1/loan/submit",outcome="ok",le="0.025"} 0`,
		metrics.AWDADurationName + `_count{endpoint="/api/partner/v1/loan/submit",outcome="busy"} 1`,
		`temporal_request_total{namespace="default"} 1`,
		`temporal_request_latency_seconds_bucket{le="0.25"} 1`,
		`process_resident_memory_bytes `,
		`go_goroutines `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", out)
	}
}

type loanCounts struct {
	counts []store.StageCount
	err    error
}

func (c *loanCounts) CountOpenLoans(context.Context) ([]store.StageCount, error) {
	return c.counts, c.err
}

// Every listed stage is reported (0 when empty), the read model's "" stage
// as NEW, a stage beyond the list as it is; a failed read reports nothing.
func TestLoanGauges(t *testing.T) {
	m, err := metrics.New(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	c := &loanCounts{counts: []store.StageCount{{Stage: "", Open: 2}, {Stage: "REVIEW", Open: 5, Stuck: 1}, {Stage: "ODD", Open: 1}}}
	if err := m.InstrumentLoans(c, []string{"SUBMIT", "REVIEW"}); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, m.Handler())
	for _, want := range []string{
		metrics.LoansOpenName + `{stage="SUBMIT"} 0`,
		metrics.LoansOpenName + `{stage="REVIEW"} 5`,
		metrics.LoansStuckName + `{stage="REVIEW"} 1`,
		metrics.LoansStuckName + `{stage="SUBMIT"} 0`,
		metrics.LoansOpenName + `{stage="NEW"} 2`,
		metrics.LoansOpenName + `{stage="ODD"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", out)
	}

	c.err = errors.New("database down")
	if out := scrape(t, m.Handler()); strings.Contains(out, metrics.LoansOpenName+"{") || strings.Contains(out, metrics.LoansStuckName+"{") {
		t.Errorf("a failed read still reports loans:\n%s", out)
	}
}

// The primed failure counters are at 0 under the labels the SDK's worker
// uses; the SDK's own increment then lands on the same series.
func TestPrimeWorkflowTaskFailures(t *testing.T) {
	m, err := metrics.New(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	m.PrimeWorkflowTaskFailures("default", "q", "Loan")
	labels := `activity_type="none",client_name="temporal_go",failure_reason="%s",namespace="default",task_queue="q",worker_type="none",workflow_type="Loan"`
	out := scrape(t, m.Handler())
	for _, r := range []string{metrics.FailureNonDeterminism, metrics.FailureGrpcMessageTooLarge, metrics.FailureWorkflowError} {
		if want := "temporal_workflow_task_execution_failed_total{" + fmt.Sprintf(labels, r) + "} 0\n"; !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	m.TemporalHandler().WithTags(map[string]string{"namespace": "default", "client_name": "temporal_go", "worker_type": "none",
		"activity_type": "none", "task_queue": "q"}).WithTags(map[string]string{"workflow_type": "Loan"}).
		WithTags(map[string]string{"failure_reason": metrics.FailureNonDeterminism}).Counter("temporal_workflow_task_execution_failed").Inc(1)
	if want := "temporal_workflow_task_execution_failed_total{" + fmt.Sprintf(labels, metrics.FailureNonDeterminism) + "} 1\n"; !strings.Contains(scrape(t, m.Handler()), want) {
		t.Errorf("/metrics lacks %q after the SDK's increment", want)
	}
}
