package reconcile

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// WorkflowName is the reconciliation's workflow type.
const WorkflowName = "Reconcile"

// Defaults of a run.
const (
	// DefaultBatchesPerRun is how many batches a run checks before it
	// continues as new: 50 activities keep a history near 300 events.
	DefaultBatchesPerRun = 50
	// DefaultMinAge: a loan created less than this before the run
	// started is not checked (its workflow may be starting).
	DefaultMinAge = 10 * time.Minute
)

// RunInput is what the schedule starts a run with. The first run of a
// reconciliation sets RunID and Started; a run that continues as new
// carries them with its cursor and count, so that a reconciliation
// resumes from its last finished batch.
type RunInput struct {
	BatchSize int `json:"batchSize"`
	// BatchesPerRun: 0 means DefaultBatchesPerRun.
	BatchesPerRun int `json:"batchesPerRun,omitempty"`
	// MinAge: 0 means DefaultMinAge.
	MinAge time.Duration `json:"minAge,omitempty"`

	RunID   string    `json:"runId,omitempty"`
	Started time.Time `json:"started,omitzero"`
	Cursor  string    `json:"cursor,omitempty"`
	Checked int64     `json:"checked,omitempty"`
}

// RunResult is a finished run's outcome.
type RunResult struct {
	RunID      string         `json:"runId"`
	Checked    int64          `json:"checked"`
	Mismatches map[string]int `json:"mismatches"`
}

const errBadInput = "ReconcileBadInput"

var batchOptions = workflow.ActivityOptions{
	// A batch asks Temporal and AWDA about each of its loans, one at a
	// time, under the fleet's AWDA rate limit: it heartbeats per loan.
	StartToCloseTimeout: 2 * time.Hour,
	HeartbeatTimeout:    2 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: 10 * time.Second, MaximumInterval: 5 * time.Minute, MaximumAttempts: 20,
		NonRetryableErrorTypes: []string{errBadInput},
	},
}

// Reconcile checks every active loan, batch by batch in applicant_ref
// order, and closes the run when a batch comes back short.
func Reconcile(ctx workflow.Context, in RunInput) (RunResult, error) {
	if in.BatchSize <= 0 {
		return RunResult{}, temporal.NewNonRetryableApplicationError("reconcile: batch size must be positive", errBadInput,
			errors.New("bad batch size"))
	}
	if in.RunID == "" {
		in.RunID = workflow.GetInfo(ctx).WorkflowExecution.ID
		in.Started = workflow.Now(ctx)
	}
	perRun := in.BatchesPerRun
	if perRun <= 0 {
		perRun = DefaultBatchesPerRun
	}
	minAge := in.MinAge
	if minAge <= 0 {
		minAge = DefaultMinAge
	}
	ctx = workflow.WithActivityOptions(ctx, batchOptions)
	var a *Activities
	for range perRun {
		var res BatchResult
		batch := BatchInput{RunID: in.RunID, Started: in.Started, After: in.Cursor, Limit: in.BatchSize, MinAge: minAge}
		if err := workflow.ExecuteActivity(ctx, a.ReconcileBatch, batch).Get(ctx, &res); err != nil {
			return RunResult{}, err
		}
		in.Checked += int64(res.Checked)
		in.Cursor = res.Last
		if res.Fetched < in.BatchSize {
			var counts map[string]int
			done := DoneInput{RunID: in.RunID, Started: in.Started, Checked: in.Checked}
			if err := workflow.ExecuteActivity(ctx, a.ReconcileDone, done).Get(ctx, &counts); err != nil {
				return RunResult{}, err
			}
			return RunResult{RunID: in.RunID, Checked: in.Checked, Mismatches: counts}, nil
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
	}
	return RunResult{}, workflow.NewContinueAsNewError(ctx, WorkflowName, in)
}

func workflowOptions() workflow.RegisterOptions {
	return workflow.RegisterOptions{Name: WorkflowName}
}
