package workflows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/workflows"
)

// Terminal outcomes other than SETTLED, and every deadline.

func TestIneligible(t *testing.T) {
	cases := []struct {
		name   string
		ref    string // the sandbox finds a partnerUserId with "ineligible" in it ineligible
		max    int64
		tenor  int
		reason string
	}{
		{"AWDA says no", applicantRef + "-ineligible", 0, 3, "credit assessment not passed"},
		{"amount above maximum", applicantRef, 1_000_000, 3, "amount above AWDA's maximum of 1000000"},
		{"tenor not offered", applicantRef, 0, 24, "tenor 24 MONTH not offered"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *sandbox.Config) { cfg.MaxAmount = c.max })
			in := loanInput()
			in.ApplicantRef = c.ref
			in.Loan.Tenor = c.tenor
			h.run(in)
			res := h.result()
			require.Equal(t, workflows.StageIneligible, res.Outcome)
			require.Equal(t, c.reason, res.Reason)
			require.Equal(t, 0, h.awda.Calls(awda.PathAuthList), "nothing after the eligibility check")
			row, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
			require.Equal(t, "INELIGIBLE", row.Stage)
			require.Equal(t, c.reason, row.Reason)
			require.True(t, row.Terminal)
		})
	}
}

func TestRejected(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageReview)
	h.at(last+time.Minute, func() { h.push(awda.LoanUnderReview) })
	h.at(last+2*time.Minute, func() { h.push(awda.LoanRejected) })
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageRejected, res.Outcome)
	require.Equal(t, awda.LoanRejected, res.LoanStatus)
	require.Equal(t, 0, h.awda.Calls(awda.PathLoanAgreement))
}

func TestAuthorizationDeadlineExpires(t *testing.T) {
	h := newHarness(t)
	h.at(time.Hour, func() { h.authorize("EKYC", awda.AuthSuccess) }) // TELCO never comes
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageExpired, res.Outcome)
	require.Equal(t, "authorizations not completed before the deadline", res.Reason)
	require.Equal(t, h.start.Add(72*time.Hour), res.ClosedAt)
	require.Equal(t, 2, h.awda.Calls(awda.PathAuthList), "listed at the start and once more at the deadline")
}

func TestAuthorizationDeadlineIsConfigurable(t *testing.T) {
	h := newHarness(t)
	in := loanInput()
	in.Config.AuthorizationDeadline = 6 * time.Hour
	h.run(in)
	require.Equal(t, h.start.Add(6*time.Hour), h.result().ClosedAt)
}

func TestAuthorizationCallbackLostIsFoundAtTheDeadline(t *testing.T) {
	h := newHarness(t)
	h.at(time.Hour, func() {
		st := h.status()
		h.setAuth(st.UserID, "EKYC", awda.AuthSuccess)
		h.setAuth(st.UserID, "TELCO", awda.AuthSuccess) // no callbacks
	})
	h.run(loanInput())
	res := h.result()
	// It got past authorizations at the 72 h look, then waited 72 h for a card.
	require.Equal(t, workflows.StageExpired, res.Outcome)
	require.Equal(t, "no bank card bound before the deadline", res.Reason)
	require.Equal(t, h.start.Add(144*time.Hour), res.ClosedAt)
}

func TestAuthorizationFailureGetsAFreshPage(t *testing.T) {
	h := newHarness(t)
	var before, after workflows.Status
	h.at(time.Minute, func() {
		before = h.status()
		h.authorize("EKYC", awda.AuthFailed)
	})
	h.at(2*time.Minute, func() {
		after = h.status()
		h.authorizeAll()
	})
	h.at(3*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())

	page := func(s workflows.Status, typ string) workflows.Authorization {
		for _, au := range s.Authorizations {
			if au.AuthType == typ {
				return au
			}
		}
		t.Fatalf("no %s", typ)
		return workflows.Authorization{}
	}
	require.Equal(t, 1, page(before, "EKYC").Attempts)
	require.Equal(t, 2, page(after, "EKYC").Attempts)
	require.NotEqual(t, page(before, "EKYC").URL, page(after, "EKYC").URL)
	require.Equal(t, 1, page(after, "TELCO").Attempts, "only the failed one is fetched again")
	require.Equal(t, 3, h.awda.Calls(awda.PathAuthPage))
	row, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.Equal(t, "CANCELLED", row.Stage, "got to the bank card, then was cancelled through Temporal")
	require.True(t, temporal.IsCanceledError(h.env.GetWorkflowError()))
}

func TestAuthorizationAttemptsAreBounded(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 3; i++ {
		h.at(time.Duration(i)*time.Minute, func() { h.authorize("TELCO", awda.AuthExpired) })
	}
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageFailed, res.Outcome)
	require.Equal(t, "authorization TELCO not completed in 3 attempts", res.Reason)
}

func TestBankCardDeadlineExpires(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, h.authorizeAll)
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageExpired, res.Outcome)
	require.Equal(t, "no bank card bound before the deadline", res.Reason)
	require.Equal(t, h.start.Add(time.Minute+72*time.Hour), res.ClosedAt)
}

func TestAgreementDeadlineExpires(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageExpired, res.Outcome)
	require.Equal(t, "agreement not signed before the deadline", res.Reason)
	require.Equal(t, h.start.Add(last+7*24*time.Hour), res.ClosedAt)
	require.Equal(t, 0, h.awda.Calls(awda.PathLoanSign))
}

