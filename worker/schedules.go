package main

import (
	"context"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/reconcile"
	"github.com/awdaflow/awdaflow/internal/retention"
)

// schedules are Temporal Schedules the worker creates or brings up to date
// at startup, once the worker that runs their workflows is polling, unless
// their variable leaves them to operations. A failure stops the startup:
// Temporal answered the worker, so it is not a passing outage.
type schedules struct {
	component string
	// off names the variable that leaves them to operations, as "X=false".
	off     string
	enabled func(*config.Config) bool
	ensure  func(context.Context, client.ScheduleClient, *config.Config) error
	// logged adds the settings to the startup's log line.
	logged func(*zerolog.Event, *config.Config) *zerolog.Event
}

func (s schedules) module() fx.Option {
	return fx.Module(s.component,
		fx.Invoke(func(lc fx.Lifecycle, cfg *config.Config, c client.Client, _ worker.Worker, l zerolog.Logger) {
			l = l.With().Str("component", s.component).Logger()
			if !s.enabled(cfg) {
				l.Info().Msgf("%s schedules left to operations (%s)", s.component, s.off)
				return
			}
			lc.Append(fx.StartHook(func(ctx context.Context) error {
				if err := s.ensure(ctx, c.ScheduleClient(), cfg); err != nil {
					return err
				}
				s.logged(l.Info(), cfg).Msgf("%s schedules ensured", s.component)
				return nil
			}))
		}))
}

// retentionModule keeps the retention sweeps' schedules (internal/retention).
var retentionModule = schedules{
	component: "retention",
	off:       config.EnvRetentionSchedules + "=false",
	enabled:   func(cfg *config.Config) bool { return cfg.Retention.Schedules },
	ensure: func(ctx context.Context, sc client.ScheduleClient, cfg *config.Config) error {
		return retention.EnsureSchedules(ctx, sc, cfg.Retention)
	},
	logged: func(e *zerolog.Event, cfg *config.Config) *zerolog.Event {
		r := cfg.Retention
		return e.Int("documents_days", r.DocumentsDays).Int("inbox_days", r.InboxDays).
			Int("awda_calls_days", r.AWDACallsDays).Int("unreferenced_documents_days", r.UnreferencedDocumentsDays).
			Int("hour_utc", r.HourUTC)
	},
}.module()

// reconcileModule keeps the daily reconciliation's schedule
// (internal/reconcile).
var reconcileModule = schedules{
	component: "reconcile",
	off:       config.EnvReconcileSchedule + "=false",
	enabled:   func(cfg *config.Config) bool { return cfg.Reconcile.ReconcileSchedule },
	ensure: func(ctx context.Context, sc client.ScheduleClient, cfg *config.Config) error {
		return reconcile.EnsureSchedule(ctx, sc, cfg.Reconcile)
	},
	logged: func(e *zerolog.Event, cfg *config.Config) *zerolog.Event {
		r := cfg.Reconcile
		return e.Int("hour_utc", r.ReconcileHourUTC).Int("minute", r.ReconcileMinute).Int("batch_size", r.ReconcileBatchSize)
	},
}.module()
