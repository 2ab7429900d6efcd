package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

func retry(h *harness) {
	signal(h.env, workflows.RetrySignal, workflows.RetryRequest{Operator: "ops-1", Reason: "AWDA fixed our key"})
}

func abandon(h *harness) {
	signal(h.env, workflows.AbandonSignal, workflows.AbandonRequest{Operator: "ops-1", Reason: "duplicate applicant"})
}

func TestConfigurationErrorParksThenRetryProgresses(t *testing.T) {
	h := newHarness(t)
	h.awda.FailCodes(awda.PathEligibleCheck, awda.CodeSignatureFailed)
	var stuck workflows.Status
	h.at(time.Minute, func() { retry(h) })
	h.at(30*time.Second, func() { stuck = h.status() })
	h.at(2*time.Minute, h.authorizeAll)
	h.at(3*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())

	require.NotNil(t, stuck.Stuck)
	require.Equal(t, "check eligibility", stuck.Stuck.Step)
	require.Contains(t, stuck.Stuck.Reason, "configuration: awda /api/partner/v1/user/eligible-check: configuration (code 1004)")
	require.Equal(t, workflows.StageEligibility, stuck.Stage)
	require.Equal(t, 2, h.awda.Calls(awda.PathEligibleCheck), "once failing (not retried by Temporal), once after Retry")
	// REGISTER and ELIGIBILITY were passed through without a rest: the
	// first upsert is the stuck one (with the stage it is stuck in), the
	// next the resumption; later ones leave LoanStuck alone.
	require.Equal(t, []bool{true, false}, h.stuckUpserts(), "stuck, resumed")
	first := h.upserts()[0]
	stage, _ := first.GetKeyword(workflows.LoanStageKey)
	require.Equal(t, string(workflows.StageEligibility), stage)

	var rows []bool
	for _, w := range h.proj.Writes() {
		rows = append(rows, w.Stuck)
	}
	require.Contains(t, rows, true)
	row, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.Equal(t, "CANCELLED", row.Stage, "it went on after the retry, to the bank card")

	st := h.status()
	var kinds []string
	for _, tr := range st.Transitions {
		if tr.Kind == workflows.KindStuck || tr.Kind == workflows.KindResumed {
			kinds = append(kinds, strings.Join(strings.Fields(tr.Kind+" "+tr.To+" "+tr.Operator+" "+tr.Note), " "))
		}
	}
	require.Equal(t, []string{
		strings.Join(strings.Fields("stuck check eligibility "+stuck.Stuck.Reason), " "),
		"resumed retry ops-1 AWDA fixed our key",
	}, kinds)
}

func TestRetryBudgetSpentParks(t *testing.T) {
	h := newHarness(t)
	h.awda.Outage(awda.PathAuthList, awda.CodeSystemBusy)
	in := loanInput()
	in.Config.RetryBudget = 2 * time.Minute // spent before the test environment's 10-attempt cap
	var stuck workflows.Status
	h.at(10*time.Minute, func() {
		stuck = h.status()
		h.awda.Restore(awda.PathAuthList)
		retry(h)
	})
	var after workflows.Status
	h.at(11*time.Minute, func() { after = h.status(); h.env.CancelWorkflow() })
	h.run(in)

	require.NotNil(t, stuck.Stuck)
	require.Equal(t, "list authorizations", stuck.Stuck.Step)
	require.Contains(t, stuck.Stuck.Reason, "retry budget spent; last error busy: ")
	require.Contains(t, stuck.Stuck.Reason, "busy (code 1000)")
	calls := h.awda.Calls(awda.PathAuthList)
	require.Greater(t, calls, 3, "busy is retried with backoff")
	require.Nil(t, after.Stuck)
	require.Equal(t, workflows.ActionAuthorize, after.Next.Action)
	// The time spent stuck does not count against the borrower.
	require.Equal(t, h.start.Add(72*time.Hour), stuck.Deadline)
	require.Equal(t, stuck.Deadline.Add(h.start.Add(10*time.Minute).Sub(stuck.Stuck.Since)), after.Deadline)
}

func TestAbandonEndsFailed(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	// The backend lost the selfie: the upload cannot succeed.
	in := loanInput()
	in.Documents[1].DocumentID = "doc-gone"
	h.at(time.Hour, func() { abandon(h) })
	h.run(in)
	res := h.result()
	require.Equal(t, workflows.StageFailed, res.Outcome)
	require.Equal(t, "abandoned by operations while stuck at upload documents: duplicate applicant", res.Reason)
	require.Equal(t, "ops-1", res.Operator)
	row, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.Equal(t, "FAILED", row.Stage)
	require.False(t, row.Stuck)
	require.True(t, row.Terminal)
	ups := h.stuckUpserts()
	require.False(t, ups[len(ups)-1], "not listed as stuck once ended")
	require.Equal(t, 0, h.awda.Submissions(h.orderNo()))
}

