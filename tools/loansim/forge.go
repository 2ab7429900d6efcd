package loansim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// ForgeShare is the share of seeds whose script also carries forged pushes
// (issue 13: a final status pushed is confirmed with AWDA's loan/info
// before it ends the loan). Whether a seed is one of them, and its
// forgeries, come from streams of their own: the main story of every seed
// is the one it always drew, and a seed without forgeries is unchanged.
const ForgeShare = 0.25

// Forgery modes, one drawn per forged push.
const (
	forgeAlone  = iota // at a random moment of the loan's life
	forgeWith          // in the same workflow task as a real push, before or after it
	forgeCAN           // with the continue-as-new suggestion in one task
	forgeOutage        // while loan/info is down: the confirmation read fails for a while
	forgeReal          // no forgery: AWDA's real final push arrives while loan/info is down
	forgeModes
)

// forged reports whether seed's script carries forged pushes.
func forged(seed uint64) bool {
	return rand.New(rand.NewPCG(seed, 0xF0F6ED)).Float64() < ForgeShare
}

// withForgeries adds forged pushes to s, for a share of the seeds. Drafts
// the model finds ambiguous are redrawn (the forgeries only); after 20 the
// main story is returned as it is.
func withForgeries(s *Scenario) *Scenario {
	if !forged(s.Seed) || Predict(s).Ambiguous != "" {
		return s
	}
	for attempt := range 20 {
		r := rand.New(rand.NewPCG(s.Seed^0x5DEECE66D, uint64(attempt)+0x2545F491))
		f := forge(s, r)
		if Predict(f).Ambiguous == "" {
			return f
		}
	}
	return s
}

// forge returns a copy of s with one to three forged pushes (or real final
// pushes put into a loan/info outage) drawn from r.
func forge(s *Scenario, r *rand.Rand) *Scenario {
	f := *s
	f.Events = slices.Clone(s.Events)
	g := &gen{r: r, ev: f.Events, span: s.Span()}
	status := forgedStatuses(s)
	n := 1 + r.IntN(3)
	for i := range n {
		id := fmt.Sprintf("forged-%02d", i+1)
		st := pick(r, status)
		switch r.IntN(forgeModes) {
		case forgeAlone:
			g.add(Event{At: g.between(0, g.span+time.Hour), Kind: KForge, Status: st, EventID: id})
		case forgeWith:
			g.forgeWith(st, id)
		case forgeCAN:
			g.add(Event{At: g.between(0, g.span+time.Hour), Kind: KForge, Status: st, EventID: id, CAN: true})
		case forgeOutage:
			at := g.between(0, g.span+time.Hour)
			if g.outageAround(at) {
				g.add(Event{At: at, Kind: KForge, Status: st, EventID: id})
			}
		case forgeReal:
			for _, e := range g.ev {
				if e.Kind == KPush && e.Status.Terminal() {
					g.outageAround(e.At)
					break
				}
			}
		}
	}
	slices.SortStableFunc(g.ev, func(a, b Event) int { return int(a.At - b.At) })
	f.Events = g.ev
	return &f
}

// forgedStatuses are the final statuses a forger may push: every one but
// the loan's own final status at AWDA, so that loan/info never confirms a
// forgery.
func forgedStatuses(s *Scenario) []awda.LoanStatus {
	var final awda.LoanStatus
	for _, e := range s.Events {
		switch e.Kind {
		case KStatus, KPay, KSettleAll:
			if e.Status.Terminal() {
				final = e.Status
			}
		}
	}
	var out []awda.LoanStatus
	for _, st := range []awda.LoanStatus{awda.LoanSettled, awda.LoanCancelled, awda.LoanRejected} {
		if st != final {
			out = append(out, st)
		}
	}
	return out
}

// forgeWith attaches a forged push to a real push drawn from the script:
// both reach the workflow in one task.
func (g *gen) forgeWith(st awda.LoanStatus, id string) {
	var pushes []int
	for i, e := range g.ev {
		if e.Kind == KPush && e.Forge == nil {
			pushes = append(pushes, i)
		}
	}
	if len(pushes) == 0 {
		return
	}
	g.ev[pick(g.r, pushes)].Forge = &Forge{Status: st, EventID: id, First: g.p(0.5)}
}

// outageAround puts loan/info down from just before at until at most
// maxOutage later, unless another outage of loan/info comes near; it
// reports whether it did.
func (g *gen) outageAround(at time.Duration) bool {
	from := at - g.between(0, time.Minute)
	to := at + g.between(30*time.Second, maxOutage-time.Minute)
	for _, o := range outages(g.ev) {
		if from < o.to+closeBy && o.from < to+closeBy {
			return false
		}
	}
	g.add(Event{At: from, Kind: KFault, Fault: &Fault{Path: awda.PathLoanInfo, Outage: true}})
	g.add(Event{At: to, Kind: KRestore, Fault: &Fault{Path: awda.PathLoanInfo}})
	return true
}

// span is a stretch of time.
type span struct{ from, to time.Duration }

// outages lists the loan/info outages of a script.
func outages(evs []Event) []span {
	var out []span
	for _, e := range evs {
		switch {
		case e.Kind == KFault && e.Fault.Outage && e.Fault.Path == awda.PathLoanInfo:
			out = append(out, span{from: e.At, to: 1<<62 - 1})
		case e.Kind == KRestore && e.Fault.Path == awda.PathLoanInfo && len(out) > 0:
			out[len(out)-1].to = e.At
		}
	}
	return out
}

// downUntil reports whether loan/info is down at t, and until when.
func downUntil(os []span, t time.Duration) (time.Duration, bool) {
	for _, o := range os {
		if o.from <= t && t < o.to {
			return o.to, true
		}
	}
	return 0, false
}
