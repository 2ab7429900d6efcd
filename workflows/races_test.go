package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// These tests hold the rule that a late activity result never overwrites
// newer state from a signal, and that a final AWDA status wins over a step
// that AWDA refused because of it.

func authOf(t *testing.T, s workflows.Status, typ string) workflows.Authorization {
	t.Helper()
	for _, au := range s.Authorizations {
		if au.AuthType == typ {
			return au
		}
	}
	t.Fatalf("no %s in %+v", typ, s.Authorizations)
	return workflows.Authorization{}
}

// The pages are fetched in parallel. The EKYC page arrives at once, the
// borrower fails it and AWDA's FAILED callback arrives while the TELCO
// page read is still retrying busy answers; when that read finally
// succeeds, the EKYC failure must stand and a fresh page be fetched,
// not be overwritten by the stale page result (PENDING, no page needed),
// which would leave the loan waiting for nothing until the deadline.
func TestAuthorizationCallbackDuringPageFetchIsNotOverwritten(t *testing.T) {
	h := newHarness(t)
	// The TELCO read is answered busy three times (retried after 1, 2
	// and 4 s); EKYC's page is in hand at once.
	h.awda.FailAuthPage("TELCO", awda.CodeSystemBusy, awda.CodeSystemBusy, awda.CodeSystemBusy)
	var during, after workflows.Status
	h.at(2*time.Second, func() { h.authorize("EKYC", awda.AuthFailed) })
	h.at(3*time.Second, func() { during = h.status() }) // TELCO is still being read
	h.at(time.Minute, func() { after = h.status() })
	h.at(2*time.Minute, h.authorizeAll)
	h.at(3*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())

	require.Equal(t, workflows.StageAuthorizations, during.Stage)
	require.Equal(t, awda.AuthFailed, authOf(t, during, "EKYC").Status)

	ktp := authOf(t, after, "EKYC")
	require.Equal(t, 2, ktp.Attempts, "a fresh page after the failure: %+v", after.Authorizations)
	require.False(t, ktp.NeedsPage)
	require.Equal(t, awda.AuthPending, ktp.Status)
	require.NotNil(t, after.Next, "the borrower is asked to authorize")
	require.Equal(t, workflows.ActionAuthorize, after.Next.Action)
	require.Len(t, after.Next.Authorizations, 2)
	require.Equal(t, 1, authOf(t, after, "TELCO").Attempts)

	row, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.Equal(t, "CANCELLED", row.Stage, "went on to the bank card after authorizing")
}

// AWDA moves the loan at AWDA without a push (the push is lost or late).
func (h *harness) settleAtAWDA() {
	// It may run in an activity's goroutine: Error, not FailNow.
	if _, err := h.awda.Advance(h.awda.LoanNo(h.orderNo()), awda.LoanSettled); err != nil {
		h.t.Error(err)
	}
}

// The schedule refresh reads loan/info and repayment/va together. The
// borrower pays the last installment between the two answers: loan/info
// says REPAYING, AWDA refuses the VA of the now settled loan (1007), and
// the SETTLED push is lost. The loan ends SETTLED (AWDA's final status
// wins) instead of parking as stuck at the refresh.
func TestLoanSettledBetweenLoanInfoAndVAEndsSettled(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil("")
	h.at(last+time.Minute, func() { h.pay(1) })
	var stuck *workflows.Stuck
	h.at(last+48*time.Hour, func() {
		// The VA (24 h) has expired: the refresh after this push reads both.
		no := h.awda.LoanNo(h.orderNo())
		h.payAt(no, 2)
		h.awda.AfterNextLoanInfo(h.settleAtAWDA)
		// The two reads run in parallel, in no set order: whichever runs
		// first, the VA is refused as AWDA refuses it for a settled loan.
		h.awda.FailCodes(awda.PathRepaymentVA, awda.CodeParamInvalid)
		h.pushEvent(awda.LoanRepaying, 2)
	})
	h.at(last+49*time.Hour, func() { stuck = h.status().Stuck })
	h.run(loanInput())

	require.Nil(t, stuck, "not parked")
	res := h.result()
	require.Equal(t, workflows.StageSettled, res.Outcome)
	require.Equal(t, awda.LoanSettled, res.LoanStatus)
	require.Equal(t, last+48*time.Hour, res.ClosedAt.Sub(h.start), "at once, not at a poll")
	require.Equal(t, 2, h.awda.Calls(awda.PathRepaymentVA), "at the start, and the refused one")
	st := h.status()
	for _, tr := range st.Transitions {
		require.NotEqual(t, workflows.KindStuck, tr.Kind, "never stuck: %+v", tr)
	}
}

