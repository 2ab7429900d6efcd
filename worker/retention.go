package main

import (
	"context"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/retention"
)

// retentionModule creates or updates the retention sweeps' Temporal
// Schedules at startup, once the worker that runs them is polling
// (internal/retention), unless RETENTION_SCHEDULES=false leaves them to
// operations. A failure stops the startup: Temporal answered the worker,
// so it is not a passing outage.
var retentionModule = fx.Module("retention",
	fx.Invoke(func(lc fx.Lifecycle, cfg *config.Config, c client.Client, _ worker.Worker, l zerolog.Logger) {
		l = l.With().Str("component", "retention").Logger()
		if !cfg.Retention.Schedules {
			l.Info().Msg("retention schedules left to operations (RETENTION_SCHEDULES=false)")
			return
		}
		lc.Append(fx.StartHook(func(ctx context.Context) error {
			if err := retention.EnsureSchedules(ctx, c.ScheduleClient(), cfg.Retention); err != nil {
				return err
			}
			l.Info().Int("documents_days", cfg.Retention.DocumentsDays).Int("inbox_days", cfg.Retention.InboxDays).
				Int("awda_calls_days", cfg.Retention.AWDACallsDays).Int("hour_utc", cfg.Retention.HourUTC).
				Msg("retention schedules ensured")
			return nil
		}))
	}),
)
