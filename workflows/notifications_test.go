package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

func TestDuplicateAndOutOfOrderNotifications(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageReview)
	var approved awda.LoanStatusEvent
	var authEvent string
	h.at(30*time.Second, func() { authEvent = h.authorize("EKYC", awda.AuthSuccess) })
	h.at(90*time.Second, func() {
		// A late duplicate of an authorization callback, then a stale FAILED.
		signal(h.env, workflows.AuthorizationSignal, awda.AuthorizationEvent{EventID: authEvent, AuthType: "EKYC", Status: awda.AuthSuccess})
		signal(h.env, workflows.AuthorizationSignal, awda.AuthorizationEvent{EventID: "auth-late", AuthType: "EKYC", Status: awda.AuthFailed})
	})
	h.at(last+time.Minute, func() {
		approved = h.push(awda.LoanApproved)
		signal(h.env, workflows.LoanStatusSignal, approved) // AWDA retried: same eventId
		h.pushEvent(awda.LoanUnderReview, 0)                // delivered late, after APPROVED
		signal(h.env, workflows.LoanStatusSignal, awda.LoanStatusEvent{EventID: "other-1", OrderNo: "AF-someone-else", Status: awda.LoanRejected})
		signal(h.env, workflows.LoanStatusSignal, awda.LoanStatusEvent{EventID: "other-2", OrderNo: h.orderNo(), LoanNo: "L-other", Status: awda.LoanRejected})
		signal(h.env, workflows.LoanStatusSignal, awda.LoanStatusEvent{OrderNo: h.orderNo(), Status: awda.LoanRejected})
	})
	last = h.happy(last+time.Minute, workflows.StageAgreement, "")
	h.at(last+30*time.Second, func() {
		signal(h.env, workflows.LoanStatusSignal, approved) // the duplicate once more
		h.pushEvent(awda.LoanApproved, 0)                   // a new event, but backwards
		h.pushEvent(awda.LoanDisburseFailed, 0)             // DISBURSED then DISBURSE_FAILED: backwards at one step
		h.pushEvent(awda.LoanStatus("PAUSED"), 0)           // not in the contract
	})
	for p := 1; p <= 3; p++ {
		h.at(last+time.Duration(p)*time.Minute, func() { h.pay(p) })
	}
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)

	st := h.status()
	reasons := map[string]int{}
	for _, ig := range st.Ignored {
		reasons[ig.Signal+": "+ig.Reason]++
	}
	require.Equal(t, map[string]int{
		"authorization: duplicate eventId":                       1,
		"authorization: already succeeded":                       2, // the stale FAILED, and the second SUCCESS at 1 min
		"loan-status: duplicate eventId":                         2,
		"loan-status: would move the status back from APPROVED":  1,
		"loan-status: would move the status back from DISBURSED": 2,
		"loan-status: another orderNo":                           1,
		"loan-status: another loanNo":                            1,
		"loan-status: no eventId":                                1,
		"loan-status: unknown status":                            1,
	}, reasons)

	// Each event was applied at most once, and the status only went forward.
	ids := map[string]bool{}
	rank := 0
	for _, tr := range st.Transitions {
		if tr.Kind != workflows.KindLoanStatus {
			continue
		}
		if tr.EventID != "" {
			require.False(t, ids[tr.EventID], "event %s applied twice", tr.EventID)
			ids[tr.EventID] = true
		}
		r := awda.LoanStatus(tr.To).Rank()
		require.GreaterOrEqual(t, r, rank, "moved back to %s", tr.To)
		rank = r
	}
}

func TestSignedOnAWDAPageSkipsSigning(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	h.at(last+time.Minute, func() { h.push(awda.LoanSigned) })
	var st workflows.Status
	h.at(last+2*time.Minute, func() { st = h.status(); h.env.CancelWorkflow() })
	h.run(loanInput())
	require.Equal(t, workflows.StageDisbursement, st.Stage)
	require.Equal(t, 0, h.awda.Calls(awda.PathLoanSign))
}

