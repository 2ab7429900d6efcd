package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The standard variables this package reads itself; the exporter, the
// sampler, the batch processor and the resource read the rest
// (OTEL_EXPORTER_OTLP_*, OTEL_TRACES_SAMPLER*, OTEL_BSP_*,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES).
const (
	EnvSDKDisabled          = "OTEL_SDK_DISABLED"
	EnvTracesExporter       = "OTEL_TRACES_EXPORTER"
	EnvOTLPEndpoint         = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvOTLPTracesEndpoint   = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvOTLPProtocol         = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvOTLPTracesProtocol   = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	ProtocolGRPC            = "grpc"
	ProtocolHTTPProtobuf    = "http/protobuf"
	instrumentationName     = "github.com/awdaflow/awdaflow"
	traceparentHeader       = "traceparent"
	defaultExporterProtocol = ProtocolHTTPProtobuf // the spec's default
)

// Tracing is the process's tracer provider and propagator. The zero of
// Enabled means off: Provider is then a no-op and nothing is instrumented.
type Tracing struct {
	// Provider makes the tracers; a no-op provider when off.
	Provider trace.TracerProvider
	// Propagator carries the context over HTTP and Temporal headers: W3C
	// trace context only (no baggage, which could carry anything).
	Propagator propagation.TextMapPropagator

	enabled  bool
	shutdown func(context.Context) error
}

// Disabled is tracing off.
func Disabled() *Tracing {
	return &Tracing{Provider: noop.NewTracerProvider(), Propagator: propagation.TraceContext{}}
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.enabled }

// Tracer is our own instrumentation's tracer.
func (t *Tracing) Tracer() trace.Tracer { return t.Provider.Tracer(instrumentationName) }

// Shutdown flushes the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Settings is what the OTEL_* variables ask of this package.
type Settings struct {
	Enabled  bool
	Protocol string // ProtocolGRPC or ProtocolHTTPProtobuf when Enabled
}

// ReadSettings interprets the standard variables (getenv is os.Getenv in
// the binaries). Tracing is on with OTEL_TRACES_EXPORTER=otlp, or with an
// OTLP endpoint set and OTEL_TRACES_EXPORTER unset; OTEL_SDK_DISABLED=true
// wins over both. Unlike the spec's default exporter (otlp), an empty
// environment means off: a deployment opts in. An exporter or protocol this
// build cannot serve is an error, not silently ignored.
func ReadSettings(getenv func(string) string) (Settings, error) {
	if strings.EqualFold(strings.TrimSpace(getenv(EnvSDKDisabled)), "true") {
		return Settings{}, nil
	}
	on := false
	if exp := strings.TrimSpace(getenv(EnvTracesExporter)); exp != "" {
		for _, e := range strings.Split(exp, ",") {
			switch strings.ToLower(strings.TrimSpace(e)) {
			case "otlp":
				on = true
			case "none":
				return Settings{}, nil
			default:
				return Settings{}, fmt.Errorf("%s=%q: only \"otlp\" and \"none\" are supported", EnvTracesExporter, exp)
			}
		}
	} else {
		on = strings.TrimSpace(getenv(EnvOTLPEndpoint)) != "" || strings.TrimSpace(getenv(EnvOTLPTracesEndpoint)) != ""
	}
	if !on {
		return Settings{}, nil
	}
	proto, name := strings.TrimSpace(getenv(EnvOTLPTracesProtocol)), EnvOTLPTracesProtocol
	if proto == "" {
		proto, name = strings.TrimSpace(getenv(EnvOTLPProtocol)), EnvOTLPProtocol
	}
	switch proto {
	case "":
		proto = defaultExporterProtocol
	case ProtocolGRPC, ProtocolHTTPProtobuf:
	default:
		return Settings{}, fmt.Errorf("%s=%q: only %q and %q are supported", name, proto, ProtocolGRPC, ProtocolHTTPProtobuf)
	}
	return Settings{Enabled: true, Protocol: proto}, nil
}

// New builds the process's tracing from the OTEL_* variables: Disabled
// when they do not ask for it, else an OTLP exporter behind a batch
// processor. service is the default service.name (OTEL_SERVICE_NAME wins).
// The exporter connects lazily: a collector that is down loses spans, it
// never stops the process.
func New(ctx context.Context, service string, getenv func(string) string) (*Tracing, error) {
	s, err := ReadSettings(getenv)
	if err != nil || !s.Enabled {
		return Disabled(), err
	}
	var exp sdktrace.SpanExporter
	if s.Protocol == ProtocolGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	return WithProcessor(ctx, service, sdktrace.NewBatchSpanProcessor(exp))
}

// WithProcessor is tracing on, its spans going to sp: the binaries pass a
// batch processor over the OTLP exporter, tests a synchronous one over an
// in-memory exporter (tracetest).
func WithProcessor(ctx context.Context, service string, sp sdktrace.SpanProcessor) (*Tracing, error) {
	if sp == nil {
		return nil, errors.New("tracing: a span processor is required")
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(sp))
	return &Tracing{Provider: tp, Propagator: propagation.TraceContext{}, enabled: true, shutdown: tp.Shutdown}, nil
}
