// Command chaos is `make chaos`: the whole awdaflow system as real
// processes, N applicants through the public API while the AWDA sandbox
// misbehaves and the worker, the dev server, PostgreSQL and the starter are
// killed and restarted on a seeded schedule (with STACK=server: a worker and
// a starter replica killed again and again, Temporal's own server killed and
// restarted, PostgreSQL restarted); then an audit of everything that must
// not be lost or done twice.
//
//	cd tools && go run ./cmd/chaos [-n 200] [-seed 1] [-logs DIR]
//
// Environment (flags win): CHAOS_N, CHAOS_SEED, CHAOS_CONCURRENCY,
// CHAOS_LOG_DIR, CHAOS_LOAD_TIMEOUT, STACK (server: the production lane,
// Temporal's own server with 2 workers and 2 starters). The Temporal CLI is found as the tests
// find it (TEMPORAL_CLI, ./bin/temporal, PATH); PostgreSQL's server binaries
// as internal/testenv finds them.
//
// Exit status: 0 when nothing was lost, 1 with a list of every violation,
// 2 when the run itself failed (the stack did not start, a restart failed).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/awdaflow/awdaflow/tools/chaos"
)

func main() {
	os.Exit(run())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func run() int {
	def := chaos.Options{}
	seed, _ := strconv.ParseUint(os.Getenv("CHAOS_SEED"), 10, 64)
	if seed == 0 {
		seed = 1
	}
	loadTO, _ := time.ParseDuration(os.Getenv("CHAOS_LOAD_TIMEOUT"))
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	n := fs.Int("n", envInt("CHAOS_N", 200), "applicants")
	fs.Uint64Var(&seed, "seed", seed, "seed of the schedule, the faults, the plan and the applicants")
	conc := fs.Int("concurrency", envInt("CHAOS_CONCURRENCY", 0), "applicants in flight at once (0: all)")
	logDir := fs.String("logs", os.Getenv("CHAOS_LOG_DIR"), "directory for the processes' logs (default: a new temporary directory, kept)")
	fs.DurationVar(&loadTO, "load-timeout", loadTO, "bound of each applicant's way to its terminal state (0: 9m)")
	keep := fs.Bool("keep", false, "keep the stack's state directory (Temporal database, PostgreSQL cluster)")
	lane := fs.String("stack", os.Getenv("STACK"), "dev (the Temporal dev server) or server (Temporal's own server on PostgreSQL, 2 workers, 2 starters)")
	runID := fs.String("run-id", "", "goes into every applicant ref (default: from the time)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	switch *lane {
	case "", "dev":
	case "server":
		def.Server = true
	default:
		fmt.Fprintf(os.Stderr, "chaos: -stack (STACK) %q: want dev or server\n", *lane)
		return 2
	}
	def.RunID = *runID
	if *logDir == "" {
		d, err := os.MkdirTemp("", fmt.Sprintf("awdaflow-chaos-%d-", seed))
		if err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
		*logDir = d
	}
	if abs, err := filepath.Abs(*logDir); err == nil {
		*logDir = abs
	}
	if err := os.MkdirAll(*logDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := def
	o.N, o.Seed, o.Concurrency, o.LoadTimeout = *n, seed, *conc, loadTO
	o.LogDir, o.Keep, o.Out = *logDir, *keep, os.Stdout

	sum, err := chaos.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: the run failed: %v\nlogs: %s\n", err, *logDir)
		return 2
	}
	fmt.Println()
	if _, err := sum.WriteTo(os.Stdout); err != nil {
		return 2
	}
	fmt.Printf("logs: %s\n", *logDir)
	if !sum.Report.OK() {
		return 1
	}
	return 0
}
