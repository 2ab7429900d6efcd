package main

import (
	"time"

	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/awdafx"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/logging"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/ratelimit"
	"github.com/awdaflow/awdaflow/internal/storefx"
	"github.com/awdaflow/awdaflow/internal/temporalx"
	"github.com/awdaflow/awdaflow/internal/tracing"
)

const serviceName = "worker"

// newApp wires the worker. Modules come in dependency order, and the HTTP
// server last: fx stops in reverse, so /readyz turns unready and the server
// drains first, then the worker stops polling and lets running activities
// finish, then the store flushes its audit rows, then the Temporal client
// closes, and the tracer provider flushes the last spans.
func newApp(cfg *config.Config, extra ...fx.Option) *fx.App {
	return fx.New(
		config.Module(cfg),
		logging.Module(serviceName),
		logging.FxLogger,
		tracing.Module(serviceName),
		metrics.Module,
		temporalx.Module,
		storefx.Module,
		ratelimit.Module,
		awdafx.Module,
		workerModule,
		retentionModule,
		reconcileModule,
		primeMetrics,
		httpModule,
		fx.Options(extra...),
		fx.StartTimeout(cfg.Worker.StartTimeout),
		fx.StopTimeout(stopTimeout(cfg)),
	)
}

// stopTimeout leaves the worker its whole WORKER_STOP_TIMEOUT for running
// activities, plus time for the rest to stop.
func stopTimeout(cfg *config.Config) time.Duration {
	return cfg.Worker.StopTimeout + 15*time.Second
}
