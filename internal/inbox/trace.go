package inbox

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/serviceerror"

	"github.com/awdaflow/awdaflow/internal/tracing"
)

// startSpan starts the span of one delivery attempt, when the Deliverer
// has a Tracer: the root of a trace of its own (the receipt's request ended
// long ago, maybe in another replica), linked to the receipt's span by the
// traceparent stored with the row. The signal is sent under it, so that
// Temporal's tracing interceptor carries the trace into the workflow's
// HandleSignal. Attributes are our and AWDA's opaque IDs, never the payload.
func (d *Deliverer) startSpan(ctx context.Context, a *attempt) (context.Context, trace.Span) {
	if d.Tracer == nil {
		return ctx, trace.SpanFromContext(context.Background()) // a no-op span
	}
	opts := []trace.SpanStartOption{
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.Int64("awdaflow.inbox.id", a.it.ID),
			attribute.String("awdaflow.webhook.source", a.it.Source),
			attribute.String("awda.event_id", a.it.EventID),
			attribute.Int("awdaflow.inbox.attempt", a.it.Attempts),
			attribute.String("awdaflow.workflow_id", a.out.WorkflowID),
		),
	}
	if sc := tracing.ParseTraceParent(a.it.TraceParent); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	ctx, span := d.Tracer.Start(ctx, SpanDeliver, opts...)
	a.trace = span.SpanContext()
	return ctx, span
}

// SpanDeliver names a delivery attempt's span.
const SpanDeliver = "inbox.deliver"

// endSpan ends a delivery attempt's span with its outcome; an error by its
// type only (errType), never its message.
func endSpan(span trace.Span, err error) {
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		span.SetAttributes(attribute.String("awdaflow.inbox.outcome", string(Delivered)))
	case errors.As(err, &notFound):
		span.SetAttributes(attribute.String("awdaflow.inbox.outcome", string(Orphaned)))
	default:
		span.SetAttributes(attribute.String("awdaflow.inbox.outcome", string(Retry)))
		span.SetStatus(codes.Error, errType(err))
	}
	span.End()
}
