package loansim

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// A storm family is one draw: its loans share tenor, jitter and
// disbursement day (so AWDA's due dates), have workflow IDs of their own,
// and script nothing between the start of a due date and 12 hours after its
// check window.
func TestGenerateStorm(t *testing.T) {
	for family := uint64(1); family <= 20; family++ {
		a, b := GenerateStorm(family, 50), GenerateStorm(family, 50)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("family %d: two draws", family)
		}
		refs := map[string]bool{}
		for _, s := range a {
			if s.Tenor != a[0].Tenor || s.Config != a[0].Config || refs[s.ApplicantRef] {
				t.Fatalf("family %d: %s differs in tenor or config, or repeats its ID", family, s.ApplicantRef)
			}
			refs[s.ApplicantRef] = true
			if p := Predict(s); p.Ambiguous != "" || p.Outcome != "SETTLED" {
				t.Fatalf("family %d, %s: model %+v", family, s.ApplicantRef, p)
			}
			j := s.Config.WithDefaults().DueCheckJitter
			for p := 1; p <= s.Tenor; p++ {
				start, check := dueWindow(stormDueDate(p))
				for _, e := range s.Events {
					if e.At >= start && e.At < check+j+12*time.Hour {
						t.Fatalf("family %d, %s: %s inside installment %d's window", family, s.ApplicantRef, e, p)
					}
				}
			}
		}
	}
}

// CheckStorm fails a family whose checks leave the window, differ within a
// loan, or bunch up (checks without jitter: all in one minute), and passes
// checks spread over the window.
func TestCheckStorm(t *testing.T) {
	date := stormDueDate(1)
	_, check := dueWindow(date)
	family := func(offset func(i int) time.Duration) []*Result {
		var rs []*Result
		for i := range 60 {
			s := &Scenario{Seed: uint64(i), Tenor: 1, Storm: 1}
			rs = append(rs, &Result{Scenario: s, Outcome: "SETTLED", Schedule: []awda.Installment{{Period: 1, DueDate: date}},
				Calls: []Call{{At: check + offset(i), Path: awda.PathLoanInfo}}})
		}
		return rs
	}
	spread := func(i int) time.Duration { return time.Duration(i) * 3 * time.Minute }
	for _, tc := range []struct {
		name   string
		offset func(int) time.Duration
		want   string // the invariant broken ("" none)
	}{
		{"spread over the window", spread, ""},
		{"no jitter: all at 01:00 WIB", func(int) time.Duration { return 0 }, InvDueSpread},
		{"all in ten minutes", func(i int) time.Duration { return time.Duration(i) * 10 * time.Second }, InvDueSpread},
		{"one before 01:00 WIB", func(i int) time.Duration { return spread(i) - time.Duration(map[bool]int{true: 1}[i == 0])*time.Minute }, InvDueWindow},
		{"one past the jitter", func(i int) time.Duration { return spread(i) + time.Duration(map[bool]int{true: 1}[i == 59])*time.Hour }, InvDueWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := family(tc.offset)
			fig, vs := CheckStorm(rs)
			for _, r := range rs {
				vs = append(vs, r.Violations...)
			}
			var got []string
			for _, v := range vs {
				got = append(got, v.Invariant)
			}
			if tc.want == "" && len(vs) > 0 || tc.want != "" && !strings.Contains(strings.Join(got, " "), tc.want) {
				t.Fatalf("violations %v, want %q (%s)", vs, tc.want, fig)
			}
		})
	}
	// A loan checked twice around one due date, or with two offsets.
	r := family(spread)[0]
	r.Calls = append(r.Calls, Call{At: check + time.Hour, Path: awda.PathLoanInfo})
	checkDue(r)
	if len(r.Violations) == 0 {
		t.Fatal("two checks of one due date passed")
	}
}
