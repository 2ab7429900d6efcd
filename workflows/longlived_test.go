package workflows_test

// Loans that live for months: the bugs a review with time-skipping tests
// found (issue 10, 1-6), each pinned by a test that failed on the code before
// the bounded waits.

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// continued returns the input of the run the loan continued as new into.
func (h *harness) continued() workflows.LoanApplicationInput {
	h.t.Helper()
	var can *workflow.ContinueAsNewError
	require.True(h.t, errors.As(h.env.GetWorkflowError(), &can), "want continue-as-new, got %v", h.env.GetWorkflowError())
	var next workflows.LoanApplicationInput
	require.NoError(h.t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(h.t, next.Resume)
	return next
}

// suggestWithNext makes the server's continue-as-new suggestion arrive with
// the next signal sent: in the test environment, setting it directly would
// let the delayed callback's own workflow task act on it before the signal.
func (h *harness) suggestWithNext() {
	h.env.RegisterDelayedCallback(func() { h.env.SetContinueAsNewSuggested(true) }, 0)
}

func applied(st *workflows.State, eventID string) bool {
	for _, tr := range st.Transitions {
		if tr.EventID == eventID {
			return true
		}
	}
	return false
}

// Bug 1: a push delivered in the workflow task in which continue-as-new is
// first suggested is carried to the next run.
func TestPushInTheTaskThatContinuesAsNewIsCarried(t *testing.T) {
	t.Run("review", func(t *testing.T) {
		h := newHarness(t)
		last := h.happyUntil(workflows.StageReview)
		var ev awda.LoanStatusEvent
		h.at(last+time.Hour, func() {
			h.suggestWithNext()
			ev = h.push(awda.LoanUnderReview)
		})
		h.run(loanInput())
		next := h.continued()
		require.Equal(t, workflows.StageReview, next.Resume.Stage)
		require.Equal(t, awda.LoanUnderReview, next.Resume.LoanStatus)
		require.Contains(t, next.Resume.SeenEventIDs, ev.EventID)
		require.True(t, applied(next.Resume, ev.EventID))
	})
	t.Run("repayment", func(t *testing.T) {
		h := newHarness(t)
		last := h.happyUntil("")
		var ev awda.LoanStatusEvent
		h.at(last+time.Hour, func() {
			h.suggestWithNext()
			no := h.awda.LoanNo(h.orderNo())
			h.payAt(no, 1)
			ev = h.pushEvent(awda.LoanRepaying, 1)
		})
		h.run(loanInput())
		next := h.continued()
		require.Contains(t, next.Resume.SeenEventIDs, ev.EventID)
		require.True(t, applied(next.Resume, ev.EventID))
		require.Equal(t, awda.InstallmentPaid, next.Resume.Schedule[0].Status, "the push's refresh ran before the hand-over")
	})
	t.Run("cancel at authorizations", func(t *testing.T) {
		h := newHarness(t)
		h.at(time.Hour, func() {
			h.suggestWithNext()
			signal(h.env, workflows.CancelSignal, workflows.CancelRequest{Reason: "no longer needed"})
		})
		h.run(loanInput())
		res := h.result()
		require.Equal(t, workflows.StageCancelled, res.Outcome, "the cancel the drain applied is acted on, not handed over and forgotten")
		require.Equal(t, h.start.Add(time.Hour), res.ClosedAt)
	})
}

// Bug 2: a card AWDA keeps VERIFYING honours the borrower's cancel, and the
// wait has a deadline that parks the loan instead of polling for ever.
func TestVerifyingCardHonoursCancel(t *testing.T) {
	h := newHarness(t)
	h.cardVerdicts(awda.CardVerifying, "", 1)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	h.at(7*time.Minute, func() { signal(h.env, workflows.CancelSignal, workflows.CancelRequest{}) })
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageCancelled, res.Outcome)
	require.Equal(t, h.start.Add(7*time.Minute), res.ClosedAt, "within the workflow task of the cancel")
	require.Zero(t, h.awda.Submissions(h.orderNo()))
}

