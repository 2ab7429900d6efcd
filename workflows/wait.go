package workflows

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"go.temporal.io/sdk/workflow"
)

// This file holds the one way a loan waits for long — for the borrower,
// for AWDA, for a timer or for operations — and the hand-over to a fresh run
// (continue-as-new) that any such wait may make.
//
// A loan lives for months, so every wait must answer two questions: what
// happens if it lasts 60 days (it is bounded: a deadline parks the loan for
// operations or expires it, and polls back off to a few a day), and what if
// a signal, a cancel or continue-as-new lands in the same workflow task
// (signals stay in their channels until a coroutine takes them, and the
// hand-over takes every one still there after the last update handler has
// answered; see listen and continueAsNew).

// AWDA waits (State.Wait.Kind); each is also the step a loan whose wait ran
// past its deadline is parked on.
const (
	waitReview       = "review"
	waitDisbursement = "disbursement"
	waitVerifyCard   = "verify bank card"
)

// wait blocks until cond holds (true) or until passes (false; zero: no
// limit). Before it blocks it makes the stage visible (rest) and, in loans
// with bounded waits, hands the loan to a fresh run when the history is long:
// then it returns the continue-as-new error, which unwinds run() to the
// workflow's end. A resumed run comes back to the same stage and waits again
// with what State carries.
func (w *loanWorkflow) wait(ctx workflow.Context, until time.Time, cond func() bool) (bool, error) {
	for {
		if cond() {
			return true, nil
		}
		now := workflow.Now(ctx)
		if w.confirmDue(now) {
			w.confirmFinal(ctx)
			continue
		}
		if !until.IsZero() && !now.Before(until) {
			return false, nil
		}
		if w.bounded && w.continueAsNewDue(ctx) {
			if err := w.continueAsNew(ctx, cond); err != nil {
				return false, err
			}
			continue // what the drain applied met cond
		}
		w.rest(ctx)
		// The timer is cancelled once the wait is over, so that a loan living
		// for months is not woken later by the deadlines and polls of stages
		// long gone (AwaitWithTimeout in this SDK version leaves it running).
		tctx, cancel := workflow.WithCancel(ctx)
		var timer workflow.Future
		if !until.IsZero() {
			timer = workflow.NewTimer(tctx, until.Sub(now))
		}
		var retry workflow.Future // a failed confirmation read, asked again
		if at := w.confirmRetry(); !at.IsZero() {
			retry = workflow.NewTimer(tctx, at.Sub(now))
		}
		err := workflow.Await(ctx, func() bool {
			return cond() || timer != nil && timer.IsReady() || w.bounded && w.continueAsNewDue(ctx) ||
				w.confirmNow() || retry != nil && retry.IsReady()
		})
		// Read before cancel: cancelling a timer resolves its future (with
		// ErrCanceled) at once, which would read as the deadline passing.
		fired := timer != nil && timer.IsReady()
		cancel()
		if err != nil {
			return false, err
		}
		if cond() {
			return true, nil
		}
		if fired {
			return false, nil
		}
		// Continue-as-new is due, or a final status to confirm: the top of
		// the loop hands over or asks AWDA.
	}
}

// awaitUntil waits for cond until deadline; false when the deadline passed.
func (w *loanWorkflow) awaitUntil(ctx workflow.Context, deadline time.Time, cond func() bool) (bool, error) {
	return w.wait(ctx, deadline, cond)
}

// awaitFor waits for cond at most d; false when d passed.
func (w *loanWorkflow) awaitFor(ctx workflow.Context, d time.Duration, cond func() bool) (bool, error) {
	if cond() {
		return true, nil
	}
	if d <= 0 {
		return false, nil
	}
	return w.wait(ctx, workflow.Now(ctx).Add(d), cond)
}

// continueAsNewDue reports whether the loan should hand over to a fresh run:
// the server suggests it (history of 4K events or 4 MB by default), or, with
// bounded waits, the history has reached our own ContinueAsNewEvents, which
// keeps each run small enough to replay quickly when a loan parked for days
// wakes on a worker that no longer caches it.
func (w *loanWorkflow) continueAsNewDue(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	if info.GetContinueAsNewSuggested() {
		return true
	}
	return w.bounded && info.GetCurrentHistoryLength() >= w.cfg.ContinueAsNewEvents
}

// awaitAWDA waits for news from AWDA (reached) during the wait kind: a push
// (handlers), or a poll when none comes. The polls back off from
// PollInterval, doubling up to PollBackoffCap, jittered, and start again
// from PollInterval after news. It returns nil when reached holds or the
// borrower's cancel is to be honoured (the caller tells which). When the
// wait's deadline (limit after it began) passes first, the loan is parked as
// stuck for operations: Retry starts the wait again with a fresh deadline,
// and the awaited news resumes it by itself.
func (w *loanWorkflow) awaitAWDA(ctx workflow.Context, kind string, limit time.Duration, reached func() bool, poll func(workflow.Context) error) error {
	if w.state.Wait == nil || w.state.Wait.Kind != kind {
		w.state.Wait = &Wait{Kind: kind, Deadline: workflow.Now(ctx).Add(limit)}
	}
	for !reached() && w.cancelReq == nil {
		wt := w.state.Wait
		if wt.NextPoll.IsZero() {
			wt.NextPoll = workflow.Now(ctx).Add(w.pollDelay(wt.Polls))
		}
		news := w.state.TrailSeq
		ok, err := w.wait(ctx, earliest(wt.NextPoll, wt.Deadline), func() bool { return reached() || w.cancelReq != nil })
		if err != nil {
			return err // continue-as-new carries the wait on
		}
		if ok {
			break
		}
		if !workflow.Now(ctx).Before(wt.Deadline) {
			reason := fmt.Sprintf("no answer from AWDA within %s", days(limit))
			if err := w.parkAwaiting(ctx, kind, reason, kind, reached); err != nil {
				return err
			}
			w.state.Wait = &Wait{Kind: kind, Deadline: workflow.Now(ctx).Add(limit)}
			continue
		}
		// A poll that fails until its retry budget is spent parks the loan
		// like any step, but the awaited news arriving meanwhile (AWDA's
		// push) makes the poll moot and resumes the loan.
		w.pollNews, w.pollKind = reached, kind
		err = poll(ctx)
		w.pollNews, w.pollKind = nil, ""
		if err != nil {
			return err
		}
		wt = w.state.Wait
		if w.state.TrailSeq != news {
			wt.Polls = 0
		} else {
			wt.Polls++
		}
		wt.NextPoll = time.Time{}
	}
	w.state.Wait = nil
	return nil
}

// pollDelay is the wait before the next poll after n polls that found
// nothing new: PollInterval·2ⁿ, capped at PollBackoffCap, ±20% jitter. The
// jitter comes from the workflow ID and n, so it is the same on replay, and
// loans that began together drift apart.
func (w *loanWorkflow) pollDelay(n int) time.Duration {
	d := w.cfg.PollInterval
	for i := 0; i < n && d < w.cfg.PollBackoffCap; i++ {
		d *= 2
	}
	d = min(d, w.cfg.PollBackoffCap)
	h := fnv.New64a()
	_, _ = h.Write([]byte(w.workflowID + "/" + strconv.Itoa(n)))
	frac := float64(h.Sum64()%4001)/10000 - 0.2 // -0.2 … +0.2
	return d + time.Duration(float64(d)*frac)
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// days prints a wait's limit the way ops read it: "14 days", "72h0m0s".
func days(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
