package inbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// Outcome is what one delivery attempt did with a notification.
type Outcome string

const (
	Delivered Outcome = "delivered" // signalled; the row is delivered
	Orphaned  Outcome = "orphan"    // no open workflow; the row is orphan
	// AfterClose: a loan status for a loan whose workflow has closed (AWDA
	// pushes its own SETTLED or DISBURSED after the loan ended): expected,
	// and the row is orphan as well, kept for reconciliation.
	AfterClose Outcome = "after_close"
	Rejected   Outcome = "rejected" // the stored payload is not an event; the row is rejected
	Retry      Outcome = "retry"    // not now; the row stays pending until its next attempt
)

// Signaler is the part of client.Client a Deliverer uses.
type Signaler interface {
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

var _ Signaler = client.Client(nil)

// Describer is the part of client.Client that tells a workflow that has
// closed from one Temporal does not know (never started, or purged after
// the namespace's retention). A Deliverer's Temporal that is not one counts
// every signal that finds no open workflow as an orphan.
type Describer interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

var _ Describer = client.Client(nil)

// Deliverer makes delivery attempts. Its zero durations and sizes take the
// defaults.
type Deliverer struct {
	Store    *store.Store
	Temporal Signaler
	Log      zerolog.Logger
	// Replica names this starter replica in the rows it claims
	// (webhook_inbox.claimed_by; a host and port, never personal data);
	// empty records none.
	Replica string

	// OrphanGrace is how long a notification whose loan (or user) has no
	// application yet stays pending before it is orphaned: AWDA may push a
	// status before the workflow has recorded the loan number it just got.
	// Zero orphans at once. Its retries back off, but the last one is due
	// at received_at+OrphanGrace exactly, so it is orphaned then: within a
	// Forwarder.Interval of the grace's end while forwarders keep up.
	OrphanGrace time.Duration
	// MinBackoff and MaxBackoff bound the wait before the next attempt:
	// MinBackoff·2^(attempts-1), ±20 %, capped at MaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Concurrency bounds the signals in flight at once
	// (DefaultConcurrency). It is what a burst of notifications may cost
	// the machine besides their ingestion: the inbox is durable, so under
	// a burst delivery may lag rather than take the CPU the webhook
	// receiver needs.
	Concurrency int
	// AttemptTimeout bounds one signal (DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Tracer, when set, traces every signal attempt (startSpan). Nil: no
	// spans.
	Tracer trace.Tracer

	deliveries metric.Int64Counter
}

// Defaults of a Deliverer.
const (
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultConcurrency    = 4
	DefaultAttemptTimeout = 10 * time.Second
)

// LeaseMargin is how long before its claim's lease ends (store.InboxLease)
// a forwarder stops signalling the rows of that claim: from the lease's end
// on, another replica may claim them, and two replicas must never signal a
// row at once. It covers the clocks of two replicas disagreeing by a little
// and the signal's own round trip; a row not attempted for want of lease is
// due again at once.
const LeaseMargin = 5 * time.Second

// Metric names as Prometheus shows them.
const (
	MetricDeliveries       = "awdaflow_webhook_deliveries_total"
	MetricPending          = "awdaflow_webhook_inbox_pending"
	MetricLag              = "awdaflow_webhook_inbox_lag_seconds"
	MetricOldestPendingAge = "awdaflow_webhook_inbox_oldest_pending_age_seconds"
)

// Instrument counts delivery attempts by source and outcome on mp, and
// reports the inbox's backlog, read from the database at each collection:
// the pending rows (state "due": waiting for a forwarder; "waiting": claimed
// or backing off), the forwarders' lag (how long the longest-due row has
// been due) and the age of the oldest pending row.
func (d *Deliverer) Instrument(mp metric.MeterProvider) error {
	m := mp.Meter("github.com/awdaflow/awdaflow/internal/inbox")
	c, err := m.Int64Counter("awdaflow.webhook.deliveries",
		metric.WithDescription("Attempts to signal stored AWDA notifications to their workflows, by source and outcome"))
	if err != nil {
		return err
	}
	pending, err := m.Int64ObservableGauge("awdaflow.webhook.inbox.pending",
		metric.WithDescription("Pending notifications in the inbox, by state (due: waiting for a forwarder; waiting: claimed or backing off)"))
	if err != nil {
		return err
	}
	lag, err := m.Float64ObservableGauge("awdaflow.webhook.inbox.lag", metric.WithUnit("s"),
		metric.WithDescription("How long the longest-due pending notification has waited for a forwarder (0 when none is due)"))
	if err != nil {
		return err
	}
	oldest, err := m.Float64ObservableGauge("awdaflow.webhook.inbox.oldest_pending_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest pending notification (0 when none is pending)"))
	if err != nil {
		return err
	}
	due, waiting := metric.WithAttributes(attribute.String("state", "due")), metric.WithAttributes(attribute.String("state", "waiting"))
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		now := d.now()
		b, err := d.Store.InboxBacklog(ctx, now)
		if err != nil {
			return nil // no reading rather than a wrong one
		}
		o.ObserveInt64(pending, int64(b.Due), due)
		o.ObserveInt64(pending, int64(b.Pending-b.Due), waiting)
		o.ObserveFloat64(lag, age(now, b.OldestDue))
		o.ObserveFloat64(oldest, age(now, b.OldestPending))
		return nil
	}, pending, lag, oldest)
	if err != nil {
		return err
	}
	d.deliveries = c
	return nil
}

