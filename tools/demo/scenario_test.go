package demo_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/workflows"
)

func TestPlanIsDeterministicAndApportioned(t *testing.T) {
	a := demo.Plan(20, demo.DefaultMix, 1)
	b := demo.Plan(20, demo.DefaultMix, 1)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave two plans")
	}
	c := demo.Plan(20, demo.DefaultMix, 2)
	if reflect.DeepEqual(a, c) {
		t.Fatal("another seed gave the same order")
	}
	if !reflect.DeepEqual(demo.Count(a), demo.Count(c)) {
		t.Fatal("the seed changed the counts, not just the order")
	}
	// DefaultMix weighs 20 in all, so 20 applicants get the weights.
	got := demo.Count(a)
	want := map[demo.Scenario]int{}
	for s, w := range demo.DefaultMix {
		want[s] = int(w)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	// 7 applicants of a 20-weight mix: 3.5 happy, 0.7 authfail, overdue
	// and reject, 0.35 of the others. After the whole parts (3 happy), the
	// four places left go to the largest remainders: .7, .7, .7, then .5.
	seven := demo.Count(demo.Plan(7, demo.DefaultMix, 1))
	if want := map[demo.Scenario]int{demo.Happy: 4, demo.AuthFail: 1, demo.Overdue: 1, demo.Reject: 1}; !reflect.DeepEqual(seven, want) {
		t.Fatalf("7 applicants: %v, want %v", seven, want)
	}

	// Small runs still get the heaviest scenarios; every applicant gets one.
	for n := 1; n <= 60; n++ {
		p := demo.Plan(n, demo.Mix{demo.Happy: 3, demo.Reject: 1, demo.Ineligible: 1}, 9)
		c := demo.Count(p)
		if len(p) != n || c[demo.Happy]+c[demo.Reject]+c[demo.Ineligible] != n {
			t.Fatalf("n=%d: plan %v", n, c)
		}
		if want := float64(n) * 3 / 5; float64(c[demo.Happy]) < want-1 || float64(c[demo.Happy]) > want+1 {
			t.Fatalf("n=%d: %d happy, want about %.1f", n, c[demo.Happy], want)
		}
	}
	if demo.Plan(0, demo.DefaultMix, 1) != nil {
		t.Fatal("a plan for nobody")
	}
}

// Each scenario's applicant ref is a valid ref and carries exactly the
// sandbox marker that produces the scenario (README: ineligible, reject,
// authfail, disbursefail, overdue, manual).
func TestRefsCarryTheirMarkers(t *testing.T) {
	markers := []string{"ineligible", "reject", "authfail", "disbursefail", "overdue", "manual"}
	want := map[demo.Scenario]string{
		demo.Happy: "", demo.CardRetry: "", demo.AuthFail: "authfail", demo.Overdue: "overdue",
		demo.Reject: "reject", demo.Ineligible: "ineligible", demo.DisburseFail: "disbursefail", demo.Cancel: "manual",
	}
	expected := map[demo.Scenario]workflows.Stage{
		demo.Happy: workflows.StageSettled, demo.CardRetry: workflows.StageSettled, demo.AuthFail: workflows.StageSettled,
		demo.Overdue: workflows.StageSettled, demo.DisburseFail: workflows.StageSettled,
		demo.Reject: workflows.StageRejected, demo.Ineligible: workflows.StageIneligible, demo.Cancel: workflows.StageCancelled,
	}
	for _, sc := range demo.Scenarios {
		ref := demo.RefFor("demo-abc123", 41, sc)
		if !api.ValidRef(ref) || !strings.HasPrefix(ref, "demo-abc123-0042-") {
			t.Errorf("%s: ref %q", sc, ref)
		}
		var found []string
		for _, m := range markers {
			if strings.Contains(ref, m) {
				found = append(found, m)
			}
		}
		if w := want[sc]; (w == "" && len(found) != 0) || (w != "" && (len(found) != 1 || found[0] != w)) {
			t.Errorf("%s: ref %q has markers %v, want %q", sc, ref, found, w)
		}
		if sc.Expected() != expected[sc] {
			t.Errorf("%s: expected %s, want %s", sc, sc.Expected(), expected[sc])
		}
	}
}

func TestParseMix(t *testing.T) {
	m, err := demo.ParseMix(" happy=10, Reject=2.5 ,ineligible=0")
	if err != nil {
		t.Fatal(err)
	}
	if m[demo.Happy] != 10 || m[demo.Reject] != 2.5 || m[demo.Ineligible] != 0 || m.String() != "happy=10,reject=2.5" {
		t.Fatalf("mix %v (%s)", m, m)
	}
	for _, bad := range []string{"", "happy", "happy=x", "nobody=1", "happy=-1", "happy=0", "happy=NaN"} {
		if _, err := demo.ParseMix(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	back, err := demo.ParseMix(demo.DefaultMix.String())
	if err != nil || !reflect.DeepEqual(back, demo.DefaultMix) {
		t.Fatalf("DefaultMix does not round-trip: %v %v", back, err)
	}
}