func TestVerifyingCardIsBoundedByItsDeadline(t *testing.T) {
	h := newHarness(t)
	h.cardVerdicts(awda.CardVerifying, "", 1)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	var st workflows.Status
	var queries int
	h.at(5*24*time.Hour, func() {
		st = h.status()
		queries = h.awda.Calls(awda.PathBankCardQuery)
		h.env.CancelWorkflow()
	})
	h.run(loanInput())
	require.NotNil(t, st.Stuck, "parked for operations after the deadline")
	require.Equal(t, "verify bank card", st.Stuck.Step)
	require.Equal(t, "no answer from AWDA within 3 days", st.Stuck.Reason)
	require.Equal(t, h.start.Add(2*time.Minute+72*time.Hour), st.Stuck.Since)
	// 10 min doubling to the 6 h cap: 6 polls in the first 10.5 h, then
	// about 4 a day; none while parked. Fixed 10-minute polls made 432.
	require.LessOrEqual(t, queries, 1+6+11+1)
	require.GreaterOrEqual(t, queries, 10)
}

// Bug 3: the VERIFYING card's verdict is its own, not that of an earlier
// card at the same bank.
func TestVerifyingCardIsMatchedByAccount(t *testing.T) {
	h := newHarness(t)
	h.cardVerdicts(awda.CardFailed, "closed account", 1)
	h.cardVerdicts(awda.CardVerifying, "", 1)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() {
		h.submitCard(workflows.BankCardInput{BankCode: "BCA", AccountNo: "1111222233", AccountName: testName})
	})
	var second *updateCall
	h.at(3*time.Minute, func() { second = h.submitCard(goodCard()) })
	h.at(5*time.Hour, func() {
		h.setCard(h.status().UserID, "BCA", testAccount[len(testAccount)-4:], awda.CardBound)
	})
	var st workflows.Status
	h.at(12*time.Hour, func() { st = h.status(); h.env.CancelWorkflow() })
	h.run(loanInput())
	require.Equal(t, workflows.BankCardResult{Accepted: true, Status: "VERIFYING"}, decode[workflows.BankCardResult](t, h.requireAccepted(second)))
	require.Equal(t, workflows.StageReview, st.Stage, "bound, and on to submission")
	require.Equal(t, awda.CardBound, st.BankCard.Status)
	require.Equal(t, "******3456", st.BankCard.AccountNoMasked, "the new card's number, not the refused one's")
	require.Equal(t, 1, st.BankCard.Attempts, "only the first card was refused")
}

// Bug 4: AWDA's CANCELLED during repayment ends the loan at once, not at the
// next due-date check.
func TestCancelledPushEndsRepaymentAtOnce(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil("")
	h.at(last+time.Hour, func() { h.push(awda.LoanCancelled) })
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageCancelled, res.Outcome)
	require.Equal(t, "cancelled by AWDA", res.Reason)
	require.Equal(t, h.start.Add(last+time.Hour), res.ClosedAt)
}

// Bug 5: every AWDA wait is bounded and can continue as new; the history a
// waiting day costs is small.
func TestReviewWaitIsBoundedAndBacksOff(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageReview)
	var st workflows.Status
	var polls int
	h.at(20*24*time.Hour, func() {
		st = h.status()
		polls = h.awda.Calls(awda.PathLoanInfo)
	})
	h.at(21*24*time.Hour, func() { h.push(awda.LoanApproved) })
	h.at(21*24*time.Hour+time.Minute, func() { h.sign() })
	h.at(21*24*time.Hour+2*time.Minute, func() { h.push(awda.LoanDisbursed) })
	h.at(21*24*time.Hour+3*time.Minute, func() {
		for p := 1; p <= 3; p++ {
			h.pay(p)
		}
	})
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome, "AWDA's late approval resumed the parked loan by itself")
	require.NotNil(t, st.Stuck)
	require.Equal(t, "review", st.Stuck.Step)
	require.Equal(t, "no answer from AWDA within 14 days", st.Stuck.Reason)
	require.Equal(t, h.start.Add(last).Add(14*24*time.Hour).Round(time.Minute), st.Stuck.Since.Round(time.Minute))
	// Backing off to 6 h: about 60 polls in 14 days (fixed 10-minute polls
	// made 2,016), none while parked.
	require.Less(t, polls, 70)
	var resumed bool
	for _, tr := range h.status().Transitions {
		resumed = resumed || tr.Kind == workflows.KindResumed && tr.From == "review" && tr.Note == "AWDA answered"
	}
	require.True(t, resumed)
}

