package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/tools/stack"
)

// refusedMetric is internal/ratelimit's refusal counter as Prometheus
// shows it (ratelimit.RefusedName).
const refusedMetric = "awdaflow_awda_ratelimit_refused_total"

// scrapeRefused sums the refusal counters of every worker, by their label
// set (class and reason). A worker that cannot be read is left out.
func scrapeRefused(ctx context.Context, s *stack.Stack) map[string]float64 {
	out := map[string]float64{}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, u := range s.WorkerURLs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/metrics", nil)
		if err != nil {
			continue
		}
		res, err := hc.Do(req)
		if err != nil {
			continue
		}
		addRefused(res.Body, out)
		res.Body.Close()
	}
	return out
}

// addRefused adds the refusal counters of one Prometheus text exposition
// to out, keyed by their labels ("class=read,reason=max_wait").
func addRefused(r io.Reader, out map[string]float64) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, refusedMetric+"{") {
			continue
		}
		labels, value, ok := strings.Cut(strings.TrimPrefix(line, refusedMetric+"{"), "} ")
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if !ok || err != nil {
			continue
		}
		var keep []string
		for _, kv := range strings.Split(labels, ",") {
			if k, _, _ := strings.Cut(kv, "="); k == "class" || k == "reason" {
				keep = append(keep, strings.ReplaceAll(kv, `"`, ""))
			}
		}
		out[strings.Join(keep, ",")] += v
	}
}

// WriteMarkdown writes the result as the section docs/benchmarks.md keeps.
func (r *DueResult) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| loans at REPAYMENT, all due the same day | %d of %d (%d failed), in %s |\n", r.Parked, r.N, r.Failures, secs(r.ParkTime))
	fmt.Fprintf(&b, "| SETTLED after the due moment | %d of %d, the last %s after it |\n", r.Settled, r.Parked, secs(r.SettleTime))
	fmt.Fprintf(&b, "| worker replicas sharing the limit | %d |\n", r.Workers)
	fmt.Fprintf(&b, "\n| class | limit (per s, burst) | calls (run) | calls after the due moment | max in 1 s at the sandbox | max in 1 s (audit) | bound 1 s | max in 10 s (audit) | bound 10 s |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range awda.RateClasses {
		cr := r.Rates[c]
		if cr == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d/s, %d | %d | %d | %d | %d | %d | %d | %d |\n", c, cr.Limit.PerSecond, cr.Limit.Burst, cr.Calls, r.DueCalls[c],
			cr.SandboxMax1s, cr.AuditMax1s, cr.Limit.Bound(time.Second), cr.AuditMax10s, cr.Limit.Bound(10*time.Second))
	}
	if len(r.Refused) > 0 {
		fmt.Fprintf(&b, "\nRefused by the limiter (not sent; retried by Temporal), over both workers:")
		for k, v := range r.Refused {
			fmt.Fprintf(&b, " %s: %.0f;", k, v)
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
