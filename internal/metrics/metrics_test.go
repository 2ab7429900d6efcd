package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/metrics"
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
