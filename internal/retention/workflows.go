package retention

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/internal/store"
)

// WorkflowName is the sweep's workflow type.
const WorkflowName = "RetentionSweep"

// DefaultBatchesPerRun is how many batches a run deletes before it
// continues as new: 100 activities keep a history near 600 events.
const DefaultBatchesPerRun = 100

// SweepInput is what a schedule starts a sweep with. The first run sets
// Cutoff and Started; a run that continues as new carries them, with the
// count so far.
type SweepInput struct {
	Kind      string        `json:"kind"`   // one of store.RetentionKinds
	MaxAge    time.Duration `json:"maxAge"` // rows older than this are deleted
	BatchSize int           `json:"batchSize"`
	// BatchesPerRun: 0 means DefaultBatchesPerRun.
	BatchesPerRun int `json:"batchesPerRun,omitempty"`

	Cutoff  time.Time `json:"cutoff,omitzero"`
	Started time.Time `json:"started,omitzero"`
	Deleted int64     `json:"deleted,omitempty"`
}

// SweepResult is a finished sweep's outcome.
type SweepResult struct {
	Kind    string    `json:"kind"`
	Cutoff  time.Time `json:"cutoff"`
	Deleted int64     `json:"deleted"`
}

func (in SweepInput) validate() error {
	switch {
	case !slices.Contains(store.RetentionKinds, in.Kind):
		return fmt.Errorf("retention: unknown kind %q: want one of %v", in.Kind, store.RetentionKinds)
	case in.MaxAge <= 0:
		return fmt.Errorf("retention: max age %s: want a positive duration", in.MaxAge)
	case in.BatchSize <= 0:
		return fmt.Errorf("retention: batch size %d: want a positive number", in.BatchSize)
	}
	return nil
}

var batchOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: 5 * time.Second, MaximumInterval: 5 * time.Minute, MaximumAttempts: 20,
		NonRetryableErrorTypes: []string{errBadInput},
	},
}

const errBadInput = "RetentionBadInput"

// Sweep deletes in.Kind's rows older than the cutoff, batch by batch, and
// records the sweep's metrics when no row is left.
func Sweep(ctx workflow.Context, in SweepInput) (SweepResult, error) {
	if err := in.validate(); err != nil {
		return SweepResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errBadInput, nil)
	}
	if in.Cutoff.IsZero() {
		in.Started = workflow.Now(ctx)
		in.Cutoff = in.Started.Add(-in.MaxAge)
	}
	perRun := in.BatchesPerRun
	if perRun <= 0 {
		perRun = DefaultBatchesPerRun
	}
	ctx = workflow.WithActivityOptions(ctx, batchOptions)
	var a *Activities
	for range perRun {
		var n int64
		batch := BatchInput{Kind: in.Kind, Cutoff: in.Cutoff, Limit: in.BatchSize}
		if err := workflow.ExecuteActivity(ctx, a.RetentionDeleteBatch, batch).Get(ctx, &n); err != nil {
			return SweepResult{}, err
		}
		in.Deleted += n
		if n < int64(in.BatchSize) {
			done := DoneInput{Kind: in.Kind, Started: in.Started, Deleted: in.Deleted}
			if err := workflow.ExecuteActivity(ctx, a.RetentionSweepDone, done).Get(ctx, nil); err != nil {
				return SweepResult{}, err
			}
			return SweepResult{Kind: in.Kind, Cutoff: in.Cutoff, Deleted: in.Deleted}, nil
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
	}
	return SweepResult{}, workflow.NewContinueAsNewError(ctx, WorkflowName, in)
}

func workflowOptions() workflow.RegisterOptions {
	return workflow.RegisterOptions{Name: WorkflowName}
}