func TestPollingWhenNoPushComes(t *testing.T) {
	// AWDA never pushes a loan status: review, disbursement and every
	// installment are found by polling and by the due-date timers.
	h := newHarness(t)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	h.at(15*time.Minute, func() { h.moves(awda.LoanApproved) }) // seen by the second poll, about 30 min after the first at ~12
	h.at(60*time.Minute, func() { h.sign() })
	h.at(65*time.Minute, func() { h.moves(awda.LoanDisbursed) }) // seen by the poll about 10 min after signing
	var sched []awda.Installment
	h.at(100*time.Minute, func() {
		no := h.awda.LoanNo(h.orderNo())
		sched = h.awda.Schedule(no)
		h.payAt(no, 1) // paid early, silently
	})
	h.at(24*time.Hour*40, func() { h.payAt(h.awda.LoanNo(h.orderNo()), 2) })
	h.at(24*time.Hour*70, func() { h.payAt(h.awda.LoanNo(h.orderNo()), 3) })
	h.run(loanInput())

	res := h.result()
	require.Equal(t, workflows.StageSettled, res.Outcome)
	require.Len(t, sched, 3)
	lastDue, err := awda.ParseDate(sched[2].DueDate)
	require.NoError(t, err)
	wib := time.FixedZone("WIB", 7*3600)
	check := time.Date(lastDue.Year(), lastDue.Month(), lastDue.Day()+1, 1, 0, 0, 0, wib)
	jitter := workflows.DefaultConfig().DueCheckJitter
	require.True(t, res.ClosedAt.After(check) && res.ClosedAt.Before(check.Add(jitter)),
		"settlement found at the last installment's due-date check: 01:00 WIB the next day plus this loan's offset under %s; closed %s",
		jitter, res.ClosedAt.In(wib))

	st := h.status()
	var via []string
	for _, tr := range st.Transitions {
		if tr.Kind == workflows.KindLoanStatus {
			via = append(via, tr.To+" "+tr.Note)
		}
	}
	require.Equal(t, []string{
		"SUBMITTED submitted", "APPROVED poll", "SIGNED signed", "DISBURSED poll",
		"REPAYING schedule refresh", "SETTLED schedule refresh",
	}, via)
	// Polls: review at about 12 and 32 min (backing off), disbursement about
	// 10 min after signing, then one
	// refresh at the start of repayment and one per due date.
	require.Equal(t, 3+1+3, h.awda.Calls(awda.PathLoanInfo))
}

func TestRepaymentNotificationsRefreshTheSchedule(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil("")
	var afterFirst workflows.Status
	h.at(last+time.Minute, func() { h.pay(1) })
	h.at(last+2*time.Minute, func() {
		afterFirst = h.status()
		no := h.awda.LoanNo(h.orderNo())
		h.advance(no, awda.LoanOverdue)
		h.pushEvent(awda.LoanOverdue, 2)
	})
	h.at(last+3*time.Minute, func() { h.pay(2) })
	h.at(last+4*time.Minute, func() { h.pay(3) })
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)
	require.Equal(t, awda.InstallmentPaid, afterFirst.Schedule[0].Status)
	require.Equal(t, awda.InstallmentUnpaid, afterFirst.Schedule[1].Status)
	require.Equal(t, workflows.ActionRepay, afterFirst.Next.Action)
	require.Equal(t, 2, afterFirst.Next.Installment.Period)
	// One fetch at the start of repayment, one per notification.
	require.Equal(t, 1+4, h.awda.Calls(awda.PathLoanInfo))
	require.Equal(t, 1, h.awda.Calls(awda.PathRepaymentVA), "the VA had not expired")
}

func TestExpiredVAIsRefreshed(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil("")
	h.at(last+time.Minute, func() { h.pay(1) })
	h.at(last+48*time.Hour, func() { h.pay(2) }) // the VA lives 24 h
	h.at(last+49*time.Hour, func() { h.pay(3) })
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)
	require.Equal(t, 2, h.awda.Calls(awda.PathRepaymentVA), "at the start, and after it expired")
}

