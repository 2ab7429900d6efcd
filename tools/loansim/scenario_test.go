package loansim

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/workflows"
)

func TestGenerateIsDeterministic(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		a, b := Generate(seed), Generate(seed)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two scenarios", seed)
		}
		if !reflect.DeepEqual(Predict(a), Predict(b)) {
			t.Fatalf("seed %d: two predictions", seed)
		}
	}
	if reflect.DeepEqual(Generate(1).Events, Generate(2).Events) {
		t.Fatal("seeds 1 and 2 drew the same script")
	}
}

func TestGenerateCoversTheIssuesList(t *testing.T) {
	kinds := map[Kind]int{}
	outcomes := map[workflows.Stage]int{}
	var maxSpan time.Duration
	faults := map[string]int{}
	ambiguous := 0
	for seed := uint64(1); seed <= 1000; seed++ {
		s := Generate(seed)
		for i, e := range s.Events {
			kinds[e.Kind]++
			if i > 0 && e.At < s.Events[i-1].At {
				t.Fatalf("seed %d: events out of order", seed)
			}
			if e.Fault != nil {
				switch {
				case e.Fault.Lost:
					faults["lost"]++
				case e.Fault.Outage:
					faults["outage"]++
				default:
					faults["codes"]++
				}
			}
			if e.CAN && e.Kind == KPush {
				faults["push+CAN"]++
			}
		}
		maxSpan = max(maxSpan, s.Span())
		p := Predict(s)
		if p.Ambiguous != "" {
			ambiguous++
		}
		outcomes[p.Outcome]++
	}
	for _, k := range []Kind{KAuthorize, KCard, KCardResolve, KBadCard, KStatus, KPay, KOverdue, KSettleAll, KPush, KSign, KBadSign, KCancel, KRetry, KAbandon, KFault, KRestore, KForceCAN} {
		if kinds[k] == 0 {
			t.Errorf("no %s event in 1000 seeds", k)
		}
	}
	for _, o := range []workflows.Stage{workflows.StageSettled, workflows.StageRejected, workflows.StageIneligible, workflows.StageExpired, workflows.StageCancelled, workflows.StageFailed} {
		if outcomes[o] == 0 {
			t.Errorf("no %s outcome predicted in 1000 seeds", o)
		}
	}
	for _, f := range []string{"lost", "outage", "codes", "push+CAN"} {
		if faults[f] == 0 {
			t.Errorf("no %s fault in 1000 seeds", f)
		}
	}
	if maxSpan < 600*day {
		t.Errorf("the longest scenario spans %s, want close to 2 years", maxSpan)
	}
	if ambiguous > 10 {
		t.Errorf("%d ambiguous scenarios left after redrawing", ambiguous)
	}
	t.Logf("outcomes %v, longest %.0f days, faults %v", outcomes, maxSpan.Hours()/24, faults)
}

// script helpers for model tests.
func story(evs ...Event) *Scenario {
	base := []Event{{At: time.Minute, Kind: KAuthorize}, {At: 2 * time.Minute, Kind: KCard, Card: &Card{Bank: "BCA", AccountNo: "1234567890", Verdict: awda.CardBound}}}
	return &Scenario{Seed: 1, Tenor: 1, Events: append(base, evs...)}
}

func st(at time.Duration, s awda.LoanStatus, id string, pushed bool) []Event {
	evs := []Event{{At: at, Kind: KStatus, Status: s, EventID: id}}
	if pushed {
		evs = append(evs, Event{At: at, Kind: KPush, Status: s, EventID: id})
	}
	return evs
}

