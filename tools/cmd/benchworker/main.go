// Command benchworker runs the baseline of `make bench` (see package bench):
// a Temporal worker on bench.BaselineTaskQueue with the bare baseline
// workflow and its noop activity, configured from the same environment as
// the real worker (internal/config: TEMPORAL_*, WORKER_* knobs, LOG_*), so
// that the baseline runs with the same worker settings. It uses the SDK's
// default data converter: the baseline does nothing, so it encrypts
// nothing either. It serves /readyz on WORKER_HTTP_ADDR once polling.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/logging"
	"github.com/awdaflow/awdaflow/internal/temporalx"
	"github.com/awdaflow/awdaflow/tools/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchworker:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	l := logging.New(cfg.Log, "benchworker", os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dctx, cancel := context.WithTimeout(ctx, cfg.Temporal.ConnectTimeout)
	c, err := client.DialContext(dctx, client.Options{
		HostPort:  cfg.Temporal.Address,
		Namespace: cfg.Temporal.Namespace,
		Logger:    logging.NewTemporalLogger(l),
		// The same connection as the real worker's (temporalx.Options).
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: temporalx.GrpcCompression(cfg.Temporal)},
	})
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()

	// The same mapping of the knobs as the real worker's Options.
	worker.SetStickyWorkflowCacheSize(cfg.Worker.StickyCacheSize)
	w := worker.New(c, bench.BaselineTaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize:     cfg.Worker.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: cfg.Worker.MaxConcurrentWorkflowTasks,
		MaxConcurrentActivityTaskPollers:       cfg.Worker.ActivityPollers,
		MaxConcurrentWorkflowTaskPollers:       cfg.Worker.WorkflowPollers,
		WorkerStopTimeout:                      cfg.Worker.StopTimeout,
	})
	bench.RegisterBaseline(w, c)
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ready\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	l.Info().Str("task_queue", bench.BaselineTaskQueue).Msg("baseline worker started")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