// A LOAN_STATUS push for this loan's orderNo before the loan was submitted
// is recorded as ignored: AWDA learns an orderNo only from our submit, so
// it cannot move a loan that never reached AWDA (it used to end one
// SETTLED while it waited for the borrower's authorizations).
func TestPushBeforeSubmitIsIgnored(t *testing.T) {
	h := newHarness(t)
	h.at(30*time.Second, func() {
		signal(h.env, workflows.LoanStatusSignal, awda.LoanStatusEvent{EventID: "early-1", OrderNo: h.orderNo(), Status: awda.LoanSettled})
	})
	last := h.happyUntil(workflows.StageRepayment) // every step up to disbursement
	for p := 1; p <= 3; p++ {
		h.at(last+time.Duration(p)*time.Minute, func() { h.pay(p) })
	}
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)

	st := h.status()
	var reasons []string
	for _, ig := range st.Ignored {
		reasons = append(reasons, ig.Signal+" "+ig.EventID+": "+ig.Reason)
	}
	require.Equal(t, []string{"loan-status early-1: the loan has not been submitted to AWDA"}, reasons)
	for _, tr := range st.Transitions {
		if tr.Kind == workflows.KindLoanStatus {
			require.Equal(t, "SUBMITTED", tr.To, "the first AWDA status is our submit's, not the early push")
			break
		}
	}
}

// A push that would end the loan is applied only when AWDA's loan info says
// the same: anyone who can signal the workflow could otherwise end a loan.
// Forged REJECTED (in review) and SETTLED (in repayment, nothing paid) are
// ignored, naming what AWDA said; the real SETTLED ends the loan.
func TestFinalPushIsConfirmedWithAWDA(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageReview)
	h.at(last+30*time.Second, func() { h.pushEvent(awda.LoanRejected, 0) }) // AWDA holds no such status
	last = h.happy(last+time.Minute, workflows.StageReview, workflows.StageRepayment)
	h.at(last+time.Minute, func() { h.pushEvent(awda.LoanSettled, 0) }) // nothing paid yet
	for p := 1; p <= 3; p++ {
		h.at(last+time.Duration(p+1)*time.Minute, func() { h.pay(p) })
	}
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)

	st := h.status()
	var forged []string
	for _, ig := range st.Ignored {
		require.Contains(t, ig.Reason, "AWDA's loan info says ", "ignored %s %s", ig.Status, ig.EventID)
		require.NotContains(t, ig.Reason, "says "+ig.Status, "a push AWDA confirmed was ignored")
		forged = append(forged, ig.Status)
	}
	require.Equal(t, []string{"REJECTED", "SETTLED"}, forged)
	end := st.Transitions[len(st.Transitions)-1]
	for i := len(st.Transitions) - 1; i >= 0; i-- {
		if st.Transitions[i].Kind == workflows.KindLoanStatus {
			end = st.Transitions[i]
			break
		}
	}
	require.Equal(t, "SETTLED", end.To)
	require.Contains(t, end.Note, "confirmed by loan info")
	require.NotEmpty(t, end.EventID, "the confirmed push keeps its eventId in the trail")
}

// Two final pushes in one workflow task, AWDA's real CANCELLED and a forged
// SETTLED, in either order: the one loan/info read confirms the real one,
// which ends the loan with its eventId in the trail, and the forged one is
// recorded as ignored. Before confirm-each the second replaced the first,
// which was then neither applied nor recorded (the simulator, seed 89).
func TestFinalPushesInOneTaskAreEachAccountedFor(t *testing.T) {
	for _, forgedFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("forged first %v", forgedFirst), func(t *testing.T) {
			h := newHarness(t)
			last := h.happyUntil(workflows.StageAgreement)
			var real, forged awda.LoanStatusEvent
			h.at(last+time.Minute, func() {
				h.moves(awda.LoanCancelled)
				mk := func(s awda.LoanStatus) awda.LoanStatusEvent {
					return awda.LoanStatusEvent{EventID: h.eventID(), EventType: awda.EventTypeLoanStatus, LoanNo: h.awda.LoanNo(h.orderNo()),
						OrderNo: h.orderNo(), Status: s, OccurredAt: h.env.Now().UnixMilli()}
				}
				real, forged = mk(awda.LoanCancelled), mk(awda.LoanSettled)
				first, second := real, forged
				if forgedFirst {
					first, second = forged, real
				}
				h.env.SignalWorkflowSkippingWorkflowTask(workflows.LoanStatusSignal.Name, first)
				signal(h.env, workflows.LoanStatusSignal, second)
			})
			h.run(loanInput())
			require.Equal(t, workflows.StageCancelled, h.result().Outcome)
			st := h.status()
			applied := 0
			for _, tr := range st.Transitions {
				require.NotEqual(t, forged.EventID, tr.EventID, "the forged push was applied")
				if tr.EventID == real.EventID {
					applied++
					require.Equal(t, "CANCELLED", tr.To)
					require.Contains(t, tr.Note, "confirmed by loan info")
				}
			}
			require.Equal(t, 1, applied, "AWDA's CANCELLED applied once")
			var ignored []string
			for _, ig := range st.Ignored {
				ignored = append(ignored, ig.EventID+": "+ig.Reason)
			}
			require.Equal(t, []string{forged.EventID + ": AWDA's loan info says CANCELLED"}, ignored)
		})
	}
}