func cat(parts ...[]Event) []Event {
	var out []Event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestModel(t *testing.T) {
	h := time.Hour
	for _, tc := range []struct {
		name string
		s    *Scenario
		want workflows.Stage
		at   time.Duration
	}{
		{"never authorizes", &Scenario{}, workflows.StageExpired, authDeadline},
		{"rejected", story(st(h, awda.LoanRejected, "e1", true)...), workflows.StageRejected, h},
		{"rejected, push lost: seen by a poll", story(st(h, awda.LoanRejected, "e1", false)...), workflows.StageRejected, h + obsBound},
		{"cancel in review", story(Event{At: 5 * h, Kind: KCancel}), workflows.StageCancelled, 5 * h},
		{"review past the deadline, abandoned", story(Event{At: 15 * day, Kind: KAbandon}), workflows.StageFailed, 15 * day},
		{"abandon while not stuck is ignored", story(cat(
			[]Event{{At: h, Kind: KAbandon}}, st(2*h, awda.LoanRejected, "e1", true))...), workflows.StageRejected, 2 * h},
		{"cancel after signing is refused", story(cat(
			st(h, awda.LoanApproved, "e1", true), []Event{{At: 2 * h, Kind: KSign}, {At: 3 * h, Kind: KCancel}},
			st(4*h, awda.LoanCancelled, "e2", true))...), workflows.StageCancelled, 4 * h},
		{"disburse failed, retried, disbursed, settled", story(cat(
			st(h, awda.LoanApproved, "e1", true), []Event{{At: 2 * h, Kind: KSign}},
			st(3*h, awda.LoanDisburseFailed, "e2", true), []Event{{At: 5 * day, Kind: KRetry}},
			st(9*day, awda.LoanDisbursed, "e3", false), st(40*day, awda.LoanSettled, "e4", true))...), workflows.StageSettled, 40 * day},
		{"disburse failed, abandoned", story(cat(
			st(h, awda.LoanApproved, "e1", true), []Event{{At: 2 * h, Kind: KSign}},
			st(3*h, awda.LoanDisburseFailed, "e2", true), []Event{{At: 5 * day, Kind: KAbandon}})...), workflows.StageFailed, 5 * day},
		{"approval parked at the review deadline resumes by itself", story(cat(
			st(16*day, awda.LoanApproved, "e1", true), []Event{{At: 17 * day, Kind: KSign}},
			st(18*day, awda.LoanCancelled, "e2", true))...), workflows.StageCancelled, 18 * day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Predict(tc.s)
			if p.Ambiguous != "" || p.Outcome != tc.want || p.EndAt != tc.at {
				t.Fatalf("got %+v, want %s at %s", p, tc.want, tc.at)
			}
		})
	}
	// A cancel a moment after a lost REJECTED cannot be called.
	p := Predict(story(cat(st(h, awda.LoanRejected, "e1", false), []Event{{At: 2 * h, Kind: KCancel}})...))
	if p.Ambiguous == "" {
		t.Fatalf("got %+v, want ambiguous", p)
	}
}

// The PII inspector must see plain text where there is some: with the
// default (unencrypted) converter it finds the borrower's name.
func TestInspectorFindsPlainPII(t *testing.T) {
	plain := newInspector(converter.GetDefaultDataConverter(), []string{"Siti Rahmawati 123"})
	if _, err := plain.ToPayloads(map[string]string{"name": "Siti Rahmawati 123"}); err != nil {
		t.Fatal(err)
	}
	if _, n, leaks, _ := plain.findings(); n != 1 || len(leaks) != 1 {
		t.Fatalf("plain converter: %d unencrypted, leaks %v", n, leaks)
	}
	enc := newInspector(codec.NewDataConverter(ring()), []string{"Siti Rahmawati 123"})
	if _, err := enc.ToPayloads(map[string]string{"name": "Siti Rahmawati 123"}); err != nil {
		t.Fatal(err)
	}
	if _, n, leaks, _ := enc.findings(); n != 0 || len(leaks) != 0 {
		t.Fatalf("codec converter: %d unencrypted, leaks %v", n, leaks)
	}
	logs := logger{plain}
	logs.Info("Stage", "Name", "Siti Rahmawati 123")
	if _, _, _, n := plain.findings(); n != 1 || strings.Contains(plain.leaks[0], "Siti") {
		t.Fatalf("log leaks %d, finding %q", n, plain.leaks[0])
	}
}

