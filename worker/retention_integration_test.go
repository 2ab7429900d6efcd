//go:build integration

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/retention"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// The worker's startup creates every retention schedule; a second
// startup (another replica, a restart with a new RETENTION_HOUR_UTC)
// updates them in place without error; triggering one runs a sweep that
// deletes the expired rows, in batches, and only those.
func TestWorkerRetentionSchedules(t *testing.T) {
	s := newStack(t)
	s.env[config.EnvRetentionHour] = "3"
	s.env[config.EnvRetentionBatchSize] = "2"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	startApp := func() func() {
		app := newApp(s.config(t))
		if err := app.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		stopped := false
		return func() { // once: the deferred call stops whichever app runs last
			if stopped {
				return
			}
			stopped = true
			if err := app.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}
	stop := startApp()
	defer func() { stop() }()

	c := s.client(t)
	describe := func(kind string) *client.ScheduleDescription {
		t.Helper()
		d, err := c.ScheduleClient().GetHandle(ctx, retention.ScheduleID(kind)).Describe(ctx)
		if err != nil {
			t.Fatalf("schedule of %s: %v", kind, err)
		}
		return d
	}
	created := map[string]time.Time{}
	for _, kind := range store.RetentionKinds {
		d := describe(kind)
		created[kind] = d.Info.CreatedAt
		a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
		if !ok || a.Workflow != retention.WorkflowName || a.TaskQueue != workflows.TaskQueue {
			t.Errorf("%s: action %+v, want %s on %s", kind, d.Schedule.Action, retention.WorkflowName, workflows.TaskQueue)
		}
		if h := d.Schedule.Spec.Calendars; len(h) != 1 || h[0].Hour[0].Start != 3 {
			t.Errorf("%s: calendars %+v, want hour 3", kind, h)
		}
	}
	// Operations pause one.
	inbox := c.ScheduleClient().GetHandle(ctx, retention.ScheduleID(store.RetentionInbox))
	if err := inbox.Pause(ctx, client.SchedulePauseOptions{Note: "legal hold"}); err != nil {
		t.Fatal(err)
	}
	stop()

	// A second startup with another hour, after a key rotation that
	// dropped the old key: no error, the same schedules (not recreated),
	// the new hour, the paused one still paused, and an input the new
	// ring decodes (the sweep below runs).
	s.env[config.EnvRetentionHour] = "5"
	keys, err := codec.GenerateKeySpec("test2")
	if err != nil {
		t.Fatal(err)
	}
	s.keys, s.env[config.EnvKeys] = keys, keys
	stop = startApp()
	c = s.client(t)
	for _, kind := range store.RetentionKinds {
		d := describe(kind)
		if !d.Info.CreatedAt.Equal(created[kind]) {
			t.Errorf("%s: created at %s, then %s: recreated", kind, created[kind], d.Info.CreatedAt)
		}
		if h := d.Schedule.Spec.Calendars; len(h) != 1 || h[0].Hour[0].Start != 5 {
			t.Errorf("%s: calendars %+v after the second startup, want hour 5", kind, h)
		}
		if paused := d.Schedule.State.Paused; paused != (kind == store.RetentionInbox) {
			t.Errorf("%s: paused %v after the second startup", kind, paused)
		}
	}

	// Expired and young audit rows; a sweep of awda_calls deletes the
	// first, two at a time.
	pool, err := pgxpool.New(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `
		INSERT INTO awda_calls (endpoint, code, outcome, http_status, latency_ms, nonce, called_at)
		SELECT '/x', 0, 'ok', 200, 1, 'n', now() - make_interval(days => d)
		FROM unnest(ARRAY[200, 150, 100, 1]) AS d`); err != nil {
		t.Fatal(err)
	}
	h := c.ScheduleClient().GetHandle(ctx, retention.ScheduleID(store.RetentionAWDACalls))
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var run *client.ScheduleWorkflowExecution
	waitFor(t, "the triggered sweep to start", time.Minute, func() bool {
		d, err := h.Describe(ctx)
		if err == nil && len(d.Info.RecentActions) > 0 {
			run = d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult
		}
		return run != nil
	})
	var res retention.SweepResult
	if err := c.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &res); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if res.Deleted != 3 || res.Kind != store.RetentionAWDACalls {
		t.Errorf("sweep result %+v, want 3 awda_calls deleted", res)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM awda_calls WHERE endpoint = '/x'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 1 {
		t.Errorf("%d of the test's awda_calls rows left, want the young one", left)
	}
	_, body := get(t, "http://"+s.httpAddr+"/metrics")
	for _, want := range []string{
		retention.DeletedName + `{kind="awda_calls"} 3`,
		retention.LastSuccessName + `{kind="awda_calls"}`,
		retention.DurationName + `{kind="awda_calls"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A worker started after the sweep (a restarted fleet) reports the
	// sweep's time from PostgreSQL before it finishes one itself, so that
	// an alert on a late sweep does not go blind at every restart.
	stop()
	stop = startApp()
	_, body = get(t, "http://"+s.httpAddr+"/metrics")
	for _, want := range []string{
		retention.LastSuccessName + `{kind="awda_calls"}`,
		retention.DurationName + `{kind="awda_calls"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics of a restarted worker lacks %s", want)
		}
	}
	if strings.Contains(body, retention.DeletedName+`{kind="awda_calls"}`) {
		t.Errorf("a restarted worker reports rows deleted before its start")
	}
}

// A schedule the worker cannot read (its summary encrypted under a key the
// ring no longer has) is replaced rather than failing the startup.
func TestWorkerRetentionReplacesUnreadableSchedule(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := retention.ScheduleID(store.RetentionDocuments)
	old := s.client(t)
	_ = old.ScheduleClient().GetHandle(ctx, id).Delete(ctx) // left by another test
	if _, err := old.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   id,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
		Action: &client.ScheduleWorkflowAction{ID: id, Workflow: retention.WorkflowName, TaskQueue: workflows.TaskQueue,
			StaticSummary: "under the old key"},
		Paused: true,
	}); err != nil {
		t.Fatal(err)
	}
	keys, err := codec.GenerateKeySpec("rotated")
	if err != nil {
		t.Fatal(err)
	}
	s.keys, s.env[config.EnvKeys] = keys, keys

	app := newApp(s.config(t))
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	defer func() { _ = app.Stop(context.Background()) }()
	d, err := s.client(t).ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		t.Fatalf("describe after startup: %v", err)
	}
	if len(d.Schedule.Spec.Calendars) != 1 || len(d.Schedule.Spec.Intervals) != 0 {
		t.Errorf("spec %+v, want the worker's daily calendar", d.Schedule.Spec)
	}
}
