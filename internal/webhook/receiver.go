// Package webhook receives AWDA's notifications: the loan status push and
// the authorization callback. A notification is verified (signature,
// timestamp tolerance, key rotation: awda.NotificationVerifier), stored in
// the durable inbox (sealed), and acknowledged as soon as the row has
// committed. Delivery to the workflow is the inbox forwarder's job, which
// the receiver wakes for new rows: AWDA's request never waits for Temporal.
// Concurrent requests share one INSERT (group commit), so a burst costs a
// round trip and a commit per batch rather than per notification.
//
// What it answers AWDA:
//   - 401 and nothing stored: a missing, stale or forged signature;
//   - 400 and nothing stored: a verified body that is not a valid event;
//   - 413 and nothing stored: a body over awda.MaxNotificationBytes, read to
//     its end first (internal/httpbody) so that AWDA reads the answer;
//   - 503 (AWDA delivers again later): the inbox could not be written;
//   - 200 {"code":0,"message":"success"}: stored, or stored before (the same
//     eventId again: no second row, no second signal).
//
// It never acknowledges a notification it has not durably stored, and it
// never logs a payload: only AWDA's opaque IDs. When tracing is on, the
// request's traceparent is stored with the row (store.InboxEntry.TraceParent)
// and the forwarder's delivery span links to it.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/httpbody"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/tracing"
)

// Paths of the two notification routes. Configure AWDA (or the sandbox) with
// the public base URL followed by these.
const (
	PathLoanStatus    = "/webhooks/awda/loan-status"
	PathAuthorization = "/webhooks/awda/authorization"
)

// Receiver serves both notification paths.
type Receiver struct {
	Verifier *awda.NotificationVerifier
	Store    *store.Store
	// Wake is called once new notifications are stored, so that they are
	// delivered at once (inbox.Forwarder.Wake). It must not block. Nil:
	// they wait for the forwarder's next poll.
	Wake func()
	Log  zerolog.Logger
	// StoreTimeout bounds the inbox write (DefaultStoreTimeout). AWDA's own
	// timeout must be longer.
	StoreTimeout time.Duration
	// MaxBatch is the most notifications stored by one statement
	// (DefaultMaxBatch), and MaxWriters the most statements at once
	// (DefaultMaxWriters): concurrent requests share an INSERT (group
	// commit), each acknowledged once the statement has committed. One
	// writer makes the largest batches, the requests that arrive during a
	// statement going together in the next: on make bench's two cores that
	// took a third less database CPU than two writers, for the same or
	// better throughput and p99.
	MaxBatch   int
	MaxWriters int

	notifications metric.Int64Counter
	counts        map[[2]string]metric.AddOption // by source and result

	once     sync.Once
	inserter *inserter
	inFlight atomic.Int64
	lastDone atomic.Int64 // unix nanoseconds
}

// Defaults of a Receiver.
const (
	DefaultStoreTimeout = 5 * time.Second
	DefaultMaxBatch     = 64
	DefaultMaxWriters   = 1
)

// quietAfter is how long after its last request a receiver still counts as
// busy. Concurrent requests share an INSERT and so are answered together:
// without it, a burst would look idle between the answers and the next
// requests.
const quietAfter = 5 * time.Millisecond

// Busy reports whether notifications are being received: one is in flight,
// or one was answered within the last few milliseconds. The inbox forwarder
// defers to it (inbox.Forwarder.Busy): AWDA's requests come first.
func (rc *Receiver) Busy() bool {
	return rc.inFlight.Load() > 0 || time.Since(time.Unix(0, rc.lastDone.Load())) < quietAfter
}

func (rc *Receiver) store() *inserter {
	rc.once.Do(func() {
		in := &inserter{store: rc.Store, maxBatch: rc.MaxBatch, maxWriters: rc.MaxWriters, timeout: rc.StoreTimeout, stored: rc.Wake}
		if in.maxBatch <= 0 {
			in.maxBatch = DefaultMaxBatch
		}
		if in.maxWriters <= 0 {
			in.maxWriters = DefaultMaxWriters
		}
		if in.timeout <= 0 {
			in.timeout = DefaultStoreTimeout
		}
		rc.inserter = in
	})
	return rc.inserter
}

// Results counted by Instrument.
var results = []string{"stored", "duplicate", "unauthorized", "malformed", "unavailable"}

// Instrument counts notifications by source and answer on mp.
func (rc *Receiver) Instrument(mp metric.MeterProvider) error {
	c, err := mp.Meter("github.com/awdaflow/awdaflow/internal/webhook").Int64Counter("awdaflow.webhook.notifications",
		metric.WithDescription("AWDA notifications received, by source and result (stored, duplicate, unauthorized, malformed, unavailable)"))
	if err != nil {
		return err
	}
	rc.notifications = c
	// The attribute sets are made once, not on every request.
	rc.counts = map[[2]string]metric.AddOption{}
	for _, source := range []string{store.SourceLoanStatus, store.SourceAuthorization} {
		for _, result := range results {
			rc.counts[[2]string{source, result}] = metric.WithAttributeSet(
				attribute.NewSet(attribute.String("source", source), attribute.String("result", result)))
		}
	}
	return nil
}

func (rc *Receiver) count(ctx context.Context, source, result string) {
	if rc.notifications != nil {
		rc.notifications.Add(ctx, 1, rc.counts[[2]string{source, result}])
	}
}

