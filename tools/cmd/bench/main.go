// Command bench is `make bench`: it starts the whole system on loopback
// (tools/stack), measures loan throughput against a bare baseline on the
// Temporal dev server and on Temporal's own server (side by side), where
// the latter saturates, the history cost of a loan, webhook ingestion
// against a bare handler and the memory of parked loans (package bench),
// prints a summary, writes the results as JSON and appends a Markdown
// section to docs/benchmarks.md.
//
// Settings come from the environment (defaults are issue 6's figures):
//
//	BENCH_N=500                  applicants driven to SETTLED (and baseline workflows)
//	BENCH_CONCURRENCY=25         of them at a time
//	BENCH_POLL=500ms             how often the driver reads a status
//	BENCH_WARMUP=20              warm-up loans (and baseline workflows), not measured (at least 1)
//	BENCH_ROUNDS=5               ours and the baseline run in turns, N/ROUNDS each time
//	BENCH_WEBHOOKS=20000         notifications per webhook run
//	BENCH_WEBHOOK_CONCURRENCY=16 of them at a time
//	BENCH_PARKED=5000            applications parked at the bank-card step
//	BENCH_PARK_CONCURRENCY=50    of them created at a time
//	BENCH_SETTLE=5s              how long the parked loans sit before the memory reading
//	BENCH_SEED=1                 seed of the applicants, sandbox and notifications
//	BENCH_SERVERS=dev,server     the servers the loan phase runs on, in turn (dev: the Temporal dev server;
//	                             server: Temporal's own server on PostgreSQL); the other phases run on the
//	                             first; default dev,server, or server alone with STACK=server
//	BENCH_SATURATION=10,25,50,100 concurrencies of the saturation run (ours alone, on the real server; empty: none)
//	BENCH_SATURATION_N=0         loans per saturation step (0: four per slot, at least 50)
//	BENCH_SKIP=                  phases to leave out: loans,saturation,webhooks,parked
//	BENCH_WORKER_ENV=            extra worker settings, e.g. WORKER_STICKY_CACHE_SIZE=1000 (comma-separated)
//	BENCH_DATABASE_QUERY=        added to the worker's and starter's DATABASE_URL, e.g. application_name=bench
//	BENCH_TEMPORAL_ARGS=         extra `temporal server start-dev` arguments
//	BENCH_RUN_ID=                in every applicant ref and baseline workflow ID (default: from the time)
//	BENCH_TEMPORAL_ADDRESS=      measure on this running Temporal server (e.g. make run STACK=server's 127.0.0.1:7233);
//	                             BENCH_SERVERS then names that one server (dev or server)
//	STACK=dev                    server: BENCH_SERVERS defaults to server alone
//	BENCH_CLIENT=                file with the output of `go test -bench -benchmem ./awda/`
//	BENCH_JSON=.data/bench/results.json
//	BENCH_MD=docs/benchmarks.md  (empty: do not append)
//	BENCH_LOG_DIR=.data/bench/logs
//	BENCH_TIMEOUT=45m            the whole run
//
// It exits 1 when a phase fails (what was measured is still written to the
// JSON file, but nothing is appended to the Markdown), 0 otherwise, whether
// or not the targets are met: the table says which.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/awdaflow/awdaflow/tools/bench"
	"github.com/awdaflow/awdaflow/tools/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type env struct{ errs []string }

func (e *env) str(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return strings.TrimSpace(v)
	}
	return def
}

func (e *env) int(k string, def int) int {
	s := e.str(k, "")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		e.errs = append(e.errs, k+": want a non-negative integer")
	}
	return n
}

