package metrics

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/awdaflow/awdaflow/internal/store"
)

// StageNew is the stage label of an application the API created whose
// workflow has not written its first projection yet (stage "" in the read
// model).
const StageNew = "NEW"

// LoanCounter reads the read model's open loans by stage (*store.Store).
type LoanCounter interface {
	CountOpenLoans(ctx context.Context) ([]store.StageCount, error)
}

// InstrumentLoans reports the read model's open loans by stage
// (awdaflow_loans_open{stage}) and the stuck among them
// (awdaflow_loans_stuck{stage}), read from the database at each collection.
// Every stage of stages is reported, at 0 when no loan rests there, so a
// stage that empties shows 0 rather than vanishing; a stage the database
// holds beyond them is reported too.
//
// The figures are the database's, not this process's: every replica that
// reports them reports the same numbers, so aggregate them across
// replicas with max(), never sum(). When the database cannot be read the
// gauges report nothing (no reading rather than a stale or wrong one).
func (m *Metrics) InstrumentLoans(c LoanCounter, stages []string) error {
	meter := m.provider.Meter("github.com/awdaflow/awdaflow/internal/metrics")
	open, err := meter.Int64ObservableGauge("awdaflow.loans.open",
		metric.WithDescription("Open loans in the read model by the stage they rest in (database-wide: aggregate replicas with max)"))
	if err != nil {
		return err
	}
	stuck, err := meter.Int64ObservableGauge("awdaflow.loans.stuck",
		metric.WithDescription("Open loans parked for operations (stuck) by stage (database-wide: aggregate replicas with max)"))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		counts, err := c.CountOpenLoans(ctx)
		if err != nil {
			return nil
		}
		byStage := make(map[string]store.StageCount, len(stages)+len(counts))
		order := append([]string(nil), stages...)
		for _, s := range stages {
			byStage[s] = store.StageCount{Stage: s}
		}
		for _, sc := range counts {
			if sc.Stage == "" {
				sc.Stage = StageNew
			}
			if _, ok := byStage[sc.Stage]; !ok {
				order = append(order, sc.Stage)
			}
			byStage[sc.Stage] = sc
		}
		for _, s := range order {
			attrs := metric.WithAttributes(attribute.String("stage", s))
			o.ObserveInt64(open, int64(byStage[s].Open), attrs)
			o.ObserveInt64(stuck, int64(byStage[s].Stuck), attrs)
		}
		return nil
	}, open, stuck)
	return err
}

// Workflow task failure reasons the SDK counts in
// temporal_workflow_task_execution_failed_total{failure_reason}.
const (
	FailureNonDeterminism      = "NonDeterminismError"
	FailureGrpcMessageTooLarge = "GrpcMessageTooLarge"
	FailureWorkflowError       = "WorkflowError"
)

// PrimeWorkflowTaskFailures creates the SDK's workflow task failure counter
// at 0 for each workflow type and failure reason, with the labels the SDK's
// worker gives it, before any failure. The SDK creates a counter only at its
// first increment, and Prometheus's increase() cannot see the step from
// nothing to 1: without this, the first non-determinism error after a
// deploy would not count until a second one.
func (m *Metrics) PrimeWorkflowTaskFailures(namespace, taskQueue string, workflowTypes ...string) {
	for _, wt := range workflowTypes {
		for _, reason := range []string{FailureNonDeterminism, FailureGrpcMessageTooLarge, FailureWorkflowError} {
			m.temporal.WithTags(map[string]string{
				// The SDK's root tags (its client's), then the worker's.
				"namespace":      namespace,
				"client_name":    "temporal_go",
				"worker_type":    "none",
				"activity_type":  "none",
				"task_queue":     taskQueue,
				"workflow_type":  wt,
				"failure_reason": reason,
			}).Counter("temporal_workflow_task_execution_failed").Inc(0)
		}
	}
}
