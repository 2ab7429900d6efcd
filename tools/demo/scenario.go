package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/awdaflow/awdaflow/workflows"
)

// Scenario is what happens to one applicant, and so how its loan must end.
type Scenario string

// Scenarios. The sandbox's autopilot reacts to markers in the partnerUserId
// (our applicant ref); see awda/sandbox/README.md.
const (
	// Happy walks every stage and repays every installment: SETTLED.
	Happy Scenario = "happy"
	// AuthFail's first authorization page of each type ends FAILED; the
	// workflow fetches fresh pages, which succeed: SETTLED.
	AuthFail Scenario = "authfail"
	// CardRetry's borrower first submits a card AWDA refuses (name
	// mismatch), then a good one: SETTLED.
	CardRetry Scenario = "cardretry"
	// Overdue's first installment goes OVERDUE before it is paid: SETTLED.
	Overdue Scenario = "overdue"
	// Reject is rejected at AWDA's review: REJECTED.
	Reject Scenario = "reject"
	// Ineligible fails AWDA's eligibility check: INELIGIBLE.
	Ineligible Scenario = "ineligible"
	// DisburseFail's first disbursement fails; the loan is stuck for
	// operations, who have AWDA disburse again (the sandbox admin API) and
	// send Retry (POST /v1/applications/{ref}/retry): SETTLED. Needs the
	// sandbox admin URL.
	DisburseFail Scenario = "disbursefail"
	// Cancel's borrower never completes the authorizations (the sandbox
	// leaves the user alone) and withdraws: CANCELLED.
	Cancel Scenario = "cancel"
)

// Scenarios lists every scenario, in display order.
var Scenarios = []Scenario{Happy, AuthFail, CardRetry, Overdue, Reject, Ineligible, DisburseFail, Cancel}

// Valid reports whether s is one of Scenarios.
func (s Scenario) Valid() bool { return slices.Contains(Scenarios, s) }

// Expected is the terminal stage an applicant of this scenario must reach.
func (s Scenario) Expected() workflows.Stage {
	switch s {
	case Reject:
		return workflows.StageRejected
	case Ineligible:
		return workflows.StageIneligible
	case Cancel:
		return workflows.StageCancelled
	}
	return workflows.StageSettled
}

// NeedsSandboxAdmin reports whether the scenario needs the sandbox admin API.
func (s Scenario) NeedsSandboxAdmin() bool { return s == DisburseFail }

// suffix ends the applicant ref: the scenario's name, which for every
// scenario but Cancel is also the sandbox marker that produces it (or, for
// Happy and CardRetry, no marker at all). Cancel needs "manual": the sandbox
// must leave the borrower's authorizations pending.
func (s Scenario) suffix() string {
	if s == Cancel {
		return "cancel-manual"
	}
	return string(s)
}

// sandboxMarkers are the substrings of a partnerUserId the sandbox reacts to.
var sandboxMarkers = []string{"ineligible", "reject", "authfail", "disbursefail", "overdue", "manual"}

// markerIn returns the first sandbox marker in s, or "".
func markerIn(s string) string {
	ls := strings.ToLower(s)
	for _, m := range sandboxMarkers {
		if strings.Contains(ls, m) {
			return m
		}
	}
	return ""
}

// RefFor is the applicant ref of the i-th applicant (from 0) of a run:
// prefix-0001-happy, prefix-0002-reject, … It is the AWDA partnerUserId, so
// its suffix carries the scenario's sandbox marker.
func RefFor(prefix string, i int, s Scenario) string {
	return fmt.Sprintf("%s-%04d-%s", prefix, i+1, s.suffix())
}

// DefaultMix is the scenario mix of a demo: mostly loans that settle, a few
// of every other story.
var DefaultMix = Mix{
	Happy: 10, AuthFail: 2, CardRetry: 1, Overdue: 2,
	Reject: 2, Ineligible: 1, DisburseFail: 1, Cancel: 1,
}

// Mix weighs scenarios; the weights need not add up to anything.
type Mix map[Scenario]float64

// ParseMix reads "happy=10,reject=2,…" (weights ≥ 0; unnamed scenarios
// weigh 0).
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		sc := Scenario(strings.ToLower(strings.TrimSpace(name)))
		if !ok || !sc.Valid() {
			return nil, fmt.Errorf("mix %q: want scenario=weight with a scenario among %s", part, scenarioNames())
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("mix %q: the weight must be a number ≥ 0", part)
		}
		m[sc] = v
	}
	if m.total() == 0 {
		return nil, fmt.Errorf("mix %q: no scenario has a weight", s)
	}
	return m, nil
}

func scenarioNames() string {
	names := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func (m Mix) total() float64 {
	t := 0.0
	for _, s := range Scenarios {
		if w := m[s]; w > 0 {
			t += w
		}
	}
	return t
}

// Without returns the mix without the scenarios that need the sandbox admin
// API.
func (m Mix) Without(drop func(Scenario) bool) Mix {
	out := Mix{}
	for s, w := range m {
		if !drop(s) {
			out[s] = w
		}
	}
	return out
}

// String prints the mix in ParseMix's form, in display order.
func (m Mix) String() string {
	var parts []string
	for _, s := range Scenarios {
		if w := m[s]; w > 0 {
			parts = append(parts, string(s)+"="+strconv.FormatFloat(w, 'g', -1, 64))
		}
	}
	return strings.Join(parts, ",")
}

// Plan gives n applicants their scenarios: as many of each as its weight's
// share of n (largest remainders, so a demo of 20 gets its few rejections
// rather than maybe none), in an order shuffled by seed. The same mix, n and
// seed always give the same plan.
func Plan(n int, m Mix, seed uint64) []Scenario {
	if n <= 0 {
		return nil
	}
	total := m.total()
	if total == 0 {
		m, total = Mix{Happy: 1}, 1
	}
	type share struct {
		s    Scenario
		n    int
		frac float64
		rank int
	}
	var shares []share
	given := 0
	for i, s := range Scenarios {
		w := m[s]
		if w <= 0 {
			continue
		}
		exact := float64(n) * w / total
		k := int(math.Floor(exact))
		shares = append(shares, share{s: s, n: k, frac: exact - float64(k), rank: i})
		given += k
	}
	// The remaining places go to the largest remainders; ties to the
	// scenario listed first.
	order := make([]int, len(shares))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := shares[order[a]], shares[order[b]]
		if x.frac != y.frac {
			return x.frac > y.frac
		}
		return x.rank < y.rank
	})
	for i := 0; given < n; i = (i + 1) % len(order) {
		shares[order[i]].n++
		given++
	}
	plan := make([]Scenario, 0, n)
	for _, sh := range shares {
		for range sh.n {
			plan = append(plan, sh.s)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x64656d6f706c616e)) // "demoplan"
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	return plan
}

// Count tallies a plan by scenario.
func Count(plan []Scenario) map[Scenario]int {
	c := map[Scenario]int{}
	for _, s := range plan {
		c[s]++
	}
	return c
}
