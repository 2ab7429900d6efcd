package main

import (
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/reconcile"
	"github.com/awdaflow/awdaflow/internal/retention"
	"github.com/awdaflow/awdaflow/workflows"
)

// primeMetrics creates the SDK's workflow task failure counters at 0 before
// any failure, so that the alert rules' increase() sees the first
// non-determinism error after a deploy (see metrics.PrimeWorkflowTaskFailures),
// for every workflow type the worker runs.
var primeMetrics = fx.Invoke(func(cfg *config.Config, m *metrics.Metrics) {
	m.PrimeWorkflowTaskFailures(cfg.Temporal.Namespace, workflows.TaskQueue, workflowTypes...)
})

// workflowTypes are the workflow types the worker registers (worker.go).
var workflowTypes = []string{workflows.WorkflowName, retention.WorkflowName, reconcile.WorkflowName}
