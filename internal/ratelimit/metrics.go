package ratelimit

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/awdaflow/awdaflow/awda"
)

// Metric names as Prometheus shows them (docs/operations.md, "AWDA rate
// limit"). Labels: class (read, write, upload) and, for refusals, reason.
const (
	WaitName    = "awdaflow_awda_ratelimit_wait_seconds"
	RefusedName = "awdaflow_awda_ratelimit_refused_total"
	BusyName    = "awdaflow_awda_ratelimit_busy_total"
	PausesName  = "awdaflow_awda_ratelimit_pauses_total"
	PausedName  = "awdaflow_awda_ratelimit_paused"
)

// Refusal reasons (the reason label).
const (
	reasonMaxWait   = "max_wait"  // the slot was beyond the maximum wait or the deadline
	reasonCancelled = "cancelled" // the caller's context ended while it waited
	reasonError     = "error"     // the database did not answer
)

type instruments struct {
	wait    metric.Float64Histogram
	refusal metric.Int64Counter
	busies  metric.Int64Counter
	pauses  metric.Int64Counter
}

func newInstruments(mp metric.MeterProvider, paused func() map[awda.RateClass]bool) (*instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/awdaflow/awdaflow/internal/ratelimit")
	m := &instruments{}
	var err error
	if m.wait, err = meter.Float64Histogram("awdaflow.awda.ratelimit.wait", metric.WithUnit("s"),
		metric.WithDescription("Time an AWDA call waited for its slot under the fleet's rate limit (the database round trip included), by class")); err != nil {
		return nil, err
	}
	if m.refusal, err = meter.Int64Counter("awdaflow.awda.ratelimit.refused",
		metric.WithDescription("AWDA calls not sent because no slot came in time (max_wait), the caller gave up waiting (cancelled) or the database did not answer (error), by class and reason")); err != nil {
		return nil, err
	}
	// At 0 from the start, so that a dashboard or a rule's rate() sees the
	// first refusal of each class and reason.
	for _, c := range awda.RateClasses {
		for _, r := range []string{reasonMaxWait, reasonCancelled, reasonError} {
			m.refusal.Add(context.Background(), 0, metric.WithAttributes(classAttr(c), attribute.String("reason", r)))
		}
	}
	if m.busies, err = meter.Int64Counter("awdaflow.awda.ratelimit.busy",
		metric.WithDescription("Busy answers from AWDA this process reported to the fleet's limiter, by class")); err != nil {
		return nil, err
	}
	if m.pauses, err = meter.Int64Counter("awdaflow.awda.ratelimit.pauses",
		metric.WithDescription("Fleet-wide pauses this process started after a busy answer, by class")); err != nil {
		return nil, err
	}
	gauge, err := meter.Int64ObservableGauge("awdaflow.awda.ratelimit.paused",
		metric.WithDescription("1 while this process knows the class is paused fleet-wide after busy answers (learnt at its last call), by class"))
	if err != nil {
		return nil, err
	}
	if _, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for c, p := range paused() {
			v := int64(0)
			if p {
				v = 1
			}
			o.ObserveInt64(gauge, v, metric.WithAttributes(classAttr(c)))
		}
		return nil
	}, gauge); err != nil {
		return nil, err
	}
	return m, nil
}

func classAttr(c awda.RateClass) attribute.KeyValue { return attribute.String("class", string(c)) }

func (m *instruments) waited(ctx context.Context, c awda.RateClass, d time.Duration) {
	m.wait.Record(ctx, d.Seconds(), metric.WithAttributes(classAttr(c)))
}

func (m *instruments) refused(ctx context.Context, c awda.RateClass, reason string) {
	m.refusal.Add(ctx, 1, metric.WithAttributes(classAttr(c), attribute.String("reason", reason)))
}

func (m *instruments) busy(ctx context.Context, c awda.RateClass) {
	m.busies.Add(ctx, 1, metric.WithAttributes(classAttr(c)))
}

func (m *instruments) pauseStarted(ctx context.Context, c awda.RateClass) {
	m.pauses.Add(ctx, 1, metric.WithAttributes(classAttr(c)))
}