func age(now, t time.Time) float64 {
	if t.IsZero() || t.After(now) {
		return 0
	}
	return now.Sub(t).Seconds()
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

// attempt is one item's delivery attempt under way.
type attempt struct {
	it store.InboxItem
	// send signals the parsed event to the item's workflow, typed by the
	// signal of its source.
	send    func(ctx context.Context, c Signaler, workflowID string) error
	orderNo string // a loan status's order number, to route by
	out     store.InboxOutcome
	outcome Outcome
	trace   trace.SpanContext // the attempt's span, when traced
	// closedAs is how the workflow of an item that found none open had
	// closed (its status, as Temporal names it), when known.
	closedAs string
}

// Deliver makes one delivery attempt for each of items (claimed rows, as
// ClaimPending returns them) and records every outcome in the inbox, in one
// statement; it returns the outcomes in items' order. The items are routed
// in bulk (by AWDA loan number, else order number; by AWDA user), then
// signalled, at most Concurrency at once across workflows and one at a time
// in ID order within a workflow: a loan's notifications reach it in the
// order they were stored, which is the order AWDA sent them when it waited
// for each answer. An item whose signal fails holds back the later items of
// its workflow (they are due again together, in order).
//
// The error is a failure to record the outcomes: the rows then stay pending
// under their lease and are attempted again after it, and the workflow drops
// a signal it has already seen.
func (d *Deliverer) Deliver(ctx context.Context, items []store.InboxItem) ([]Outcome, error) {
	if len(items) == 0 {
		return nil, nil
	}
	now := d.now()
	atts := make([]*attempt, len(items))
	for i, it := range items {
		a := &attempt{it: it, out: store.InboxOutcome{ID: it.ID, WorkflowID: it.WorkflowID, Attempt: it.Attempts}}
		atts[i] = a
		d.parse(a)
	}
	d.route(ctx, atts, now)
	d.signalAll(ctx, atts)

	outs := make([]store.InboxOutcome, len(atts))
	outcomes := make([]Outcome, len(atts))
	for i, a := range atts {
		if a.outcome == Retry && a.out.NextAttemptAt.IsZero() {
			a.out.NextAttemptAt = now.Add(d.Backoff(a.it.Attempts))
		}
		a.out.Status = status(a.outcome)
		outs[i], outcomes[i] = a.out, a.outcome
	}
	// Record with a context of its own: the caller's may be nearly spent
	// (or cancelled by a stop), and the outcomes are worth more.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rerr := d.Store.RecordInboxOutcomes(rctx, outs)
	d.report(ctx, atts, rerr)
	return outcomes, rerr
}

func status(o Outcome) string {
	switch o {
	case Delivered:
		return store.InboxDelivered
	case Orphaned, AfterClose:
		return store.InboxOrphan
	case Rejected:
		return store.InboxRejected
	}
	return store.InboxPending
}

// parse reads the stored payload: an item that is not an event is rejected.
func (d *Deliverer) parse(a *attempt) {
	switch a.it.Source {
	case store.SourceLoanStatus:
		ev, err := awda.ParseLoanStatusEvent(a.it.Payload)
		if err != nil {
			a.reject("payload: " + err.Error())
			return
		}
		a.send, a.orderNo = sendOf(workflows.LoanStatusSignal, *ev), ev.OrderNo
	case store.SourceAuthorization:
		ev, err := awda.ParseAuthorizationEvent(a.it.Payload)
		if err != nil {
			a.reject("payload: " + err.Error())
			return
		}
		a.send = sendOf(workflows.AuthorizationSignal, *ev)
	default:
		a.reject(fmt.Sprintf("unknown source %q", a.it.Source))
	}
}

// sendOf sends v as signal s.
func sendOf[T any](s workflows.Signal[T], v T) func(context.Context, Signaler, string) error {
	return func(ctx context.Context, c Signaler, workflowID string) error {
		return s.Send(ctx, c, workflowID, v)
	}
}

func (a *attempt) reject(reason string) {
	a.outcome, a.out.Reason = Rejected, reason
}

func (a *attempt) retry(reason string) {
	a.outcome, a.out.Reason = Retry, reason
}

// route finds the workflow of every parsed item that has none yet: a loan
// status by AWDA loan number, else by our order number (AWDA may push before
// the workflow has recorded the loan number); an authorization by AWDA user.
// One query for all, and a second for the order numbers of the loans not
// found. An item without an application is orphaned once OrphanGrace has
// passed since it was received, and retried until then, its last retry due
// when the grace ends.
func (d *Deliverer) route(ctx context.Context, atts []*attempt, now time.Time) {
	var loanNos, userIDs []string
	for _, a := range atts {
		if a.outcome != "" || a.out.WorkflowID != "" {
			continue
		}
		if a.it.Source == store.SourceAuthorization {
			userIDs = appendKey(userIDs, a.it.UserID)
		} else {
			loanNos = appendKey(loanNos, a.it.LoanNo)
		}
	}
	if len(loanNos) == 0 && len(userIDs) == 0 {
		return
	}
	fail := func(err error) {
		for _, a := range atts {
			if a.outcome == "" && a.out.WorkflowID == "" {
				a.retry("route: " + errType(err))
			}
		}
	}
	routes, err := d.Store.RouteInbox(ctx, loanNos, nil, userIDs)
	if err != nil {
		fail(err)
		return
	}
	var orderNos []string
	for _, a := range atts {
		if a.outcome != "" || a.out.WorkflowID != "" {
			continue
		}
		if a.it.Source == store.SourceAuthorization {
			a.out.WorkflowID = routes.ByUserID[a.it.UserID]
		} else if a.out.WorkflowID = routes.ByLoanNo[a.it.LoanNo]; a.out.WorkflowID == "" {
			orderNos = appendKey(orderNos, a.orderNo)
		}
	}
	if len(orderNos) > 0 {
		byOrder, err := d.Store.RouteInbox(ctx, nil, orderNos, nil)
		if err != nil {
			fail(err)
			return
		}
		for _, a := range atts {
			if a.outcome == "" && a.out.WorkflowID == "" && a.it.Source == store.SourceLoanStatus {
				a.out.WorkflowID = byOrder.ByOrderNo[a.orderNo]
			}
		}
	}
	for _, a := range atts {
		if a.outcome != "" || a.out.WorkflowID != "" {
			continue
		}
		what := "loan"
		if a.it.Source == store.SourceAuthorization {
			what = "user"
		}
		deadline := a.it.ReceivedAt.Add(d.OrphanGrace)
		if !now.Before(deadline) {
			a.outcome, a.out.Reason = Orphaned, "no application for this "+what
		} else {
			// Backing off, but never past the grace: the row is due at its
			// end and orphaned on time, not at a backed-off retry minutes
			// later.
			a.retry("no application for this " + what + " yet")
			a.out.NextAttemptAt = now.Add(d.Backoff(a.it.Attempts))
			if a.out.NextAttemptAt.After(deadline) {
				a.out.NextAttemptAt = deadline
			}
		}
	}
}

func appendKey(keys []string, k string) []string {
	if k == "" || slices.Contains(keys, k) {
		return keys
	}
	return append(keys, k)
}

// signalAll signals every routed item: one goroutine per workflow at most
// Concurrency at a time, each signalling its workflow's items in ID order.
func (d *Deliverer) signalAll(ctx context.Context, atts []*attempt) {
	byWorkflow := map[string][]*attempt{}
	var order []string
	for _, a := range atts {
		if a.outcome != "" {
			continue
		}
		wf := a.out.WorkflowID
		if _, ok := byWorkflow[wf]; !ok {
			order = append(order, wf)
		}
		byWorkflow[wf] = append(byWorkflow[wf], a)
	}
	if len(order) == 0 {
		return
	}
	n := d.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	n = min(n, len(order))
	next := make(chan []*attempt)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range next {
				d.signalInOrder(ctx, seq)
			}
		}()
	}
	for _, wf := range order {
		seq := byWorkflow[wf]
		slices.SortFunc(seq, func(a, b *attempt) int { return cmp.Compare(a.it.ID, b.it.ID) })
		next <- seq
	}
	close(next)
	wg.Wait()
}

