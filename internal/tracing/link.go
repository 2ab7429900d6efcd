package tracing

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TraceParent is the W3C traceparent of ctx's span ("00-<trace>-<span>-<flags>"),
// or "" when there is none: what is stored with a notification in the
// inbox so that its delivery can be linked to its receipt. It carries IDs
// and flags only (no tracestate, no baggage).
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c[traceparentHeader]
}

// ParseTraceParent is the span context a TraceParent names; invalid (and
// so no link) when s is empty or malformed.
func ParseTraceParent(s string) trace.SpanContext {
	if s == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{traceparentHeader: s})
	return trace.SpanContextFromContext(ctx)
}
