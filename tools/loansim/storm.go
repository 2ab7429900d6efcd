package loansim

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// A due-date storm (issue 13): a family of loans disbursed on the same day,
// so that AWDA's schedule gives them the same due dates, each with its own
// workflow ID. A loan that has no news of an installment by its due date
// asks AWDA at 01:00 WIB the next day plus its jitter, an offset in
// [0, DueCheckJitter) drawn from the workflow ID. The simulator runs one
// loan per environment; CheckStorm looks at the family's due-date checks
// together.

// wib is the zone AWDA's due dates fall in.
var wib = time.FixedZone("WIB", 7*3600)

// stormSeed is the seed of loan i of family: apart from every generated
// seed (below 2⁴⁰), it seeds the loan's AWDA sandbox.
func stormSeed(family uint64, i int) uint64 { return 1<<40 | family<<20 | uint64(i) }

// GenerateStorm returns family's n loans. The family draws the tenor (1 to
// 3 months) and the jitter (the default 3 h, 1 h or 6 h); each loan is
// approved, signed and disbursed on the same day (in WIB), and each of its
// installments is paid early with the push delivered (no due-date check),
// early with the push lost (the check finds it paid), or days after the
// check (the check finds it unpaid; the push follows). Some loans continue
// as new before a due date. No event falls between the start of a due date
// (WIB) and its check window's end plus a day: AWDA calls there are the
// due-date checks.
func GenerateStorm(family uint64, n int) []*Scenario {
	fr := rand.New(rand.NewPCG(family, 0x570A3))
	tenor := 1 + fr.IntN(3)
	jitter := pick(fr, []time.Duration{0, 0, time.Hour, 6 * time.Hour})
	disbDay := day + time.Hour // d001 03:00 UTC, 10:00 WIB
	out := make([]*Scenario, n)
	for i := range out {
		g := &gen{r: rand.New(rand.NewPCG(family, uint64(i)+1)), tenor: tenor}
		s := &Scenario{
			Seed: stormSeed(family, i), Applicant: g.applicant(), Tenor: tenor, Storm: family,
			ApplicantRef: fmt.Sprintf("storm-%d-%03d", family, i),
			Config:       workflows.Config{DueCheckJitter: jitter},
		}
		g.add(Event{At: time.Minute, Kind: KAuthorize})
		g.add(Event{At: 2 * time.Minute, Kind: KCard, Card: g.card(awda.CardBound)})
		approved := g.between(20*time.Minute, 12*time.Hour)
		g.onTime(approved, KStatus, awda.LoanApproved, 0)
		g.add(Event{At: approved + g.between(30*time.Minute, 2*time.Hour), Kind: KSign})
		g.onTime(disbDay+g.between(0, 13*time.Hour), KStatus, awda.LoanDisbursed, 0)
		g.stormRepay(s.Config.WithDefaults().DueCheckJitter)
		slices.SortStableFunc(g.ev, func(a, b Event) int { return int(a.At - b.At) })
		s.Events = g.ev
		out[i] = s
	}
	return out
}

// onTime adds an AWDA change and its push, delivered at once.
func (g *gen) onTime(at time.Duration, k Kind, s awda.LoanStatus, period int) {
	id := g.nextEventID()
	g.add(Event{At: at, Kind: k, Status: s, EventID: id, Period: period})
	g.add(Event{At: at, Kind: KPush, Status: s, EventID: id, Period: period})
}

// stormRepay pays a storm loan's installments around their due dates.
func (g *gen) stormRepay(jitter time.Duration) {
	for p := 1; p <= g.tenor; p++ {
		start, check := dueWindow(stormDueDate(p))
		status := awda.LoanRepaying
		if p == g.tenor {
			status = awda.LoanSettled
		}
		if g.p(0.3) {
			g.add(Event{At: start - g.between(time.Hour, 5*day), Kind: KForceCAN})
		}
		switch x := g.r.Float64(); {
		case x < 0.2: // early, pushed: no check
			g.onTime(start-g.between(day, 10*day), KPay, status, p)
		case x < 0.7: // early, the push lost: the check finds it paid
			g.add(Event{At: start - g.between(day, 10*day), Kind: KPay, Status: status, EventID: g.nextEventID(), Period: p})
		default: // after the check
			g.onTime(check+jitter+g.between(day, 5*day), KPay, status, p)
		}
	}
}

// stormDueDate is installment p's due date of every storm loan: AWDA counts
// months from the disbursement day in WIB (d001, 3 March 2026).
func stormDueDate(p int) string {
	return Start.Add(day).In(wib).AddDate(0, p, 0).Format(awda.DateLayout)
}

// dueWindow returns, after Start, when a due date begins (00:00 WIB) and
// when its check is due without jitter (01:00 WIB the next day), per the
// specified semantics (workflows.Config.DueCheckJitter).
func dueWindow(date string) (start, check time.Duration) {
	d, err := awda.ParseDate(date)
	if err != nil {
		return 0, 0
	}
	s := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, wib)
	return s.Sub(Start), s.Add(25 * time.Hour).Sub(Start)
}

// DueCheck is a loan's due-date check as the simulator saw it: its
// loan/info call, Offset after 01:00 WIB the day after the due date.
type DueCheck struct {
	Period     int
	At, Offset time.Duration
}

// paidAndPushed reports whether s's installment period was paid, and its
// push delivered, before the due date began.
func paidAndPushed(s *Scenario, period int, before time.Duration) bool {
	for _, e := range s.Events {
		if e.Kind == KPay && e.Period == period && e.At < before {
			if _, ok := (&model{s: s}).firstPush(e.EventID, e.At); ok {
				return true
			}
		}
	}
	return false
}