func TestRetryAndAbandonWhenNotStuckAreIgnored(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() { retry(h); abandon(h) })
	h.at(2*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())
	st := h.status()
	require.Len(t, st.Ignored, 2)
	require.Equal(t, "not stuck", st.Ignored[0].Reason)
	require.Equal(t, workflows.StageCancelled, st.Stage)
}

func TestStuckCardVerificationAnswersPendingThenBinds(t *testing.T) {
	h := newHarness(t)
	h.awda.Outage(awda.PathBankCardVerify, awda.CodeMerchantInvalid)
	h.at(time.Minute, h.authorizeAll)
	var u *updateCall
	var stuck workflows.Status
	h.at(2*time.Minute, func() { u = h.submitCard(goodCard()) })
	h.at(3*time.Minute, func() { stuck = h.status() })
	h.at(time.Hour, func() { h.awda.Restore(awda.PathBankCardVerify); retry(h) })
	var after workflows.Status
	h.at(61*time.Minute, func() { after = h.status(); h.env.CancelWorkflow() })
	h.run(loanInput())

	res := decode[workflows.BankCardResult](t, h.requireAccepted(u))
	require.Equal(t, workflows.CardPending, res.Status)
	require.True(t, res.Accepted)
	require.Equal(t, "verify bank card", stuck.Stuck.Step)
	require.Nil(t, stuck.Next, "no borrower action while stuck")
	require.Equal(t, workflows.StageReview, after.Stage)
	require.Equal(t, awda.CardBound, after.BankCard.Status)
}

func TestDisburseFailedParksForOps(t *testing.T) {
	h := newHarness(t)
	signedAt := h.happyUntil(workflows.StageDisbursement)
	var stuck workflows.Status
	h.at(signedAt+time.Minute, func() { h.push(awda.LoanDisburseFailed) })
	h.at(signedAt+2*time.Minute, func() { stuck = h.status() })
	h.at(signedAt+time.Hour, func() { retry(h) })
	h.at(signedAt+2*time.Hour, func() { h.push(awda.LoanDisbursed) })
	for p := 1; p <= 3; p++ {
		h.at(signedAt+2*time.Hour+time.Duration(p)*time.Minute, func() { h.pay(p) })
	}
	h.run(loanInput())
	require.Equal(t, workflows.StageSettled, h.result().Outcome)
	require.Equal(t, "disbursement", stuck.Stuck.Step)
	require.Equal(t, "AWDA reported DISBURSE_FAILED", stuck.Stuck.Reason)
}

func TestCancelWhileStuck(t *testing.T) {
	h := newHarness(t)
	h.awda.FailCodes(awda.PathAuthList, awda.CodeUnknown)
	h.at(time.Hour, func() { signal(h.env, workflows.CancelSignal, workflows.CancelRequest{}) })
	h.run(loanInput())
	res := h.result()
	require.Equal(t, workflows.StageCancelled, res.Outcome)
}

func TestReadOutageLongerThanTheLocalBudgetRecovers(t *testing.T) {
	h := newHarness(t)
	// AuthList is down for three minutes: past the 30 s of local retries,
	// well inside the activity's 30 min budget. (The test environment caps
	// an unlimited MaximumAttempts at 10, about four minutes of backoff; the
	// server retries until ScheduleToClose.)
	h.awda.Outage(awda.PathAuthList, awda.CodeRequestTimeout)
	h.at(3*time.Minute, func() { h.awda.Restore(awda.PathAuthList) })
	var st workflows.Status
	h.at(10*time.Minute, func() { st = h.status(); h.env.CancelWorkflow() })
	h.run(loanInput())
	require.Nil(t, st.Stuck)
	require.Equal(t, workflows.ActionAuthorize, st.Next.Action)
	var stuck int
	for _, tr := range st.Transitions {
		if tr.Kind == workflows.KindStuck {
			stuck++
		}
	}
	require.Zero(t, stuck)
	require.Greater(t, h.awda.Calls(awda.PathAuthList), 5)
}

func TestReadModelOutageDoesNotHoldTheLoan(t *testing.T) {
	h := newHarness(t)
	h.proj.FailNext(1000) // longer than any write's budget
	h.at(time.Minute, h.proj.Heal)
	h.at(2*time.Minute, h.authorizeAll)
	var st workflows.Status
	h.at(3*time.Minute, func() { st = h.status(); h.env.CancelWorkflow() })
	h.run(loanInput())
	require.Equal(t, workflows.StageBankCard, st.Stage)
	row, ok := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.True(t, ok, "later transitions wrote the row")
	require.Equal(t, "CANCELLED", row.Stage)
}
