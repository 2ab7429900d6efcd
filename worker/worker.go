package main

import (
	"context"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/reconcile"
	"github.com/awdaflow/awdaflow/internal/retention"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// workerModule registers the loan workflow and its activities and runs the
// worker for the application's lifetime: Start (non-blocking) on start, Stop
// on stop, never Run inside a hook.
var workerModule = fx.Module("worker",
	fx.Provide(newWorker),
	fx.Invoke(func(worker.Worker) {}),
)

func newWorker(lc fx.Lifecycle, cfg *config.Config, c client.Client, awdaClient *awda.Client, st *store.Store, m *metrics.Metrics, l zerolog.Logger) (worker.Worker, error) {
	// Process-wide, and only honoured before the first worker starts.
	worker.SetStickyWorkflowCacheSize(cfg.Worker.StickyCacheSize)
	w := worker.New(c, workflows.TaskQueue, Options(cfg.Worker))
	w.RegisterWorkflow(workflows.LoanApplication)
	w.RegisterActivity(activities.New(awdaClient, st, st))
	// The retention sweeps share the task queue (schedules.go).
	ra, err := retention.NewActivities(st, m.MeterProvider(), l)
	if err != nil {
		return nil, err
	}
	retention.Register(w, ra)
	// So does the reconciliation (schedules.go); it calls AWDA through the
	// same client as the loans, under the same rate limit.
	rca, err := reconcile.NewActivities(st, c, awdaClient, m.MeterProvider(), l)
	if err != nil {
		return nil, err
	}
	reconcile.Register(w, rca)

	l = l.With().Str("component", "worker").Str("task_queue", workflows.TaskQueue).Logger()
	if cfg.Worker.Versioning {
		l = l.With().Str("worker_deployment_version", cfg.Worker.Version()).Logger()
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := w.Start(); err != nil {
				return err
			}
			l.Info().Msg("worker started")
			// The fleet's last sweeps, for the retention gauges; without
			// them the worker reports only the sweeps it finishes.
			if err := ra.ReportLastSweeps(ctx); err != nil {
				l.Warn().Err(err).Msg("retention: could not read the last sweeps; their gauges wait for the next sweep")
			}
			if err := rca.ReportLastRun(ctx); err != nil {
				l.Warn().Err(err).Msg("reconcile: could not read the last run; its gauges wait for the next run")
			}
			return nil
		},
		OnStop: func(context.Context) error {
			w.Stop() // waits up to WorkerStopTimeout for running activities
			l.Info().Msg("worker stopped")
			return nil
		},
	})
	return w, nil
}

// Options maps the configuration's knobs onto the SDK's; zero keeps the
// SDK's default.
func Options(c config.Worker) worker.Options {
	return worker.Options{
		MaxConcurrentActivityExecutionSize:     c.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: c.MaxConcurrentWorkflowTasks,
		MaxConcurrentActivityTaskPollers:       c.ActivityPollers,
		MaxConcurrentWorkflowTaskPollers:       c.WorkflowPollers,
		WorkerStopTimeout:                      c.StopTimeout,
		DeploymentOptions:                      DeploymentOptions(c),
	}
}

// DeploymentOptions puts the worker in its Worker Deployment when
// WORKER_VERSIONING is on: it polls as version DeploymentName.BuildID, and
// every workflow it runs is AutoUpgrade — it moves to the current version
// at its next workflow task, changes to running loans being guarded by
// workflow.GetVersion and the replay gate (docs/operations.md, "Deploying a
// new worker version", says why not Pinned). Off, the worker is
// unversioned, as before.
func DeploymentOptions(c config.Worker) worker.DeploymentOptions {
	if !c.Versioning {
		return worker.DeploymentOptions{}
	}
	return worker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   worker.WorkerDeploymentVersion{DeploymentName: c.DeploymentName, BuildID: c.BuildID},
		DefaultVersioningBehavior: workflow.VersioningBehaviorAutoUpgrade,
	}
}
