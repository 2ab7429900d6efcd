package retention

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/internal/store"
)

// Store deletes batches of expired rows and keeps the record of the last
// successful sweep of each kind (*store.Store).
type Store interface {
	DeleteExpired(ctx context.Context, kind string, cutoff time.Time, limit int) (int64, error)
	RecordRetentionSweep(ctx context.Context, kind string, at time.Time, deleted int64, took time.Duration) error
	LastRetentionSweeps(ctx context.Context) ([]store.RetentionSweep, error)
}

// Metric names as Prometheus shows them.
const (
	DeletedName     = "awdaflow_retention_deleted_total"
	LastSuccessName = "awdaflow_retention_last_success_timestamp_seconds"
	DurationName    = "awdaflow_retention_last_sweep_duration_seconds"
)

// Activities delete the rows and record the sweeps' metrics. Their names
// start with Retention so that they cannot collide with the loan's
// activities on the same worker.
type Activities struct {
	store       Store
	log         zerolog.Logger
	deleted     metric.Int64Counter
	lastSuccess metric.Float64Gauge
	duration    metric.Float64Gauge
}

// NewActivities returns the activities over st, with instruments from mp
// (nil: no metrics).
func NewActivities(st Store, mp metric.MeterProvider, log zerolog.Logger) (*Activities, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/awdaflow/awdaflow/internal/retention")
	a := &Activities{store: st, log: log.With().Str("component", "retention").Logger()}
	var err error
	if a.deleted, err = meter.Int64Counter("awdaflow.retention.deleted",
		metric.WithDescription("Rows deleted by the retention sweeps, by kind")); err != nil {
		return nil, err
	}
	if a.lastSuccess, err = meter.Float64Gauge("awdaflow.retention.last_success_timestamp", metric.WithUnit("s"),
		metric.WithDescription("When a retention sweep last finished, by kind (Unix time; from PostgreSQL at startup, then as this process finishes sweeps; aggregate replicas with max)")); err != nil {
		return nil, err
	}
	if a.duration, err = meter.Float64Gauge("awdaflow.retention.last_sweep.duration", metric.WithUnit("s"),
		metric.WithDescription("How long the last retention sweep this process finished took, from its start to its last batch, by kind")); err != nil {
		return nil, err
	}
	return a, nil
}

// BatchInput is one batch: at most Limit rows of Kind older than Cutoff.
type BatchInput struct {
	Kind   string    `json:"kind"`
	Cutoff time.Time `json:"cutoff"`
	Limit  int       `json:"limit"`
}

// RetentionDeleteBatch deletes one batch and returns how many rows it
// deleted.
func (a *Activities) RetentionDeleteBatch(ctx context.Context, in BatchInput) (int64, error) {
	n, err := a.store.DeleteExpired(ctx, in.Kind, in.Cutoff, in.Limit)
	if err != nil {
		return 0, err
	}
	a.deleted.Add(ctx, n, metric.WithAttributes(attribute.String("kind", in.Kind)))
	return n, nil
}

// DoneInput closes a sweep.
type DoneInput struct {
	Kind    string    `json:"kind"`
	Started time.Time `json:"started"`
	Deleted int64     `json:"deleted"`
}

// RetentionSweepDone records a finished sweep: in PostgreSQL (so that a
// restarted fleet still reports it), its duration and the time of its
// success as metrics, and one log line with the count.
func (a *Activities) RetentionSweepDone(ctx context.Context, in DoneInput) error {
	if in.Kind == "" {
		return temporal.NewNonRetryableApplicationError("retention: sweep done without a kind", errBadInput, nil)
	}
	now := time.Now()
	took := now.Sub(in.Started)
	if err := a.store.RecordRetentionSweep(ctx, in.Kind, now, in.Deleted, took); err != nil {
		return err
	}
	kind := metric.WithAttributes(attribute.String("kind", in.Kind))
	a.lastSuccess.Record(ctx, float64(now.UnixNano())/1e9, kind)
	a.duration.Record(ctx, took.Seconds(), kind)
	a.log.Info().Str("kind", in.Kind).Int64("deleted", in.Deleted).Dur("took", took).Msg("retention sweep done")
	return nil
}

// ReportLastSweeps sets the sweep gauges from the sweeps recorded in
// PostgreSQL, so that a worker reports the fleet's last sweeps from its
// start rather than only those it finished itself: without it a fleet
// restarted after a sweep would report none, and an alert on a late sweep
// could not tell "late" from "restarted". A worker calls it at startup.
func (a *Activities) ReportLastSweeps(ctx context.Context) error {
	sweeps, err := a.store.LastRetentionSweeps(ctx)
	if err != nil {
		return err
	}
	for _, sw := range sweeps {
		kind := metric.WithAttributes(attribute.String("kind", sw.Kind))
		a.lastSuccess.Record(ctx, float64(sw.At.UnixNano())/1e9, kind)
		a.duration.Record(ctx, sw.Took.Seconds(), kind)
	}
	return nil
}
