package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

// DueConfig configures RunDue: N loans all due on the same day, under one
// rate limit shared by Workers worker replicas.
type DueConfig struct {
	N           int
	Concurrency int // applicants brought to REPAYMENT at a time
	Workers     int
	Seed        uint64
	// Limits are the fleet's rate limit per class (AWDA_RATE_*), and
	// MaxWait its AWDA_RATE_MAX_WAIT.
	Limits  map[awda.RateClass]RateLimit
	MaxWait time.Duration
	// PollInterval is how often an applicant's status is read while it is
	// brought to REPAYMENT.
	PollInterval time.Duration
	// SettleTimeout bounds the due phase, from the due moment to the last
	// loan settled.
	SettleTimeout time.Duration
	LogDir        string
	TemporalArgs  []string
	Logf          func(string, ...any)
}

// RateLimit is one class's limit: PerSecond on average, Burst at once.
type RateLimit struct {
	PerSecond int `json:"perSecond"`
	Burst     int `json:"burst"`
}

// Bound is the most calls the limit allows in any window of length w.
func (l RateLimit) Bound(w time.Duration) int {
	return int(float64(l.PerSecond)*w.Seconds()) + l.Burst
}

// rateEnv is the limit as the worker's and the starter's environment.
func (c DueConfig) rateEnv() []string {
	env := []string{config.EnvRateLimit + "=true", config.EnvRateMaxWait + "=" + c.MaxWait.String()}
	names := map[awda.RateClass][2]string{
		awda.RateRead:   {config.EnvRateReadPerSecond, config.EnvRateReadBurst},
		awda.RateWrite:  {config.EnvRateWritePerSecond, config.EnvRateWriteBurst},
		awda.RateUpload: {config.EnvRateUploadPerSec, config.EnvRateUploadBurst},
	}
	for c, l := range c.Limits {
		n := names[c]
		env = append(env, n[0]+"="+strconv.Itoa(l.PerSecond), n[1]+"="+strconv.Itoa(l.Burst))
	}
	return env
}

// DueResult is what RunDue measured.
type DueResult struct {
	N        int `json:"n"`
	Workers  int `json:"workers"`
	Parked   int `json:"parked"`   // loans that reached REPAYMENT
	Settled  int `json:"settled"`  // of them, SETTLED after the due moment
	Failures int `json:"failures"` // applicants that never reached REPAYMENT
	// ParkTime: the first application to the last loan at REPAYMENT.
	// SettleTime: the due moment to the last loan SETTLED.
	ParkTime   time.Duration `json:"parkNs"`
	SettleTime time.Duration `json:"settleNs"`
	// DueCalls counts the sandbox's answers per class from the due moment
	// to the last loan settled.
	DueCalls map[awda.RateClass]int `json:"dueCalls"`
	// Rates per class over the whole run.
	Rates map[awda.RateClass]*ClassRate `json:"rates"`
	// Refused counts the calls the limiter did not let through, per class
	// and reason, summed over the workers (from their /metrics).
	Refused map[string]float64 `json:"refused"`
	Notes   []string           `json:"notes"`
}

// ClassRate is one class's measured rate against its limit.
type ClassRate struct {
	Limit RateLimit `json:"limit"`
	Calls int       `json:"calls"`
	// SandboxMax1s is the most answers the sandbox gave in any 1 s window
	// (sliding in 100 ms steps); AuditMax1s and AuditMax10s the most
	// attempts the awda_calls audit records (their start times, exactly)
	// in any window of 1 s and 10 s.
	SandboxMax1s int `json:"sandboxMax1s"`
	AuditMax1s   int `json:"auditMax1s"`
	AuditMax10s  int `json:"auditMax10s"`
}