// A final push held for confirmation when the loan ends by another path, the
// borrower's cancel in the same task, is recorded as ignored: every push is
// applied or recorded.
func TestHeldPushIsRecordedWhenTheLoanEndsFirst(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	var forged awda.LoanStatusEvent
	h.at(last+time.Minute, func() {
		forged = awda.LoanStatusEvent{EventID: h.eventID(), EventType: awda.EventTypeLoanStatus, LoanNo: h.awda.LoanNo(h.orderNo()),
			OrderNo: h.orderNo(), Status: awda.LoanRejected, OccurredAt: h.env.Now().UnixMilli()}
		h.env.SignalWorkflowSkippingWorkflowTask(workflows.LoanStatusSignal.Name, forged)
		signal(h.env, workflows.CancelSignal, workflows.CancelRequest{Reason: "no longer needed"})
	})
	h.run(loanInput())
	require.Equal(t, workflows.StageCancelled, h.result().Outcome)
	st := h.status()
	for _, tr := range st.Transitions {
		require.NotEqual(t, forged.EventID, tr.EventID, "the held push was applied")
	}
	require.Len(t, st.Ignored, 1)
	require.Equal(t, forged.EventID, st.Ignored[0].EventID)
	require.Contains(t, st.Ignored[0].Reason, "the loan ended CANCELLED before AWDA's loan info was read to confirm it")
}

// AWDA cancels a loan waiting for the signature while loan/info is down for
// longer than the confirmation read's retries last: the push stays held and
// is asked about again every PollInterval, and ends the loan CANCELLED once
// loan/info answers (confirm-each). Before, the push was ignored when the
// read failed and, AGREEMENT not polling, the loan expired a week later.
func TestFinalPushOutlastsLoanInfoOutage(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	restore := last + 40*time.Minute
	var ev awda.LoanStatusEvent
	h.at(last+time.Minute, func() { h.awda.Outage(awda.PathLoanInfo, awda.CodeSystemBusy) })
	h.at(last+2*time.Minute, func() { ev = h.push(awda.LoanCancelled) })
	h.at(restore, func() { h.awda.Restore(awda.PathLoanInfo) })
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageCancelled, res.Outcome)
	cfg := workflows.DefaultConfig()
	require.False(t, res.ClosedAt.Before(h.start.Add(restore)), "ended at %s, before loan/info answered", res.ClosedAt.Sub(h.start))
	require.True(t, res.ClosedAt.Before(h.start.Add(restore+cfg.PollInterval+5*time.Minute)),
		"ended at %s, loan/info answering from %s", res.ClosedAt.Sub(h.start), restore)
	st := h.status()
	applied := false
	for _, tr := range st.Transitions {
		applied = applied || tr.EventID == ev.EventID && tr.To == "CANCELLED"
	}
	require.True(t, applied, "AWDA's CANCELLED applied with its eventId")
	for _, ig := range st.Ignored {
		require.NotEqual(t, ev.EventID, ig.EventID, "ignored: %s", ig.Reason)
	}
}