// AWDA's own state only moves forward: only its pushes may come late, out
// of order, twice or never (seed 1096 drew DISBURSING after DISBURSED).
func TestGenerateAWDAMovesForward(t *testing.T) {
	for seed := uint64(1); seed <= 10000; seed++ {
		s := Generate(seed)
		var cur awda.LoanStatus
		for _, e := range s.Events {
			switch e.Kind {
			case KStatus, KPay, KOverdue, KSettleAll:
			default:
				continue
			}
			if !forward(cur, e.Status) {
				t.Errorf("seed %d: AWDA moves the loan from %s to %s at %s", seed, cur, e.Status, fmtDur(e.At))
				break
			}
			cur = e.Status
		}
	}
}

// A generated AWDA outage ends before the test environment's 10 attempts of
// a read are spent (see maxOutage), and a busy storm has fewer answers than
// that: the simulator parks a loan only where production would too.
func TestGenerateOutagesWithinTenAttempts(t *testing.T) {
	cfg := workflows.Config{}.WithDefaults()
	cover, wait := cfg.ReadBudget, time.Second
	for range 10 - 1 { // the pauses between ten attempts
		cover += wait
		wait = min(2*wait, cfg.MaxRetryInterval)
	}
	if maxOutage >= cover {
		t.Fatalf("maxOutage %s, ten attempts cover %s", maxOutage, cover)
	}
	for seed := uint64(1); seed <= 10000; seed++ {
		s := Generate(seed)
		down := map[string]time.Duration{}
		for _, e := range s.Events {
			switch {
			case e.Kind == KFault && e.Fault.Outage:
				down[e.Fault.Path] = e.At
			case e.Kind == KRestore:
				if d := e.At - down[e.Fault.Path]; d > maxOutage {
					t.Errorf("seed %d: %s down for %s", seed, e.Fault.Path, d)
				}
				delete(down, e.Fault.Path)
			case e.Kind == KFault && len(e.Fault.Codes) >= 10:
				t.Errorf("seed %d: %d busy answers on %s", seed, len(e.Fault.Codes), e.Fault.Path)
			}
		}
		if len(down) > 0 {
			t.Errorf("seed %d: an outage never ends: %v", seed, down)
		}
	}
}

// Forgeries come on top of the main story: a seed not chosen (ForgeShare)
// has the script it always had, and a chosen one has every event of it, in
// order, with forged pushes, the outages around them, and forged pushes
// attached to its real ones added.
func TestForgeriesKeepTheMainStory(t *testing.T) {
	chosen, changed := 0, 0
	modes := map[string]int{}
	for seed := uint64(1); seed <= 2000; seed++ {
		main, s := mainStory(seed), Generate(seed)
		if !forged(seed) {
			if !reflect.DeepEqual(main, s) {
				t.Fatalf("seed %d: not chosen for forgeries, yet its script changed", seed)
			}
			continue
		}
		chosen++
		k := 0
		for _, e := range s.Events {
			if e.Forge != nil {
				modes["with a push"]++
				if e.Kind == KPush && e.Forge.First {
					modes["forged first"]++
				}
			}
			if e.Kind == KForge {
				modes["alone"]++
				if e.CAN {
					modes["with the suggestion"]++
				}
				if _, down := downUntil(outages(s.Events), e.At); down {
					modes["during an outage"]++
				}
			}
			if e.Kind == KPush && e.Status.Terminal() {
				if _, down := downUntil(outages(s.Events), e.At); down {
					modes["AWDA's final push during an outage"]++
				}
			}
			e.Forge = nil
			if k < len(main.Events) && reflect.DeepEqual(e, main.Events[k]) {
				k++
			}
		}
		if k != len(main.Events) {
			t.Fatalf("seed %d: the forged script lost the main story's event %d (%s)", seed, k, main.Events[k])
		}
		if p, q := Predict(s), Predict(main); p.Ambiguous != "" {
			t.Errorf("seed %d: ambiguous with its forgeries: %s", seed, p.Ambiguous)
		} else if p.Outcome != q.Outcome {
			changed++ // a forgery's read may tell the workflow of a change sooner
			t.Logf("seed %d: %s with its forgeries, %s without", seed, p.Outcome, q.Outcome)
		}
	}
	if share := float64(chosen) / 2000; share < ForgeShare-0.05 || share > ForgeShare+0.05 {
		t.Errorf("%.2f of the seeds carry forgeries, want about %.2f", share, ForgeShare)
	}
	for _, m := range []string{"alone", "with a push", "forged first", "with the suggestion", "during an outage", "AWDA's final push during an outage"} {
		if modes[m] == 0 {
			t.Errorf("no forged push %s in 2000 seeds", m)
		}
	}
	t.Logf("%d seeds with forgeries, %d of them with another outcome: %v", chosen, changed, modes)
}

