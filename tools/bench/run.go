package bench

import (
	"github.com/awdaflow/awdaflow/tools/loansim"

	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

// Config is what Run measures and how.
type Config struct {
	Params
	Seed uint64
	// ApplicantTimeout bounds each applicant (and each baseline workflow).
	ApplicantTimeout time.Duration
	// Settle is how long the parked loans sit before the memory reading.
	Settle time.Duration
	// ClientBench is the output of `go test -bench -benchmem ./awda/` to
	// include (the Makefile runs it first); empty: none.
	ClientBench string
	// RunID goes into every applicant ref and baseline workflow ID, so that
	// runs with the same seed can follow one another on a server that
	// keeps their workflows (default: demo.NewRunID).
	RunID string
	// TemporalAddress measures on a Temporal server that is already
	// running (host:port, namespace "default"; the search attributes are
	// registered when missing) instead of one of the stack's own, e.g. the
	// one of `make run STACK=server`: runs follow one another on it.
	TemporalAddress string
	// LogDir keeps the processes' logs (empty: discarded with the stack).
	LogDir string
	// Skip names phases to leave out: "loans", "webhooks", "parked".
	Skip map[string]bool
	Logf func(format string, args ...any)
}

// Run starts the stack, measures every phase in turn and returns the
// results (with whatever was measured before an error).
func Run(ctx context.Context, cfg Config) (*Results, error) {
	began := time.Now()
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	root, err := stack.RepoRoot()
	if err != nil {
		return nil, err
	}
	res := &Results{Machine: DescribeMachine(root), Params: cfg.Params, Phases: map[string]time.Duration{}}
	defer func() {
		res.Total = time.Since(began)
		res.Machine.LoadAfter = LoadAverage()
		res.Evaluate()
	}()
	if cfg.RunID == "" {
		cfg.RunID = demo.NewRunID(time.Now())
	}
	if len(cfg.Servers) == 0 {
		cfg.Servers = []string{ServerDev}
	}
	res.Params.Servers = cfg.Servers
	// One build for every stack: the first builds into binDir, the next
	// find the binaries there.
	binDir, err := os.MkdirTemp("", "awdaflow-bench-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	r := &run{ctx: ctx, cfg: cfg, res: res, logf: logf, binDir: binDir}
	if err := r.clientBench(); err != nil {
		return res, err
	}

	// Months of waiting cost history, not wall time: measured in the
	// simulator (simulated time, the real workflow), before any process.
	if err := r.phase("history over time", func() error {
		res.LongWaits = loansim.HistoryCost()
		return nil
	}); err != nil {
		return res, err
	}

	for i, server := range cfg.Servers {
		if err := r.onServer(server, i == 0); err != nil {
			return res, err
		}
	}
	return res, nil
}

// onServer starts a stack on server and measures the loan phase there;
// first runs the other phases on it too, and the real server the
// saturation steps. The CPU of the stack's processes adds to res.CPU.
func (r *run) onServer(server string, first bool) error {
	ctx, cfg, res := r.ctx, r.cfg, r.res
	var s *stack.Stack
	cpu0, _ := stack.CPUTimes()
	if err := r.phase("stack, "+serverLabel(server), func() (err error) {
		if cfg.TemporalAddress != "" {
			if err := testenv.RegisterSearchAttributes(ctx, cfg.TemporalAddress, "default"); err != nil {
				return err
			}
		}
		s, err = stack.Start(ctx, r.stackOptions(server))
		return err
	}); err != nil {
		return err
	}
	defer func() {
		if err := s.Close(); err != nil {
			r.logf("stack close: %v", err)
		}
	}()
	// Read before Close (deferred functions run last first): once reaped,
	// the children's time is all ours.
	defer func() {
		if cpu1, err := stack.CPUTimes(); err == nil {
			if res.CPU == nil {
				res.CPU = map[string]time.Duration{}
			}
			for k, v := range stack.CPUDelta(cpu0, cpu1) {
				res.CPU[procGroup(k)] += v
			}
		}
	}()

	refs, err := r.loans(s, server)
	if err != nil {
		return err
	}
	if server == ServerReal && len(cfg.Saturation) > 0 && !cfg.Skip["saturation"] {
		if err := r.saturation(s, server); err != nil {
			return err
		}
	}
	if !first {
		return nil
	}
	if !cfg.Skip["webhooks"] && len(refs) > 0 {
		if err := r.phase("webhooks", func() error { return runWebhooks(ctx, s, cfg, refs, res, r.logf) }); err != nil {
			return err
		}
	}
	if !cfg.Skip["parked"] {
		return r.parked(s)
	}
	return nil
}

// stackOptions: one worker and one starter on either server (the baseline
// has one worker); each server's logs in a folder of their own.
func (r *run) stackOptions(server string) stack.Options {
	cfg := r.cfg
	logDir := cfg.LogDir
	if logDir != "" && len(cfg.Servers) > 1 {
		logDir = filepath.Join(logDir, server)
	}
	return stack.Options{
		Server: server == ServerReal && cfg.TemporalAddress == "", Workers: 1, Starters: 1,
		TemporalAddress: cfg.TemporalAddress,
		LogDir:          logDir,
		BinDir:          r.binDir,
		Build:           []string{"./tools/cmd/benchworker"},
		Sandbox:         sandbox.Config{Seed: cfg.Seed, Autopilot: sandbox.Autopilot{Enabled: true, NoDelay: true}},
		WorkerEnv:       cfg.WorkerEnv,
		TemporalArgs:    cfg.TemporalArgs,
		DatabaseQuery:   cfg.DatabaseQuery,
		Logf:            func(f string, a ...any) { r.logf("   "+f, a...) },
	}
}

// run is one Run: its phases add to res.
type run struct {
	ctx    context.Context
	cfg    Config
	res    *Results
	logf   func(format string, args ...any)
	binDir string // the stacks' worker, starter and benchworker
}

// phase runs fn as the phase name, timed into res.Phases.
func (r *run) phase(name string, fn func() error) error {
	t0 := time.Now()
	r.logf("== %s", name)
	err := fn()
	r.res.Phases[name] = time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r.logf("   %s done in %s", name, time.Since(t0).Round(time.Millisecond))
	return nil
}

// clientBench reads the client micro-benchmarks, if the Makefile ran them.
func (r *run) clientBench() error {
	if r.cfg.ClientBench == "" {
		return nil
	}
	f, err := os.Open(r.cfg.ClientBench)
	if err != nil {
		return err
	}
	defer f.Close()
	r.res.Client, err = ParseGoBench(f)
	return err
}

// loans measures our loans against the baseline on server (unless
// skipped) and returns the refs of the loans measured.
func (r *run) loans(s *stack.Stack, server string) ([]string, error) {
	ctx, cfg := r.ctx, r.cfg
	lp := &LoanPhase{Server: server}
	lo := LoanOptions{N: cfg.N, Concurrency: cfg.Concurrency, PollInterval: cfg.PollInterval, Seed: cfg.Seed, Timeout: cfg.ApplicantTimeout, RunID: cfg.RunID}

	// The baseline knows nothing of our codec: a client of its own.
	plain, err := client.DialContext(ctx, client.Options{HostPort: s.TemporalAddress, Namespace: s.Namespace, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	if cfg.Skip["loans"] {
		return nil, nil
	}
	r.res.LoanPhases = append(r.res.LoanPhases, lp)
	if err := r.phase("baseline worker", func() error {
		port, err := testenv.FreePort()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		_, err = s.Spawn(ctx, "benchworker", s.Bin("benchworker"), nil,
			append(append([]string(nil), cfg.WorkerEnv...), "WORKER_HTTP_ADDR="+addr), "http://"+addr+"/readyz")
		return err
	}); err != nil {
		return nil, err
	}
	shape, err := r.warmUp(s, plain, lo, lp)
	if err != nil {
		return nil, err
	}
	ours, base, refs, err := r.rounds(s, plain, lo, shape)
	if err != nil {
		return refs, err
	}
	lp.Loans, lp.Baseline = Merge(ours...), Merge(base...)
	lp.LoanRatio = lp.Loans.PerSecond / lp.Baseline.PerSecond
	r.logf("   %s: ours %.2f loans/s (workflow p50 %s, p99 %s), baseline %.2f /s (p50 %s, p99 %s): ratio %.2f", serverLabel(server),
		lp.Loans.PerSecond, lp.Loans.Workflow.P50.Round(time.Millisecond), lp.Loans.Workflow.P99.Round(time.Millisecond),
		lp.Baseline.PerSecond, lp.Baseline.Workflow.P50.Round(time.Millisecond), lp.Baseline.Workflow.P99.Round(time.Millisecond), lp.LoanRatio)
	if lp.Loans.Completed != cfg.N {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s: only %d of %d loans settled: %v", serverLabel(server), lp.Loans.Completed, cfg.N, lp.Loans.Outcomes))
	}
	return refs, r.history(s, refs, shape, lp)
}

// warmUp runs the warm-up loans, which also give the baseline its shape,
// and the baseline's own warm-up.
func (r *run) warmUp(s *stack.Stack, plain client.Client, lo LoanOptions, lp *LoanPhase) (Shape, error) {
	warm := lo
	warm.N = max(1, r.cfg.Warmup) // at least one: its history is the baseline's shape
	warm.Concurrency = max(1, min(r.cfg.Concurrency, warm.N))
	var shape Shape
	err := r.phase("warm-up", func() error {
		warm.Prefix = "warm"
		lr, warmRefs, err := RunLoans(r.ctx, s, warm)
		if err != nil {
			return err
		}
		if lr.Completed != warm.N {
			return fmt.Errorf("%d of %d warm-up loans settled: %v", lr.Completed, warm.N, lr.Outcomes)
		}
		h, err := MeasureHistories(r.ctx, s.Client, warmRefs)
		if err != nil {
			return err
		}
		shape, lp.BaselineShape = h.Shape, h.Shape
		r.logf("   baseline shape %s", shape)
		_, err = RunBaseline(r.ctx, plain, shape, warm)
		return err
	})
	return shape, err
}

// rounds runs ours and the baseline in turns (ABBA: ours first in odd
// rounds, the baseline first in even ones), so that a change in the
// machine's load weighs on both alike.
func (r *run) rounds(s *stack.Stack, plain client.Client, lo LoanOptions, shape Shape) (ours, base []*LoadResult, refs []string, err error) {
	cfg := r.cfg
	for round := range cfg.Rounds {
		o := lo
		o.N = cfg.N / cfg.Rounds
		if round < cfg.N%cfg.Rounds {
			o.N++
		}
		if o.N == 0 {
			continue
		}
		o.Prefix = fmt.Sprintf("bench%d", round+1)
		runOurs := func() error {
			return r.phase(fmt.Sprintf("loans, round %d", round+1), func() error {
				lr, rrefs, err := RunLoans(r.ctx, s, o)
				if err != nil {
					return err
				}
				ours, refs = append(ours, lr), append(refs, rrefs...)
				r.logf("   %d of %d settled in %s: %.2f loans/s", lr.Completed, o.N, lr.Elapsed.Round(time.Millisecond), lr.PerSecond)
				return nil
			})
		}
		runBase := func() error {
			return r.phase(fmt.Sprintf("baseline, round %d", round+1), func() error {
				br, err := RunBaseline(r.ctx, plain, shape, o)
				if br != nil {
					base = append(base, br)
					r.logf("   %d of %d completed in %s: %.2f /s", br.Completed, o.N, br.Elapsed.Round(time.Millisecond), br.PerSecond)
				}
				return err
			})
		}
		first, second := runOurs, runBase
		if round%2 == 1 {
			first, second = runBase, runOurs
		}
		if err := first(); err != nil {
			return ours, base, refs, err
		}
		if err := second(); err != nil {
			return ours, base, refs, err
		}
	}
	return ours, base, refs, nil
}

// history measures the histories of the loans measured.
func (r *run) history(s *stack.Stack, refs []string, shape Shape, lp *LoanPhase) error {
	res := r.res
	return r.phase("history", func() (err error) {
		lp.History, err = MeasureHistories(r.ctx, s.Client, refs)
		if err == nil {
			h := lp.History
			r.logf("   events min %d median %d max %d; bytes median %d; shape %s", h.Events.Min, h.Events.Median,
				h.Events.Max, h.Bytes.Median, h.Shape)
			if h.Shape != shape {
				res.Notes = append(res.Notes, fmt.Sprintf("%s: the baseline ran the warm-up loans' shape %s; the measured loans' most common one is %s (%d shapes in all)",
					serverLabel(lp.Server), shape, h.Shape, h.Shapes))
			}
		}
		return err
	})
}

// parked parks loans and reads the processes' memory.
func (r *run) parked(s *stack.Stack) error {
	cfg, res := r.cfg, r.res
	return r.phase("parked", func() (err error) {
		res.Parked, err = Park(r.ctx, s, "park-"+cfg.RunID, cfg.Parked, cfg.ParkConcurrency, cfg.Seed, cfg.Settle, r.logf)
		if err == nil {
			r.logf("   %d parked in %s; worker RSS %s (peak %s), starter RSS %s (peak %s)", res.Parked.Parked,
				res.Parked.ParkTime.Round(time.Millisecond), mib(res.Parked.Worker.RSS), mib(res.Parked.Worker.Peak),
				mib(res.Parked.Starter.RSS), mib(res.Parked.Starter.Peak))
		}
		return err
	})
}

func runWebhooks(ctx context.Context, s *stack.Stack, cfg Config, refs []string, res *Results, logf func(string, ...any)) error {
	loanNos := map[string]bool{}
	for _, ref := range refs {
		var no string
		if err := s.Pool.QueryRow(ctx, `SELECT awda_loan_no FROM applications WHERE workflow_id = $1`, workflows.LoanWorkflowID(ref)).Scan(&no); err != nil {
			return fmt.Errorf("loan number of %s: %w", ref, err)
		}
		loanNos[no] = true
	}
	ns, err := Notifications(s.Sandbox.Events(), loanNos, cfg.Webhooks, cfg.Seed)
	if err != nil {
		return err
	}
	signer, err := awda.NewHMACSigner([]byte(s.HMACSecret))
	if err != nil {
		return err
	}
	bare, err := StartBareHandler(ctx, s.DatabaseURL)
	if err != nil {
		return err
	}
	defer bare.Close()
	// Bare before and after ours, so that neither side alone profits from
	// a quieter moment of a shared machine.
	blastBare := func(run int) error {
		r, err := Blast(ctx, "bare", bare.URL, s.AppID, signer, ns, cfg.WebhookConcurrency)
		if err != nil {
			return err
		}
		logf("   bare run %d: %.0f/s, p50 %s, p99 %s, %d errors", run, r.PerSecond, ms(r.Latency.P50), ms(r.Latency.P99), r.Errors)
		res.WebhooksBare = append(res.WebhooksBare, r)
		return nil
	}
	if err := blastBare(1); err != nil {
		return err
	}
	ours, err := Blast(ctx, "starter", s.StarterURL+webhook.PathLoanStatus, s.AppID, signer, ns, cfg.WebhookConcurrency)
	if err != nil {
		return err
	}
	res.Webhooks = ours
	logf("   starter: %.0f/s, p50 %s, p99 %s, %d errors (%s)", ours.PerSecond, ms(ours.Latency.P50), ms(ours.Latency.P99), ours.Errors, ours.FirstError)
	// The forwarder delivers after the acknowledgements: let it finish
	// before the second bare run, which it would slow down.
	if ours.Drain, err = WaitInboxDrained(ctx, s.Pool, 5*time.Minute); err != nil {
		return err
	}
	logf("   forwarder: %d rows left at the last acknowledgement, first attempts done in %s (%.0f/s, done %v)",
		ours.Drain.Backlog, ours.Drain.Elapsed.Round(time.Millisecond), ours.Drain.PerSecond, ours.Drain.Done)
	if err := blastBare(2); err != nil {
		return err
	}
	mean := 0.0
	for _, b := range res.WebhooksBare {
		mean += b.PerSecond / float64(len(res.WebhooksBare))
	}
	res.WebhookRatio = ours.PerSecond / mean
	if n, err := bare.Rows(ctx); err == nil && n != 2*len(ns) {
		res.Notes = append(res.Notes, fmt.Sprintf("the bare handler stored %d rows of %d requests", n, 2*len(ns)))
	}
	res.InboxByStatus, err = InboxCounts(ctx, s.Pool)
	return err
}

// saturation runs ours alone at each concurrency of cfg.Saturation, on the
// stack's server, and finds where throughput stops growing.
func (r *run) saturation(s *stack.Stack, server string) error {
	cfg := r.cfg
	sat := &Saturation{Server: server}
	r.res.Saturation = sat
	if err := r.phase("saturation, idle", func() error {
		var err error
		sat.Idle, err = idleCPU(r.ctx, SaturationIdle)
		sat.IdleFor = SaturationIdle
		r.logf("   idle for %s: %s", SaturationIdle, cpuLine(sat.Idle))
		return err
	}); err != nil {
		return err
	}
	for _, c := range cfg.Saturation {
		o := LoanOptions{Prefix: fmt.Sprintf("sat%d", c), RunID: cfg.RunID, N: cfg.SaturationN, Concurrency: c,
			PollInterval: cfg.PollInterval, Seed: cfg.Seed, Timeout: cfg.ApplicantTimeout}
		if o.N == 0 {
			o.N = max(50, 4*c)
		}
		err := r.phase(fmt.Sprintf("saturation, %d in flight", c), func() error {
			lr, _, err := RunLoans(r.ctx, s, o)
			if err != nil {
				return err
			}
			st := SaturationStep{Concurrency: c, Loans: lr, Load: LoadAverage()}
			sat.Steps = append(sat.Steps, st)
			r.logf("   %d of %d settled in %s: %.2f loans/s, %.2f cores busy (%s)", lr.Completed, o.N,
				lr.Elapsed.Round(time.Millisecond), lr.PerSecond, st.busyCores(), cpuLine(lr.CPU))
			return nil
		})
		sat.Analyse(r.res.Machine.Cores)
		if err != nil {
			return err
		}
	}
	r.logf("   %s", sat.Verdict())
	return nil
}

// SaturationIdle is how long the saturation run reads the processes' idle
// CPU before its steps.
const SaturationIdle = 10 * time.Second

// idleCPU is the CPU each process group uses over d with nothing to do.
func idleCPU(ctx context.Context, d time.Duration) (map[string]time.Duration, error) {
	cpu0, err := stack.CPUTimes()
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cpu1, err := stack.CPUTimes()
	if err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	for k, v := range stack.CPUDelta(cpu0, cpu1) {
		out[procGroup(k)] += v
	}
	return out, nil
}
