package loansim

import (
	"fmt"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// Cost is the history cost of one fixed scenario.
type Cost struct {
	Name                string
	Outcome             string
	Runs                int
	MaxRunEvents        int
	WaitingDays         float64
	EventsPerWaitingDay float64
	CallsPerWaitingDay  float64
	Violations          []Violation
}

// Goals of issue 10 for the history cost.
const (
	GoalEventsPerWaitingDay = 30
	GoalMaxRunEvents        = 2000
)

func (c Cost) String() string {
	return fmt.Sprintf("%-40s %-9s runs %3d  max events/run %5d  waiting days %5.1f  events/waiting day %6.1f  AWDA calls/waiting day %5.2f  violations %d",
		c.Name, c.Outcome, c.Runs, c.MaxRunEvents, c.WaitingDays, c.EventsPerWaitingDay, c.CallsPerWaitingDay, len(c.Violations))
}

// HistoryCost runs the three fixed scenarios of `make bench` and returns
// their history cost: a loan waiting 30 days in review, a loan whose
// disbursement failed waiting 30 days, and a 24-installment loan with 3
// overdue months. Every push is delivered; nothing else happens.
func HistoryCost() []Cost {
	var out []Cost
	for _, s := range BenchScenarios() {
		r := Simulate(s)
		c := Cost{Name: benchNames[s.Seed], Outcome: string(r.Outcome), Runs: len(r.Runs), Violations: r.Violations}
		if r.Err != "" {
			c.Outcome = "(none)"
		}
		for _, rn := range r.Runs {
			c.MaxRunEvents = max(c.MaxRunEvents, rn.Events)
		}
		ev, calls := 0, 0
		for _, w := range r.Windows() {
			c.WaitingDays += w.Days()
			ev += w.Events
			calls += w.Calls
		}
		if c.WaitingDays > 0 {
			c.EventsPerWaitingDay = float64(ev) / c.WaitingDays
			c.CallsPerWaitingDay = float64(calls) / c.WaitingDays
		}
		out = append(out, c)
	}
	return out
}

var benchNames = map[uint64]string{
	1: "review waiting 30 days",
	2: "failed disbursement waiting 30 days",
	3: "24 installments, 3 overdue months",
}

// BenchScenarios are HistoryCost's scenarios (seeds 1–3 name them only).
func BenchScenarios() []*Scenario {
	base := func(seed uint64, tenor int) (*Scenario, *script) {
		s := &Scenario{Seed: seed, Tenor: tenor, Applicant: Applicant{Name: "Bench Borrower 001", NIK: "3171014501900001", Mobile: "081200000001", Contact: "081300000001", ContactName: "Kontak Bench 001"}}
		sc := &script{s: s}
		sc.add(Event{At: time.Minute, Kind: KAuthorize})
		sc.add(Event{At: 2 * time.Minute, Kind: KCard, Card: &Card{Bank: "BCA", AccountNo: "8800123456", Verdict: awda.CardBound}})
		return s, sc
	}
	sub := 3 * time.Minute

	review, sc := base(1, 3)
	sc.status(sub+time.Hour, KStatus, awda.LoanUnderReview, 0)
	sc.add(Event{At: sub + 14*day + time.Hour, Kind: KRetry}) // parked at the 14-day deadline
	t := sub + 30*day
	sc.status(t, KStatus, awda.LoanApproved, 0)
	sc.add(Event{At: t + time.Hour, Kind: KSign})
	sc.status(t+2*time.Hour, KStatus, awda.LoanDisbursed, 0)
	sc.status(t+3*day, KSettleAll, awda.LoanSettled, 1)

	failed, sc := base(2, 3)
	sc.status(sub+time.Hour, KStatus, awda.LoanApproved, 0)
	sc.add(Event{At: sub + 2*time.Hour, Kind: KSign})
	sc.status(sub+3*time.Hour, KStatus, awda.LoanDisburseFailed, 0)
	sc.add(Event{At: sub + 3*time.Hour + day, Kind: KRetry})
	t = sub + 3*time.Hour + 30*day
	sc.status(t, KStatus, awda.LoanDisbursed, 0)
	sc.status(t+3*day, KSettleAll, awda.LoanSettled, 1)

	long, sc := base(3, 24)
	sc.status(sub+time.Hour, KStatus, awda.LoanApproved, 0)
	sc.add(Event{At: sub + 2*time.Hour, Kind: KSign})
	dis := sub + 3*time.Hour
	sc.status(dis, KStatus, awda.LoanDisbursed, 0)
	today := Start.Add(dis).UTC().Truncate(day)
	for p := 1; p <= 24; p++ {
		due := today.AddDate(0, p, 0).Sub(Start)
		st := awda.LoanRepaying
		if p == 24 {
			st = awda.LoanSettled
		}
		if p == 5 || p == 11 || p == 17 {
			sc.status(due+day+time.Hour, KOverdue, awda.LoanOverdue, p)
			sc.status(due+20*day, KPay, st, p)
			continue
		}
		sc.status(due-3*day, KPay, st, p)
	}
	return []*Scenario{review, failed, long}
}

// script builds a fixed scenario with every push delivered on time.
type script struct {
	s   *Scenario
	seq int
}

func (sc *script) add(e Event) { sc.s.Events = append(sc.s.Events, e) }

func (sc *script) status(at time.Duration, k Kind, s awda.LoanStatus, period int) {
	sc.seq++
	id := fmt.Sprintf("evt-b%03d", sc.seq)
	sc.add(Event{At: at, Kind: k, Status: s, EventID: id, Period: period})
	sc.add(Event{At: at, Kind: KPush, Status: s, EventID: id, Period: period})
}