func TestCancelAtAgreement(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	h.at(last+time.Minute, func() {
		signal(h.env, workflows.CancelSignal, workflows.CancelRequest{Reason: "changed my mind"})
	})
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageCancelled, res.Outcome)
	require.Equal(t, workflows.ReasonWithdrawnAfterSubmission, res.Reason, "AWDA has no cancel: the outcome says what became of the loan there")
	require.Equal(t, 0, h.awda.Calls(awda.PathLoanSign))
}

func TestCancelBeforeSubmissionSubmitsNothing(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { signal(h.env, workflows.CancelSignal, workflows.CancelRequest{}) })
	h.run(loanInput())
	require.Equal(t, workflows.StageCancelled, h.result().Outcome)
	require.Equal(t, 0, h.awda.Submissions(h.orderNo()))
}

func TestCancelAfterSigningIsIgnored(t *testing.T) {
	h := newHarness(t)
	signedAt := h.happyUntil(workflows.StageDisbursement)
	cancelAt := signedAt + 30*time.Second
	h.at(cancelAt, func() { signal(h.env, workflows.CancelSignal, workflows.CancelRequest{}) })
	last := h.happy(signedAt, workflows.StageDisbursement, "")
	for p := 1; p <= 3; p++ {
		h.at(last+time.Duration(p)*time.Minute, func() { h.pay(p) })
	}
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)
	st := h.status()
	require.Contains(t, st.Ignored, workflows.Ignored{At: h.start.Add(cancelAt), Signal: workflows.CancelSignal.Name, Reason: "too late to cancel at DISBURSEMENT"})
}

func TestAWDACancellation(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	h.at(last+time.Minute, func() { h.push(awda.LoanCancelled) })
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageCancelled, res.Outcome)
	require.Equal(t, "cancelled by AWDA", res.Reason)
}

func TestInvalidInputFailsTheWorkflow(t *testing.T) {
	h := newHarness(t)
	in := loanInput()
	in.Applicant.NIK = ""
	h.run(in)
	err := h.env.GetWorkflowError()
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	require.Equal(t, workflows.ErrTypeInvalidInput, ae.Type())
	require.Contains(t, ae.Error(), "applicant.nik is required")
	require.Equal(t, 0, h.awda.Calls(awda.PathUserRegister))
}

func TestExistingUserAndBoundCard(t *testing.T) {
	h := newHarness(t)
	// The applicant registered and bound a card in an earlier application.
	reg, err := h.awda.Client.Register(t.Context(), &awda.RegisterRequest{PartnerUserID: applicantRef, Mobile: testMobile, Name: testName, NIK: testNIK, BirthDate: "1990-01-05"})
	require.NoError(t, err)
	_, err = h.awda.Client.BankCardVerify(t.Context(), &awda.BankCardVerifyRequest{UserID: reg.UserID, BankCode: "BRI", AccountNo: "123456789012345", AccountName: testName})
	require.NoError(t, err)

	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.env.CancelWorkflow() })
	var st workflows.Status
	h.at(90*time.Second, func() { st = h.status() })
	h.run(loanInput())
	require.Equal(t, reg.UserID, st.UserID, "1008 is success with the existing userId")
	require.Equal(t, workflows.StageReview, st.Stage, "no bank card step for a bound card")
	require.Equal(t, awda.CardBound, st.BankCard.Status)
	require.Equal(t, "BRI", st.BankCard.BankCode)
	require.Equal(t, 1, h.awda.Calls(awda.PathBankCardVerify), "only the earlier application verified a card")
}

func TestSubmitRepeatIsReconciled(t *testing.T) {
	h := newHarness(t)
	// The first attempt reaches AWDA, but its answer is lost.
	h.awda.LoseNext(awda.PathLoanSubmit)
	var st workflows.Status
	last := h.happyUntil(workflows.StageReview)
	h.at(last+30*time.Second, func() { st = h.status() })
	h.at(last+time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())
	require.Equal(t, 2, h.awda.Submissions(h.orderNo()))
	require.Equal(t, 1, h.awda.Loans(), "exactly one loan at AWDA")
	require.Equal(t, h.awda.LoanNo(h.orderNo()), st.LoanNo)
	require.Equal(t, workflows.StageReview, st.Stage)
	require.Equal(t, 1, h.awda.Calls(awda.PathLoanInfo), "reconciled by LoanInfo(orderNo)")
	var notes []string
	for _, tr := range st.Transitions {
		if tr.Kind == workflows.KindLoanStatus {
			notes = append(notes, tr.Note)
		}
	}
	require.Equal(t, []string{"reconciled after a repeated submission"}, notes)
}

func TestOrderNoIsDerivedFromTheWorkflowID(t *testing.T) {
	a, b := workflows.OrderNo("loan:app-42"), workflows.OrderNo("loan:app-43")
	require.Equal(t, a, workflows.OrderNo("loan:app-42"))
	require.NotEqual(t, a, b)
	require.Len(t, a, 32)
	require.Regexp(t, `^AF[0-9a-f]{30}$`, a, "fits AWDA's 64-character orderNo")
}

func TestApplicantRefOfInvertsLoanWorkflowID(t *testing.T) {
	ref, ok := workflows.ApplicantRefOf(workflows.LoanWorkflowID("app-42"))
	require.True(t, ok)
	require.Equal(t, "app-42", ref)
	for _, id := range []string{"loan:", "awdaflow-retention-documents", "LOAN:app-42", "xloan:app-42", ""} {
		_, ok := workflows.ApplicantRefOf(id)
		require.False(t, ok, id)
	}
}