// signalInOrder signals one workflow's items one after the other. After a
// failure the rest wait with the failed one: due again at the same time,
// they are claimed again in ID order. No signal is sent, and none is
// waited for, past its claim's lease less LeaseMargin: the rows left are
// handed back, due at once, for whichever forwarder claims them next.
func (d *Deliverer) signalInOrder(ctx context.Context, seq []*attempt) {
	for i, a := range seq {
		timeout, why := d.attemptTimeout(ctx, a)
		if why != "" {
			for _, rest := range seq[i:] {
				rest.retry(why)
				rest.out.NextAttemptAt = d.now()
			}
			return
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		actx, span := d.startSpan(actx, a)
		err := a.send(actx, d.Temporal, a.out.WorkflowID)
		cancel()
		endSpan(span, err)
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			a.outcome = Delivered
		case errors.As(err, &notFound):
			a.outcome, a.out.Reason = d.notOpen(ctx, a), "workflow "+a.out.WorkflowID+" is not open"
		case errors.Is(err, codec.ErrErased):
			// The applicant was erased, so their loan has ended: nothing can
			// be signalled under their key again, and retrying never helps.
			a.outcome, a.out.Reason = Orphaned, "workflow "+a.out.WorkflowID+": the applicant's personal data was erased"
		default:
			a.retry("signal: " + errType(err))
			a.out.NextAttemptAt = d.now().Add(d.Backoff(a.it.Attempts))
			for _, rest := range seq[i+1:] {
				rest.retry("held behind inbox row " + strconv.FormatInt(a.it.ID, 10) + " of the same workflow")
				rest.out.NextAttemptAt = a.out.NextAttemptAt
			}
			return
		}
	}
}