func (e *env) dur(k string, def time.Duration) time.Duration {
	s := e.str(k, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		e.errs = append(e.errs, k+": want a duration such as 500ms")
	}
	return d
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func run() error {
	cfg, o, err := config()
	if err != nil {
		return err
	}
	jsonPath, mdPath, timeout := o.jsonPath, o.mdPath, o.timeout
	root, err := stack.RepoRoot()
	if err != nil {
		return err
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	jsonPath, mdPath, cfg.LogDir, cfg.ClientBench = abs(jsonPath), abs(mdPath), abs(cfg.LogDir), abs(cfg.ClientBench)
	if cfg.LogDir != "" {
		// Each run's logs, not the previous run's appended to.
		if err := os.RemoveAll(cfg.LogDir); err != nil {
			return err
		}
	}
	began := time.Now()
	cfg.Logf = func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(f, a...))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	res, runErr := bench.Run(ctx, cfg)
	if res == nil {
		return runErr
	}
	if runErr != nil {
		res.Notes = append(res.Notes, "incomplete run: "+runErr.Error())
	}
	if err := writeJSON(res, jsonPath); err != nil {
		return err
	}
	if err := res.WriteMarkdown(os.Stdout); err != nil {
		return err
	}
	fmt.Printf("\nresults: %s\n", jsonPath)
	switch {
	case mdPath == "":
	case runErr != nil:
		fmt.Printf("incomplete: not appended to %s\n", mdPath)
	default:
		if err := res.AppendMarkdown(mdPath); err != nil {
			return err
		}
		fmt.Printf("appended to %s\n", mdPath)
	}
	return runErr
}

// output is where the results go, and how long the run may take.
type output struct {
	jsonPath, mdPath string
	timeout          time.Duration
}

// config reads the BENCH_* variables, reporting every bad one at once.
func config() (bench.Config, output, error) {
	var o output
	var e env
	cfg := bench.Config{
		Params: bench.Params{
			N:                  e.int("BENCH_N", 500),
			Concurrency:        e.int("BENCH_CONCURRENCY", 25),
			PollInterval:       e.dur("BENCH_POLL", 500*time.Millisecond),
			Warmup:             e.int("BENCH_WARMUP", 20),
			Rounds:             e.int("BENCH_ROUNDS", 5),
			Webhooks:           e.int("BENCH_WEBHOOKS", 20000),
			WebhookConcurrency: e.int("BENCH_WEBHOOK_CONCURRENCY", 16),
			Parked:             e.int("BENCH_PARKED", 5000),
			ParkConcurrency:    e.int("BENCH_PARK_CONCURRENCY", 50),
			WorkerEnv:          list(e.str("BENCH_WORKER_ENV", "")),
			TemporalArgs:       strings.Fields(e.str("BENCH_TEMPORAL_ARGS", "")),
			DatabaseQuery:      e.str("BENCH_DATABASE_QUERY", ""),
			SaturationN:        e.int("BENCH_SATURATION_N", 0),
		},
		RunID:            e.str("BENCH_RUN_ID", ""),
		TemporalAddress:  e.str("BENCH_TEMPORAL_ADDRESS", ""),
		Seed:             uint64(e.int("BENCH_SEED", 1)),
		ApplicantTimeout: 10 * time.Minute,
		Settle:           e.dur("BENCH_SETTLE", 5*time.Second),
		ClientBench:      e.str("BENCH_CLIENT", ""),
		LogDir:           e.str("BENCH_LOG_DIR", ".data/bench/logs"),
		Skip:             map[string]bool{},
	}
	for _, s := range list(e.str("BENCH_SKIP", "")) {
		if s != "loans" && s != "saturation" && s != "webhooks" && s != "parked" {
			e.errs = append(e.errs, "BENCH_SKIP: "+s+": want loans, saturation, webhooks or parked")
		}
		cfg.Skip[s] = true
	}
	servers(&e, &cfg)
	o.jsonPath = e.str("BENCH_JSON", ".data/bench/results.json")
	o.mdPath = e.str("BENCH_MD", "docs/benchmarks.md")
	o.timeout = e.dur("BENCH_TIMEOUT", 45*time.Minute)
	if cfg.N == 0 || cfg.Rounds == 0 || cfg.Concurrency == 0 || cfg.WebhookConcurrency == 0 || cfg.ParkConcurrency == 0 {
		e.errs = append(e.errs, "BENCH_N and the concurrencies must be positive")
	}
	if len(e.errs) > 0 {
		return cfg, o, fmt.Errorf("configuration:\n  %s", strings.Join(e.errs, "\n  "))
	}

	return cfg, o, nil
}

// servers reads STACK, BENCH_SERVERS and BENCH_SATURATION into cfg.
func servers(e *env, cfg *bench.Config) {
	stackName := e.str("STACK", "dev")
	def := bench.ServerDev + "," + bench.ServerReal
	switch stackName {
	case "dev":
	case "server":
		def = bench.ServerReal
	default:
		e.errs = append(e.errs, "STACK: want dev (the Temporal dev server) or server (Temporal's own server on PostgreSQL)")
	}
	cfg.Servers = nil
	for _, s := range list(e.str("BENCH_SERVERS", def)) {
		switch {
		case s != bench.ServerDev && s != bench.ServerReal:
			e.errs = append(e.errs, "BENCH_SERVERS: "+s+": want dev or server")
		case slices.Contains(cfg.Servers, s):
			e.errs = append(e.errs, "BENCH_SERVERS: "+s+" twice")
		default:
			cfg.Servers = append(cfg.Servers, s)
		}
	}
	if len(cfg.Servers) == 0 {
		e.errs = append(e.errs, "BENCH_SERVERS: name dev, server or both")
	}
	if cfg.TemporalAddress != "" && len(cfg.Servers) != 1 {
		e.errs = append(e.errs, "BENCH_TEMPORAL_ADDRESS: set BENCH_SERVERS to the one server it is (dev or server)")
	}
	for _, s := range list(e.str("BENCH_SATURATION", "10,25,50,100")) {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			e.errs = append(e.errs, "BENCH_SATURATION: "+s+": want positive integers, e.g. 10,25,50,100")
			continue
		}
		cfg.Saturation = append(cfg.Saturation, n)
	}
	slices.Sort(cfg.Saturation) // the steps rise
	cfg.Saturation = slices.Compact(cfg.Saturation)
}

// writeJSON writes the results to path, creating its directory.
func writeJSON(res *bench.Results, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := res.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
