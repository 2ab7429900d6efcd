package logging

import (
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
)

// TraceHook adds trace_id and span_id to a line logged with a context that
// holds a span (zerolog's Event.Ctx), so that a log line and its trace find
// each other. Lines without one are left alone.
type TraceHook struct{}

// Run implements zerolog.Hook.
func (TraceHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	sc := trace.SpanContextFromContext(e.GetCtx())
	if !sc.IsValid() {
		return
	}
	e.Str("trace_id", sc.TraceID().String()).Str("span_id", sc.SpanID().String())
}