// The model of a forged push: it changes nothing by itself; after
// submission its confirmation read tells the workflow what AWDA holds (a
// lost APPROVED is seen at once); before submission nothing is read. AWDA's
// own final push while loan/info is down ends the loan once loan/info
// answers again, not before.
func TestModelForged(t *testing.T) {
	h := time.Hour
	forge := func(at time.Duration, s awda.LoanStatus) Event {
		return Event{At: at, Kind: KForge, Status: s, EventID: "forged-01"}
	}
	down := func(from, to time.Duration) []Event {
		return []Event{{At: from, Kind: KFault, Fault: &Fault{Path: awda.PathLoanInfo, Outage: true}}, {At: to, Kind: KRestore, Fault: &Fault{Path: awda.PathLoanInfo}}}
	}
	for _, tc := range []struct {
		name      string
		s         *Scenario
		want      workflows.Stage
		at        time.Duration
		notBefore time.Duration
	}{
		{"forged SETTLED in review changes nothing", story(cat(
			[]Event{forge(2*h, awda.LoanSettled)}, st(5*h, awda.LoanRejected, "e1", true))...), workflows.StageRejected, 5 * h, 0},
		{"a forged push's read sees a lost REJECTED", story(cat(
			st(2*h, awda.LoanRejected, "e1", false), []Event{forge(4*h, awda.LoanSettled)})...), workflows.StageRejected, 4 * h, 0},
		{"forged push before submission: nothing read", &Scenario{Seed: 1, Tenor: 1, Events: []Event{forge(h, awda.LoanCancelled)}}, workflows.StageExpired, authDeadline, 0},
		{"forged push during an outage: read when loan/info answers", story(cat(
			st(2*h, awda.LoanRejected, "e1", false), down(4*h, 4*h+2*time.Minute), []Event{forge(4*h+time.Minute, awda.LoanSettled)})...), workflows.StageRejected, 4*h + 2*time.Minute, 0},
		{"AWDA's REJECTED pushed during an outage ends the loan when loan/info answers", story(cat(
			down(3*h-time.Minute, 3*h+time.Minute), st(3*h, awda.LoanRejected, "e1", true))...), workflows.StageRejected, 3*h + time.Minute, 3*h + time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slices.SortStableFunc(tc.s.Events, func(a, b Event) int { return int(a.At - b.At) })
			p := Predict(tc.s)
			if p.Ambiguous != "" || p.Outcome != tc.want || p.EndAt != tc.at || p.NotBefore != tc.notBefore {
				t.Fatalf("got %+v, want %s at %s, not before %s", p, tc.want, tc.at, tc.notBefore)
			}
		})
	}
	// A change at AWDA right after a forged push: the read may or may not see it.
	p := Predict(story(cat([]Event{forge(4*h, awda.LoanSettled)}, st(4*h+10*time.Minute, awda.LoanRejected, "e1", false))...))
	if p.Ambiguous == "" {
		t.Fatalf("got %+v, want ambiguous", p)
	}
}