// notOpen classifies an item whose signal found no open workflow. A loan
// status whose workflow exists and has closed is AfterClose: AWDA pushes
// SETTLED and DISBURSED itself, and one may come after the loan's workflow
// has ended (a.closedAs names how). Anything else is an orphan for
// reconciliation: an authorization for a closed workflow, a workflow ID
// Temporal does not know (the read model names a run never started or
// since purged), or one it could not describe.
func (d *Deliverer) notOpen(ctx context.Context, a *attempt) Outcome {
	desc, ok := d.Temporal.(Describer)
	if !ok || a.it.Source != store.SourceLoanStatus {
		return Orphaned
	}
	timeout := d.AttemptTimeout
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := desc.DescribeWorkflowExecution(dctx, a.out.WorkflowID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		a.closedAs = "not found" // never started, or purged after retention
		return Orphaned
	case err != nil:
		a.closedAs = "unknown: " + errType(err)
		return Orphaned
	}
	st := resp.GetWorkflowExecutionInfo().GetStatus()
	a.closedAs = st.String()
	if st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || st == enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED {
		return Orphaned // open after all (a new run since the signal): not a late push
	}
	return AfterClose
}

// attemptTimeout bounds a's signal: AttemptTimeout, cut short by what is
// left of its claim's lease less LeaseMargin. why is set when a must not be
// attempted: the forwarder is stopping, or the lease has (nearly) run out.
func (d *Deliverer) attemptTimeout(ctx context.Context, a *attempt) (timeout time.Duration, why string) {
	if ctx.Err() != nil {
		// Stopping: not attempted, due again at once (for the next
		// start, or another forwarder).
		return 0, "not attempted: the forwarder stopped"
	}
	timeout = d.AttemptTimeout
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	if a.it.LeaseUntil.IsZero() {
		return timeout, ""
	}
	left := a.it.LeaseUntil.Sub(d.now()) - LeaseMargin
	if left <= 0 {
		return 0, "not attempted: the claim's lease ran out"
	}
	return min(timeout, left), ""
}

