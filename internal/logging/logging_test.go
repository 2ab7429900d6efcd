package logging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
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
		{"level": "info", "message": "Started Worker", "Namespace": "default", "TaskQueue": "loan", "Attempt": 3.0, "service": "worker", "component": "temporal"},
		{"level": "error", "message": "Activity error.", "WorkflowID": "loan:r1", "Error": "awda busy"},
		{"level": "warn", "message": "odd pairs", "dangling": "MISSING_VALUE"},
		{"level": "warn", "message": "bad key", "BAD_KEY": "x"},
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
