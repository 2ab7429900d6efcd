package loansim

import (
	"fmt"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// Bounds the invariants hold the workflow to.
const (
	// MaxRunEvents is the server's history warning threshold: no run may
	// reach it.
	MaxRunEvents = 10240
	// CallsPerWaitingDay bounds AWDA calls per day over every waiting
	// window of at least minWindow: a poll backing off to 6 h (±20%) costs
	// about 6 calls in its first 11 h and 5 a day after; repayment costs at
	// most 2 a day (loan/info and a fresh VA).
	CallsPerWaitingDay = 12
	// ContinueAsNewSlack is how far past Config.ContinueAsNewEvents a run
	// may go. The workflow looks at its history length at waits (before it
	// blocks, and whenever its wait wakes), so a run passes the threshold by
	// the work between two waits: the loan's last steps and its end, a
	// park and what ops' signal sets off, a poll whose read falls back to a
	// regular activity retried up to the test environment's 10 attempts (6
	// estimated events each). 150 covers that with room; a run that never
	// continues as new (bug 5) passes it within a day of polling.
	ContinueAsNewSlack = 150
	// minWindow is the shortest stretch without scripted events that counts
	// as waiting; the first hour after an event (its work) is left out.
	minWindow = 2 * day
)

// Invariant names.
const (
	InvOutcome     = "outcome"
	InvEnded       = "ended"
	InvCancel      = "cancel-within-one-task"
	InvFinalPush   = "final-push-wakes"
	InvBackwards   = "status-never-backwards"
	InvPushOnce    = "push-applied-exactly-once"
	InvSubmitOnce  = "one-submit-per-orderNo"
	InvHistory     = "history-per-run"
	InvContinued   = "long-loan-continued-as-new"
	InvCallsPerDay = "awda-calls-per-waiting-day"
	InvEncrypted   = "payloads-encrypted"
	InvBadUpdate   = "invalid-update-refused"
	// issue 13
	InvForged    = "forged-push-never-applied"
	InvConfirmed = "final-push-confirmed-first"
	InvDueWindow = "due-check-in-window"
	InvDueSpread = "due-checks-spread"
	InvUserID    = "user-id-published-before-callbacks"
)

func (r *Result) violate(inv, format string, args ...any) {
	r.Violations = append(r.Violations, Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)})
}

// check holds r to every invariant, in a fixed order (the violations are
// reported in it).
func check(r *Result) {
	checkOutcome(r)
	checkForged(r)
	checkForward(r)
	checkPushesOnce(r)
	if r.AppliedSubmits > 1 || r.Loans > 1 {
		r.violate(InvSubmitOnce, "%d submissions applied, %d loans at AWDA", r.AppliedSubmits, r.Loans)
	}
	checkRuns(r)
	for _, w := range r.Windows() {
		if w.Days() >= minWindow.Hours()/24 && float64(w.Calls)/w.Days() > CallsPerWaitingDay {
			r.violate(InvCallsPerDay, "%.1f calls a day from %s to %s", float64(w.Calls)/w.Days(), fmtDur(w.From), fmtDur(w.To))
			break
		}
	}
	if r.Plain > 0 || len(r.Leaks) > 0 || r.LogLeaks > 0 {
		r.violate(InvEncrypted, "%d of %d payloads not encrypted, %d with PII, %d log lines with PII", r.Plain, r.Payloads, len(r.Leaks), r.LogLeaks)
	}
	for _, at := range r.Unrouted {
		r.violate(InvUserID, "AWDA's authorization callbacks at %s found no read-model row with the loan's AWDA user ID", fmtDur(at))
	}
	for _, b := range r.BadUpdatesAccepted {
		r.violate(InvBadUpdate, "%s accepted", b)
	}
}

// checkOutcome: the outcome is the model's.
func checkOutcome(r *Result) {
	p := r.Prediction
	switch {
	case r.Err != "":
		r.violate(InvEnded, "%s (model: %s at %s)", r.Err, p.Outcome, fmtDur(p.EndAt))
	case p.Ambiguous != "":
	case r.Outcome != p.Outcome:
		r.violate(InvOutcome, "got %s (%q) at %s, model %s (%s) at %s", r.Outcome, r.Reason, fmtDur(r.EndAt), p.Outcome, p.Why, fmtDur(p.EndAt))
	case p.Exact && r.EndAt != p.EndAt:
		inv := InvOutcome
		if p.Outcome == workflows.StageCancelled {
			inv = InvCancel
		}
		r.violate(inv, "%s at %s, expected at %s exactly", r.Outcome, fmtDur(r.EndAt), fmtDur(p.EndAt))
	case p.Within && r.EndAt > p.EndAt+pushLatency:
		r.violate(InvFinalPush, "%s pushed at %s ended the loan only at %s", p.Outcome, fmtDur(p.EndAt), fmtDur(r.EndAt))
	case p.NotBefore > 0 && r.EndAt < p.NotBefore:
		r.violate(InvConfirmed, "%s pushed while loan/info was down ended the loan at %s, before loan/info answered again at %s", p.Outcome, fmtDur(r.EndAt), fmtDur(p.NotBefore))
	}
}