// report logs each outcome and counts them. Log lines carry AWDA's opaque
// IDs and workflow IDs, never the payload.
func (d *Deliverer) report(ctx context.Context, atts []*attempt, recordErr error) {
	type key struct {
		source  string
		outcome Outcome
	}
	counts := map[key]int64{}
	for _, a := range atts {
		counts[key{a.it.Source, a.outcome}]++
		var ev *zerolog.Event
		switch a.outcome {
		case Delivered:
			ev = d.Log.Debug()
		case Orphaned:
			ev = d.Log.Warn() // the reconciliation trail: ops compare these with AWDA's loan info
		case AfterClose:
			ev = d.Log.Info() // expected: counted (outcome after_close), nothing to reconcile
		case Rejected:
			ev = d.Log.Error()
		case Retry:
			ev = d.Log.Info()
		}
		if ev == nil { // the level is off
			continue
		}
		if a.trace.IsValid() { // trace_id, span_id (logging.TraceHook)
			ev = ev.Ctx(trace.ContextWithSpanContext(ctx, a.trace))
		}
		ev = ev.Str("component", "inbox").Int64("inbox_id", a.it.ID).Str("source", a.it.Source).
			Str("event_id", a.it.EventID).Str("loan_no", a.it.LoanNo).Str("awda_user_id", a.it.UserID).
			Int("attempts", a.it.Attempts)
		switch a.outcome {
		case Delivered:
			ev.Str("workflow_id", a.out.WorkflowID).Msg("notification delivered")
		case Orphaned:
			if a.closedAs != "" {
				ev = ev.Str("workflow_status", a.closedAs)
			}
			ev.Str("reason", a.out.Reason).Msg("orphan notification: no open workflow; kept for reconciliation")
		case AfterClose:
			ev.Str("workflow_id", a.out.WorkflowID).Str("workflow_status", a.closedAs).
				Msg("notification after the loan closed; kept in the inbox, nothing to apply")
		case Rejected:
			ev.Str("reason", a.out.Reason).Msg("stored notification cannot be applied; rejected")
		case Retry:
			ev.Str("reason", a.out.Reason).Time("next_attempt_at", a.out.NextAttemptAt).Msg("notification not delivered yet; will retry")
		}
	}
	if recordErr != nil {
		d.Log.Warn().Str("component", "inbox").Int("rows", len(atts)).Str("error_type", errType(recordErr)).
			Msg("recording the delivery outcomes failed; the rows stay pending and are attempted again after their lease")
	}
	if d.deliveries != nil {
		for k, n := range counts {
			d.deliveries.Add(ctx, n, metric.WithAttributes(attribute.String("source", k.source), attribute.String("outcome", string(k.outcome))))
		}
	}
}

// errType names an error for the inbox row and logs without its message
// (which may quote a host).
func errType(err error) string {
	var unavailable *serviceerror.Unavailable
	var pgErr interface{ SQLState() string }
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &unavailable):
		return "temporal unavailable"
	case errors.As(err, &pgErr):
		return "database error " + pgErr.SQLState()
	}
	return fmt.Sprintf("%T", err)
}
