package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/tools/loansim"
	"github.com/awdaflow/awdaflow/tools/stack"
)

// Machine describes where the figures were taken.
type Machine struct {
	CPU       string    `json:"cpu"`
	Cores     int       `json:"cores"`
	MemoryMiB int64     `json:"memoryMiB"`
	Kernel    string    `json:"kernel"`
	Go        string    `json:"go"`
	Date      time.Time `json:"date"`
	Commit    string    `json:"commit"`
	// LoadBefore and LoadAfter are /proc/loadavg's 1-minute figure: the
	// machine may be shared, and this says how busy it was.
	LoadBefore float64 `json:"loadBefore"`
	LoadAfter  float64 `json:"loadAfter"`
}

// DescribeMachine reads /proc and git (in root).
func DescribeMachine(root string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC(), LoadBefore: LoadAverage()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemoryMiB = kb >> 10
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// LoadAverage is the 1-minute load average (0 when unknown).
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// ClientBench is one line of `go test -bench` output.
type ClientBench struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"nsPerOp"`
	BytesPerOp  float64 `json:"bytesPerOp"`
	AllocsPerOp float64 `json:"allocsPerOp"`
}

// ParseGoBench reads the benchmark lines of `go test -bench -benchmem`
// output.
func ParseGoBench(r io.Reader) ([]ClientBench, error) {
	var out []ClientBench
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		cb := ClientBench{Name: strings.TrimPrefix(f[0], "Benchmark")}
		if i := strings.LastIndexByte(cb.Name, '-'); i > 0 {
			if _, err := strconv.Atoi(cb.Name[i+1:]); err == nil {
				cb.Name = cb.Name[:i] // the GOMAXPROCS suffix
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				cb.NsPerOp = v
			case "B/op":
				cb.BytesPerOp = v
			case "allocs/op":
				cb.AllocsPerOp = v
			}
		}
		out = append(out, cb)
	}
	return out, sc.Err()
}

// Target is one of issue 6's targets and how this run did.
type Target struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Value  string `json:"value"`
	Met    bool   `json:"met"`
}

// Results is everything `make bench` measured.
type Results struct {
	Machine Machine `json:"machine"`
	Params  Params  `json:"params"`

	// LoanPhases is the loan phase on each server measured (BENCH_SERVERS),
	// in the order run; Saturation is ours alone at rising concurrency on
	// the real server.
	LoanPhases []*LoanPhase `json:"loanPhases"`
	Saturation *Saturation  `json:"saturation,omitempty"`
	// LongWaits is the history cost of loans that wait for weeks (the
	// simulator's three bench scenarios).
	LongWaits []loansim.Cost `json:"longWaits,omitempty"`

	Webhooks      *BlastResult   `json:"webhooks"`
	WebhooksBare  []*BlastResult `json:"webhooksBare"`
	WebhookRatio  float64        `json:"webhookRatio"` // ours / mean of the bare runs, per second
	InboxByStatus map[string]int `json:"inboxByStatus"`

	Parked *ParkResult `json:"parked"`

	Client []ClientBench `json:"client"`

	// CPU is the CPU time each of our processes used over the whole run
	// (the builds count under "self").
	CPU     map[string]time.Duration `json:"cpuNs"`
	Targets []Target                 `json:"targets"`
	Phases  map[string]time.Duration `json:"phasesNs"`
	Total   time.Duration            `json:"totalNs"`
	Notes   []string                 `json:"notes,omitempty"`
}

// Params are the run's settings.
type Params struct {
	N                  int           `json:"n"`
	Concurrency        int           `json:"concurrency"`
	PollInterval       time.Duration `json:"pollIntervalNs"`
	Warmup             int           `json:"warmup"`
	Rounds             int           `json:"rounds"`
	Webhooks           int           `json:"webhooks"`
	WebhookConcurrency int           `json:"webhookConcurrency"`
	Parked             int           `json:"parked"`
	ParkConcurrency    int           `json:"parkConcurrency"`
	WorkerEnv          []string      `json:"workerEnv,omitempty"`
	TemporalArgs       []string      `json:"temporalArgs,omitempty"`
	DatabaseQuery      string        `json:"databaseQuery,omitempty"`
	// Servers are the Temporal servers the loan phase runs on, in turn:
	// ServerDev (the dev server) and ServerReal (the production lane:
	// Temporal's own server on PostgreSQL). The other phases run on the
	// first.
	Servers []string `json:"servers"`
	// Saturation lists the concurrencies of the saturation run on the real
	// server (empty: none); SaturationN is the loans per step (0: four per
	// slot, at least 50).
	Saturation  []int `json:"saturation,omitempty"`
	SaturationN int   `json:"saturationN,omitempty"`
}

// Evaluate fills Targets from the figures.
func (r *Results) Evaluate() {
	r.Targets = nil
	for _, p := range r.LoanPhases {
		if p.Baseline != nil && p.Baseline.Completed > 0 && p.Loans != nil {
			r.Targets = append(r.Targets, Target{"loan throughput, ours / baseline, " + serverLabel(p.Server), "≥ 0.80",
				fmt.Sprintf("%.2f", p.LoanRatio), p.LoanRatio >= 0.8})
		}
	}
	for _, p := range r.LoanPhases {
		if p.History != nil {
			r.Targets = append(r.Targets, Target{"history events per happy-path loan (max), " + serverLabel(p.Server), "≤ 200",
				strconv.Itoa(p.History.Events.Max), p.History.Events.Max <= 200})
		}
	}
	if len(r.LongWaits) > 0 {
		worstDay, worstRun, ok := 0.0, 0, true
		for _, c := range r.LongWaits {
			worstDay, worstRun = max(worstDay, c.EventsPerWaitingDay), max(worstRun, c.MaxRunEvents)
			ok = ok && len(c.Violations) == 0
		}
		r.Targets = append(r.Targets,
			Target{"history events per waiting day (simulated, worst scenario)", fmt.Sprintf("≤ %d", loansim.GoalEventsPerWaitingDay),
				fmt.Sprintf("%.1f", worstDay), ok && worstDay <= loansim.GoalEventsPerWaitingDay},
			Target{"history events per run (simulated, max)", fmt.Sprintf("< %d", loansim.GoalMaxRunEvents),
				strconv.Itoa(worstRun), ok && worstRun < loansim.GoalMaxRunEvents})
	}
	if r.Webhooks != nil && len(r.WebhooksBare) > 0 {
		r.Targets = append(r.Targets,
			Target{"webhook throughput, ours / bare", "≥ 0.70", fmt.Sprintf("%.2f", r.WebhookRatio), r.WebhookRatio >= 0.7},
			Target{"webhook p99 (ours)", "< 20 ms", ms(r.Webhooks.Latency.P99), r.Webhooks.Latency.P99 < 20*time.Millisecond && r.Webhooks.Errors == 0})
	}
	if r.Parked != nil {
		r.Targets = append(r.Targets, Target{fmt.Sprintf("worker RSS with %d parked loans", r.Parked.Parked), "< 300 MiB",
			mib(r.Parked.Worker.RSS), stack.MiB(r.Parked.Worker.RSS) < 300})
	}
}

// WriteJSON writes the results, indented.
func (r *Results) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

func mib(n int64) string { return strconv.FormatFloat(stack.MiB(n), 'f', 1, 64) + " MiB" }

func cpuTotal(cpu map[string]time.Duration) time.Duration {
	var t time.Duration
	for _, d := range cpu {
		t += d
	}
	return t
}

func cpuLine(cpu map[string]time.Duration) string {
	var names []string
	for k := range cpu {
		names = append(names, k)
	}
	slices.Sort(names)
	var parts []string
	for _, k := range names {
		if cpu[k] >= 100*time.Millisecond {
			parts = append(parts, fmt.Sprintf("%s %.1f s", k, cpu[k].Seconds()))
		}
	}
	return strings.Join(parts, ", ")
}

// WriteMarkdown writes one section for docs/benchmarks.md.
func (r *Results) WriteMarkdown(w io.Writer) error {
	b := &strings.Builder{}
	m := r.Machine
	fmt.Fprintf(b, "\n## %s — %s\n\n", m.Date.Format("2006-01-02 15:04 UTC"), m.Commit)
	fmt.Fprintf(b, "Machine: %s, %d cores, %d MiB RAM, Linux %s, %s; load average %.1f before, %.1f after "+
		"(the machine may be shared: compare ratios, not absolute figures). Total %s; our processes used %.0f CPU-seconds "+
		"(%s).\n\n",
		m.CPU, m.Cores, m.MemoryMiB, m.Kernel, m.Go, m.LoadBefore, m.LoadAfter, r.Total.Round(time.Second), cpuTotal(r.CPU).Seconds(), cpuLine(r.CPU))
	r.writeLoanPhases(b)
	r.writeSaturation(b)
	for _, p := range r.LoanPhases {
		if h := p.History; h != nil {
			fmt.Fprintf(b, "**History cost** of a happy-path loan (registration to SETTLED, 3 installments) on the %s, over %d loans: "+
				"events min %d, median %d, max %d; bytes min %d, median %d, max %d.\n\n", serverLabel(p.Server),
				h.Loans, h.Events.Min, h.Events.Median, h.Events.Max, h.Bytes.Min, h.Bytes.Median, h.Bytes.Max)
		}
	}
	if len(r.LongWaits) > 0 {
		fmt.Fprintln(b, "**History over time** (tools/loansim: the real workflow in simulated time; events estimated per run, see its doc):")
		fmt.Fprintln(b)
		fmt.Fprintln(b, "| scenario | outcome | runs | waiting days | events per waiting day | max events per run | AWDA calls per waiting day |")
		fmt.Fprintln(b, "|---|---|---:|---:|---:|---:|---:|")
		for _, c := range r.LongWaits {
			fmt.Fprintf(b, "| %s | %s | %d | %.1f | %.1f | %d | %.2f |\n", c.Name, c.Outcome, c.Runs, c.WaitingDays, c.EventsPerWaitingDay, c.MaxRunEvents, c.CallsPerWaitingDay)
		}
		fmt.Fprintln(b)
	}
	r.writeWebhooks(b)
	if pk := r.Parked; pk != nil {
		fmt.Fprintf(b, "**Parked loans**: %d applications through the API, waiting at BANK_CARD (%d parked, %d failed) after %s; "+
			"%s later: worker RSS **%s** (peak %s), starter RSS %s (peak %s).\n\n",
			pk.N, pk.Parked, pk.Failed, pk.ParkTime.Round(time.Second), pk.Settle, mib(pk.Worker.RSS), mib(pk.Worker.Peak), mib(pk.Starter.RSS), mib(pk.Starter.Peak))
	}
	r.writeClient(b)
	r.writeTargets(b)
	for _, n := range r.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeLoans is the loan throughput table of one server, ours against
// the baseline.
func (r *Results) writeLoans(b *strings.Builder, lp *LoanPhase) {
	p := r.Params
	if lp.measured() {
		fmt.Fprintf(b, "**Loan throughput on the %s**: %d happy-path applicants (3 monthly installments) through the API to SETTLED, "+
			"%d at a time, status polled every %s (after %d warm-up loans); baseline: the bare workflow of the same shape "+
			"(%d activities, %d local activities, %d signals, %d updates), driven the same way on the same server "+
			"(%s, one worker each); ours and the baseline in turns, %d rounds each.\n\n",
			serverLabel(lp.Server), p.N, p.Concurrency, p.PollInterval, p.Warmup,
			lp.BaselineShape.Count(StepActivity), lp.BaselineShape.Count(StepLocalActivity),
			lp.BaselineShape.Count(StepSignal), lp.BaselineShape.Count(StepUpdate), serverDescription(lp.Server), lp.Loans.Rounds)
		fmt.Fprintln(b, "| | ours | baseline | ours / baseline |")
		fmt.Fprintln(b, "|---|---:|---:|---:|")
		fmt.Fprintf(b, "| completed | %d / %d | %d / %d | |\n", lp.Loans.Completed, lp.Loans.N, lp.Baseline.Completed, lp.Baseline.N)
		fmt.Fprintf(b, "| loans per second | %.2f | %.2f | **%.2f** |\n", lp.Loans.PerSecond, lp.Baseline.PerSecond, lp.LoanRatio)
		for _, row := range []struct {
			name string
			o, b Latency
		}{{"start → SETTLED (workflow)", lp.Loans.Workflow, lp.Baseline.Workflow}, {"first request → SETTLED seen (client)", lp.Loans.EndToEnd, lp.Baseline.EndToEnd}} {
			fmt.Fprintf(b, "| %s p50 / p95 / p99 | %s / %s / %s | %s / %s / %s | |\n", row.name,
				secs(row.o.P50), secs(row.o.P95), secs(row.o.P99), secs(row.b.P50), secs(row.b.P95), secs(row.b.P99))
		}
		fmt.Fprintf(b, "| CPU used | %s | %s | |\n\n", cpuLine(lp.Loans.CPU), cpuLine(lp.Baseline.CPU))
	}
}

// writeWebhooks is the webhook ingestion table, ours against the bare handler.
func (r *Results) writeWebhooks(b *strings.Builder) {
	if r.Webhooks != nil && len(r.WebhooksBare) > 0 {
		wh := r.Webhooks
		fmt.Fprintf(b, "**Webhook ingestion**: %d signed LOAN_STATUS notifications, %d at a time, from a loopback load generator "+
			"(%d about known loans, %d redeliveries, %d about unknown loans); bare: a handler in the bench process that verifies "+
			"nothing and does one pgx INSERT.\n\n", wh.N, wh.Concurrency, wh.ByKind["known"], wh.ByKind["redelivery"], wh.ByKind["unknown"])
		fmt.Fprintln(b, "| | per second | p50 | p99 | errors | CPU used |")
		fmt.Fprintln(b, "|---|---:|---:|---:|---:|---|")
		fmt.Fprintf(b, "| starter /webhooks/awda/loan-status | %.0f | %s | %s | %d | %s |\n", wh.PerSecond, ms(wh.Latency.P50), ms(wh.Latency.P99), wh.Errors, cpuLine(wh.CPU))
		for i, bare := range r.WebhooksBare {
			fmt.Fprintf(b, "| bare handler, run %d | %.0f | %s | %s | %d | %s |\n", i+1, bare.PerSecond, ms(bare.Latency.P50), ms(bare.Latency.P99), bare.Errors, cpuLine(bare.CPU))
		}
		fmt.Fprintf(b, "\nRatio ours / bare (mean of the bare runs): **%.2f**. Inbox afterwards: %v.\n\n", r.WebhookRatio, r.InboxByStatus)
		if d := wh.Drain; d != nil {
			timedOut := ""
			if !d.Done {
				timedOut = ", timed out"
			}
			fmt.Fprintf(b, "Delivery after the acknowledgements (not timed above): the forwarder had %d rows left to attempt at the last one, "+
				"and attempted them in %s (%.0f/s%s); CPU meanwhile: %s.\n\n",
				d.Backlog, d.Elapsed.Round(time.Millisecond), d.PerSecond, timedOut, cpuLine(d.CPU))
		}
	}
}

// writeClient is the client micro-benchmarks table.
func (r *Results) writeClient(b *strings.Builder) {
	if len(r.Client) > 0 {
		fmt.Fprintln(b, "**Client overhead** (`go test -bench ./awda/`):")
		fmt.Fprintln(b)
		fmt.Fprintln(b, "| benchmark | ns/op | B/op | allocs/op |")
		fmt.Fprintln(b, "|---|---:|---:|---:|")
		for _, c := range r.Client {
			fmt.Fprintf(b, "| %s | %.0f | %.0f | %.0f |\n", c.Name, c.NsPerOp, c.BytesPerOp, c.AllocsPerOp)
		}
		fmt.Fprintln(b)
	}
}

// writeTargets is the targets table.
func (r *Results) writeTargets(b *strings.Builder) {
	if len(r.Targets) > 0 {
		fmt.Fprintln(b, "| target | wanted | this run | met |")
		fmt.Fprintln(b, "|---|---|---|---|")
		for _, t := range r.Targets {
			met := "yes"
			if !t.Met {
				met = "**no**"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", t.Name, t.Target, t.Value, met)
		}
		fmt.Fprintln(b)
	}
}

// AppendMarkdown appends the section to path, creating it with a header
// when missing.
func (r *Results) AppendMarkdown(path string) error {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if err := os.WriteFile(path, []byte(markdownHeader), 0o644); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := r.WriteMarkdown(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const markdownHeader = `# Benchmarks

Every section below is one run of ` + "`" + `make bench` + "`" + ` (newest last), appended by
the command itself (` + "`" + `tools/bench` + "`" + `, started by ` + "`" + `make bench` + "`" + ` after the
client micro-benchmarks). Timings on a shared machine move with its load,
so each figure that is a time is set against a baseline measured in the same
run, and the ratios are what to compare across runs. Each section says how
busy the machine was (load average) and how much CPU our processes used.

## How each figure is made

Everything runs as real processes on loopback (` + "`" + `tools/stack` + "`" + `): the worker
and starter binaries, a throwaway PostgreSQL, the AWDA sandbox (in the
bench process) on autopilot with no delay between its steps, and a
Temporal server: the loan phase runs once on each server of
` + "`" + `BENCH_SERVERS` + "`" + ` (default both, in turn, each on a fresh stack): the dev
server (` + "`" + `temporal server start-dev` + "`" + `, SQLite, one history shard) and the
real one (` + "`" + `bin/temporal-server` + "`" + ` on the stack's PostgreSQL, the production
lane of ` + "`" + `STACK=server` + "`" + `), with one worker and one starter on either. The
other phases run on the first server of the list.

- **Loan throughput.** ` + "`" + `BENCH_N` + "`" + ` (500) happy-path applicants, 3 monthly
  installments each, driven through the starter's public API by the demo
  driver (` + "`" + `tools/demo` + "`" + `), as a lending backend does: documents, the
  application, then ` + "`" + `GET /v1/applications/{ref}` + "`" + ` every ` + "`" + `BENCH_POLL` + "`" + ` (500 ms,
  ±20 %) and the bank card and the signature when the status asks for them;
  at most ` + "`" + `BENCH_CONCURRENCY` + "`" + ` (25) in flight, after a warm-up. Ours and the
  baseline run in turns, ` + "`" + `BENCH_ROUNDS` + "`" + ` (5) rounds of N/5 each, ours first in
  odd rounds and the baseline first in even ones, so that a change in the
  machine's load weighs on both alike. Loans per second are the settled
  loans over the time spent in their rounds (first request to last SETTLED
  seen). Latencies are given twice: the workflow's start to close in
  Temporal, and the client's first request to SETTLED seen. The same
  method, N and concurrency run on each server; a table then sets the
  servers side by side (each one's ratio) with the CPU-seconds per
  settled loan, ours and the baseline's, and per process (from
  /proc/<pid>/stat, each process with its children, over the rounds of
  that side; "self" is the bench process: the sandbox and the drivers).
  The baseline's CPU per loan over ours moves much less with the shared
  machine's load than the loans per second do, and the throughput ratio
  follows it when the cores are the limit.
- **Saturation.** On the real server, ours alone (no baseline) at each
  concurrency of ` + "`" + `BENCH_SATURATION` + "`" + ` (10, 25, 50, 100 in flight), with
  ` + "`" + `BENCH_SATURATION_N` + "`" + ` loans per step (default four per slot, at least
  50), driven as above: loans per second per step, and the CPU-seconds of
  each process over the step (the server, PostgreSQL, which holds
  Temporal's persistence and visibility as well as ours, the worker, the
  starter, the bench process). Throughput stops growing at the first step
  whose next one gains less than 10 %; the report names that step's
  throughput and concurrency, the process with the largest share of our
  CPU there, and how many of the machine's cores our processes kept busy
  (all of them: the cores are the limit; fewer: the load average says how
  much other work the shared machine had). Before the steps, the CPU our
  processes use over 10 s with no loan in flight is read (the server's
  own housekeeping); from the CPU a loan cost at the knee, less that idle
  burn over the step, the report gives the ceiling the machine's cores
  would allow, ours alone: (cores − idle cores) ÷ CPU-seconds per loan,
  a figure that moves much less with the neighbours' load than the loans
  per second do.
- **Baseline.** A bare workflow that makes the same Temporal moves as a
  happy-path loan: its shape (the sequence of activities, local activities,
  signals and updates) is read from the histories of the warm-up loans,
  and the most common one is replayed (the section notes it when the
  measured loans' most common shape differs). Its activities do nothing. The
  activity before a group of signals has the baseline's worker process send
  them to its workflow once it has returned (in the real system AWDA's
  pushes follow our calls to AWDA); the updates are sent by a driver that,
  like the demo, polls a status query at the same interval and sends the
  update the workflow waits for, with the same concurrency and number. It
  runs on its own worker process (` + "`" + `tools/cmd/benchworker` + "`" + `), built
  with the same configuration code and environment as the real worker (same
  worker options), with the SDK's default data converter, on the same
  server. What it leaves out is exactly what we add: the HTTP API and its
  database, the calls to AWDA and their signing, notifications through the
  webhook inbox, payload encryption, search-attribute upserts and timers.
- **History cost.** The history of every settled loan of the run, read back
  from Temporal: its number of events and the sum of their encoded sizes
  (payloads encrypted, as stored).
- **Webhook ingestion.** ` + "`" + `BENCH_WEBHOOKS` + "`" + ` (20,000) LOAN_STATUS notifications
  posted by a load generator in the bench process, ` + "`" + `BENCH_WEBHOOK_CONCURRENCY` + "`" + `
  (16) at a time over kept-alive connections, each freshly signed as AWDA
  signs them, to the real starter's ` + "`" + `/webhooks/awda/loan-status` + "`" + `. They are
  built from the real pushes of the run's settled loans, in a mix meant to be
  realistic: 70 % news about a known loan (new eventId: stored and
  acknowledged; the inbox forwarder then routes it by loan number and
  signals it; the loan is closed, so it ends orphan after a Temporal round
  trip), 20 % AWDA redeliveries of events stored before (acknowledged,
  nothing else), 10 % about loans no application has (stored, left pending
  until the orphan grace ends). The same bodies go, with the same
  generator, to a bare handler in the bench process that verifies nothing
  and does one pgx INSERT of the body into a scratch table of the same
  database, once before and once after the starter's run; the ratio uses
  their mean. What is timed is the acknowledgements; the forwarder's
  delivery runs alongside them and is waited for before the second bare
  run (that wait, and the CPU it takes, are reported apart).
- **Parked loans.** ` + "`" + `BENCH_PARKED` + "`" + ` (5,000) applications created through the
  API (documents, then the application, ` + "`" + `BENCH_PARK_CONCURRENCY` + "`" + ` at a time)
  whose borrowers never submit a bank card: every loan waits at BANK_CARD
  (counted through Temporal's visibility, not by polling each). After
  ` + "`" + `BENCH_SETTLE` + "`" + ` (5 s) the worker's and the starter's resident memory
  (VmRSS, and the peak VmHWM) are read from /proc.
- **History over time.** Three loans of the deterministic simulator
  (tools/loansim: the real workflow and activities in Temporal's
  time-skipping test environment against the in-process AWDA): one waiting
  30 days in review, one whose disbursement failed waiting 30 days, one of
  24 installments with 3 overdue months. Events are estimated per run from
  the commands the workflow makes (the package doc gives the rule); goals:
  at most 30 events per waiting day, every run under 2,000 events.
- **Client overhead.** ` + "`" + `go test -bench . -benchmem ./awda/` + "`" + `: signing and
  encoding a loan submission, building a request, verifying a notification.

`