func TestContinueAsNewFromEveryWaitingStage(t *testing.T) {
	for _, tc := range []struct {
		stage workflows.Stage
		setup func(h *harness) time.Duration // returns when the loan waits there
	}{
		{workflows.StageAuthorizations, func(h *harness) time.Duration { return 0 }},
		{workflows.StageBankCard, func(h *harness) time.Duration { return h.happyUntil(workflows.StageBankCard) }},
		{workflows.StageReview, func(h *harness) time.Duration { return h.happyUntil(workflows.StageReview) }},
		{workflows.StageAgreement, func(h *harness) time.Duration { return h.happyUntil(workflows.StageAgreement) }},
		{workflows.StageDisbursement, func(h *harness) time.Duration { return h.happyUntil(workflows.StageDisbursement) }},
		{workflows.StageRepayment, func(h *harness) time.Duration { return h.happyUntil("") }},
	} {
		t.Run(string(tc.stage), func(t *testing.T) {
			h := newHarness(t)
			at := tc.setup(h) + time.Hour
			h.at(at, func() { h.env.SetContinueAsNewSuggested(true) })
			h.run(loanInput())
			next := h.continued()
			require.Equal(t, tc.stage, next.Resume.Stage)
			if next.Resume.LoanNo == "" {
				require.Equal(t, testNIK, next.Applicant.NIK, "before submission the profile travels (encrypted by the codec)")
			} else {
				require.Empty(t, next.Applicant.NIK)
			}

			// The next run takes the loan to its end from there.
			n := h.next()
			stage := tc.stage
			if stage == workflows.StageAuthorizations {
				stage = ""
				n.at(time.Minute, n.authorizeAll)
				n.happy(time.Minute, workflows.StageBankCard, "")
			} else if stage != workflows.StageRepayment {
				n.happy(0, stage, "")
			}
			end := n.happy(0, workflows.StageRepayment, "")
			n.at(end+time.Hour, func() {
				for p := 1; p <= 3; p++ {
					n.pay(p)
				}
			})
			n.run(next)
			require.Equal(t, workflows.StageSettled, n.result().Outcome)
			require.Equal(t, 1, h.awda.Submissions(h.orderNo()))
		})
	}
}

// Bug 6: the final read-model write retries until it lands; the trail in
// the state is bounded while the read model gets every transition once; a
// retried signature that AWDA refuses because the first attempt signed goes
// on; a card is refused while a cancel is pending.
func TestFinalProjectionRetriesUntilItLands(t *testing.T) {
	h := newHarness(t)
	in := loanInput()
	in.Config.RetryBudget = 2 * time.Minute
	h.at(time.Minute, func() {
		// PostgreSQL away for about four minutes, longer than any retry
		// budget of the loan (the test environment caps an activity at ten
		// attempts, which the real server does not).
		h.proj.FailNext(8)
		signal(h.env, workflows.CancelSignal, workflows.CancelRequest{})
	})
	h.run(in)
	require.Equal(t, workflows.StageCancelled, h.result().Outcome)
	row, ok := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.True(t, ok)
	require.Equal(t, "CANCELLED", row.Stage)
	require.True(t, row.Terminal)
}

func TestTrailIsBoundedInStateAndCompleteInTheReadModel(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil("")
	const repeats = 80
	for i := range repeats {
		h.at(last+time.Duration(i+1)*time.Minute, func() { h.pushEvent(awda.LoanRepaying, 0) })
	}
	h.at(last+time.Duration(repeats+1)*time.Minute, func() {
		for p := 1; p <= 3; p++ {
			h.pay(p)
		}
	})
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)
	st := h.status()
	require.LessOrEqual(t, len(st.Transitions), 50, "the state keeps the last 50")
	require.Greater(t, st.TrailSeq, int64(repeats))

	seen := map[int64]int{}
	for _, w := range h.proj.Writes() {
		for _, e := range w.Trail {
			seen[e.Seq]++
		}
	}
	for seq := int64(1); seq <= st.TrailSeq; seq++ {
		require.Positive(t, seen[seq], "transition %d reached the read model", seq)
	}
	require.Equal(t, st.Transitions[len(st.Transitions)-1].Seq, st.TrailSeq)
}

