package chaos

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/awdaflow/awdaflow/tools/demo"
)

// Summary is what a run prints.
type Summary struct {
	Seed uint64
	N    int
	// Elapsed is the whole run, from building the binaries to the verdict;
	// Load from the first applicant's request to the last one's terminal
	// state; Drain the wait for pushes and the inbox to settle.
	Elapsed, Load, Drain time.Duration
	// Executed is the schedule as it happened (offsets from the start of
	// the load), Missed the events the load ended before.
	Executed []Event
	Missed   int
	Skew     time.Duration
	// Applicants are the audited applicants (scenario, expected, demo
	// outcome).
	Applicants []Applicant
	Report     *Report
}

// WriteTo prints the summary: applicants by scenario, the checks, the
// figures, the chaos applied, then every violation.
func (s *Summary) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	s.write(cw)
	return cw.n, cw.err
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (s *Summary) write(w io.Writer) {
	r := s.Report
	fmt.Fprintf(w, "chaos: %d applicants, seed %d; load %s, drain %s, total %s\n\n",
		s.N, s.Seed, s.Load.Round(time.Second), s.Drain.Round(time.Second), s.Elapsed.Round(time.Second))

	s.writeScenarios(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tCHECKED\tVIOLATIONS\tRESULT")
	for _, c := range Checks {
		res := "PASS"
		if r.Failed(c) > 0 {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", c, r.Checked[c], r.Failed(c), res)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)

	s.writeChaos(w)

	names := make([]string, 0, len(r.Figures))
	for k := range r.Figures {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Figures[k]))
	}
	fmt.Fprintf(w, "figures: %s\n", strings.Join(parts, ", "))

	if r.OK() {
		fmt.Fprintln(w, "\nPASS: nothing lost, nothing applied twice")
		return
	}
	fmt.Fprintf(w, "\nFAIL: %d violations\n", len(r.Violations))
	vs := slices.Clone(r.Violations)
	sort.SliceStable(vs, func(i, j int) bool {
		return slices.Index(Checks, vs[i].Check) < slices.Index(Checks, vs[j].Check)
	})
	for _, v := range vs {
		fmt.Fprintf(w, "  - %s\n", v)
	}
}

// writeScenarios is the table of applicants by scenario, and how many
// ended as expected.
func (s *Summary) writeScenarios(w io.Writer) {
	r := s.Report
	type row struct{ n, ok int }
	rows := map[demo.Scenario]*row{}
	expected := map[demo.Scenario]string{}
	bad := map[string]bool{}
	for _, v := range r.Violations {
		if v.Check == CheckOutcomes {
			bad[v.Subject] = true
		}
	}
	for _, a := range s.Applicants {
		x := rows[a.Scenario]
		if x == nil {
			x = &row{}
			rows[a.Scenario] = x
		}
		x.n++
		if !bad[a.Ref] {
			x.ok++
		}
		expected[a.Scenario] = string(a.Expected)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tAPPLICANTS\tEXPECTED\tAS EXPECTED")
	total, totalOK := 0, 0
	for _, sc := range demo.Scenarios {
		x := rows[sc]
		if x == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", sc, x.n, expected[sc], x.ok)
		total, totalOK = total+x.n, totalOK+x.ok
	}
	fmt.Fprintf(tw, "total\t%d\t\t%d\n", total, totalOK)
	_ = tw.Flush()
	fmt.Fprintln(w)
}

// writeChaos says what the chaos did.
func (s *Summary) writeChaos(w io.Writer) {
	kills, down := 0, time.Duration(0)
	starterKills, starterDown := 0, time.Duration(0)
	var once []string
	for _, e := range s.Executed {
		switch e.Action {
		case KillWorker:
			kills++
			down += e.Down
		case KillStarter:
			starterKills++
			starterDown += e.Down
		case SkewClock:
			once = append(once, fmt.Sprintf("%s by +%s for %.1fs at %.1fs", e.Action, s.Skew, e.Down.Seconds(), e.At.Seconds()))
		default:
			once = append(once, fmt.Sprintf("%s at %.1fs", e.Action, e.At.Seconds()))
		}
	}
	fmt.Fprintf(w, "chaos: worker SIGKILLed %d times (down %.1fs in all); ", kills, down.Seconds())
	if starterKills > 0 {
		fmt.Fprintf(w, "a starter replica SIGKILLed %d times (down %.1fs in all); ", starterKills, starterDown.Seconds())
	}
	fmt.Fprint(w, strings.Join(once, "; "))
	if s.Missed > 0 {
		fmt.Fprintf(w, "; %d scheduled events after the load ended, not run", s.Missed)
	}
	fmt.Fprintln(w)
}
