package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Servers make bench measures the loan phase on: "dev" (the Temporal dev
// server, SQLite) and "server" (Temporal's own server on PostgreSQL, the
// production lane).
const (
	ServerDev  = "dev"
	ServerReal = "server"
)

// serverLabel names a server in the report.
func serverLabel(server string) string {
	if server == ServerReal {
		return "real server"
	}
	return "dev server"
}

// serverDescription says what a server is, for the report's prose.
func serverDescription(server string) string {
	if server == ServerReal {
		return "Temporal's own server on PostgreSQL (STACK=server)"
	}
	return "the Temporal dev server"
}

// LoanPhase is the loan phase measured on one Temporal server: ours and the
// baseline in ABBA rounds, then the histories of our loans.
type LoanPhase struct {
	// Server is ServerDev or ServerReal.
	Server    string      `json:"server"`
	Loans     *LoadResult `json:"loans"`
	Baseline  *LoadResult `json:"baseline"`
	LoanRatio float64     `json:"loanRatio"` // ours / baseline, loans per second
	// BaselineShape is the shape the baseline ran (the warm-up loans').
	BaselineShape Shape        `json:"baselineShape"`
	History       *HistoryCost `json:"history"`
}

// measured reports whether both sides settled something.
func (p *LoanPhase) measured() bool {
	return p != nil && p.Loans != nil && p.Baseline != nil && p.Loans.Completed > 0 && p.Baseline.Completed > 0
}

// procGroup is the name a process's CPU is reported under: replicas
// ("worker#2") with their first, and the real server's binary
// ("temporal-server") as "temporal", like the dev server, so that the two
// servers' rows line up.
func procGroup(name string) string {
	if i := strings.IndexByte(name, '#'); i > 0 {
		name = name[:i]
	}
	if strings.HasPrefix(name, "temporal") {
		return "temporal"
	}
	return name
}

// perLoan is the CPU time per completed run, per process group.
func perLoan(r *LoadResult) map[string]time.Duration {
	out := map[string]time.Duration{}
	if r == nil || r.Completed == 0 {
		return out
	}
	for k, v := range r.CPU {
		out[procGroup(k)] += v / time.Duration(r.Completed)
	}
	return out
}

// SaturationStep is one step of the saturation run: ours only, at one
// concurrency.
type SaturationStep struct {
	Concurrency int         `json:"concurrency"`
	Loans       *LoadResult `json:"loans"`
	// Load is the machine's 1-minute load average at the end of the step.
	Load float64 `json:"load"`
}

// busyCores is how many cores our processes kept busy on average.
func (s SaturationStep) busyCores() float64 {
	if s.Loans == nil || s.Loans.Elapsed <= 0 {
		return 0
	}
	return cpuTotal(s.Loans.CPU).Seconds() / s.Loans.Elapsed.Seconds()
}

// top is the process group that used the most CPU in the step, and its
// share of our processes' CPU.
func (s SaturationStep) top() (string, float64) {
	if s.Loans == nil {
		return "", 0
	}
	groups := map[string]time.Duration{}
	for k, v := range s.Loans.CPU {
		groups[procGroup(k)] += v
	}
	total := cpuTotal(groups)
	names := make([]string, 0, len(groups))
	for k := range groups {
		names = append(names, k)
	}
	slices.Sort(names)
	best := ""
	for _, k := range names {
		if best == "" || groups[k] > groups[best] {
			best = k
		}
	}
	if total <= 0 {
		return best, 0
	}
	return best, groups[best].Seconds() / total.Seconds()
}

// SaturationGrowth is the least gain in loans per second from one step to
// the next that still counts as growing (10 %).
const SaturationGrowth = 0.10

// Saturation is ours alone on one server at rising concurrency, and where
// throughput stopped growing.
type Saturation struct {
	Server string           `json:"server"`
	Steps  []SaturationStep `json:"steps"`
	// Idle is the CPU each process used over IdleFor with no loan in
	// flight, before the steps: the server's own housekeeping, which a step
	// pays for its whole duration whatever its throughput.
	Idle    map[string]time.Duration `json:"idleCpuNs,omitempty"`
	IdleFor time.Duration            `json:"idleForNs,omitempty"`
	// Knee is the index of the step where throughput stopped growing: the
	// first whose next step gained less than SaturationGrowth, or the best
	// step when none did (Saturated false: still growing at the last).
	Knee      int  `json:"knee"`
	Saturated bool `json:"saturated"`
	// Bottleneck is the process group with the most CPU at the knee, Share
	// its part of our processes' CPU; BusyCores how many of the machine's
	// Cores our processes kept busy there.
	Bottleneck string  `json:"bottleneck"`
	Share      float64 `json:"share"`
	BusyCores  float64 `json:"busyCores"`
	Cores      int     `json:"cores"`
	// CPUPerLoan is our processes' CPU per settled loan at the knee, less
	// what they burn idle over the step (Idle), and Ceiling the loans per
	// second the machine's cores could give at that cost were they ours
	// alone, idle burn included: on a shared machine the figure that does
	// not move with the neighbours' load.
	CPUPerLoan time.Duration `json:"cpuPerLoanNs"`
	Ceiling    float64       `json:"ceiling"`
}

// idleCores is how many cores our processes use with nothing to do.
func (s *Saturation) idleCores() float64 {
	if s.IdleFor <= 0 {
		return 0
	}
	return cpuTotal(s.Idle).Seconds() / s.IdleFor.Seconds()
}

// Analyse finds the knee and its bottleneck; cores is the machine's.
func (s *Saturation) Analyse(cores int) {
	s.Cores, s.Knee, s.Saturated = cores, 0, false
	if len(s.Steps) == 0 {
		return
	}
	rate := func(i int) float64 {
		if s.Steps[i].Loans == nil {
			return 0
		}
		return s.Steps[i].Loans.PerSecond
	}
	s.Knee = s.best()
	for i := 0; i+1 < len(s.Steps); i++ {
		if rate(i+1) < rate(i)*(1+SaturationGrowth) {
			s.Knee, s.Saturated = i, true
			break
		}
	}
	k := s.Steps[s.Knee]
	s.Bottleneck, s.Share = k.top()
	s.BusyCores = k.busyCores()
	s.CPUPerLoan, s.Ceiling = 0, 0
	if k.Loans != nil && k.Loans.Completed > 0 {
		idle := time.Duration(s.idleCores() * float64(k.Loans.Elapsed))
		s.CPUPerLoan = max(0, cpuTotal(k.Loans.CPU)-idle) / time.Duration(k.Loans.Completed)
		if spare := float64(cores) - s.idleCores(); s.CPUPerLoan > 0 && spare > 0 {
			s.Ceiling = spare / s.CPUPerLoan.Seconds()
		}
	}
}

// best is the index of the step with the most loans per second.
func (s *Saturation) best() int {
	best := 0
	for i, st := range s.Steps {
		if st.Loans != nil && (s.Steps[best].Loans == nil || st.Loans.PerSecond > s.Steps[best].Loans.PerSecond) {
			best = i
		}
	}
	return best
}

// Verdict says in one sentence where the server saturates and why.
func (s *Saturation) Verdict() string {
	if len(s.Steps) == 0 || s.Steps[s.Knee].Loans == nil {
		return "no step completed"
	}
	k := s.Steps[s.Knee]
	var b strings.Builder
	if s.Saturated {
		next := s.Steps[s.Knee+1]
		fmt.Fprintf(&b, "Saturates at ~%.2f loans/s at concurrency %d (concurrency %d gave %.2f loans/s",
			k.Loans.PerSecond, k.Concurrency, next.Concurrency, next.Loans.PerSecond)
		if best := s.best(); best != s.Knee && best != s.Knee+1 {
			fmt.Fprintf(&b, "; the best step, concurrency %d, %.2f", s.Steps[best].Concurrency, s.Steps[best].Loans.PerSecond)
		}
		b.WriteString(")")
	} else {
		fmt.Fprintf(&b, "Not saturated by concurrency %d: still growing, at least %.2f loans/s", k.Concurrency, k.Loans.PerSecond)
	}
	fmt.Fprintf(&b, "; there the %s process uses %.0f %% of our processes' CPU, which keep %.2f of the machine's %d cores busy",
		s.Bottleneck, 100*s.Share, s.BusyCores, s.Cores)
	if s.Cores > 0 && s.BusyCores >= 0.85*float64(s.Cores) {
		fmt.Fprintf(&b, " (the cores are the limit: %s is the bottleneck)", s.Bottleneck)
	} else {
		fmt.Fprintf(&b, " (load average %.1f: other work on the machine, or a limit other than CPU)", k.Load)
	}
	if s.Ceiling > 0 {
		fmt.Fprintf(&b, ". A loan costs %.2f CPU-seconds there beyond the %.2f cores our processes burn idle: the %d cores, ours alone, "+
			"would give at most ~%.1f loans/s", s.CPUPerLoan.Seconds(), s.idleCores(), s.Cores, s.Ceiling)
	}
	return b.String() + "."
}

// writeLoanPhases is the loan throughput on each server, then, with more
// than one, the servers side by side with the CPU per loan.
func (r *Results) writeLoanPhases(b *strings.Builder) {
	for _, p := range r.LoanPhases {
		r.writeLoans(b, p)
	}
	var ps []*LoanPhase
	for _, p := range r.LoanPhases {
		if p.measured() {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return
	}
	fmt.Fprintln(b, "**Loan phase, server by server** (same method, same N and concurrency):")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| server | ours loans/s | baseline loans/s | ours / baseline | workflow p50 ours / baseline | CPU-s per loan ours / baseline | baseline's CPU / ours |")
	fmt.Fprintln(b, "|---|---:|---:|---:|---:|---:|---:|")
	for _, p := range ps {
		o, base := cpuTotal(perLoan(p.Loans)), cpuTotal(perLoan(p.Baseline))
		cpuRatio := 0.0
		if o > 0 {
			cpuRatio = base.Seconds() / o.Seconds()
		}
		fmt.Fprintf(b, "| %s | %.2f | %.2f | **%.2f** | %s / %s | %.3f / %.3f | %.2f |\n", serverLabel(p.Server), p.Loans.PerSecond,
			p.Baseline.PerSecond, p.LoanRatio, secs(p.Loans.Workflow.P50), secs(p.Baseline.Workflow.P50), o.Seconds(), base.Seconds(), cpuRatio)
	}
	fmt.Fprintln(b)
	writeCPUPerLoan(b, ps)
}

// writeCPUPerLoan is CPU-milliseconds per loan, per process, ours and the
// baseline on each server.
func writeCPUPerLoan(b *strings.Builder, ps []*LoanPhase) {
	var cols []map[string]time.Duration
	head, rule := "| CPU-ms per loan |", "|---|"
	for _, p := range ps {
		cols = append(cols, perLoan(p.Loans), perLoan(p.Baseline))
		head += fmt.Sprintf(" %s: ours | %s: baseline |", serverLabel(p.Server), serverLabel(p.Server))
		rule += "---:|---:|"
	}
	var names []string
	for _, c := range cols {
		for k, v := range c {
			if v >= 500*time.Microsecond && !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	fmt.Fprintln(b, head)
	fmt.Fprintln(b, rule)
	for _, k := range append(names, "total") {
		fmt.Fprintf(b, "| %s |", k)
		for _, c := range cols {
			v := c[k]
			if k == "total" {
				v = cpuTotal(c)
			}
			if v < 500*time.Microsecond {
				fmt.Fprint(b, " – |")
			} else {
				fmt.Fprintf(b, " %.0f |", float64(v)/float64(time.Millisecond))
			}
		}
		fmt.Fprintln(b)
	}
	fmt.Fprintln(b)
}

// writeSaturation is the saturation table and its verdict.
func (r *Results) writeSaturation(b *strings.Builder) {
	s := r.Saturation
	if s == nil || len(s.Steps) == 0 {
		return
	}
	fmt.Fprintf(b, "**Saturation on the %s**: ours alone (one worker, one starter), happy-path loans as above at rising concurrency; "+
		"CPU-seconds per process over each step, and how many of the machine's %d cores our processes kept busy.\n\n",
		serverLabel(s.Server), s.Cores)
	fmt.Fprintln(b, "| in flight | loans | loans/s | workflow p50 / p99 | cores busy | load avg | CPU-seconds |")
	fmt.Fprintln(b, "|---:|---:|---:|---:|---:|---:|---|")
	for _, st := range s.Steps {
		l := st.Loans
		if l == nil {
			continue
		}
		groups := map[string]time.Duration{}
		for k, v := range l.CPU {
			groups[procGroup(k)] += v
		}
		fmt.Fprintf(b, "| %d | %d / %d | %.2f | %s / %s | %.2f | %.1f | %s |\n", st.Concurrency, l.Completed, l.N, l.PerSecond,
			secs(l.Workflow.P50), secs(l.Workflow.P99), st.busyCores(), st.Load, cpuLine(groups))
	}
	if s.IdleFor > 0 {
		fmt.Fprintf(b, "\nIdle, before the steps (%s with no loan in flight): %.2f cores busy (%s).\n", s.IdleFor.Round(time.Second),
			s.idleCores(), cpuLine(s.Idle))
	}
	fmt.Fprintf(b, "\n%s\n\n", s.Verdict())
}
