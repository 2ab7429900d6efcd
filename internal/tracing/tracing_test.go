package tracing_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/internal/tracing"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestReadSettings(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   func(string) string
		on    bool
		proto string
		err   string
	}{
		{name: "nothing set: off", env: env()},
		{name: "exporter otlp", env: env(tracing.EnvTracesExporter, "otlp"), on: true, proto: tracing.ProtocolHTTPProtobuf},
		{name: "an endpoint alone", env: env(tracing.EnvOTLPEndpoint, "http://collector:4318"), on: true, proto: tracing.ProtocolHTTPProtobuf},
		{name: "a traces endpoint alone", env: env(tracing.EnvOTLPTracesEndpoint, "http://collector:4318/v1/traces"), on: true, proto: tracing.ProtocolHTTPProtobuf},
		{name: "exporter none wins over an endpoint", env: env(tracing.EnvTracesExporter, "none", tracing.EnvOTLPEndpoint, "http://c:4318")},
		{name: "SDK disabled wins", env: env(tracing.EnvSDKDisabled, "TRUE", tracing.EnvTracesExporter, "otlp")},
		{name: "SDK disabled false", env: env(tracing.EnvSDKDisabled, "false", tracing.EnvTracesExporter, "otlp"), on: true, proto: tracing.ProtocolHTTPProtobuf},
		{name: "grpc", env: env(tracing.EnvTracesExporter, "otlp", tracing.EnvOTLPProtocol, "grpc"), on: true, proto: tracing.ProtocolGRPC},
		{name: "the traces protocol wins", env: env(tracing.EnvTracesExporter, "otlp", tracing.EnvOTLPProtocol, "grpc", tracing.EnvOTLPTracesProtocol, "http/protobuf"), on: true, proto: tracing.ProtocolHTTPProtobuf},
		{name: "an unknown exporter", env: env(tracing.EnvTracesExporter, "zipkin"), err: "OTEL_TRACES_EXPORTER"},
		{name: "http/json", env: env(tracing.EnvTracesExporter, "otlp", tracing.EnvOTLPProtocol, "http/json"), err: "OTEL_EXPORTER_OTLP_PROTOCOL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := tracing.ReadSettings(c.env)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one naming %s", err, c.err)
				}
				return
			}
			if err != nil || s.Enabled != c.on || s.Protocol != c.proto {
				t.Fatalf("got %+v, %v; want on=%v proto=%q", s, err, c.on, c.proto)
			}
		})
	}
}

// Off, nothing is wrapped and no interceptor is made.
func TestDisabledInstrumentsNothing(t *testing.T) {
	tr, err := tracing.New(context.Background(), "x", env())
	if err != nil || tr.Enabled() {
		t.Fatalf("New with no variables: %v, enabled %v", err, tr.Enabled())
	}
	h := http.NotFoundHandler()
	if got := tr.Handler(h, nil); got == nil || http.Handler(got) == nil {
		t.Fatal("nil handler")
	}
	if ic, err := tr.TemporalInterceptor(); ic != nil || err != nil {
		t.Fatalf("interceptor %v, %v", ic, err)
	}
	if rt := tr.Transport(http.DefaultTransport); rt != http.DefaultTransport {
		t.Fatal("transport wrapped while off")
	}
	var nilT *tracing.Tracing
	if nilT.Enabled() || nilT.Transport(http.DefaultTransport) != http.DefaultTransport {
		t.Fatal("a nil Tracing is not off")
	}
}

func TestTraceParentRoundTrip(t *testing.T) {
	if tracing.TraceParent(context.Background()) != "" {
		t.Fatal("a traceparent without a span")
	}
	exp := tracetest.NewInMemoryExporter()
	tr, err := tracing.WithProcessor(context.Background(), "x", sdktrace.NewSimpleSpanProcessor(exp))
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tr.Tracer().Start(context.Background(), "receive")
	tp := tracing.TraceParent(ctx)
	span.End()
	sc := tracing.ParseTraceParent(tp)
	if !sc.IsValid() || sc.TraceID() != span.SpanContext().TraceID() || sc.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("traceparent %q parses to %v, want %v", tp, sc, span.SpanContext())
	}
	for _, bad := range []string{"", "garbage", "00-zz-yy-01"} {
		if tracing.ParseTraceParent(bad).IsValid() {
			t.Errorf("%q parses to a valid context", bad)
		}
	}
}

// The server span is named by its route once known; the client span by
// method and path; the query string is recorded nowhere.
func TestHTTPSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, _ := tracing.WithProcessor(context.Background(), "x", sdktrace.NewSimpleSpanProcessor(exp))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/things/{ref}", func(w http.ResponseWriter, r *http.Request) {})
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		tracing.SetRoute(trace.SpanFromContext(r.Context()), r.Pattern)
	}), func(r *http.Request) bool { return r.URL.Path == "/healthz" })
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := &http.Client{Transport: tr.Transport(http.DefaultTransport)}
	for _, p := range []string{"/v1/things/r1?secret=3171016208950003", "/healthz"} {
		res, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	var names []string
	for _, s := range exp.GetSpans().Snapshots() {
		names = append(names, s.Name())
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), "3171016208950003") && s.SpanKind() == trace.SpanKindServer {
				t.Errorf("server span %q records the query: %s", s.Name(), kv.Key)
			}
		}
	}
	want := "GET /v1/things/{ref},GET /v1/things/r1,GET /healthz"
	if strings.Join(names, ",") != want {
		t.Fatalf("spans %v, want %s (no server span for the probe)", names, want)
	}
}

// Errors reach a Temporal span by type only: a failing activity and
// workflow, under the interceptor, leave their messages out of every span.
func TestTemporalSpanErrorsRedacted(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, _ := tracing.WithProcessor(context.Background(), "x", sdktrace.NewSimpleSpanProcessor(exp))
	ic, err := tr.TemporalInterceptor()
	if err != nil || ic == nil {
		t.Fatalf("interceptor %v, %v", ic, err)
	}
	const secret = "081377788899"
	failing := func(ctx context.Context) error {
		return temporal.NewNonRetryableApplicationError("mobile "+secret+" refused", "AWDA_VALIDATION", nil)
	}
	wf := func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Second})
		return workflow.ExecuteActivity(ctx, failing).Get(ctx, nil)
	}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{ic.(interceptor.Interceptor)}})
	env.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: "wf"})
	env.RegisterActivityWithOptions(failing, activity.RegisterOptions{Name: "failing"})
	env.ExecuteWorkflow(wf)
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), secret) {
		t.Fatalf("workflow error %v: the test needs the message to carry the value", err)
	}
	spans := exp.GetSpans().Snapshots()
	var errored int
	for _, s := range spans {
		if s.Status().Code == codes.Error {
			errored++
		}
		texts := []string{s.Status().Description}
		for _, e := range s.Events() {
			texts = append(texts, e.Name)
			for _, kv := range e.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
		for _, kv := range s.Attributes() {
			texts = append(texts, kv.Value.String())
		}
		for _, x := range texts {
			if strings.Contains(x, secret) {
				t.Errorf("span %q carries the error message: %q", s.Name(), x)
			}
		}
	}
	if errored == 0 {
		t.Fatalf("no span recorded the failure (spans: %d)", len(spans))
	}
	if got := tracing.ErrorType(errors.New(secret)); got != "*errors.errorString" {
		t.Errorf("ErrorType = %q", got)
	}
}
