package loansim

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// RunSeeds simulates every seed on workers goroutines (0: one per CPU) and
// hands each result to done (from any goroutine).
func RunSeeds(seeds []uint64, workers int, done func(*Result)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ch := make(chan uint64)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for seed := range ch {
				done(Simulate(Generate(seed)))
			}
		})
	}
	for _, s := range seeds {
		ch <- s
	}
	close(ch)
	wg.Wait()
}

// RunScenarios simulates every scenario on workers goroutines (0: one per
// CPU) and hands each result to done (from any goroutine).
func RunScenarios(ss []*Scenario, workers int, done func(*Result)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ch := make(chan *Scenario)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for s := range ch {
				done(Simulate(s))
			}
		})
	}
	for _, s := range ss {
		ch <- s
	}
	close(ch)
	wg.Wait()
}

// Summary is one line about a result.
func (r *Result) Summary() string {
	ev := 0
	for _, rn := range r.Runs {
		ev = max(ev, rn.Events)
	}
	return fmt.Sprintf("seed %d: %s (%q) at %s; model %s at %s%s; %d runs, max %d events/run, %d AWDA calls, %d violations",
		r.Scenario.Seed, r.Outcome, r.Reason, fmtDur(r.EndAt), r.Prediction.Outcome, fmtDur(r.Prediction.EndAt),
		map[bool]string{true: " (ambiguous: " + r.Prediction.Ambiguous + ")", false: ""}[r.Prediction.Ambiguous != ""],
		len(r.Runs), ev, len(r.Calls), len(r.Violations))
}

// Figures aggregate many results.
type Figures struct {
	Scenarios      int
	SimulatedYears float64
	MaxRunEvents   int
	MaxPastCAN     int // the most events a run went past ContinueAsNewEvents
	Continued      int // continue-as-new hand-overs
	WaitingDays    float64
	WaitingEvents  int
	WaitingCalls   int
	MaxCallsPerDay float64
	Outcomes       map[string]int
	Violations     map[string]int
	FailedSeeds    []uint64
	// Refused counts the scripted AWDA moves the sandbox refused, by kind.
	Refused map[string]int
}

// Summarize computes the figures of results.
func Summarize(rs []*Result) Figures {
	f := Figures{Outcomes: map[string]int{}, Violations: map[string]int{}, Refused: map[string]int{}}
	for _, r := range rs {
		f.Scenarios++
		if n := len(r.Runs); n > 0 {
			f.SimulatedYears += r.Runs[n-1].End.Hours() / 24 / 365
			f.Continued += n - 1
		}
		th := r.Scenario.Config.WithDefaults().ContinueAsNewEvents
		for _, rn := range r.Runs {
			f.MaxRunEvents = max(f.MaxRunEvents, rn.Events)
			f.MaxPastCAN = max(f.MaxPastCAN, rn.Events-th)
		}
		for _, w := range r.Windows() {
			f.WaitingDays += w.Days()
			f.WaitingEvents += w.Events
			f.WaitingCalls += w.Calls
			f.MaxCallsPerDay = max(f.MaxCallsPerDay, float64(w.Calls)/w.Days())
		}
		o := string(r.Outcome)
		if r.Err != "" {
			o = "(none)"
		}
		f.Outcomes[o]++
		for _, v := range r.Violations {
			f.Violations[v.Invariant]++
		}
		for _, m := range r.Refused {
			f.Refused[string(m.Kind)]++
		}
		if len(r.Violations) > 0 {
			f.FailedSeeds = append(f.FailedSeeds, r.Scenario.Seed)
		}
	}
	slices.Sort(f.FailedSeeds)
	return f
}

func (f Figures) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenarios              %d\n", f.Scenarios)
	fmt.Fprintf(&b, "simulated years        %.1f\n", f.SimulatedYears)
	fmt.Fprintf(&b, "max events per run     %d (estimated)\n", f.MaxRunEvents)
	fmt.Fprintf(&b, "continue-as-new        %d (a run at most %d events past its threshold; slack %d)\n", f.Continued, f.MaxPastCAN, ContinueAsNewSlack)
	if f.WaitingDays > 0 {
		fmt.Fprintf(&b, "waiting days           %.0f\n", f.WaitingDays)
		fmt.Fprintf(&b, "events per waiting day %.1f\n", float64(f.WaitingEvents)/f.WaitingDays)
		fmt.Fprintf(&b, "AWDA calls per waiting day %.2f (max over a window %.1f; bound %d)\n", float64(f.WaitingCalls)/f.WaitingDays, f.MaxCallsPerDay, CallsPerWaitingDay)
	}
	fmt.Fprintf(&b, "outcomes               %s\n", histogram(f.Outcomes))
	fmt.Fprintf(&b, "violations             %s\n", histogram(f.Violations))
	fmt.Fprintf(&b, "AWDA moves refused     %s\n", histogram(f.Refused))
	if n := len(f.FailedSeeds); n > 0 {
		show := f.FailedSeeds[:min(n, 40)]
		fmt.Fprintf(&b, "failing seeds (%d)     %v\n", n, show)
	}
	return b.String()
}

func histogram(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

var _ = time.Second
