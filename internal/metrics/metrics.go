// Package metrics exposes the process's metrics to Prometheus through
// OpenTelemetry: the Temporal SDK's own (through its OpenTelemetry metrics
// handler), the AWDA calls (count by endpoint, outcome and code, and a
// latency histogram), the read model's open and stuck loans by stage (the
// business gauges, business.go), and the Go runtime and process (memory,
// CPU, file descriptors).
//
// Labels are low-cardinality by construction: an AWDA endpoint is one of the
// sixteen interface paths, an outcome is "ok" or an error class, a code is
// one of AWDA's, a stage one of the workflow's. Nothing about a borrower or
// a loan is ever a label.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/awda"
)

// Metric names as Prometheus shows them.
const (
	AWDACallsName    = "awdaflow_awda_calls_total"
	AWDADurationName = "awdaflow_awda_call_duration_seconds"
	LoansOpenName    = "awdaflow_loans_open"
	LoansStuckName   = "awdaflow_loans_stuck"
)

// LatencyBuckets are the histogram boundaries, in seconds, of every duration
// metric: the AWDA calls and the SDK's timers (the OpenTelemetry default
// buckets are meant for milliseconds).
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Metrics owns the registry and the meter provider behind it.
type Metrics struct {
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	temporal client.MetricsHandler

	awdaCalls    metric.Int64Counter
	awdaDuration metric.Float64Histogram
}

// New builds a registry with the Go and process collectors and an
// OpenTelemetry meter provider exporting to it. Meter errors are logged to
// log, never fatal.
func New(log zerolog.Logger) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exporter),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: LatencyBuckets}},
		)),
	)
	m := &Metrics{registry: reg, provider: provider}

	onError := func(err error) { log.Warn().Err(err).Str("component", "metrics").Msg("temporal metric") }
	m.temporal = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                provider.Meter("temporal-sdk-go"),
		OnError:              onError,
		UseMonotonicCounters: true,
	})

	meter := provider.Meter("github.com/awdaflow/awdaflow")
	if m.awdaCalls, err = meter.Int64Counter("awdaflow.awda.calls",
		metric.WithDescription("AWDA call attempts by endpoint, outcome (ok or error class) and AWDA code")); err != nil {
		return nil, err
	}
	if m.awdaDuration, err = meter.Float64Histogram("awdaflow.awda.call.duration",
		metric.WithUnit("s"),
		metric.WithDescription("AWDA call latency, request signed to answer read, by endpoint and outcome")); err != nil {
		return nil, err
	}
	return m, nil
}

// Registry is the Prometheus registry everything is exported to.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// MeterProvider is the OpenTelemetry provider, for other instruments.
func (m *Metrics) MeterProvider() metric.MeterProvider { return m.provider }

// TemporalHandler is the client.MetricsHandler to dial Temporal with.
func (m *Metrics) TemporalHandler() client.MetricsHandler { return m.temporal }

// Handler serves the registry in the Prometheus text format (/metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// AWDAObserver records every AWDA call attempt. It does not block.
func (m *Metrics) AWDAObserver() awda.Observer {
	return func(ctx context.Context, ci awda.CallInfo) {
		outcome := attribute.String("outcome", ci.Outcome())
		endpoint := attribute.String("endpoint", ci.Endpoint)
		m.awdaCalls.Add(ctx, 1, metric.WithAttributes(endpoint, outcome, attribute.String("code", strconv.Itoa(int(ci.Code)))))
		m.awdaDuration.Record(ctx, ci.Latency.Seconds(), metric.WithAttributes(endpoint, outcome))
	}
}

// Shutdown flushes and stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }

// Module provides *Metrics and shuts its provider down on stop.
var Module = fx.Module("metrics",
	fx.Provide(func(lc fx.Lifecycle, log zerolog.Logger) (*Metrics, error) {
		m, err := New(log)
		if err != nil {
			return nil, err
		}
		lc.Append(fx.StopHook(func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return m.Shutdown(ctx)
		}))
		return m, nil
	}),
)