// RunDue starts the stack with Workers workers sharing the limit and the
// sandbox's autopilot holding repayments, brings N applicants to REPAYMENT
// (all disbursed the same day, so all due the same day), then at one
// moment repays every loan's first installment through the sandbox's back
// office (N REPAYING pushes: each loan refreshes its schedule with
// loan/info, the same path as the due-date check), and once every loan
// has read it, settles every loan (N SETTLED pushes, each confirmed with
// loan/info). It measures the call rate per class at the sandbox and in
// the audit against the limit, and the time for all to settle.
func RunDue(ctx context.Context, cfg DueConfig) (*DueResult, error) {
	env := cfg.rateEnv()
	s, err := stack.Start(ctx, stack.Options{
		Workers: cfg.Workers, LogDir: cfg.LogDir, TemporalArgs: cfg.TemporalArgs, Logf: cfg.Logf,
		Sandbox:   sandbox.Config{Seed: cfg.Seed, Autopilot: sandbox.Autopilot{Enabled: true, HoldRepayments: true}},
		WorkerEnv: env, StarterEnv: env,
	})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	res := &DueResult{N: cfg.N, Workers: cfg.Workers, Rates: map[awda.RateClass]*ClassRate{}}
	smp := newSampler(s.Sandbox)
	sctx, stopSampling := context.WithCancel(ctx)
	go smp.run(sctx)
	began := time.Now()

	loans, err := parkAtRepayment(ctx, s, cfg, res)
	if err != nil {
		stopSampling()
		return res, err
	}
	res.ParkTime = time.Since(began)
	cfg.Logf("due: %d loans at REPAYMENT in %s (%d failed); the due moment", res.Parked, res.ParkTime.Round(time.Second), res.Failures)
	before := smp.totals()
	err = dueMoment(ctx, s, cfg, loans, smp, res)
	stopSampling()
	<-smp.done
	for c, n := range smp.totals() {
		res.DueCalls = setAdd(res.DueCalls, c, n-before[c])
	}
	for _, c := range awda.RateClasses {
		res.Rates[c] = &ClassRate{Limit: cfg.Limits[c], SandboxMax1s: smp.maxIn(c, 10)}
	}
	if aerr := auditRates(ctx, s, began, res); aerr != nil {
		res.Notes = append(res.Notes, "audit not read: "+aerr.Error())
	}
	res.Refused = scrapeRefused(ctx, s)
	return res, err
}

func setAdd(m map[awda.RateClass]int, c awda.RateClass, n int) map[awda.RateClass]int {
	if m == nil {
		m = map[awda.RateClass]int{}
	}
	m[c] += n
	return m
}

// parkAtRepayment brings cfg.N applicants to REPAYMENT, cfg.Concurrency at
// a time, and returns their loan numbers.
func parkAtRepayment(ctx context.Context, s *stack.Stack, cfg DueConfig, res *DueResult) ([]string, error) {
	gen := demo.NewGenerator(cfg.Seed, time.Now(), []demo.Tenor{{Tenor: 3, Unit: awda.TenorMonth}})
	people := make([]demo.Person, cfg.N)
	for i := range people {
		people[i] = gen.Person()
	}
	var mu sync.Mutex
	var loans []string
	var firstErr error
	var done atomic.Int64
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range cfg.N {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			loanNo, err := toRepayment(ctx, s, demo.RefFor("due", i, demo.Happy), &people[i], cfg.Seed^uint64(i), cfg.PollInterval)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failures++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			loans = append(loans, loanNo)
			if n := done.Add(1); n%200 == 0 {
				cfg.Logf("due: %d of %d at REPAYMENT", n, cfg.N)
			}
		}()
	}
	wg.Wait()
	res.Parked = len(loans)
	if firstErr != nil {
		cfg.Logf("due: %d applicants failed; the first: %v", res.Failures, firstErr)
	}
	if len(loans) == 0 {
		return nil, errors.New("no loan reached REPAYMENT")
	}
	return loans, nil
}

// toRepayment is one applicant: documents and application, then the bank
// card and the signature when the loan asks for them, until REPAYMENT.
func toRepayment(ctx context.Context, s *stack.Stack, ref string, p *demo.Person, seed uint64, poll time.Duration) (string, error) {
	if err := apply(ctx, s.API, ref, p, seed); err != nil {
		return "", err
	}
	deadline := time.Now().Add(20 * time.Minute)
	cardSent, signed := false, false
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(float64(poll) * (0.8 + 0.4*rand.Float64()))):
		}
		v, err := s.API.Application(ctx, ref)
		switch {
		case err != nil:
			continue // temporary, or the next read says more
		case v.Terminal || v.Stuck:
			return "", fmt.Errorf("%s ended at %s (stuck %v): %s", ref, v.Stage, v.Stuck, v.Reason)
		case v.Stage == string(workflows.StageRepayment) && v.AwdaLoanNo != "":
			return v.AwdaLoanNo, nil
		case v.Next == nil:
			continue
		}
		switch v.Next.Action {
		case workflows.ActionSubmitBankCard:
			if card, ok := p.BankCard(v.Next.Banks, 0, false); ok && !cardSent {
				_, err := s.API.SubmitBankCard(ctx, ref, ref+".card", card)
				cardSent = err == nil
			}
		case workflows.ActionSignAgreement:
			if ag := v.Next.Agreement; ag != nil && ag.ID != "" && !signed {
				_, err := s.API.Sign(ctx, ref, ref+".sign", api.SignatureRequest{AgreementID: ag.ID, Consent: true, ClientIP: "198.51.100.7"})
				signed = err == nil
			}
		}
	}
	return "", fmt.Errorf("%s: not at REPAYMENT after 20 minutes", ref)
}