// checkForged: a forged push never moves the loan (no transition carries
// its eventId); that it is recorded as ignored is checkPushesOnce's.
func checkForged(r *Result) {
	for _, id := range r.Forged {
		for _, t := range r.Transitions {
			if t.EventID == id {
				r.violate(InvForged, "forged push %s applied: %s→%s at %s (%s)", id, t.From, t.To, t.At.Sub(Start), t.Note)
			}
		}
	}
}

// checkForward: status never moves backwards, in each recorded
// transition, along the transitions, and along the read-model writes.
func checkForward(r *Result) {
	var cur awda.LoanStatus
	for _, t := range r.Transitions {
		if t.Kind != workflows.KindLoanStatus {
			continue
		}
		from, to := awda.LoanStatus(t.From), awda.LoanStatus(t.To)
		if !forward(from, to) || !forward(cur, to) {
			r.violate(InvBackwards, "transition %s→%s at %s (after %s)", from, to, t.At.Sub(Start), cur)
		}
		cur = to
	}
	cur = ""
	stage := -1
	var seq int64
	for _, w := range r.Writes {
		if w.Seq <= seq {
			r.violate(InvBackwards, "projection seq %d after %d", w.Seq, seq)
		}
		seq = w.Seq
		if to := awda.LoanStatus(w.LoanStatus); to != "" && !forward(cur, to) {
			r.violate(InvBackwards, "projection loan status %s after %s (seq %d)", to, cur, w.Seq)
		} else if to != "" {
			cur = to
		}
		if i := stageIndex(workflows.Stage(w.Stage)); i < stage {
			r.violate(InvBackwards, "projection stage %s after a later one (seq %d)", w.Stage, w.Seq)
		} else {
			stage = i
		}
	}
}

// checkPushesOnce: every delivered push is applied exactly once across
// runs (or recorded as ignored).
func checkPushesOnce(r *Result) {
	seen := map[string]bool{}
	for _, id := range r.Delivered {
		if seen[id] {
			continue
		}
		seen[id] = true
		applied, ignored := 0, 0
		for _, t := range r.Transitions {
			if t.EventID == id {
				applied++
			}
		}
		for _, ig := range r.Ignored {
			if ig.EventID == id {
				ignored++
			}
		}
		switch {
		case applied > 1:
			r.violate(InvPushOnce, "push %s applied %d times", id, applied)
		case applied+ignored == 0:
			r.violate(InvPushOnce, "push %s delivered but neither applied nor recorded as ignored", id)
		}
	}
}

// checkRuns: no run nears the server's history warning, and each
// continues as new in time.
func checkRuns(r *Result) {
	th := r.Scenario.Config.WithDefaults().ContinueAsNewEvents
	for i, rn := range r.Runs {
		if rn.Events >= MaxRunEvents {
			r.violate(InvHistory, "run %d: about %d events (%s to %s)", i+1, rn.Events, fmtDur(rn.Start), fmtDur(rn.End))
		}
		if rn.Events > th+ContinueAsNewSlack {
			r.violate(InvContinued, "run %d: about %d events (%s to %s), threshold %d + slack %d", i+1, rn.Events, fmtDur(rn.Start), fmtDur(rn.End), th, ContinueAsNewSlack)
		}
	}
}

// forward reports whether a loan may move from one status to another.
func forward(from, to awda.LoanStatus) bool {
	switch {
	case from == "" || from == to:
		return true
	case from.Terminal():
		return false
	case to.Rank() > from.Rank():
		return true
	}
	return from == awda.LoanDisburseFailed && to == awda.LoanDisbursed ||
		from == awda.LoanRepaying && to == awda.LoanOverdue || from == awda.LoanOverdue && to == awda.LoanRepaying
}

func stageIndex(s workflows.Stage) int {
	if s.Terminal() {
		return len(workflows.Stages)
	}
	for i, st := range workflows.Stages {
		if st == s {
			return i
		}
	}
	return -1
}

// Window is a stretch of waiting: no scripted event between From and To.
type Window struct {
	From, To      time.Duration
	Calls, Events int
}

// Days is the window's length in days.
func (w Window) Days() float64 { return (w.To - w.From).Hours() / 24 }

// Windows returns the waiting windows of at least minWindow after the loan
// was submitted for review (the first card), before it ended, with the AWDA
// calls and estimated history events in each.
func (r *Result) Windows() []Window {
	end := r.EndAt
	if end == 0 && len(r.Runs) > 0 {
		end = r.Runs[len(r.Runs)-1].End
	}
	var ws []Window
	prev := time.Duration(-1)
	for _, e := range append(r.Scenario.Events, Event{At: end}) {
		if prev < 0 {
			if e.Kind == KCard {
				prev = e.At
			}
			continue
		}
		from, to := prev+time.Hour, min(e.At, end)
		if to-from >= minWindow {
			ws = append(ws, Window{From: from, To: to})
		}
		if e.At >= end {
			break
		}
		prev = e.At
	}
	for i := range ws {
		w := &ws[i]
		for _, c := range r.Calls {
			if c.At >= w.From && c.At < w.To {
				w.Calls++
			}
		}
		for _, m := range r.History {
			if m.At >= w.From && m.At < w.To {
				w.Events += m.N
			}
		}
	}
	return ws
}
