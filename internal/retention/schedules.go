package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// SchedulePrefix starts every retention schedule's ID.
const SchedulePrefix = "awdaflow-retention-"

// ScheduleID is the ID of kind's schedule, as the UI's Schedules page and
// `temporal schedule` show it: awdaflow-retention-documents,
// awdaflow-retention-inbox, awdaflow-retention-awda-calls,
// awdaflow-retention-unreferenced-documents.
func ScheduleID(kind string) string { return SchedulePrefix + strings.ReplaceAll(kind, "_", "-") }

// catchupWindow: a sweep missed while Temporal was down still runs if
// Temporal is back within this; otherwise the next day's takes its rows.
const catchupWindow = 6 * time.Hour

// Register puts the sweep workflow and its activities on w (the loans'
// task queue).
func Register(w worker.Registry, a *Activities) {
	w.RegisterWorkflowWithOptions(Sweep, workflowOptions())
	w.RegisterActivity(a)
}

// Schedules are the schedules cfg asks for, one per kind, daily at
// cfg.HourUTC, ten minutes apart.
func Schedules(cfg config.Retention) []client.ScheduleOptions {
	days := map[string]int{
		store.RetentionDocuments:             cfg.DocumentsDays,
		store.RetentionInbox:                 cfg.InboxDays,
		store.RetentionAWDACalls:             cfg.AWDACallsDays,
		store.RetentionUnreferencedDocuments: cfg.UnreferencedDocumentsDays,
	}
	out := make([]client.ScheduleOptions, 0, len(store.RetentionKinds))
	for i, kind := range store.RetentionKinds {
		id := ScheduleID(kind)
		out = append(out, client.ScheduleOptions{
			ID: id,
			Spec: client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
				Hour:   []client.ScheduleRange{{Start: cfg.HourUTC}},
				Minute: []client.ScheduleRange{{Start: 10 * i}},
			}}},
			Action: &client.ScheduleWorkflowAction{
				ID:        id, // the schedule appends the time of the action
				Workflow:  WorkflowName,
				TaskQueue: workflows.TaskQueue,
				Args: []any{SweepInput{Kind: kind, MaxAge: time.Duration(days[kind]) * 24 * time.Hour,
					BatchSize: cfg.BatchSize}},
				// No StaticSummary: it would be encrypted like the input,
				// and a summary under a key since dropped from the ring
				// makes the schedule undescribable.
			},
			Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			CatchupWindow: catchupWindow,
			Note: fmt.Sprintf("awdaflow retention: deletes %s older than %d days; created by the worker (RETENTION_* variables)",
				kind, days[kind]),
		})
	}
	return out
}

// EnsureSchedules creates the retention schedules, or brings those that
// exist up to date with cfg (EnsureSchedule). Every replica does it at
// startup; the last write wins and they all write the same.
func EnsureSchedules(ctx context.Context, sc client.ScheduleClient, cfg config.Retention) error {
	for _, want := range Schedules(cfg) {
		if err := EnsureSchedule(ctx, sc, want); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
	}
	return nil
}

// EnsureSchedule creates the schedule want, or brings it up to date if it
// exists: spec, action and policies are rewritten, which also re-encrypts
// the action's input with the newest key of the ring; a schedule's state
// (paused by operations, its note) is kept. A schedule this client cannot
// read (written under a key no longer in the ring) is deleted and created
// anew. The reconciliation's schedule is ensured the same way.
func EnsureSchedule(ctx context.Context, sc client.ScheduleClient, want client.ScheduleOptions) error {
	_, err := sc.Create(ctx, want)
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", want.ID, err)
	}
	h := sc.GetHandle(ctx, want.ID)
	err = update(ctx, h, want)
	var se serviceerror.ServiceError
	if err != nil && !errors.As(err, &se) && ctx.Err() == nil {
		err = recreate(ctx, sc, h, want)
	}
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", want.ID, err)
	}
	return nil
}

// update rewrites an existing schedule, retrying when another replica
// updated it between our describe and our update (a conflict token
// mismatch).
func update(ctx context.Context, h client.ScheduleHandle, want client.ScheduleOptions) error {
	var err error
	for range 3 {
		err = h.Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec = &want.Spec
				s.Action = want.Action
				s.Policy = &client.SchedulePolicies{Overlap: want.Overlap, CatchupWindow: want.CatchupWindow}
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
		if err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// recreate replaces a schedule the client could not decode.
func recreate(ctx context.Context, sc client.ScheduleClient, h client.ScheduleHandle, want client.ScheduleOptions) error {
	var se *serviceerror.NotFound
	if err := h.Delete(ctx); err != nil && !errors.As(err, &se) {
		return err
	}
	_, err := sc.Create(ctx, want)
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil // another replica recreated it
	}
	return err
}
