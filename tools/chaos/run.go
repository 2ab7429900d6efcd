package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

// Options configure a run. The zero value is `make chaos`.
type Options struct {
	// N applicants (200), all in flight at once unless Concurrency says
	// otherwise.
	N           int
	Concurrency int
	// Seed draws the schedule, the fault decisions, the scenario plan and
	// the applicants (1).
	Seed uint64
	// LoadTimeout bounds the load: each applicant's way to its terminal
	// state (9 minutes). DrainTimeout bounds the wait for the pushes and the
	// inbox to settle afterwards (3 minutes).
	LoadTimeout  time.Duration
	DrainTimeout time.Duration
	// PollInterval is how often each applicant reads its application (2 s;
	// with every applicant in flight, that is already N/2 status queries a
	// second).
	PollInterval time.Duration
	// Schedule shapes the chaos.
	Schedule ScheduleOptions
	// Faults are the sandbox's fault rules and Delivery its push settings
	// (DefaultFaults, DefaultDelivery when nil).
	Faults   map[string]sandbox.Fault
	Delivery *sandbox.Delivery
	// Stack options: where the logs go (kept), a directory of prebuilt
	// binaries, keeping the state directory.
	LogDir string
	BinDir string
	Keep   bool
	// Out receives progress lines (nil: none).
	Out io.Writer
	// RunID goes into every applicant ref (default: demo.NewRunID).
	RunID string
	// Server runs the drill on the production lane (stack.Options.Server):
	// Temporal's own server on PostgreSQL, 2 workers and 2 starters; the
	// kills hit one replica of each, the restarts the server process.
	Server bool
}

// DefaultFaults are the fault rules of `make chaos`, on every interface:
// 20 % busy codes, 5 % timeouts (half of them applied before the answer is
// lost, held past the client's 15-second HTTP timeout) and a latency
// spread of 5–400 ms.
func DefaultFaults() map[string]sandbox.Fault {
	return map[string]sandbox.Fault{"*": {
		BusyRate:       0.20,
		TimeoutRate:    0.05,
		TimeoutApplied: 0.5,
		TimeoutHold:    20 * time.Second,
		LatencyMin:     5 * time.Millisecond,
		LatencyMax:     400 * time.Millisecond,
	}}
}

// DefaultDelivery sends every notification four times (three duplicates),
// each copy on its own after a delay of up to 2 s, so that they overtake
// one another.
func DefaultDelivery() sandbox.Delivery {
	return sandbox.Delivery{Duplicates: 3, Reorder: true, DelayMax: 2 * time.Second}
}