func TestRefusedSignatureRetryAfterALostAnswerGoesOn(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	h.at(last+time.Minute, func() {
		// The first attempt signed at AWDA but its answer was lost; the
		// retry is refused as a repeat of a signed loan.
		h.moves(awda.LoanSigned)
		h.awda.FailCodes(awda.PathLoanSign, awda.CodeParamInvalid)
		h.sign()
	})
	h.at(last+2*time.Minute, func() { h.push(awda.LoanDisbursed) })
	h.at(last+3*time.Minute, func() {
		for p := 1; p <= 3; p++ {
			h.pay(p)
		}
	})
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)
	for _, tr := range h.status().Transitions {
		require.NotEqual(t, workflows.KindStuck, tr.Kind, "not parked: AWDA had the signature")
	}
}

// An update that is what the wait waits for, arriving with the suggestion,
// is served in this run; the loan hands over at its next wait.
func TestUpdateWithTheContinueAsNewSuggestionIsServed(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageBankCard)
	var u *updateCall
	h.at(last+time.Hour, func() {
		h.suggestWithNext()
		u = h.submitCard(goodCard())
	})
	h.run(loanInput())
	require.True(t, decode[workflows.BankCardResult](t, h.requireAccepted(u)).Accepted)
	next := h.continued()
	require.Equal(t, workflows.StageReview, next.Resume.Stage, "bound, submitted, then handed over at the review wait")
	require.Equal(t, 1, h.awda.Submissions(h.orderNo()))
}

// A signature that reaches a run handed the loan at AGREEMENT in that run's
// first workflow task is taken (found by the simulator, seed 336).
func TestSignatureInTheFirstTaskOfAResumedRun(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	h.at(last+time.Hour, func() { h.env.SetContinueAsNewSuggested(true) })
	h.run(loanInput())
	next := h.continued()
	require.Equal(t, workflows.StageAgreement, next.Resume.Stage)
	require.NotNil(t, next.Resume.Agreement)

	n := h.next()
	var u *updateCall
	n.env.RegisterDelayedCallback(func() {
		u = update(n, workflows.SignAgreementUpdate, workflows.SignAgreementInput{AgreementID: next.Resume.Agreement.ID, Consent: true, ClientIP: "203.0.113.7"})
	}, 0)
	n.at(time.Minute, func() { n.push(awda.LoanDisbursed) })
	n.at(2*time.Minute, func() {
		for p := 1; p <= 3; p++ {
			n.pay(p)
		}
	})
	n.run(next)
	require.True(t, decode[workflows.SignAgreementResult](t, n.requireAccepted(u)).Accepted)
	require.Equal(t, workflows.StageSettled, n.result().Outcome)
}

// An AWDA wait that ends leaves no wait behind: a later wait of the same
// kind (disbursement again after a DISBURSE_FAILED) starts from a fresh
// deadline (found by the simulator, seed 1096).
func TestAWDAWaitEndsClean(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil("")
	var st workflows.Status
	h.at(last+time.Hour, func() { st = h.status(); h.env.CancelWorkflow() })
	h.run(loanInput())
	require.Equal(t, workflows.StageRepayment, st.Stage)
	require.Nil(t, st.Wait)
}

