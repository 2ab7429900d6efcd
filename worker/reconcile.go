package main

import (
	"context"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/reconcile"
)

// reconcileModule creates or updates the daily reconciliation's Temporal
// Schedule at startup, once the worker that runs it is polling
// (internal/reconcile), unless RECONCILE_SCHEDULE=false leaves it to
// operations. A failure stops the startup, as retention's does.
var reconcileModule = fx.Module("reconcile",
	fx.Invoke(func(lc fx.Lifecycle, cfg *config.Config, c client.Client, _ worker.Worker, l zerolog.Logger) {
		l = l.With().Str("component", "reconcile").Logger()
		if !cfg.Reconcile.ReconcileSchedule {
			l.Info().Msg("reconciliation schedule left to operations (RECONCILE_SCHEDULE=false)")
			return
		}
		lc.Append(fx.StartHook(func(ctx context.Context) error {
			if err := reconcile.EnsureSchedule(ctx, c.ScheduleClient(), cfg.Reconcile); err != nil {
				return err
			}
			l.Info().Int("hour_utc", cfg.Reconcile.ReconcileHourUTC).Int("minute", cfg.Reconcile.ReconcileMinute).
				Int("batch_size", cfg.Reconcile.ReconcileBatchSize).Msg("reconciliation schedule ensured")
			return nil
		}))
	}),
)