func (o Options) withDefaults() Options {
	if o.N <= 0 {
		o.N = 200
	}
	if o.Concurrency <= 0 {
		o.Concurrency = o.N
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = 9 * time.Minute
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 3 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Faults == nil {
		o.Faults = DefaultFaults()
	}
	if o.Delivery == nil {
		d := DefaultDelivery()
		o.Delivery = &d
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.RunID == "" {
		o.RunID = demo.NewRunID(time.Now())
	}
	return o
}

// Run starts the stack, drives the load through the schedule's chaos,
// drains, audits and returns the summary. Its error means the run itself
// failed (the stack did not start, a restart failed), not that something
// was lost: that is the summary's verdict.
func Run(ctx context.Context, o Options) (*Summary, error) {
	o = o.withDefaults()
	o.Schedule.Server = o.Server
	began := time.Now()
	r := &runner{o: o, began: began, sched: NewSchedule(o.Seed, o.Schedule)}
	r.logf("chaos: seed %d, run %s, %d applicants; building and starting the stack", o.Seed, o.RunID, o.N)

	st, err := stack.Start(ctx, stack.Options{
		LogDir: o.LogDir,
		BinDir: o.BinDir,
		Keep:   o.Keep,
		Server: o.Server,
		Sandbox: sandbox.Config{
			Seed:      o.Seed,
			Autopilot: sandbox.Autopilot{Enabled: true},
			Delivery:  *o.Delivery,
			Faults:    o.Faults,
		},
		StarterEnv: []string{
			// Inbox rows that failed (Temporal or PostgreSQL away) retry
			// within seconds rather than minutes, so that the drain ends
			// soon after the chaos.
			"STARTER_RETRY_MAX_BACKOFF=5s",
		},
		Logf: func(format string, args ...any) { r.logf("stack: "+format, args...) },
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			r.logf("stack: close: %v", cerr)
		}
	}()
	r.st = st
	return r.run(ctx)
}

type runner struct {
	o     Options
	st    *stack.Stack
	sched Schedule
	began time.Time

	mu       sync.Mutex
	loadAt   time.Time
	load     time.Duration
	executed []Event
	progress demo.Progress
	out      sync.Mutex
}

func (r *runner) logf(format string, args ...any) {
	r.out.Lock()
	defer r.out.Unlock()
	fmt.Fprintf(r.o.Out, "%7.1fs  %s\n", time.Since(r.began).Seconds(), fmt.Sprintf(format, args...))
}

func (r *runner) run(ctx context.Context) (*Summary, error) {
	o := r.o
	dopts := r.demoOptions()

	r.logf("load: %d applicants (%s), chaos schedule of seed %d: %s", o.N, demo.DefaultMix, o.Seed, r.describeSchedule())
	loadCtx, cancelLoad := context.WithTimeout(ctx, o.LoadTimeout+time.Minute)
	defer cancelLoad()
	r.mu.Lock()
	r.loadAt = time.Now()
	r.mu.Unlock()
	type result struct {
		sum *demo.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := demo.Run(loadCtx, dopts)
		done <- result{sum, err}
	}()

	chaosErr := make(chan error, 1)
	stop := make(chan struct{})
	go func() { chaosErr <- r.chaos(ctx, stop) }()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	var res result
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-tick.C:
			r.report()
		}
	}
	load := time.Since(r.loadAt)
	r.load = load
	close(stop)
	if err := <-chaosErr; err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	if res.err != nil && res.sum == nil {
		return nil, fmt.Errorf("load: %w", res.err)
	}
	r.logf("load: done in %s: %v", load.Round(time.Second), res.sum.ByOutcome())

	drainBegan := time.Now()
	r.drain(ctx, res.sum)
	drain := time.Since(drainBegan)

	obs, err := r.observe(ctx, res.sum)
	if err != nil {
		return nil, err
	}
	rep := Check(obs)
	r.mu.Lock()
	executed := append([]Event(nil), r.executed...)
	r.mu.Unlock()
	missed := 0
	for _, e := range r.sched.Events {
		if e.Action != KillWorker && e.Action != KillStarter && e.At > load {
			missed++
		}
	}
	return &Summary{
		Seed: o.Seed, N: o.N,
		Elapsed: time.Since(r.began), Load: load, Drain: drain,
		Executed: executed, Missed: missed, Skew: r.sched.Skew,
		Applicants: obs.Applicants, Report: rep,
	}, nil
}

// demoOptions are the load's: the demo driver's applicants, this run's
// seed and size.
func (r *runner) demoOptions() demo.Options {
	o := r.o
	// The seed alone names the applicants (the same people for the same
	// seed); the run ID is in their refs, so that a run does not meet the
	// loans of an earlier one on a server that keeps them.
	people := "chaos" + strconv.FormatUint(o.Seed, 10)
	dopts := r.st.DemoOptions(people + "-" + o.RunID)
	dopts.RunID = people
	dopts.N, dopts.Concurrency, dopts.Seed = o.N, o.Concurrency, o.Seed
	dopts.PollInterval, dopts.Timeout = o.PollInterval, o.LoadTimeout
	// A loan parked for operations stays parked (nobody but the demo's own
	// ops step for DisburseFail acts on it), so waiting changes no verdict;
	// but after that ops retry the loan may look stuck for a while yet: the
	// retry signal, the status query and the step's read all need a worker,
	// and a kill loses a workflow task (10 s) or an activity (its 30-s
	// StartToClose). Seed 2 saw a retried loan still parked 15 s after the
	// retry, across two kills, then settle 31 s after it.
	dopts.StuckGrace = 90 * time.Second
	dopts.OnProgress = func(p demo.Progress) {
		r.mu.Lock()
		r.progress = p
		r.mu.Unlock()
	}
	return dopts
}

func (r *runner) describeSchedule() string {
	var parts []string
	kills := map[Action]int{}
	for _, e := range r.sched.Events {
		if e.Action == KillWorker || e.Action == KillStarter {
			kills[e.Action]++
			if kills[e.Action] <= 2 {
				parts = append(parts, e.String())
			}
			continue
		}
		parts = append(parts, e.String())
	}
	s := strings.Join(parts, ", ") + fmt.Sprintf(", … (a worker kill every 10–20 s, %d drawn", kills[KillWorker])
	if kills[KillStarter] > 0 {
		s += fmt.Sprintf("; a starter kill every 25–40 s, %d drawn", kills[KillStarter])
	}
	return s + ")"
}

