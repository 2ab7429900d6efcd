package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/log"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/logging"
)

func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func TestTemporalLoggerWritesFieldsThroughZerolog(t *testing.T) {
	var buf bytes.Buffer
	zl := logging.New(config.Log{Format: "json", Level: zerolog.InfoLevel}, "worker", &buf)
	tl := logging.NewTemporalLogger(zl)

	tl.Debug("dropped below the level", "k", "v")
	tl.Info("Started Worker", "Namespace", "default", "TaskQueue", "loan", "Attempt", 3)
	log.With(tl, "WorkflowID", "loan:r1").Error("Activity error.", "Error", errors.New("awda busy"))
	tl.Warn("odd pairs", "dangling")
	tl.Warn("bad key", 42, "x")

	got := lines(t, &buf)
	if len(got) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(got), buf.String())
	}
	want := []map[string]any{
		{"level": "info", "message": "Started Worker", "namespace": "default", "task_queue": "loan", "attempt": 3.0, "service": "worker", "component": "temporal"},
		{"level": "error", "message": "Activity error.", "workflow_id": "loan:r1", "error": "awda busy"},
		{"level": "warn", "message": "odd pairs", "dangling": "MISSING_VALUE"},
		{"level": "warn", "message": "bad key", "bad_key": "x"},
	}
	for i, w := range want {
		for k, v := range w {
			if got[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (line %v)", i, k, got[i][k], v, got[i])
			}
		}
		if _, ok := got[i]["time"]; !ok {
			t.Errorf("line %d has no timestamp", i)
		}
	}
}

func TestConsoleFormat(t *testing.T) {
	var buf bytes.Buffer
	l := logging.New(config.Log{Format: "console", Level: zerolog.DebugLevel}, "worker", &buf)
	l.Debug().Str("endpoint", "/api/partner/v1/user/register").Msg("awda call")
	out := buf.String()
	if strings.HasPrefix(out, "{") || !strings.Contains(out, "awda call") || !strings.Contains(out, "endpoint=") {
		t.Fatalf("not console output: %q", out)
	}
}

// Every field the SDK, the workflow and the tracing interceptor log is
// snake_case, as the rest of our lines: no WorkflowID beside workflow_id.
func TestTemporalLoggerFieldNamesAreSnakeCase(t *testing.T) {
	var buf bytes.Buffer
	tl := logging.NewTemporalLogger(logging.New(config.Log{Format: "json", Level: zerolog.DebugLevel}, "worker", &buf))
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	// The keys the SDK's workflow and activity loggers, our workflow, and
	// the tracing interceptor (TraceID, SpanID, typed values) add.
	log.With(tl, "Namespace", "default", "TaskQueue", "loan", "WorkflowID", "loan:r1", "RunID", "run-1",
		"WorkflowType", "LoanApplication", "ActivityID", "5", "ActivityType", "RegisterUser", "Attempt", 1,
		"TraceID", tid, "SpanID", sid).Info("Stage", "ApplicantRef", "r1", "AwdaLoanNo", "L1", "EventID", "e1", "HTTPStatus", 200)

	got := lines(t, &buf)
	if len(got) != 1 {
		t.Fatalf("got %d lines:\n%s", len(got), buf.String())
	}
	want := map[string]any{
		"namespace": "default", "task_queue": "loan", "workflow_id": "loan:r1", "run_id": "run-1",
		"workflow_type": "LoanApplication", "activity_id": "5", "activity_type": "RegisterUser", "attempt": 1.0,
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
		"applicant_ref": "r1", "awda_loan_no": "L1", "event_id": "e1", "http_status": 200.0,
	}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s = %v, want %v", k, got[0][k], v)
		}
	}
	for k := range got[0] {
		if k != strings.ToLower(k) {
			t.Errorf("field %q is not snake_case (line %v)", k, got[0])
		}
	}
}

func TestFieldName(t *testing.T) {
	for in, want := range map[string]string{
		"WorkflowID": "workflow_id", "RunID": "run_id", "TaskQueue": "task_queue", "HTTPStatus": "http_status",
		"Error": "error", "workflow_id": "workflow_id", "ID": "id", "DocumentID": "document_id", "BAD_KEY": "bad_key",
	} {
		if got := logging.FieldName(in); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

// A line logged with a traced context carries its trace and span IDs; one
// without, none.
func TestTraceHook(t *testing.T) {
	var buf bytes.Buffer
	l := logging.New(config.Log{Format: "json", Level: zerolog.InfoLevel}, "starter", &buf)
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	l.Info().Ctx(ctx).Msg("traced")
	l.Info().Ctx(context.Background()).Msg("not traced")
	l.Info().Msg("no context")
	got := lines(t, &buf)
	if len(got) != 3 {
		t.Fatalf("got %d lines:\n%s", len(got), buf.String())
	}
	if got[0]["trace_id"] != tid.String() || got[0]["span_id"] != sid.String() {
		t.Errorf("traced line: %v", got[0])
	}
	for _, g := range got[1:] {
		if _, ok := g["trace_id"]; ok {
			t.Errorf("untraced line has a trace_id: %v", g)
		}
	}
}
