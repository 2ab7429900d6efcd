package inbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// Outcome is what one delivery attempt did with a notification.
type Outcome string

const (
	Delivered Outcome = "delivered" // signalled; the row is delivered
	Orphaned  Outcome = "orphan"    // no open workflow; the row is orphan
	Rejected  Outcome = "rejected"  // the stored payload is not an event; the row is rejected
	Retry     Outcome = "retry"     // not now; the row stays pending until its next attempt
)

// Signaler is the part of client.Client a Deliverer uses.
type Signaler interface {
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

var _ Signaler = client.Client(nil)

// Deliverer makes delivery attempts. Its zero durations take the defaults.
type Deliverer struct {
	Store    *store.Store
	Temporal Signaler
	Log      zerolog.Logger

	// OrphanGrace is how long a notification whose loan (or user) has no
	// application yet stays pending before it is orphaned: AWDA may push a
	// status before the workflow has recorded the loan number it just got.
	// Zero orphans at once.
	OrphanGrace time.Duration
	// MinBackoff and MaxBackoff bound the wait before the next attempt:
	// MinBackoff·2^(attempts-1), ±20 %, capped at MaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	deliveries metric.Int64Counter
}

// Defaults of a Deliverer.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// Instrument counts delivery attempts by source and outcome on mp.
func (d *Deliverer) Instrument(mp metric.MeterProvider) error {
	c, err := mp.Meter("github.com/awdaflow/awdaflow/internal/inbox").Int64Counter("awdaflow.webhook.deliveries",
		metric.WithDescription("Attempts to signal stored AWDA notifications to their workflows, by source and outcome"))
	if err != nil {
		return err
	}
	d.deliveries = c
	return nil
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Backoff is the wait before attempt attempts+1.
func (d *Deliverer) Backoff(attempts int) time.Duration {
	lo, hi := d.MinBackoff, d.MaxBackoff
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	b := lo
	for i := 1; i < attempts && b < hi; i++ {
		b *= 2
	}
	b = time.Duration(float64(b) * (0.8 + 0.4*rand.Float64()))
	return min(max(b, lo/2), hi)
}

// signalName is the workflow signal of a source.
func signalName(source string) (string, error) {
	switch source {
	case store.SourceLoanStatus:
		return workflows.LoanStatusSignal, nil
	case store.SourceAuthorization:
		return workflows.AuthorizationSignal, nil
	}
	return "", fmt.Errorf("unknown source %q", source)
}

// Deliver makes one attempt to signal it to its workflow and records the
// outcome in the inbox. The returned error is the failure behind a Retry
// (nil otherwise). A failure to record the outcome leaves the row pending
// under its lease, so that it is attempted again later: the workflow drops
// the duplicate signal.
func (d *Deliverer) Deliver(ctx context.Context, it store.InboxItem) (Outcome, error) {
	out, reason, err := d.attempt(ctx, it)
	log := d.Log.With().Str("component", "inbox").Int64("inbox_id", it.ID).Str("source", it.Source).
		Str("event_id", it.EventID).Str("loan_no", it.LoanNo).Str("awda_user_id", it.UserID).
		Int("attempts", it.Attempts).Logger()
	// Record with a context of its own: the caller's may be nearly spent by
	// a slow signal, and the outcome is worth more than the deadline.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var merr error
	switch out {
	case Delivered:
		merr = d.Store.MarkDelivered(rctx, it.ID, reason)
		log.Debug().Str("workflow_id", reason).Msg("notification delivered")
	case Orphaned:
		merr = d.Store.MarkOrphan(rctx, it.ID, reason)
		// The reconciliation trail: ops compare these with AWDA's loan info.
		log.Warn().Str("reason", reason).Msg("orphan notification: no open workflow; kept for reconciliation")
	case Rejected:
		merr = d.Store.MarkRejected(rctx, it.ID, reason)
		log.Error().Str("reason", reason).Msg("stored notification cannot be applied; rejected")
	case Retry:
		next := d.now().Add(d.Backoff(it.Attempts))
		merr = d.Store.MarkFailed(rctx, it.ID, reason, next)
		log.Info().Str("reason", reason).Time("next_attempt_at", next).Msg("notification not delivered yet; will retry")
	}
	if merr != nil {
		log.Warn().Str("outcome", string(out)).Str("error_type", fmt.Sprintf("%T", merr)).
			Msg("recording the delivery outcome failed; the row stays pending")
	}
	if d.deliveries != nil {
		d.deliveries.Add(ctx, 1, metric.WithAttributes(attribute.String("source", it.Source), attribute.String("outcome", string(out))))
	}
	return out, err
}

// attempt returns the outcome and, for the inbox row: the workflow ID when
// delivered, the reason otherwise (no personal data in either).
func (d *Deliverer) attempt(ctx context.Context, it store.InboxItem) (Outcome, string, error) {
	name, err := signalName(it.Source)
	if err != nil {
		return Rejected, err.Error(), nil
	}
	var (
		event   any
		orderNo string
	)
	switch it.Source {
	case store.SourceLoanStatus:
		ev, err := awda.ParseLoanStatusEvent(it.Payload)
		if err != nil {
			return Rejected, "payload: " + err.Error(), nil
		}
		event, orderNo = *ev, ev.OrderNo
	case store.SourceAuthorization:
		ev, err := awda.ParseAuthorizationEvent(it.Payload)
		if err != nil {
			return Rejected, "payload: " + err.Error(), nil
		}
		event = *ev
	}

	wfID := it.WorkflowID
	if wfID == "" {
		wfID, err = d.route(ctx, it, orderNo)
		if errors.Is(err, store.ErrNotFound) {
			what := "loan"
			if it.Source == store.SourceAuthorization {
				what = "user"
			}
			if d.now().Sub(it.ReceivedAt) >= d.OrphanGrace {
				return Orphaned, "no application for this " + what, nil
			}
			return Retry, "no application for this " + what + " yet", err
		}
		if err != nil {
			return Retry, "route: " + errType(err), err
		}
	}

	err = d.Temporal.SignalWorkflow(ctx, wfID, "", name, event)
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return Delivered, wfID, nil
	case errors.As(err, &notFound):
		return Orphaned, "workflow " + wfID + " is not open", nil
	default:
		return Retry, "signal: " + errType(err), err
	}
}

// route finds the workflow a notification belongs to: a loan status by AWDA
// loan number, else by our order number (AWDA may push before the workflow
// has recorded the loan number); an authorization by AWDA user.
func (d *Deliverer) route(ctx context.Context, it store.InboxItem, orderNo string) (string, error) {
	if it.Source == store.SourceAuthorization {
		return d.Store.WorkflowIDByUserID(ctx, it.UserID)
	}
	id, err := d.Store.WorkflowIDByLoanNo(ctx, it.LoanNo)
	if !errors.Is(err, store.ErrNotFound) || orderNo == "" {
		return id, err
	}
	err = d.Store.Pool().QueryRow(ctx, `SELECT workflow_id FROM applications WHERE order_no = $1`, orderNo).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return id, err
}

// errType names an error for the inbox row and logs without its message
// (which may quote a host).
func errType(err error) string {
	var unavailable *serviceerror.Unavailable
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &unavailable):
		return "temporal unavailable"
	}
	return fmt.Sprintf("%T", err)
}
