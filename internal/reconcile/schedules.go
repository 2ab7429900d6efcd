package reconcile

import (
	"context"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/retention"
	"github.com/awdaflow/awdaflow/workflows"
)

// ScheduleID is the reconciliation's schedule, as the UI's Schedules page
// and `temporal schedule` show it. Its runs' workflow IDs start with it.
const ScheduleID = "awdaflow-reconcile"

// catchupWindow: a run missed while Temporal was down still starts if
// Temporal is back within this; otherwise the next day's checks the loans.
const catchupWindow = 6 * time.Hour

// Register puts the reconciliation workflow and its activities on w (the
// loans' task queue).
func Register(w worker.Registry, a *Activities) {
	w.RegisterWorkflowWithOptions(Reconcile, workflowOptions())
	w.RegisterActivity(a)
}

// Schedule is the schedule cfg asks for: daily at cfg's hour and minute
// (UTC), one run at a time.
func Schedule(cfg config.Reconcile) client.ScheduleOptions {
	return client.ScheduleOptions{
		ID: ScheduleID,
		Spec: client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
			Hour:   []client.ScheduleRange{{Start: cfg.ReconcileHourUTC}},
			Minute: []client.ScheduleRange{{Start: cfg.ReconcileMinute}},
		}}},
		Action: &client.ScheduleWorkflowAction{
			ID:        ScheduleID, // the schedule appends the time of the action
			Workflow:  WorkflowName,
			TaskQueue: workflows.TaskQueue,
			Args:      []any{RunInput{BatchSize: cfg.ReconcileBatchSize}},
			// No StaticSummary: see retention.Schedules.
		},
		// A run still going when the next is due (a very large book, or
		// AWDA slow) is left to finish; the next day's starts afresh.
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: catchupWindow,
		Note:          "awdaflow reconciliation: compares active loans with Temporal and AWDA; created by the worker (RECONCILE_* variables)",
	}
}

// EnsureSchedule creates the reconciliation's schedule, or brings it up to
// date with cfg, as retention.EnsureSchedule does (a paused schedule stays
// paused).
func EnsureSchedule(ctx context.Context, sc client.ScheduleClient, cfg config.Reconcile) error {
	return retention.EnsureSchedule(ctx, sc, Schedule(cfg))
}