// AWDA cancels the loan while the borrower signs, and its push is late: the
// signature is refused (1007). The loan ends CANCELLED, as AWDA has it,
// instead of parking at "sign agreement" for operations.
func TestSignatureRefusedForACancelledLoanEndsCancelled(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	var u *updateCall
	h.at(last+time.Minute, func() {
		h.moves(awda.LoanCancelled) // the push has not come yet
		u = h.sign()
	})
	h.run(loanInput())

	res := h.result()
	require.Equal(t, workflows.StageCancelled, res.Outcome)
	require.Equal(t, "cancelled by AWDA", res.Reason)
	require.Equal(t, awda.LoanCancelled, res.LoanStatus)
	require.Equal(t, last+time.Minute, res.ClosedAt.Sub(h.start))
	require.Equal(t, 1, h.awda.Calls(awda.PathLoanSign))
	v := h.requireAccepted(u)
	sr := decode[workflows.SignAgreementResult](t, v)
	require.False(t, sr.Accepted)
	require.Equal(t, "the application has ended", sr.Reason)
	require.NotContains(t, h.stuckUpserts(), true, "never stuck")
}

// AWDA cancels the loan right after approving it: the agreement is refused
// (1007) before any push of the cancellation. The loan ends CANCELLED.
func TestAgreementRefusedForACancelledLoanEndsCancelled(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	h.at(3*time.Minute, func() {
		h.push(awda.LoanUnderReview)
		h.push(awda.LoanApproved)
		h.moves(awda.LoanCancelled) // before the workflow asks for the agreement
	})
	h.run(loanInput())

	res := h.result()
	require.Equal(t, workflows.StageCancelled, res.Outcome)
	require.Equal(t, "cancelled by AWDA", res.Reason)
	require.Equal(t, 3*time.Minute, res.ClosedAt.Sub(h.start))
	require.Equal(t, 1, h.awda.Calls(awda.PathLoanAgreement))
	require.NotContains(t, h.stuckUpserts(), true, "never stuck")
}

// A loan parked for operations (here after DISBURSE_FAILED) that AWDA then
// cancels ends CANCELLED when the push comes: nothing is left for
// operations to retry.
func TestParkedLoanEndsWhenAWDACancelsIt(t *testing.T) {
	h := newHarness(t)
	signedAt := h.happyUntil(workflows.StageDisbursement)
	var stuck workflows.Status
	h.at(signedAt+time.Minute, func() { h.push(awda.LoanDisburseFailed) })
	h.at(signedAt+2*time.Minute, func() { stuck = h.status() })
	h.at(signedAt+time.Hour, func() { h.push(awda.LoanCancelled) })
	h.run(loanInput())

	require.NotNil(t, stuck.Stuck)
	require.Equal(t, "disbursement", stuck.Stuck.Step)
	res := h.result()
	require.Equal(t, workflows.StageCancelled, res.Outcome)
	require.Equal(t, "cancelled by AWDA", res.Reason)
	require.Equal(t, signedAt+time.Hour, res.ClosedAt.Sub(h.start))
	st := h.status()
	require.Nil(t, st.Stuck)
	last := st.Transitions[len(st.Transitions)-2]
	require.Equal(t, workflows.Transition{Seq: last.Seq, At: res.ClosedAt, Kind: workflows.KindResumed, From: "disbursement", To: "CANCELLED", Note: "final status from AWDA"}, last)
	row, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.False(t, row.Stuck)
	require.True(t, row.Terminal)
}
