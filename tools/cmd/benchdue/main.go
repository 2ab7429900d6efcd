// Command benchdue is `make bench-due`: 2,000 loans all due on the same day
// under one AWDA rate limit shared by two worker replicas (issue 13). It
// starts the whole system on loopback (tools/stack) with the sandbox's
// autopilot holding repayments, brings the loans to REPAYMENT, repays and
// settles them all at one moment through the sandbox's back office, and
// prints the AWDA call rate per class (at the sandbox and in the audit)
// against the limit, and how long they took to settle (bench.RunDue).
//
// Settings come from the environment:
//
//	BENCH_DUE_N=2000             loans
//	BENCH_DUE_CONCURRENCY=50     applicants brought to REPAYMENT at a time
//	BENCH_DUE_WORKERS=2          worker replicas
//	BENCH_DUE_READ=50,10         reads per second and burst (AWDA_RATE_READ_*)
//	BENCH_DUE_WRITE=30,10        writes
//	BENCH_DUE_UPLOAD=20,10       uploads
//	BENCH_DUE_MAX_WAIT=10s       AWDA_RATE_MAX_WAIT
//	BENCH_DUE_POLL=1s            status reads while bringing loans to REPAYMENT
//	BENCH_DUE_SETTLE_TIMEOUT=15m from the due moment to the last SETTLED
//	BENCH_SEED=1
//	BENCH_LOG_DIR=.data/bench/due-logs
//	BENCH_TIMEOUT=45m            the whole run
//
// It exits 1 when the run fails or a class's calls exceed its limit in a
// window (rate·W + burst, W widened by 20 ms of scheduling jitter).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/tools/bench"
	"github.com/awdaflow/awdaflow/tools/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-due:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, timeout, err := config()
	if err != nil {
		return err
	}
	root, err := stack.RepoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(cfg.LogDir) {
		cfg.LogDir = filepath.Join(root, cfg.LogDir)
	}
	if err := os.RemoveAll(cfg.LogDir); err != nil {
		return err
	}
	began := time.Now()
	cfg.Logf = func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(f, a...))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	res, runErr := bench.RunDue(ctx, cfg)
	if res == nil {
		return runErr
	}
	fmt.Printf("make bench-due: BENCH_DUE_N=%d, %s, total %s\n\n", cfg.N, time.Now().UTC().Format("2006-01-02 15:04 UTC"), time.Since(began).Round(time.Second))
	if err := res.WriteMarkdown(os.Stdout); err != nil {
		return err
	}
	if js, err := json.MarshalIndent(res, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(cfg.LogDir, "due.json"), js, 0o644)
	}
	if runErr != nil {
		return runErr
	}
	// The limiter bounds the slots it hands out exactly; the audit records
	// when each call then started, after its sleep, so a window may catch
	// a call or two that woke a few milliseconds late: jitter allows.
	const jitter = 20 * time.Millisecond
	for _, c := range awda.RateClasses {
		r := res.Rates[c]
		if r.AuditMax1s > r.Limit.Bound(time.Second+jitter) || r.AuditMax10s > r.Limit.Bound(10*time.Second+jitter) {
			return fmt.Errorf("%s: %d calls in 1 s, %d in 10 s: over the limit", c, r.AuditMax1s, r.AuditMax10s)
		}
	}
	if res.Settled < res.Parked || res.Failures > 0 {
		return fmt.Errorf("%d of %d loans settled, %d failed before REPAYMENT", res.Settled, res.Parked, res.Failures)
	}
	return nil
}

func config() (bench.DueConfig, time.Duration, error) {
	var errs []string
	str := func(k, def string) string {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
		return def
	}
	num := func(k string, def int) int {
		n, err := strconv.Atoi(str(k, strconv.Itoa(def)))
		if err != nil || n < 1 {
			errs = append(errs, k+": want a positive integer")
		}
		return n
	}
	dur := func(k string, def time.Duration) time.Duration {
		d, err := time.ParseDuration(str(k, def.String()))
		if err != nil || d <= 0 {
			errs = append(errs, k+": want a positive duration")
		}
		return d
	}
	limit := func(k, def string) bench.RateLimit {
		r, b, ok := strings.Cut(str(k, def), ",")
		pr, err1 := strconv.Atoi(strings.TrimSpace(r))
		pb, err2 := strconv.Atoi(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || pr < 1 || pb < 1 {
			errs = append(errs, k+": want rate,burst such as 20,5")
		}
		return bench.RateLimit{PerSecond: pr, Burst: pb}
	}
	cfg := bench.DueConfig{
		N: num("BENCH_DUE_N", 2000), Concurrency: num("BENCH_DUE_CONCURRENCY", 50), Workers: num("BENCH_DUE_WORKERS", 2),
		Seed: uint64(num("BENCH_SEED", 1)),
		Limits: map[awda.RateClass]bench.RateLimit{
			awda.RateRead: limit("BENCH_DUE_READ", "50,10"), awda.RateWrite: limit("BENCH_DUE_WRITE", "30,10"),
			awda.RateUpload: limit("BENCH_DUE_UPLOAD", "20,10"),
		},
		MaxWait:       dur("BENCH_DUE_MAX_WAIT", 10*time.Second),
		PollInterval:  dur("BENCH_DUE_POLL", time.Second),
		SettleTimeout: dur("BENCH_DUE_SETTLE_TIMEOUT", 15*time.Minute),
		LogDir:        str("BENCH_LOG_DIR", ".data/bench/due-logs"),
	}
	timeout := dur("BENCH_TIMEOUT", 45*time.Minute)
	if len(errs) > 0 {
		return cfg, 0, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return cfg, timeout, nil
}
