package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

func TestBankCardValidatorRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	early := map[string]*updateCall{}
	h.at(30*time.Second, func() { early["before the stage"] = h.submitCard(goodCard()) })
	h.at(time.Minute, h.authorizeAll)
	bad := map[string]workflows.BankCardInput{
		"bankCode is not one of the banks offered": {BankCode: "XYZ", AccountNo: testAccount, AccountName: testName},
		"accountNo must be 10 digits for BCA":      {BankCode: "BCA", AccountNo: testAccount + "1", AccountName: testName},
		"accountNo must be digits only":            {BankCode: "BCA", AccountNo: "88001234-6", AccountName: testName},
		"accountName is required":                  {BankCode: "BCA", AccountNo: testAccount, AccountName: "  "},
	}
	calls := map[string]*updateCall{}
	h.at(2*time.Minute, func() {
		for want, in := range bad {
			calls[want] = h.submitCard(in)
		}
	})
	var good *updateCall
	h.at(3*time.Minute, func() { good = h.submitCard(goodCard()) })
	h.at(4*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())

	rej, acc, _, _, _ := early["before the stage"].get()
	requireRefused(t, rej, workflows.ErrTypeWrongStage, "the application is not waiting for a bank card")
	require.False(t, acc)
	for want, u := range calls {
		rej, acc, _, _, _ := u.get()
		requireRefused(t, rej, workflows.ErrTypeInvalidInput, want)
		require.False(t, acc)
		require.NotContains(t, rej.Error(), testAccount)
	}
	res := decode[workflows.BankCardResult](t, h.requireAccepted(good))
	require.Equal(t, workflows.BankCardResult{Accepted: true, Status: "BOUND"}, res)
	require.Equal(t, 1, h.awda.Calls(awda.PathBankCardVerify), "rejected input never reached AWDA")
}

func TestBankCardRefusedThenBound(t *testing.T) {
	h := newHarness(t)
	h.cardVerdicts(awda.CardFailed, "account name does not match", 1)
	h.at(time.Minute, h.authorizeAll)
	var first, second *updateCall
	var between workflows.Status
	h.at(2*time.Minute, func() { first = h.submitCard(goodCard()) })
	h.at(3*time.Minute, func() { between = h.status(); second = h.submitCard(goodCard()) })
	h.at(4*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())

	r1 := decode[workflows.BankCardResult](t, h.requireAccepted(first))
	require.Equal(t, workflows.BankCardResult{Accepted: false, Status: "FAILED", Reason: "account name does not match"}, r1)
	require.Equal(t, workflows.ActionSubmitBankCard, between.Next.Action, "back to waiting for a card")
	require.Equal(t, "account name does not match", between.Next.Reason)
	r2 := decode[workflows.BankCardResult](t, h.requireAccepted(second))
	require.True(t, r2.Accepted)
	row, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.Equal(t, "CANCELLED", row.Stage)
	require.Equal(t, 1, h.awda.Calls(awda.PathLoanSubmit), "went on to submit after the card bound")
}

func TestBankCardAttemptsAreBounded(t *testing.T) {
	h := newHarness(t)
	h.cardVerdicts(awda.CardFailed, "closed account", 2)
	in := loanInput()
	in.Config.MaxBankCardAttempts = 2
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	h.at(3*time.Minute, func() { h.submitCard(goodCard()) })
	h.run(in)
	res := h.result()
	require.Equal(t, workflows.StageFailed, res.Outcome)
	require.Equal(t, "bank card refused 2 times", res.Reason)
}

func TestBankCardVerifyingIsPolled(t *testing.T) {
	h := newHarness(t)
	h.cardVerdicts(awda.CardVerifying, "", 1)
	h.at(time.Minute, h.authorizeAll)
	var u *updateCall
	h.at(2*time.Minute, func() { u = h.submitCard(goodCard()) })
	h.at(17*time.Minute, func() { h.setCard(h.status().UserID, "BCA", "", awda.CardBound) })
	var st workflows.Status
	h.at(45*time.Minute, func() { st = h.status(); h.env.CancelWorkflow() })
	h.run(loanInput())
	require.Equal(t, workflows.BankCardResult{Accepted: true, Status: "VERIFYING"}, decode[workflows.BankCardResult](t, h.requireAccepted(u)))
	require.Equal(t, workflows.StageReview, st.Stage)
	require.Equal(t, awda.CardBound, st.BankCard.Status)
	require.Equal(t, 3, h.awda.Calls(awda.PathBankCardQuery), "at the stage, then about 10 and 30 minutes later (backing off)")
}

func TestSignatureValidatorAndSigning(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil(workflows.StageAgreement)
	type call struct {
		want string
		u    *updateCall
	}
	var calls []call
	reject := func(want string, in workflows.SignAgreementInput) {
		calls = append(calls, call{want, update(h, workflows.SignAgreementUpdate, in)})
	}
	var good *updateCall
	var agreementID string
	h.at(90*time.Second, func() {
		reject("the application is not waiting for a signature", workflows.SignAgreementInput{AgreementID: "AGR-x", Consent: true, ClientIP: "203.0.113.7"})
	})
	h.at(last+time.Minute, func() {
		agreementID = h.status().Agreement.ID
		reject("agreementId does not match the agreement on offer", workflows.SignAgreementInput{AgreementID: "AGR-other", Consent: true, ClientIP: "203.0.113.7"})
		reject("explicit consent is required", workflows.SignAgreementInput{AgreementID: agreementID, ClientIP: "203.0.113.7"})
		reject("clientIp must be an IP address", workflows.SignAgreementInput{AgreementID: agreementID, Consent: true, ClientIP: "localhost"})
	})
	h.at(last+2*time.Minute, func() { good = h.sign() })
	h.at(last+3*time.Minute, func() {
		reject("the application is not waiting for a signature", workflows.SignAgreementInput{AgreementID: agreementID, Consent: true, ClientIP: "203.0.113.7"})
		h.env.CancelWorkflow()
	})
	h.run(loanInput())
	require.Len(t, calls, 5)
	for _, c := range calls {
		rej, acc, _, _, _ := c.u.get()
		typ := workflows.ErrTypeInvalidInput
		if strings.HasPrefix(c.want, "the application is") {
			typ = workflows.ErrTypeWrongStage
		}
		requireRefused(t, rej, typ, c.want)
		require.False(t, acc)
	}
	res := decode[workflows.SignAgreementResult](t, h.requireAccepted(good))
	require.Equal(t, workflows.SignAgreementResult{Accepted: true, Status: "SIGNED"}, res)
	var signed awda.LoanSignRequest
	require.NoError(t, h.awda.LastRequest(awda.PathLoanSign, &signed))
	require.Equal(t, h.start.Add(last+2*time.Minute).UnixMilli(), signed.SignedAt, "signedAt is the consent's workflow time")
	require.Equal(t, 1, h.awda.Calls(awda.PathLoanSign))
}

// requireRefused checks that an update was refused by its validator with
// the given error type (wrong stage: 409 at the API; invalid input: 422)
// and message.
func requireRefused(t *testing.T, err error, typ, msg string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, typ, appErr.Type(), msg)
	require.Equal(t, msg, appErr.Message())
}
