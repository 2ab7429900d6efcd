package logging

import (
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/log"
)

// TemporalLogger is the Temporal SDK's log.Logger writing through zerolog.
// The SDK's key-value pairs become fields under snake_case keys, as every
// other line of ours: "WorkflowID" is workflow_id, "RunID" run_id,
// "TaskQueue" task_queue, and the tracing interceptor's "TraceID" and
// "SpanID" are trace_id and span_id (FieldName).
type TemporalLogger struct {
	l zerolog.Logger
}

var (
	_ log.Logger     = (*TemporalLogger)(nil)
	_ log.WithLogger = (*TemporalLogger)(nil)
)

// NewTemporalLogger bridges the SDK's logger to l, tagged component=temporal.
func NewTemporalLogger(l zerolog.Logger) log.Logger {
	return &TemporalLogger{l: l.With().Str("component", "temporal").Logger()}
}

func (t *TemporalLogger) Debug(msg string, keyvals ...any) { t.write(t.l.Debug(), msg, keyvals) }
func (t *TemporalLogger) Info(msg string, keyvals ...any)  { t.write(t.l.Info(), msg, keyvals) }
func (t *TemporalLogger) Warn(msg string, keyvals ...any)  { t.write(t.l.Warn(), msg, keyvals) }
func (t *TemporalLogger) Error(msg string, keyvals ...any) { t.write(t.l.Error(), msg, keyvals) }

// With returns a logger that adds keyvals to every line.
func (t *TemporalLogger) With(keyvals ...any) log.Logger {
	return &TemporalLogger{l: t.l.With().Fields(pairs(keyvals)).Logger()}
}

func (t *TemporalLogger) write(ev *zerolog.Event, msg string, keyvals []any) {
	if ev == nil { // level disabled
		return
	}
	ev.Fields(pairs(keyvals)).Msg(msg)
}

// pairs makes keyvals safe for zerolog's Fields, which indexes pairs
// blindly: a dangling last key gets a marker value, and a non-string key is
// kept under a fixed name rather than dropped.
func pairs(keyvals []any) []any {
	if len(keyvals) == 0 {
		return nil
	}
	out := make([]any, 0, len(keyvals)+1)
	for i := 0; i < len(keyvals); i += 2 {
		k, ok := keyvals[i].(string)
		if !ok {
			k = "bad_key"
		}
		k = FieldName(k)
		var v any = "MISSING_VALUE"
		if i+1 < len(keyvals) {
			v = keyvals[i+1]
		}
		out = append(out, k, v)
	}
	return out
}

// FieldName is the snake_case form of a CamelCase key, initialisms kept
// together: WorkflowID → workflow_id, HTTPStatus → http_status,
// ActivityType → activity_type. A snake_case key is returned as it is.
func FieldName(k string) string {
	upper := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	n := 0
	for i := 0; i < len(k); i++ {
		if upper(k[i]) {
			n++
		}
	}
	if n == 0 {
		return k
	}
	b := make([]byte, 0, len(k)+n)
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !upper(c) {
			b = append(b, c)
			continue
		}
		if i > 0 && k[i-1] != '_' {
			prev := k[i-1]
			nextLower := i+1 < len(k) && k[i+1] >= 'a' && k[i+1] <= 'z'
			if !upper(prev) || nextLower {
				b = append(b, '_')
			}
		}
		b = append(b, c+'a'-'A')
	}
	return string(b)
}
