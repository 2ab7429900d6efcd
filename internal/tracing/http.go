package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// Handler wraps a server's handler with otelhttp: a server span per
// request, continuing the caller's trace (W3C traceparent). It is h itself
// when tracing is off. The span is named by its method until the route is
// known (SetRoute). otelhttp records the method, path, status, sizes, peer
// and user agent; never a body, a query string or a header value. skip
// tells which requests get no span (probes, scrapes).
func (t *Tracing) Handler(h http.Handler, skip func(*http.Request) bool) http.Handler {
	if !t.Enabled() {
		return h
	}
	opts := []otelhttp.Option{
		otelhttp.WithTracerProvider(t.Provider),
		otelhttp.WithPropagators(t.Propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // internal/metrics counts requests
		otelhttp.WithSpanNameFormatter(serverSpanName),
	}
	if skip != nil {
		opts = append(opts, otelhttp.WithFilter(func(r *http.Request) bool { return !skip(r) }))
	}
	return otelhttp.NewHandler(h, "http.server", opts...)
}

// serverSpanName is the route pattern once a mux has matched it ("GET
// /v1/applications/{ref}"), the method before: never the path, which holds
// IDs.
func serverSpanName(_ string, r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method
}

// SetRoute names the request's server span after its route pattern
// ("POST /v1/applications/{ref}/cancel") once the mux has matched it, and
// records it as http.route. A no-op without a recording span.
func SetRoute(span trace.Span, pattern string) {
	if pattern == "" || !span.IsRecording() {
		return
	}
	span.SetName(pattern)
	span.SetAttributes(attribute.String("http.route", pattern))
}

// Transport wraps a client's transport with otelhttp: a client span per
// request, named "METHOD /path", and the trace context in the request's
// traceparent header. It is rt itself when tracing is off. The URL is
// recorded without user info; AWDA's requests have no query string.
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(t.Provider),
		otelhttp.WithPropagators(t.Propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }),
	)
}