// ServeHTTP handles POST PathLoanStatus and POST PathAuthorization.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var source string
	switch r.URL.Path {
	case PathLoanStatus:
		source = store.SourceLoanStatus
	case PathAuthorization:
		source = store.SourceAuthorization
	default:
		awda.WriteNack(w, http.StatusNotFound, awda.CodeParamError, "unknown notification path")
		return
	}
	rc.inFlight.Add(1)
	defer func() {
		rc.lastDone.Store(time.Now().UnixNano())
		rc.inFlight.Add(-1)
	}()

	body, err := rc.Verifier.ReadAndVerify(r)
	if err != nil {
		if errors.Is(err, awda.ErrBodyTooLarge) {
			// Read the rest first, so that AWDA (still sending) reads the
			// 413 instead of a reset.
			httpbody.DiscardRest(w, r.Body)
		}
		status, code := awda.NackFor(err)
		if status == http.StatusServiceUnavailable && !errors.Is(err, awda.ErrVerifierConfig) {
			status, code = http.StatusBadRequest, awda.CodeParamError // the body could not be read
		}
		// The verifier's errors name the check that failed, never a value.
		rc.log(source).Warn().Int("status", status).Str("reason", err.Error()).Msg("notification refused")
		rc.count(r.Context(), source, "unauthorized")
		awda.WriteNack(w, status, code, err.Error())
		return
	}

	entry, err := inboxEntry(source, body)
	if err != nil {
		rc.malformed(w, r, source, err)
		return
	}
	entry.TraceParent = traced(r.Context(), source, entry.EventID)

	storeTO := rc.StoreTimeout
	if storeTO <= 0 {
		storeTO = DefaultStoreTimeout
	}
	sctx, cancel := context.WithTimeout(r.Context(), storeTO)
	inserted, err := rc.store().insert(sctx, entry)
	cancel()
	if err != nil {
		// Not stored, so not acknowledged: AWDA delivers it again.
		rc.log(source).Warn().Str("event_id", entry.EventID).Str("loan_no", entry.LoanNo).Str("awda_user_id", entry.UserID).
			Msg("notification not stored: inbox unavailable; answering 503")
		rc.count(r.Context(), source, "unavailable")
		w.Header().Set("Retry-After", "5")
		awda.WriteNack(w, http.StatusServiceUnavailable, awda.CodeSystemBusy, "partner unavailable")
		return
	}
	if !inserted {
		// Stored before: its delivery is under way or done.
		if ev := rc.Log.Debug(); ev != nil {
			ev.Str("component", "webhook").Str("source", source).Str("event_id", entry.EventID).
				Str("loan_no", entry.LoanNo).Str("awda_user_id", entry.UserID).
				Msg("duplicate notification acknowledged")
		}
		rc.count(r.Context(), source, "duplicate")
		awda.WriteAck(w)
		return
	}
	// The writer has woken the forwarder.
	rc.count(r.Context(), source, "stored")
	awda.WriteAck(w)
}

// inboxEntry parses a verified notification into its inbox row; an error
// (awda.ErrInvalidEvent) when it is malformed.
func inboxEntry(source string, body []byte) (store.InboxEntry, error) {
	entry := store.InboxEntry{Source: source, Payload: body}
	switch source {
	case store.SourceLoanStatus:
		ev, err := awda.ParseLoanStatusEvent(body)
		if err != nil {
			return entry, err
		}
		entry.EventID, entry.LoanNo, entry.UserID = ev.EventID, ev.LoanNo, ev.UserID
	case store.SourceAuthorization:
		ev, err := awda.ParseAuthorizationEvent(body)
		if err != nil {
			return entry, err
		}
		entry.EventID, entry.UserID = ev.EventID, ev.UserID
	}
	// The IDs go into text columns, which cannot hold NUL: such an event
	// would fail the insert on every delivery (503 for ever), so it is
	// refused as malformed instead.
	for _, id := range [...]struct{ field, v string }{{"eventId", entry.EventID}, {"loanNo", entry.LoanNo}, {"userId", entry.UserID}} {
		if strings.ContainsRune(id.v, 0) {
			return entry, fmt.Errorf("%w: %w", awda.ErrInvalidEvent, &awda.FieldError{Field: id.field, Reason: "contains a NUL character"})
		}
	}
	return entry, nil
}

// traced notes the notification's IDs on the request's span, when tracing
// is on, and returns its traceparent, stored with the row so that the
// delivery links back to this receipt; "" when untraced. AWDA's event ID is
// opaque, never personal data.
func traced(ctx context.Context, source, eventID string) string {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return ""
	}
	span.SetAttributes(attribute.String("awdaflow.webhook.source", source), attribute.String("awda.event_id", eventID))
	return tracing.TraceParent(ctx)
}

// log is the receiver's logger for a refusal: built only when one is
// logged, so that the acknowledged path costs no allocation for it.
func (rc *Receiver) log(source string) *zerolog.Logger {
	l := rc.Log.With().Str("component", "webhook").Str("source", source).Logger()
	return &l
}

func (rc *Receiver) malformed(w http.ResponseWriter, r *http.Request, source string, err error) {
	status, code := awda.NackFor(err)
	rc.log(source).Warn().Int("status", status).Str("reason", err.Error()).Msg("notification refused: not a valid event")
	rc.count(r.Context(), source, "malformed")
	awda.WriteNack(w, status, code, err.Error())
}