// A poll that fails until its budget is spent parks the loan; AWDA's push
// of the awaited status resumes it (found by the simulator, seed 1005).
func TestFailedPollIsMootOnceAWDAPushes(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageDisbursement)
	in := loanInput()
	in.Config.RetryBudget = time.Minute
	h.at(last+time.Minute, func() { h.awda.Outage(awda.PathLoanInfo, awda.CodeSystemBusy) })
	var stuck workflows.Status
	h.at(last+2*time.Hour, func() { stuck = h.status() })
	h.at(last+3*time.Hour, func() {
		h.awda.Restore(awda.PathLoanInfo)
		h.push(awda.LoanDisbursed)
	})
	var resumed workflows.Status
	h.at(last+3*time.Hour+time.Minute, func() { resumed = h.status() })
	h.at(last+4*time.Hour, func() {
		for p := 1; p <= 3; p++ {
			h.pay(p)
		}
	})
	h.run(in)
	require.NotNil(t, stuck.Stuck)
	require.Equal(t, "poll loan status", stuck.Stuck.Step)
	require.Nil(t, resumed.Stuck, "the push resumed the loan without operations")
	require.Equal(t, workflows.StageRepayment, resumed.Stage)
	require.Equal(t, workflows.StageSettled, h.result().Outcome)
}

// A run handed the loan while its card was VERIFYING, which finds the card
// bound, leaves the bank-card deadline behind: the agreement gets its own
// (found by the simulator, seeds 15987, 17424).
func TestStaleBankCardDeadlineDoesNotExpireTheAgreement(t *testing.T) {
	h := newHarness(t)
	h.cardVerdicts(awda.CardVerifying, "", 1)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	h.at(time.Hour, func() { h.env.SetContinueAsNewSuggested(true) })
	h.run(loanInput())
	next := h.continued()
	require.Equal(t, workflows.StageBankCard, next.Resume.Stage)
	h.setCard(next.Resume.UserID, "BCA", "", awda.CardBound)

	n := h.next()
	n.at(24*time.Hour, func() { n.push(awda.LoanApproved) })
	n.at(4*24*time.Hour, func() { n.sign() }) // after the bank-card deadline, within the agreement's
	n.at(4*24*time.Hour+time.Minute, func() { n.push(awda.LoanDisbursed) })
	n.at(4*24*time.Hour+2*time.Minute, func() {
		for p := 1; p <= 3; p++ {
			n.pay(p)
		}
	})
	n.run(next)
	require.Equal(t, workflows.StageSettled, n.result().Outcome)
}

// A DISBURSE_FAILED found by a poll and pushed later is one failure: after
// operations retry, the loan waits for AWDA instead of parking again (found
// by the simulator, seeds 10172, 13587).
func TestLateDisburseFailedPushIsNotASecondFailure(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageDisbursement)
	h.at(last+time.Minute, func() { h.moves(awda.LoanDisburseFailed) }) // a poll finds it
	h.at(last+2*time.Hour, func() { h.pushEvent(awda.LoanDisburseFailed, 0) })
	h.at(last+3*time.Hour, func() {
		signal(h.env, workflows.RetrySignal, workflows.RetryRequest{Operator: "ops-1", Reason: "payout fixed"})
	})
	var st workflows.Status
	h.at(last+4*time.Hour, func() { st = h.status() })
	h.at(last+5*time.Hour, func() { h.push(awda.LoanDisbursed) })
	h.at(last+5*time.Hour+time.Minute, func() {
		for p := 1; p <= 3; p++ {
			h.pay(p)
		}
	})
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)
	require.Nil(t, st.Stuck, "not parked again for the failure operations already handled")
	require.Equal(t, 2, st.DisburseFailures)
}

// A push that reaches a loan which has ended, while its last projection is
// still being written, is recorded as ignored, not applied (found by make
// chaos: AWDA's SETTLED arriving again during the final write).
func TestPushAfterTheEndIsIgnored(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil("")
	h.at(last+time.Minute, func() {
		h.proj.FailNext(3) // the final write takes a few attempts
		for p := 1; p <= 3; p++ {
			h.pay(p)
		}
	})
	var again awda.LoanStatusEvent
	h.at(last+time.Minute+2*time.Second, func() { again = h.pushEvent(awda.LoanSettled, 0) })
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)
	st := h.status()
	for _, tr := range st.Transitions {
		require.NotEqual(t, again.EventID, tr.EventID, "not applied after the end")
	}
	require.Contains(t, st.Ignored, workflows.Ignored{At: h.start.Add(last + time.Minute + 2*time.Second), Signal: workflows.LoanStatusSignal.Name, EventID: again.EventID, Status: "SETTLED", Reason: "the loan has ended"})
}