// checkDue holds one storm loan to the due-date window: around each due
// date of AWDA's schedule (from its start in WIB to 12 hours after its
// check window, short of the next day's overdue poll) the loan asks loan/info exactly once, at 01:00 WIB the next day
// plus an offset in [0, DueCheckJitter), when no push told it of the
// payment before; never when one did. Every check of the loan has the
// same offset (one per workflow ID, in every run). It returns the checks.
func checkDue(r *Result) []DueCheck {
	j := r.Scenario.Config.WithDefaults().DueCheckJitter
	var out []DueCheck
	for _, in := range r.Schedule {
		start, check := dueWindow(in.DueDate)
		var calls []time.Duration
		for _, c := range r.Calls {
			if c.Path == awda.PathLoanInfo && c.At >= start && c.At < check+j+12*time.Hour {
				calls = append(calls, c.At)
			}
		}
		pushed := paidAndPushed(r.Scenario, in.Period, start)
		switch {
		case pushed && len(calls) > 0:
			r.violate(InvDueWindow, "installment %d paid and pushed before its due date %s, yet loan/info asked at %s", in.Period, in.DueDate, fmtDur(calls[0]))
		case !pushed && len(calls) != 1:
			r.violate(InvDueWindow, "installment %d due %s: %d loan/info calls from the due date to 12 hours after its window, want the one check", in.Period, in.DueDate, len(calls))
		case !pushed && (calls[0] < check || calls[0] >= check+j):
			r.violate(InvDueWindow, "installment %d due %s checked at %s: %s after 01:00 WIB the next day, outside [0, %s)", in.Period, in.DueDate, fmtDur(calls[0]), calls[0]-check, j)
		case !pushed:
			out = append(out, DueCheck{Period: in.Period, At: calls[0], Offset: calls[0] - check})
		}
	}
	for _, c := range out[min(1, len(out)):] {
		if c.Offset != out[0].Offset {
			r.violate(InvDueWindow, "installment %d checked %s after 01:00 WIB, installment %d %s: one jitter per loan", c.Period, c.Offset, out[0].Period, out[0].Offset)
			break
		}
	}
	return out
}

// StormBound is how many of a storm's n checks of one due date may fall
// in one minute when they spread uniformly over a window of jitter: four
// times the mean plus 8. The offsets are a fixed function of the workflow
// IDs, so a family passes or fails for good; the margin keeps a uniform
// hash clear of it (for 100 checks over 3 hours, a mean of 0.56 a minute,
// the chance that some minute holds 11 is about 10⁻⁹), while checks
// without jitter (all n in one minute) break it for any n over 10.
func StormBound(n int, jitter time.Duration) int {
	mean := float64(n) * float64(time.Minute) / float64(jitter)
	return int(4*mean) + 8
}

// CheckStorm holds a storm family's results to the due-date invariants:
// each loan's checks (checkDue; violations added to its result), then the
// family's: for each due date, no minute holds more than StormBound of its
// checks, and 40 checks or more span at least two thirds of the jitter
// (uniform offsets all fall within a narrower stretch with a chance under
// 10⁻⁵). It returns the family's violations.
func CheckStorm(rs []*Result) (StormFigures, []Violation) {
	var f StormFigures
	if len(rs) == 0 {
		return f, nil
	}
	j := rs[0].Scenario.Config.WithDefaults().DueCheckJitter
	f = StormFigures{Loans: len(rs), Jitter: j}
	byDate := map[int][]time.Duration{}
	for _, r := range rs {
		if r.Outcome == workflows.StageSettled {
			f.Settled++
		}
		for _, c := range checkDue(r) {
			byDate[c.Period] = append(byDate[c.Period], c.At)
		}
	}
	var out []Violation
	periods := slices.Sorted(maps.Keys(byDate))
	for _, p := range periods {
		ats := byDate[p]
		slices.Sort(ats)
		most, first := 0, 0
		for k := range ats {
			for ats[k]-ats[first] >= time.Minute {
				first++
			}
			most = max(most, k-first+1)
		}
		f.Dates = append(f.Dates, StormDate{Period: p, Checks: len(ats), MostInAMinute: most, Bound: StormBound(len(ats), j), Span: ats[len(ats)-1] - ats[0]})
		if bound := StormBound(len(ats), j); most > bound {
			out = append(out, Violation{Invariant: InvDueSpread, Detail: fmt.Sprintf("installment %d: %d of %d checks within one minute (bound %d, jitter %s)", p, most, len(ats), bound, j)})
		}
		if n := len(ats); n >= 40 && ats[n-1]-ats[0] < 2*j/3 {
			out = append(out, Violation{Invariant: InvDueSpread, Detail: fmt.Sprintf("installment %d: %d checks span only %s of the %s jitter", p, n, ats[n-1]-ats[0], j)})
		}
	}
	return f, out
}

// StormFigures describe a storm family's due-date checks.
type StormFigures struct {
	Loans, Settled int
	Jitter         time.Duration
	Dates          []StormDate
}

// StormDate is one due date of a storm.
type StormDate struct {
	Period, Checks, MostInAMinute, Bound int
	Span                                 time.Duration
}

func (f StormFigures) String() string {
	s := fmt.Sprintf("%d loans, %d settled, jitter %s;", f.Loans, f.Settled, f.Jitter)
	for _, d := range f.Dates {
		s += fmt.Sprintf(" installment %d: %d checks over %s, at most %d in a minute (bound %d);", d.Period, d.Checks, d.Span.Round(time.Second), d.MostInAMinute, d.Bound)
	}
	return s
}
