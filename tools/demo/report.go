package demo

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Percentile returns the p-th percentile (0–100, nearest rank) of the time
// to terminal of the applicants that reached outcome ("" for all), and how
// many there were.
func (s *Summary) Percentile(p float64, outcome string) (time.Duration, int) {
	var ds []time.Duration
	for _, r := range s.Results {
		if outcome == "" || r.Actual == outcome {
			ds = append(ds, r.Duration)
		}
	}
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	k := int(p/100*float64(len(ds)) + 0.999999)
	k = max(1, min(k, len(ds)))
	return ds[k-1], len(ds)
}

// WriteTable prints one line per applicant (ref, scenario, expected and
// actual outcome, time, what the borrower and ops did, the reason of a
// mismatch), then the totals per scenario.
func (s *Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "APPLICANT\tSCENARIO\tTENOR\tEXPECTED\tACTUAL\tTIME\tCARDS\tRETRIES\tLOAN\tNOTE")
	for _, r := range s.Results {
		mark := "ok"
		if !r.OK() {
			mark = "MISMATCH: " + oneLine(r.Reason, 80)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d %s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.Ref, r.Scenario, r.Tenor, r.TenorUnit,
			r.Expected, r.Actual, r.Duration.Round(100*time.Millisecond), r.CardAttempts, r.Retries, orDash(r.LoanNo), mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	type tally struct{ n, ok int }
	per := map[Scenario]*tally{}
	for _, r := range s.Results {
		t := per[r.Scenario]
		if t == nil {
			t = &tally{}
			per[r.Scenario] = t
		}
		t.n++
		if r.OK() {
			t.ok++
		}
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tEXPECTED\tAPPLICANTS\tAS EXPECTED")
	total, ok := 0, 0
	for _, sc := range Scenarios {
		if t := per[sc]; t != nil {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", sc, sc.Expected(), t.n, t.ok)
			total += t.n
			ok += t.ok
		}
	}
	fmt.Fprintf(tw, "all\t\t%d\t%d\n", total, ok)
	if err := tw.Flush(); err != nil {
		return err
	}
	p50, n := s.Percentile(50, "SETTLED")
	p95, _ := s.Percentile(95, "SETTLED")
	fmt.Fprintf(w, "\n%d applicants in %s (run %s); %d settled, p50 %s, p95 %s to SETTLED\n",
		len(s.Results), s.Elapsed.Round(100*time.Millisecond), s.RunID, n, p50.Round(100*time.Millisecond), p95.Round(100*time.Millisecond))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}
