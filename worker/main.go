// Command worker runs the loan workflow and its activities: a Temporal worker
// on workflows.TaskQueue, wired as an fx application.
//
// Every setting comes from environment variables (see internal/config):
//
//	TEMPORAL_ADDRESS=localhost:7233 AWDA_BASE_URL=http://127.0.0.1:8088 \
//	AWDA_APP_ID=… AWDA_HMAC_SECRET=… AWDAFLOW_KEYS=k1=… \
//	DATABASE_URL=postgres://… go run ./worker
//
// It serves /healthz, /readyz and /metrics on WORKER_HTTP_ADDR
// (127.0.0.1:9091). On SIGINT or SIGTERM it stops polling, lets running
// activities finish (WORKER_STOP_TIMEOUT), flushes the audit log and exits 0.
// Exit status 2 means the configuration is invalid, 1 that startup or
// shutdown failed.
//
// `worker replay-gate` instead replays every running loan against the
// workflow code of this binary and exits 1 if any would break: the step
// that gates a rollout (replaygate.go, docs/operations.md).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/awdaflow/awdaflow/internal/config"
)

func main() {
	if len(os.Args) > 1 {
		os.Exit(subcommand(os.Args[1], os.Args[2:]))
	}
	os.Exit(run())
}

// subcommand runs `worker NAME ARGS...`; without arguments the worker runs.
func subcommand(name string, args []string) int {
	if name == replayGateCommand {
		return replayGate(args, os.Getenv, os.Stdout, os.Stderr)
	}
	fmt.Fprintf(os.Stderr, "worker: unknown command %q; usage: worker (run the worker) | worker %s [-h]\n", name, replayGateCommand)
	return gateUsage
}

func run() int {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: %v\n", err)
		return 2
	}
	app := newApp(cfg)
	if err := app.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "worker: %v\n", err)
		return 1
	}

	startCtx, cancel := context.WithTimeout(context.Background(), cfg.Worker.StartTimeout)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		// fx has logged the failure and rolled back what had started.
		return 1
	}

	sig := <-app.Wait()

	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout(cfg))
	defer cancel()
	if err := app.Stop(stopCtx); err != nil {
		return 1
	}
	return sig.ExitCode
}
