package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/tools/stack"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/awdaflow/awdaflow/awda
BenchmarkSignHMAC-2             	  827415	      1378 ns/op	     640 B/op	       8 allocs/op
BenchmarkEncodeSignSubmit/HMAC-2         	  140725	      9155 ns/op	       907.0 body-bytes	    2833 B/op	      25 allocs/op
PASS
`
	got, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []ClientBench{{"SignHMAC", 1378, 640, 8}, {"EncodeSignSubmit/HMAC", 9155, 2833, 25}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSummarise(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := Summarise(ds)
	if l.N != 100 || l.P50 != 50*time.Millisecond || l.P95 != 95*time.Millisecond || l.P99 != 99*time.Millisecond ||
		l.Max != 100*time.Millisecond || l.Mean != 50500*time.Microsecond {
		t.Fatalf("%+v", l)
	}
	if ds[0] != 100*time.Millisecond {
		t.Fatal("Summarise sorted its argument")
	}
	if (Summarise(nil) != Latency{}) {
		t.Fatal("empty input")
	}
}

func TestEvaluateAndMarkdown(t *testing.T) {
	dev := &LoanPhase{Server: ServerDev,
		Loans: &LoadResult{N: 10, Completed: 10, PerSecond: 3,
			CPU: map[string]time.Duration{"temporal": 2 * time.Second, "worker": 500 * time.Millisecond, "benchworker": time.Millisecond}},
		Baseline:  &LoadResult{N: 10, Completed: 10, PerSecond: 4, CPU: map[string]time.Duration{"temporal": time.Second, "benchworker": 300 * time.Millisecond}},
		LoanRatio: 0.75,
		History:   &HistoryCost{Loans: 10, Events: Spread{90, 100, 201}, Shape: "LASU"},
	}
	real := &LoanPhase{Server: ServerReal,
		Loans: &LoadResult{N: 10, Completed: 5, PerSecond: 2,
			CPU: map[string]time.Duration{"temporal-server": 3 * time.Second, "worker": 500 * time.Millisecond, "worker#2": 500 * time.Millisecond}},
		Baseline:  &LoadResult{N: 10, Completed: 10, PerSecond: 2.4, CPU: map[string]time.Duration{"temporal-server": 2 * time.Second}},
		LoanRatio: 0.83,
		History:   &HistoryCost{Loans: 5, Events: Spread{90, 100, 110}, Shape: "LASU"},
	}
	r := &Results{
		LoanPhases:   []*LoanPhase{dev, real},
		Webhooks:     &BlastResult{N: 100, PerSecond: 800, Latency: Latency{P99: 15 * time.Millisecond}, ByKind: map[string]int{"known": 70}},
		WebhooksBare: []*BlastResult{{PerSecond: 1000}, {PerSecond: 1000}},
		WebhookRatio: 0.8,
		Parked:       &ParkResult{N: 5, Parked: 5, Worker: stack.Memory{RSS: 299 << 20}},
	}
	r.Evaluate()
	met := map[string]bool{}
	for _, tg := range r.Targets {
		met[tg.Name] = tg.Met
	}
	if met["loan throughput, ours / baseline, dev server"] || !met["loan throughput, ours / baseline, real server"] ||
		met["history events per happy-path loan (max), dev server"] || !met["history events per happy-path loan (max), real server"] ||
		!met["webhook throughput, ours / bare"] || !met["webhook p99 (ours)"] || !met["worker RSS with 5 parked loans"] || len(met) != 7 {
		t.Fatalf("targets %+v", r.Targets)
	}
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := r.AppendMarkdown(path); err != nil {
		t.Fatal(err)
	}
	if err := r.AppendMarkdown(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	s := string(b)
	if !strings.HasPrefix(s, markdownHeader) || strings.Count(s, "# Benchmarks") != 1 || strings.Count(s, "| loans per second | 3.00 | 4.00 | **0.75** |") != 2 ||
		strings.Count(s, "| loans per second | 2.00 | 2.40 | **0.83** |") != 2 {
		t.Fatalf("markdown:\n%s", s)
	}
	// Side by side: one row per server, and CPU-ms per loan with the real
	// server's binary under "temporal" and the replicas summed; the
	// benchworker's idle millisecond in our rounds is under the threshold.
	for _, want := range []string{
		"| dev server | 3.00 | 4.00 | **0.75** | 0.00 s / 0.00 s | 0.250 / 0.130 | 0.52 |",
		"| real server | 2.00 | 2.40 | **0.83** | 0.00 s / 0.00 s | 0.800 / 0.200 | 0.25 |",
		"| CPU-ms per loan | dev server: ours | dev server: baseline | real server: ours | real server: baseline |",
		"| benchworker | – | 30 | – | – |",
		"| temporal | 200 | 100 | 600 | 200 |",
		"| worker | 50 | – | 200 | – |",
		"| total | 250 | 130 | 800 | 200 |",
	} {
		if strings.Count(s, want) != 2 {
			t.Fatalf("want %q in each section:\n%s", want, s)
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

func sat(c int, perSecond float64, elapsed time.Duration, cpu map[string]time.Duration) SaturationStep {
	return SaturationStep{Concurrency: c, Loans: &LoadResult{N: 40, Completed: 40, PerSecond: perSecond, Elapsed: elapsed, CPU: cpu}, Load: 3}
}

func TestSaturationKneeAndBottleneck(t *testing.T) {
	s := &Saturation{Server: ServerReal, Steps: []SaturationStep{
		sat(10, 2, 10*time.Second, map[string]time.Duration{"temporal-server": 6 * time.Second, "worker": 2 * time.Second}),
		sat(25, 4, 10*time.Second, map[string]time.Duration{"temporal-server": 12 * time.Second, "worker": 4 * time.Second, "postgres": 2 * time.Second}),
		// +5 %: no longer growing, so the knee is the step before.
		sat(50, 4.2, 10*time.Second, map[string]time.Duration{"temporal-server": 13 * time.Second, "worker": 4 * time.Second, "postgres": 2 * time.Second}),
		sat(100, 5, 10*time.Second, map[string]time.Duration{"temporal-server": 14 * time.Second}),
	}}
	// The step at 100 is the best: the verdict names it beside the knee.
	s.Analyse(2)
	if s.idleCores() != 0 {
		t.Fatal("no idle reading: nothing to take off")
	}
	if !s.Saturated || s.Knee != 1 || s.Bottleneck != "temporal" || s.Share < 0.666 || s.Share > 0.667 || s.BusyCores != 1.8 ||
		s.CPUPerLoan != 450*time.Millisecond || s.Ceiling < 4.44 || s.Ceiling > 4.45 {
		t.Fatalf("%+v", s)
	}
	v := s.Verdict()
	for _, want := range []string{"Saturates at ~4.00 loans/s at concurrency 25 (concurrency 50 gave 4.20 loans/s; the best step, concurrency 100, 5.00)",
		"the temporal process uses 67 % of our processes' CPU", "1.80 of the machine's 2 cores busy", "the cores are the limit",
		"A loan costs 0.45 CPU-seconds there beyond the 0.00 cores our processes burn idle: the 2 cores, ours alone, would give at most ~4.4 loans/s"} {
		if !strings.Contains(v, want) {
			t.Fatalf("verdict %q lacks %q", v, want)
		}
	}

	// What the processes burn idle comes off the cost of a loan and off
	// the cores a loan can use: 0.2 cores over the 10 s step is 2 s of the
	// 18 s, so (18-2)/40 = 0.4 s a loan, and (2-0.2)/0.4 = 4.5 loans/s.
	s.Idle, s.IdleFor = map[string]time.Duration{"temporal-server": time.Second, "postgres": time.Second}, 10*time.Second
	s.Analyse(2)
	if s.CPUPerLoan != 400*time.Millisecond || s.Ceiling < 4.49 || s.Ceiling > 4.51 {
		t.Fatalf("with idle: %+v", s)
	}
	var idle strings.Builder
	(&Results{Saturation: s}).writeSaturation(&idle)
	if !strings.Contains(idle.String(), "Idle, before the steps (10s with no loan in flight): 0.20 cores busy (postgres 1.0 s, temporal-server 1.0 s).") ||
		!strings.Contains(idle.String(), "A loan costs 0.40 CPU-seconds there beyond the 0.20 cores our processes burn idle") {
		t.Fatalf("idle:\n%s", idle.String())
	}

	// Still growing at the last step: the best step, not saturated, and
	// idle cores are not called the limit.
	s = &Saturation{Server: ServerReal, Steps: []SaturationStep{
		sat(10, 2, 10*time.Second, map[string]time.Duration{"worker": 3 * time.Second, "temporal": 2 * time.Second}),
		sat(25, 3, 10*time.Second, map[string]time.Duration{"worker": 5 * time.Second, "temporal": 4 * time.Second}),
	}}
	s.Analyse(2)
	v = s.Verdict()
	if s.Saturated || s.Knee != 1 || s.Bottleneck != "worker" || !strings.Contains(v, "Not saturated by concurrency 25") || strings.Contains(v, "the cores are the limit") {
		t.Fatalf("%+v: %s", s, v)
	}
	var b strings.Builder
	(&Results{Saturation: s}).writeSaturation(&b)
	if !strings.Contains(b.String(), "| 25 | 40 / 40 | 3.00 |") || !strings.Contains(b.String(), "| 0.90 | 3.0 | temporal 4.0 s, worker 5.0 s |") {
		t.Fatalf("table:\n%s", b.String())
	}
	if (&Saturation{}).Verdict() != "no step completed" {
		t.Fatal("empty saturation")
	}
}

// The header written into a new docs file is the one the repository's
// docs/benchmarks.md starts with.
func TestMarkdownHeaderMatchesDocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "benchmarks.md"))
	if err != nil {
		t.Skip("no docs/benchmarks.md")
	}
	if !strings.HasPrefix(string(b), markdownHeader) {
		t.Fatal("docs/benchmarks.md does not start with markdownHeader")
	}
}

func TestNotificationsMix(t *testing.T) {
	var events []sandbox.Event
	for i := range 20 {
		events = append(events, sandbox.Event{Kind: "loan", Loan: &awda.LoanStatusEvent{
			EventID: "evt_" + string(rune('a'+i)), EventType: awda.EventTypeLoanStatus, LoanNo: "LN1", OrderNo: "AF1", UserID: "u1",
			Status: awda.LoanRepaying, OccurredAt: 1}})
	}
	events = append(events, sandbox.Event{Kind: "loan", Loan: &awda.LoanStatusEvent{EventID: "other", LoanNo: "LN2"}})
	ns, err := Notifications(events, map[string]bool{"LN1": true}, 10000, 7)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	ids := map[string]bool{}
	for _, n := range ns {
		kinds[n.Kind]++
		ev, err := awda.ParseLoanStatusEvent(n.Body)
		if err != nil {
			t.Fatalf("%s body does not parse: %v", n.Kind, err)
		}
		switch n.Kind {
		case "known":
			if ev.LoanNo != "LN1" || ids[ev.EventID] || !strings.HasPrefix(ev.EventID, "bench-") {
				t.Fatalf("known: %+v", ev)
			}
			ids[ev.EventID] = true
		case "redelivery":
			if ev.LoanNo != "LN1" || !strings.HasPrefix(ev.EventID, "evt_") || ev.OccurredAt != 1 {
				t.Fatalf("redelivery: %+v", ev)
			}
		case "unknown":
			if ev.LoanNo == "LN1" || ev.OrderNo == "AF1" || ids[ev.EventID] {
				t.Fatalf("unknown: %+v", ev)
			}
			ids[ev.EventID] = true
		}
	}
	for k, share := range map[string]float64{"known": MixKnown, "redelivery": MixRedelivery, "unknown": MixUnknown} {
		if got := float64(kinds[k]) / 10000; got < share-0.02 || got > share+0.02 {
			t.Errorf("%s: %.3f of the notifications, want about %.2f", k, got, share)
		}
	}
	if _, err := Notifications(events, map[string]bool{"LN9": true}, 10, 1); err == nil {
		t.Fatal("no events of the loans: want an error")
	}
}

func TestMergeRounds(t *testing.T) {
	a := &LoadResult{N: 2, Completed: 2, Elapsed: time.Second, Rounds: 1, CPU: map[string]time.Duration{"temporal": time.Second},
		Outcomes: map[string]int{"SETTLED": 2}, e2e: []time.Duration{1, 2}, wf: []time.Duration{10, 20}}
	b := &LoadResult{N: 3, Completed: 2, Elapsed: 3 * time.Second, Rounds: 1, CPU: map[string]time.Duration{"temporal": 2 * time.Second, "worker": time.Second},
		Outcomes: map[string]int{"SETTLED": 2, "TIMEOUT": 1}, e2e: []time.Duration{3, 4}, wf: []time.Duration{30, 40}}
	m := Merge(a, nil, b)
	if m.N != 5 || m.Completed != 4 || m.Elapsed != 4*time.Second || m.PerSecond != 1 || m.Rounds != 2 ||
		m.CPU["temporal"] != 3*time.Second || m.CPU["worker"] != time.Second || m.Outcomes["SETTLED"] != 4 || m.Outcomes["TIMEOUT"] != 1 ||
		m.EndToEnd.N != 4 || m.EndToEnd.Max != 4 || m.Workflow.P50 != 20 || m.Workflow.Max != 40 {
		t.Fatalf("%+v", m)
	}
}
