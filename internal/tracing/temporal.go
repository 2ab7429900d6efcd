package tracing

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
)

// TemporalInterceptor is Temporal's OTel tracing interceptor on t's
// provider, or nil when tracing is off. On a client it traces StartWorkflow,
// SignalWorkflow and the like and writes the span into the request's
// headers; a worker built from that client continues the trace in
// RunWorkflow, HandleSignal, StartActivity and RunActivity, and adds
// TraceID and SpanID to the SDK's log lines (logging.TemporalLogger writes
// them as trace_id and span_id). Errors are recorded by type, never by
// message (redactedSpan).
func (t *Tracing) TemporalInterceptor() (interceptor.ClientInterceptor, error) {
	if !t.Enabled() {
		return nil, nil
	}
	return temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            t.Provider.Tracer("go.temporal.io/sdk"),
		TextMapPropagator: t.Propagator,
		DisableBaggage:    true,
		SpanStarter: func(ctx context.Context, tr trace.Tracer, name string, opts ...trace.SpanStartOption) trace.Span {
			_, span := tr.Start(ctx, name, opts...)
			return redactedSpan{span}
		},
	})
}

// redactedSpan keeps error messages out of a span. The interceptor records
// a failed workflow, activity or signal with RecordError and its message as
// the status description; an error message may quote what a partner sent
// back, so only its type (and an application error's Type) is kept.
type redactedSpan struct{ trace.Span }

func (s redactedSpan) RecordError(err error, _ ...trace.EventOption) {
	if err == nil {
		return
	}
	s.AddEvent("exception", trace.WithAttributes(attribute.String("exception.type", ErrorType(err))))
}

func (s redactedSpan) SetStatus(code codes.Code, description string) {
	if code == codes.Error && description != "" {
		description = "error (message withheld)"
	}
	s.Span.SetStatus(code, description)
}

// ErrorType names err without its message: the Go type, and for a Temporal
// application error its Type (the AWDA error class, for instance: "busy").
func ErrorType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() != "" {
		return "ApplicationError:" + app.Type()
	}
	return fmt.Sprintf("%T", err)
}
