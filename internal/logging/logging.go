// Package logging builds the process's zerolog logger from the configuration
// and bridges the two other loggers of a worker to it: the Temporal SDK's
// (log.Logger) and fx's own (fxevent.Logger), so that a process writes one
// stream in one format, with snake_case field names throughout
// (workflow_id, never WorkflowID) and trace_id and span_id on the lines
// logged within a span.
//
// It never adds personal data to a log line; what callers pass is theirs to
// keep clean (see awda.ZerologObserver for the AWDA calls).
package logging

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/config"
)

// New returns a logger writing JSON lines, or human-readable console lines
// when cfg.Format is "console", to w at cfg.Level, with a timestamp and the
// service name on every line, and the trace (TraceHook) on every line
// logged with a traced context.
func New(cfg config.Log, service string, w io.Writer) zerolog.Logger {
	if cfg.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(cfg.Level).Hook(TraceHook{}).With().Timestamp().Str("service", service).Logger()
}

// Module provides the zerolog.Logger (to stderr) and the Temporal SDK
// logger bridged to it. Pair it with FxLogger so fx logs through it too.
func Module(service string) fx.Option {
	return fx.Module("logging",
		fx.Provide(
			func(cfg *config.Config) zerolog.Logger { return New(cfg.Log, service, os.Stderr) },
			NewTemporalLogger,
		),
	)
}