// dueMoment repays every loan's first installment at once, waits until the
// sandbox has answered at least one loan/info per loan since, then settles
// every loan and waits until every one is SETTLED in Temporal.
func dueMoment(ctx context.Context, s *stack.Stack, cfg DueConfig, loans []string, smp *sampler, res *DueResult) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.SettleTimeout)
	defer cancel()
	began := time.Now()
	infos := smp.path(awda.PathLoanInfo)
	if err := advanceAll(s, loans, awda.LoanRepaying); err != nil {
		return err
	}
	if err := waitFor(ctx, 2*time.Second, func() (bool, error) {
		return smp.path(awda.PathLoanInfo)-infos >= len(loans), nil
	}); err != nil {
		return fmt.Errorf("waiting for every loan to read its schedule: %w", err)
	}
	cfg.Logf("due: every loan read its schedule after %s; settling them all", time.Since(began).Round(time.Second))
	if err := advanceAll(s, loans, awda.LoanSettled); err != nil {
		return err
	}
	query := "LoanStage = '" + string(workflows.StageSettled) + "'"
	err := waitFor(ctx, 2*time.Second, func() (bool, error) {
		c, err := s.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.Namespace, Query: query})
		if err != nil {
			return false, err
		}
		res.Settled = int(c.GetCount())
		return res.Settled >= len(loans), nil
	})
	res.SettleTime = time.Since(began)
	cfg.Logf("due: %d of %d SETTLED %s after the due moment", res.Settled, len(loans), res.SettleTime.Round(time.Second))
	return err
}

// advanceAll moves every loan at the sandbox, as its back office would.
func advanceAll(s *stack.Stack, loans []string, to awda.LoanStatus) error {
	for _, l := range loans {
		if _, err := s.Sandbox.Advance(l, to); err != nil {
			return fmt.Errorf("advance %s to %s: %w", l, to, err)
		}
	}
	return nil
}

// waitFor polls cond every interval until it holds, fails, or ctx ends.
func waitFor(ctx context.Context, every time.Duration, cond func() (bool, error)) error {
	for {
		// An error (the server busy) is a reading missed: try again.
		if ok, err := cond(); ok && err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// sampler reads the sandbox's answer counts every 100 ms: the calls per
// class in each 100 ms bin.
type sampler struct {
	sb   *sandbox.Server
	done chan struct{}

	mu    sync.Mutex
	bins  map[awda.RateClass][]int
	last  map[string]int // answers so far per path
	total map[awda.RateClass]int
}

func newSampler(sb *sandbox.Server) *sampler {
	return &sampler{sb: sb, done: make(chan struct{}), bins: map[awda.RateClass][]int{}, last: map[string]int{}, total: map[awda.RateClass]int{}}
}

func (p *sampler) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		p.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *sampler) sample() {
	st := p.sb.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	bin := map[awda.RateClass]int{}
	for path, codes := range st.Calls {
		n := 0
		for _, c := range codes {
			n += c
		}
		bin[awda.RateClassOf(path)] += n - p.last[path]
		p.last[path] = n
	}
	for _, c := range awda.RateClasses {
		p.bins[c] = append(p.bins[c], bin[c])
		p.total[c] += bin[c]
	}
}

func (p *sampler) totals() map[awda.RateClass]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[awda.RateClass]int{}
	for c, n := range p.total {
		out[c] = n
	}
	return out
}

// path is how many answers the sandbox gave on one path so far.
func (p *sampler) path(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last[path]
}

// maxIn is the most answers of the class in any k consecutive bins. The
// first bin holds whatever came before sampling began (the stack's own
// start-up checks) and is left out.
func (p *sampler) maxIn(c awda.RateClass, k int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.bins[c]
	if len(b) > 0 {
		b = b[1:]
	}
	best, sum := 0, 0
	for i := range b {
		sum += b[i]
		if i >= k {
			sum -= b[i-k]
		}
		best = max(best, sum)
	}
	return best
}

// auditRates reads every attempt since began from the awda_calls audit and
// finds, per class, the most in any 1 s and 10 s window.
func auditRates(ctx context.Context, s *stack.Stack, began time.Time, res *DueResult) error {
	rows, err := s.Pool.Query(ctx, `SELECT endpoint, called_at FROM awda_calls WHERE called_at >= $1`, began)
	if err != nil {
		return err
	}
	defer rows.Close()
	at := map[awda.RateClass][]time.Time{}
	for rows.Next() {
		var ep string
		var t time.Time
		if err := rows.Scan(&ep, &t); err != nil {
			return err
		}
		c := awda.RateClassOf(ep)
		at[c] = append(at[c], t)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range awda.RateClasses {
		ts := at[c]
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		r := res.Rates[c]
		r.Calls, r.AuditMax1s, r.AuditMax10s = len(ts), maxInWindow(ts, time.Second), maxInWindow(ts, 10*time.Second)
	}
	return nil
}

// maxInWindow is the most of the sorted times in one window [t, t+w).
func maxInWindow(ts []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < w {
			j++
		}
		best = max(best, j-i)
	}
	return best
}
