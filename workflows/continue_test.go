package workflows_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

func TestContinueAsNewKeepsStateAndDedupe(t *testing.T) {
	h := newHarness(t)
	last := h.happyUntil("")
	h.at(last+time.Minute, func() { h.pay(1) })
	h.at(last+2*time.Minute, func() { h.env.SetContinueAsNewSuggested(true) })
	h.run(loanInput())

	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(h.env.GetWorkflowError(), &can), "got %v", h.env.GetWorkflowError())
	require.Equal(t, workflows.WorkflowName, can.WorkflowType.Name)
	var next workflows.LoanApplicationInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))

	// The state travels; the applicant's profile does not.
	raw, err := json.Marshal(next)
	require.NoError(t, err)
	for _, p := range pii {
		require.NotContains(t, string(raw), p)
	}
	st := next.Resume
	require.NotNil(t, st)
	require.Equal(t, workflows.StageRepayment, st.Stage)
	require.Equal(t, awda.LoanRepaying, st.LoanStatus)
	require.Len(t, st.Schedule, 3)
	require.Equal(t, awda.InstallmentPaid, st.Schedule[0].Status, "the REPAYING notification was applied before handing over")
	require.NotEmpty(t, st.LoanNo)
	require.Equal(t, h.orderNo(), st.OrderNo)
	var disbursed string
	for _, tr := range st.Transitions {
		if tr.To == string(awda.LoanDisbursed) {
			disbursed = tr.EventID
		}
	}
	require.NotEmpty(t, disbursed)
	require.Contains(t, st.SeenEventIDs, disbursed)
	require.Equal(t, 24*time.Hour, next.Config.OverduePollInterval, "the effective configuration travels too")

	// The next run, against the same AWDA: an old event is still a duplicate.
	n := h.next()
	n.at(time.Minute, func() {
		signal(n.env, workflows.LoanStatusSignal, awda.LoanStatusEvent{EventID: disbursed, OrderNo: h.orderNo(), Status: awda.LoanDisbursed})
		n.pay(2)
	})
	n.at(2*time.Minute, func() { n.pay(3) })
	n.run(next)
	res := n.result()
	require.Equal(t, workflows.StageSettled, res.Outcome)

	end := n.status()
	require.Equal(t, 1, end.Runs)
	require.Contains(t, end.Ignored, workflows.Ignored{At: n.start.Add(time.Minute), Signal: workflows.LoanStatusSignal.Name, EventID: disbursed, Status: "DISBURSED", Reason: "duplicate eventId"})
	require.Greater(t, len(end.Transitions), len(st.Transitions), "the first run's transitions are kept")
	require.Equal(t, st.Transitions, end.Transitions[:len(st.Transitions)])

	writes := h.proj.Writes()
	for i := 1; i < len(writes); i++ {
		require.Greater(t, writes[i].Seq, writes[i-1].Seq, "Seq keeps growing across runs")
	}
	require.Equal(t, "SETTLED", writes[len(writes)-1].Stage)
	require.Equal(t, 1, h.awda.Submissions(h.orderNo()))
}
