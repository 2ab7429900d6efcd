package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/workflows"
)

func TestHappyPathToSettled(t *testing.T) {
	h := newHarness(t)
	var fired []string
	h.env.SetOnTimerFiredListener(func(id string) { fired = append(fired, id) })
	var seen struct {
		auth, card, sign, repay workflows.Status
	}
	h.at(30*time.Second, func() { seen.auth = h.status() })
	last := h.happyUntil("")
	h.at(90*time.Second, func() { seen.card = h.status() })
	h.at(210*time.Second, func() { seen.sign = h.status() })
	h.at(last+time.Minute, func() { seen.repay = h.status(); h.pay(1) })
	h.at(last+2*time.Minute, func() { h.pay(2) })
	h.at(last+3*time.Minute, func() { h.pay(3) })
	h.run(loanInput())

	res := h.result()
	require.Equal(t, workflows.StageSettled, res.Outcome)
	require.Equal(t, awda.LoanSettled, res.LoanStatus)
	require.Equal(t, h.orderNo(), res.OrderNo)
	require.NotEmpty(t, res.AwdaLoanNo)
	require.Equal(t, 1, h.awda.Submissions(h.orderNo()), "exactly one submission")

	// What the borrower was asked to do, stage by stage.
	require.Equal(t, workflows.StageAuthorizations, seen.auth.Stage)
	require.Equal(t, workflows.ActionAuthorize, seen.auth.Next.Action)
	require.Len(t, seen.auth.Next.Authorizations, 2, "the two required authorizations, not the optional one")
	urls := map[string]bool{}
	for _, au := range seen.auth.Next.Authorizations {
		require.Contains(t, au.URL, sandbox.H5Prefix+"auth/", "AWDA's page for %s", au.AuthType)
		urls[au.URL] = true
	}
	require.Len(t, urls, 2, "a page of its own for each")
	require.Equal(t, h.start.Add(72*time.Hour), seen.auth.Next.Deadline)

	require.Equal(t, workflows.ActionSubmitBankCard, seen.card.Next.Action)
	require.Equal(t, sandbox.Banks, seen.card.Next.Banks)

	require.Equal(t, workflows.ActionSignAgreement, seen.sign.Next.Action)
	require.NotEmpty(t, seen.sign.Next.Agreement.SignURL)
	var agreement awda.LoanSignRequest
	require.NoError(t, h.awda.LastRequest(awda.PathLoanSign, &agreement))
	require.Equal(t, agreement.AgreementID, seen.sign.Next.Agreement.ID, "AWDA's agreement, signed as offered")
	require.NotEmpty(t, agreement.AgreementID)

	require.Equal(t, workflows.ActionRepay, seen.repay.Next.Action)
	require.Equal(t, 1, seen.repay.Next.Installment.Period)
	require.NotNil(t, seen.repay.Next.RepaymentVA)
	require.Len(t, seen.repay.Schedule, 3)

	// The loan moved through every stage, in order; the read model and the
	// search attributes saw the ones it rested in (waiting for the
	// borrower, AWDA or a timer) and its outcome, with a growing Seq.
	require.Equal(t, []string{"REGISTER", "ELIGIBILITY", "AUTHORIZATIONS", "BANK_CARD", "DOCUMENTS", "SUBMIT", "REVIEW", "AGREEMENT", "DISBURSEMENT", "REPAYMENT", "SETTLED"}, h.passed())
	rested := []string{"AUTHORIZATIONS", "BANK_CARD", "REVIEW", "AGREEMENT", "DISBURSEMENT", "REPAYMENT", "SETTLED"}
	// The read model also got a row as soon as register returned AWDA's
	// user ID (by which the inbox routes AWDA's callbacks), at the stage
	// the loan was in; the search attributes did not.
	require.Equal(t, append([]string{"REGISTER"}, rested...), h.stages())
	first := h.proj.Writes()[0]
	require.Equal(t, res.AwdaUserID, first.AwdaUserID, "the first row carries AWDA's user ID")
	var upserted []string
	for i, sa := range h.upserts() {
		stage, ok := sa.GetKeyword(workflows.LoanStageKey)
		require.True(t, ok, "upsert %d carries no stage", i)
		upserted = append(upserted, stage)
		if i > 0 {
			// Only what changed: the stage, and the loan number once.
			_, refAgain := sa.GetKeyword(workflows.ApplicantRefKey)
			require.False(t, refAgain, "upsert %d repeats ApplicantRef", i)
		}
	}
	require.Equal(t, rested, upserted)
	writes := h.proj.Writes()
	for i := 1; i < len(writes); i++ {
		require.Greater(t, writes[i].Seq, writes[i-1].Seq)
	}
	final, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.True(t, final.Terminal)
	require.Equal(t, res.AwdaLoanNo, final.AwdaLoanNo)

	// Every loan-status change is recorded once, with its time.
	st := h.status()
	require.True(t, st.Terminal)
	var statuses []string
	for _, tr := range st.Transitions {
		require.False(t, tr.At.IsZero())
		if tr.Kind == workflows.KindLoanStatus {
			statuses = append(statuses, tr.To)
		}
	}
	require.Equal(t, []string{"SUBMITTED", "UNDER_REVIEW", "APPROVED", "SIGNED", "DISBURSING", "DISBURSED", "REPAYING", "REPAYING", "SETTLED"}, statuses)
	for _, in := range st.Schedule {
		require.Equal(t, awda.InstallmentPaid, in.Status)
	}
	require.Equal(t, "******3456", st.BankCard.AccountNoMasked)
	require.Empty(t, fired, "every deadline and poll timer was cancelled once its wait ended")
	h.requireNoPII()
}
