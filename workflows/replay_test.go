package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/workflows"
)

// TestReplayRecordedHistories replays histories recorded on a real dev
// server (devserver_test.go, RECORD_HISTORIES=1) against the current code.
// A change that would break a running loan fails here: put it behind
// workflow.GetVersion instead, and keep the old histories.
//
// prefix_*.json were recorded by the workflow code from before a fix
// (commit eb50d56, with devserver_test.go's race scenarios set to expect
// the old behaviour) in loans that met the race it fixes: they hold the
// fixes' GetVersion guards (versions.go), and fail to replay without them.
// The same scenarios recorded by the current code take the new branches.
// before_rest_*.json were recorded before changePublishAtRest (every stage
// published as it was entered); they replay through its old branch.
// before_bounded_*.json were recorded before changeBoundedWaits (fixed
// 10-minute polls with no deadline, continue-as-new only in repayment, the
// final projection as a local activity); they replay through the old waits.
// before_rev2_*.json and before_rev3_*.json were recorded by runs begun at
// revisions 1 and 2 of the bounded-waits marker (versions.go): they replay
// without the changes of the later revisions (confirm-each for revision 3).
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3, "happy path, rejection, stuck then retried")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			require.NoError(t, err)
			defer fh.Close()
			hist, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
			require.NoError(t, err)

			// The orderNo is derived from the workflow ID, so replay under
			// the original ID (the replayer's default is a placeholder).
			var in workflows.LoanApplicationInput
			started := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(started.GetInput(), &in))

			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.LoanApplication)
			require.NoError(t, r.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: workflows.LoanWorkflowID(in.ApplicantRef), RunID: started.GetOriginalExecutionRunId()},
			}))
		})
	}
}
