//go:build integration

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/reconcile"
	"github.com/awdaflow/awdaflow/workflows"
)

// The worker's startup creates the reconciliation's schedule with the
// configured time and batch size, and a second startup updates it in place;
// triggering it runs a reconciliation on the worker, which records its run
// and its gauges. With RECONCILE_SCHEDULE=false the schedule is left alone.
func TestWorkerReconcileSchedule(t *testing.T) {
	s := newStack(t)
	s.env[config.EnvReconcileHour] = "3"
	s.env[config.EnvReconcileMinute] = "45"
	s.env[config.EnvReconcileBatchSize] = "7"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := s.client(t)
	h := c.ScheduleClient().GetHandle(ctx, reconcile.ScheduleID)
	_ = h.Delete(ctx) // left by another test on the shared server

	start := func() func() {
		app := newApp(s.config(t))
		if err := app.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		return func() {
			if err := app.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}
	stop := start()
	stop()
	s.env[config.EnvReconcileHour] = "4"
	stop = start()
	defer func() { stop() }()

	d, err := h.Describe(ctx)
	if err != nil {
		t.Fatalf("the reconciliation's schedule: %v", err)
	}
	a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok || a.Workflow != reconcile.WorkflowName || a.TaskQueue != workflows.TaskQueue {
		t.Errorf("action %+v, want %s on %s", d.Schedule.Action, reconcile.WorkflowName, workflows.TaskQueue)
	}
	if cal := d.Schedule.Spec.Calendars; len(cal) != 1 || cal[0].Hour[0].Start != 4 || cal[0].Minute[0].Start != 45 {
		t.Errorf("calendars %+v, want 04:45 (updated by the second startup)", cal)
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var run *client.ScheduleWorkflowExecution
	waitFor(t, "the triggered reconciliation to start", time.Minute, func() bool {
		d, err := h.Describe(ctx)
		if err == nil && len(d.Info.RecentActions) > 0 {
			run = d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult
		}
		return run != nil
	})
	var res reconcile.RunResult
	if err := c.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &res); err != nil {
		t.Fatalf("reconciliation: %v", err)
	}
	if res.RunID != run.WorkflowID || res.Checked != 0 {
		t.Errorf("result %+v, want run %s with nothing to check", res, run.WorkflowID)
	}
	_, body := get(t, "http://"+s.httpAddr+"/metrics")
	for _, want := range []string{reconcile.CheckedName + " 0", reconcile.MismatchesName + `{kind="awda_ahead"} 0`, reconcile.LastSuccessName} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	stop()

	// A worker started after the run (a restarted fleet) reports it from
	// PostgreSQL, before it finishes a run itself.
	stop = start()
	_, body = get(t, "http://"+s.httpAddr+"/metrics")
	for _, want := range []string{reconcile.CheckedName + " 0", reconcile.MismatchesName + `{kind="awda_ahead"} 0`,
		reconcile.LastSuccessName, reconcile.DurationName} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics of a restarted worker lacks %s", want)
		}
	}
	stop()
	stop = func() {}

	// Left to operations: a startup neither creates nor updates it.
	if err := h.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	s.env[config.EnvReconcileSchedule] = "false"
	start()()
	if _, err := h.Describe(ctx); err == nil {
		t.Error("RECONCILE_SCHEDULE=false: the worker created the schedule")
	}
}
