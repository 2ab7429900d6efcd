package bench

import (
	"strings"
	"testing"
	"time"
)

func TestAddRefused(t *testing.T) {
	exposition := `# HELP awdaflow_awda_ratelimit_refused_total AWDA calls not sent
# TYPE awdaflow_awda_ratelimit_refused_total counter
awdaflow_awda_ratelimit_refused_total{class="read",reason="max_wait"} 12
awdaflow_awda_ratelimit_refused_total{class="write",otel_scope_name="x",reason="cancelled"} 1
awdaflow_awda_ratelimit_refused_totally{class="read",reason="max_wait"} 99
awdaflow_awda_calls_total{endpoint="/x",outcome="ok"} 5
`
	out := map[string]float64{}
	addRefused(strings.NewReader(exposition), out)
	addRefused(strings.NewReader(exposition), out) // a second worker
	if len(out) != 2 || out["class=read,reason=max_wait"] != 24 || out["class=write,reason=cancelled"] != 2 {
		t.Errorf("refused %v", out)
	}
}

func TestMaxInWindowAndBound(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	ts := at(0, 100, 999, 1000, 1500, 1999, 3000)
	// Windows are [t, t+1 s): 999, 1000 and 1500, or 1000, 1500 and 1999;
	// 999 and 1999 are a whole second apart.
	if got := maxInWindow(ts, time.Second); got != 3 {
		t.Errorf("max in 1 s = %d, want 3", got)
	}
	if got := maxInWindow(ts, 1001*time.Millisecond); got != 4 {
		t.Errorf("max in 1.001 s = %d, want 4", got)
	}
	if got := maxInWindow(nil, time.Second); got != 0 {
		t.Errorf("max in 1 s of nothing = %d", got)
	}
	if b := (RateLimit{PerSecond: 50, Burst: 10}).Bound(10 * time.Second); b != 510 {
		t.Errorf("bound %d, want 510", b)
	}
}