func (r *runner) report() {
	r.mu.Lock()
	p := r.progress
	kills, starterKills := 0, 0
	for _, e := range r.executed {
		switch e.Action {
		case KillWorker:
			kills++
		case KillStarter:
			starterKills++
		}
	}
	r.mu.Unlock()
	var stages []string
	for _, s := range demo.StageOrder() {
		if n := p.Stages[s]; n > 0 {
			stages = append(stages, fmt.Sprintf("%s %d", s, n))
		}
	}
	stats := r.st.Sandbox.Stats()
	r.logf("progress: %d/%d done (%d as expected), %d stuck; worker kills %d, starter kills %d; busy %d, timeouts %d, 1003 %d; pushes %d/%d acknowledged; %s",
		p.Done, p.Total, p.Matched, p.Stuck, kills, starterKills, stats.Faults.Busy, stats.Faults.Timeouts, staleCount(&stats),
		stats.Pushes.Acknowledged, stats.Pushes.Deliveries, strings.Join(stages, ", "))
}

// chaos carries out the schedule until stop is closed. Actions run one at
// a time; one that runs late (a restart takes a while) delays the ones
// after it, and the summary shows when each actually ran.
func (r *runner) chaos(ctx context.Context, stop <-chan struct{}) error {
	r.mu.Lock()
	start := r.loadAt
	r.mu.Unlock()
	var skewOff *time.Timer
	defer func() {
		if skewOff != nil && skewOff.Stop() {
			r.st.Sandbox.SetClockSkew(0)
		}
	}()
	for _, e := range r.sched.Events {
		wait := time.Until(start.Add(e.At))
		if wait > 0 {
			select {
			case <-stop:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		} else {
			select {
			case <-stop:
				return nil
			default:
			}
		}
		at := time.Since(start)
		began := time.Now()
		var err error
		switch e.Action {
		case KillWorker:
			if err = r.st.KillWorker(); err == nil {
				time.Sleep(e.Down)
				err = r.startAgain(ctx, "worker", r.st.StartWorker, r.st.KillWorker)
			}
		case KillStarter:
			// The proxy sends everything to the other replica meanwhile.
			if err = r.st.KillStarter(); err == nil {
				time.Sleep(e.Down)
				err = r.startAgain(ctx, "starter", r.st.StartStarter, r.st.KillStarter)
			}
		case KillTemporal:
			err = r.st.RestartTemporal(ctx, true)
		case RestartTemporal:
			err = r.st.RestartTemporal(ctx, false)
		case RestartPostgres:
			err = r.st.RestartPostgres(ctx)
		case RestartStarter:
			// A crash rather than a shutdown: requests and inbox rows in
			// flight are cut off.
			if err = r.st.KillStarter(); err == nil {
				err = r.st.StartStarter(ctx)
			}
		case SkewClock:
			r.st.Sandbox.SetClockSkew(r.sched.Skew)
			skewOff = time.AfterFunc(e.Down, func() {
				r.st.Sandbox.SetClockSkew(0)
				r.logf("chaos: clock skew off")
			})
		}
		if err != nil {
			return fmt.Errorf("%s at %s: %w", e.Action, at.Round(time.Millisecond), err)
		}
		ev := Event{At: at, Action: e.Action, Down: e.Down}
		r.mu.Lock()
		r.executed = append(r.executed, ev)
		r.mu.Unlock()
		if e.Action == KillWorker || e.Action == KillStarter {
			what := map[Action]string{KillWorker: "worker", KillStarter: "starter"}[e.Action]
			r.logf("chaos: %s SIGKILLed, started again after %.1fs, ready %s later", what, e.Down.Seconds(),
				(time.Since(began) - e.Down).Round(100*time.Millisecond))
		} else {
			r.logf("chaos: %s (%s)", ev, time.Since(began).Round(100*time.Millisecond))
		}
	}
	<-stop
	return nil
}

// startAgain starts a killed worker or starter again; while Temporal or
// PostgreSQL is being restarted it may take a few tries.
func (r *runner) startAgain(ctx context.Context, what string, start func(context.Context) error, kill func() error) error {
	var err error
	for range 3 {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = start(sctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		r.logf("chaos: the %s did not start (%v); again", what, err)
		_ = kill()
	}
	return err
}

// drain lifts the faults and waits for the loans the demo saw end to
// close, for the sandbox to deliver every push and for the starter to
// forward every inbox row.
func (r *runner) drain(ctx context.Context, sum *demo.Summary) {
	sb := r.st.Sandbox
	sb.ClearFaults()
	sb.SetClockSkew(0)
	ctx, cancel := context.WithTimeout(ctx, r.o.DrainTimeout)
	defer cancel()
	r.waitClosed(ctx, sum)
	if err := sb.WaitIdle(ctx); err != nil {
		st := sb.Stats()
		r.logf("drain: the sandbox is not idle: %d pushes pending, %d autopilot steps", st.Pushes.Pending, st.AutopilotPending)
	}
	s := store.New(r.st.Pool, nil)
	for {
		counts, err := s.CountByStatus(ctx)
		if err == nil && counts[store.InboxPending] == 0 {
			r.logf("drain: pushes delivered, inbox drained: %v", counts)
			return
		}
		select {
		case <-ctx.Done():
			r.logf("drain: gave up after %s: inbox %v (%v)", r.o.DrainTimeout, counts, err)
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitClosed waits until the workflow of every applicant the demo saw in
// a terminal stage has closed. The stage is published (read model, status
// query) from inside the workflow task that ends the loan; a kill before
// that task completes makes its replay finish the job a little later.
func (r *runner) waitClosed(ctx context.Context, sum *demo.Summary) {
	open := map[string]bool{}
	for _, res := range sum.Results {
		if workflows.Stage(res.Actual).Terminal() {
			open[workflows.LoanWorkflowID(res.Ref)] = true
		}
	}
	for len(open) > 0 {
		for id := range open {
			d, err := r.st.Client.DescribeWorkflow(ctx, id, "")
			if err == nil && d.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				delete(open, id)
			}
		}
		if len(open) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			r.logf("drain: %d loans the demo saw end are still running", len(open))
			return
		case <-time.After(time.Second):
		}
	}
}

// observe gathers what Check reads: for every applicant the API's view,
// the workflow's result, status and runs; the sandbox's stats; the inbox.
func (r *runner) observe(ctx context.Context, sum *demo.Summary) (*Observations, error) {
	o := &Observations{
		Applicants: make([]Applicant, len(sum.Results)),
		Sandbox:    r.st.Sandbox.Stats(),
		Want: Want{
			WorkerKills:      1,
			TemporalRestarts: 1, PostgresRestarts: 1, StarterRestarts: 1,
			Duplicates: r.o.Delivery.Duplicates,
			Busy:       anyRule(r.o.Faults, func(f sandbox.Fault) bool { return f.BusyRate > 0 }),
			Timeouts:   anyRule(r.o.Faults, func(f sandbox.Fault) bool { return f.TimeoutRate > 0 && f.TimeoutApplied > 0 }),
		},
	}
	if r.o.Server {
		o.Want.StarterRestarts, o.Want.TemporalKills = 0, 1
		o.Want.StarterKills = max(1, r.sched.Count(KillStarter, r.load-time.Minute))
	}
	r.mu.Lock()
	for _, e := range r.executed {
		switch e.Action {
		case KillWorker:
			o.Chaos.WorkerKills++
		case KillStarter:
			o.Chaos.StarterKills++
		case KillTemporal:
			o.Chaos.TemporalKills++
		case RestartTemporal:
			o.Chaos.TemporalRestarts++
		case RestartPostgres:
			o.Chaos.PostgresRestarts++
		case RestartStarter:
			o.Chaos.StarterRestarts++
		case SkewClock:
			o.Want.StaleTimestamps = true
		}
	}
	r.mu.Unlock()
	// Every kill the schedule has up to a minute before the load ended
	// (actions run one at a time, so the last ones may run late).
	o.Want.WorkerKills = max(1, r.sched.Count(KillWorker, r.load-time.Minute))
	o.Chaos.StaleTimestamps = staleCount(&o.Sandbox)
	o.Chaos.Duplicates = r.st.Sandbox.Delivery().Duplicates

	counts, err := store.New(r.st.Pool, nil).CountByStatus(ctx)
	if err == nil {
		o.Orphans, err = r.orphans(ctx)
	}
	if err == nil {
		o.InboxRows, err = r.inboxRows(ctx)
	}
	for _, p := range r.st.Starters {
		o.Starters = append(o.Starters, p.Name)
	}
	if err != nil {
		o.InboxErr = err.Error()
	}
	o.Inbox = counts

	r.logf("audit: reading %d applicants from the API and Temporal", len(sum.Results))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, res := range sum.Results {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o.Applicants[i] = r.applicant(ctx, res)
		}()
	}
	wg.Wait()
	return o, nil
}

// orphans counts the inbox rows that were not delivered, by why.
func (r *runner) orphans(ctx context.Context) (map[string]int, error) {
	rows, err := r.st.Pool.Query(ctx, `SELECT status, last_error FROM webhook_inbox WHERE status IN ($1, $2)`,
		store.InboxOrphan, store.InboxRejected)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var status, why string
		if err := rows.Scan(&status, &why); err != nil {
			return nil, err
		}
		if status == store.InboxRejected {
			why = "rejected, " + why
		} else {
			why = OrphanReason(why)
		}
		out[why]++
	}
	return out, rows.Err()
}

// inboxRows reads every inbox row's event, status, attempts and the
// replica of its latest claim (named as the stack names its starters).
func (r *runner) inboxRows(ctx context.Context) ([]InboxRow, error) {
	byPort := map[string]string{}
	for i, u := range r.st.StarterURLs {
		if pu, err := url.Parse(u); err == nil {
			byPort[pu.Port()] = r.st.Starters[i].Name
		}
	}
	rows, err := r.st.Pool.Query(ctx, `SELECT source, event_id, status, attempts, coalesce(claimed_by, '') FROM webhook_inbox ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []InboxRow
	for rows.Next() {
		var x InboxRow
		if err := rows.Scan(&x.Source, &x.EventID, &x.Status, &x.Attempts, &x.ClaimedBy); err != nil {
			return nil, err
		}
		if _, port, err := net.SplitHostPort(x.ClaimedBy); err == nil && byPort[port] != "" {
			x.ClaimedBy = byPort[port]
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

func anyRule(rules map[string]sandbox.Fault, f func(sandbox.Fault) bool) bool {
	for _, r := range rules {
		if f(r) {
			return true
		}
	}
	return false
}

// staleCount counts the requests answered 1003.
func staleCount(st *sandbox.Stats) int {
	n := 0
	for _, codes := range st.Calls {
		n += codes[strconv.Itoa(int(awda.CodeTimestampExpired))]
	}
	return n
}

// tries runs op up to three times, a second apart, while it fails.
func tries(ctx context.Context, op func(context.Context) error) error {
	var err error
	for i := range 3 {
		if i > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Second):
			}
		}
		octx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = op(octx)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

func (r *runner) applicant(ctx context.Context, res demo.Result) Applicant {
	id := workflows.LoanWorkflowID(res.Ref)
	a := Applicant{
		Ref: res.Ref, Scenario: res.Scenario, Expected: res.Expected, WorkflowID: id, Demo: res.Actual,
	}
	c := r.st.Client

	if err := tries(ctx, func(ctx context.Context) error {
		v, err := r.st.API.Application(ctx, res.Ref)
		if err == nil {
			a.API, a.APITerminal = v.Stage, v.Terminal
		}
		return err
	}); err != nil {
		a.APIErr = err.Error()
	}

	var desc *workflowservice.DescribeWorkflowExecutionResponse
	err := tries(ctx, func(ctx context.Context) error {
		d, err := c.DescribeWorkflow(ctx, id, "")
		if err == nil {
			desc = d.RawResponse
		}
		return err
	})
	switch {
	case err != nil:
		a.ResultErr = "describe: " + err.Error()
	case desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		a.ResultErr = "still running"
	default:
		var out workflows.LoanResult
		if err := tries(ctx, func(ctx context.Context) error {
			return c.GetWorkflow(ctx, id, "").Get(ctx, &out)
		}); err != nil {
			a.ResultErr = desc.GetWorkflowExecutionInfo().GetStatus().String() + ": " + err.Error()
		} else {
			a.Result = &out
		}
	}

	if err := tries(ctx, func(ctx context.Context) error {
		st, err := workflows.StatusQuery.Get(ctx, c, id, "")
		if err != nil {
			return err
		}
		a.Status = &st
		return nil
	}); err != nil {
		a.StatusErr = err.Error()
	}

	if err := tries(ctx, func(ctx context.Context) error {
		a.Runs = a.Runs[:0]
		var token []byte
		for {
			resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Query:         fmt.Sprintf("WorkflowId = '%s'", id),
				NextPageToken: token,
			})
			if err != nil {
				return err
			}
			for _, ex := range resp.GetExecutions() {
				a.Runs = append(a.Runs, Execution{RunID: ex.GetExecution().GetRunId(), Status: ex.GetStatus().String()})
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				return nil
			}
		}
	}); err != nil {
		a.RunsErr = err.Error()
	}
	sort.Slice(a.Runs, func(i, j int) bool { return a.Runs[i].RunID < a.Runs[j].RunID })
	return a
}
