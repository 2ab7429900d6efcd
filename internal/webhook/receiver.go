// Package webhook receives AWDA's notifications: the loan status push and
// the authorization callback. A notification is verified (signature,
// timestamp tolerance, key rotation: awda.NotificationVerifier), stored in
// the durable inbox, and only then acknowledged; delivery to the workflow is
// the inbox's job (one attempt at once, then the forwarder).
//
// What it answers AWDA:
//   - 401 and nothing stored: a missing, stale or forged signature;
//   - 400 and nothing stored: a verified body that is not a valid event;
//   - 503 (AWDA delivers again later): the inbox could not be written;
//   - 200 {"code":0,"message":"success"}: stored, or stored before (the same
//     eventId again: no second row, no second signal).
//
// It never acknowledges a notification it has not durably stored, and it
// never logs a payload: only AWDA's opaque IDs.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/store"
)

// Paths of the two notification routes. Configure AWDA (or the sandbox) with
// the public base URL followed by these.
const (
	PathLoanStatus    = "/webhooks/awda/loan-status"
	PathAuthorization = "/webhooks/awda/authorization"
)

// Receiver serves both notification paths.
type Receiver struct {
	Verifier  *awda.NotificationVerifier
	Store     *store.Store
	Deliverer *inbox.Deliverer // may be nil: the forwarder delivers everything
	Log       zerolog.Logger
	// StoreTimeout bounds the inbox write (DefaultStoreTimeout).
	StoreTimeout time.Duration
	// DeliverTimeout bounds the delivery attempt made before answering
	// (DefaultDeliverTimeout). AWDA's own timeout must be longer than both.
	DeliverTimeout time.Duration

	notifications metric.Int64Counter
}

// Defaults of a Receiver.
const (
	DefaultStoreTimeout   = 5 * time.Second
	DefaultDeliverTimeout = 2 * time.Second
)

// Instrument counts notifications by source and answer on mp.
func (rc *Receiver) Instrument(mp metric.MeterProvider) error {
	c, err := mp.Meter("github.com/awdaflow/awdaflow/internal/webhook").Int64Counter("awdaflow.webhook.notifications",
		metric.WithDescription("AWDA notifications received, by source and result (stored, duplicate, unauthorized, malformed, unavailable)"))
	if err != nil {
		return err
	}
	rc.notifications = c
	return nil
}

func (rc *Receiver) count(ctx context.Context, source, result string) {
	if rc.notifications != nil {
		rc.notifications.Add(ctx, 1, metric.WithAttributes(attribute.String("source", source), attribute.String("result", result)))
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
	log := rc.Log.With().Str("component", "webhook").Str("source", source).Logger()

	body, err := rc.Verifier.ReadAndVerify(r)
	if err != nil {
		status, code := awda.NackFor(err)
		if status == http.StatusServiceUnavailable && !errors.Is(err, awda.ErrVerifierConfig) {
			status, code = http.StatusBadRequest, awda.CodeParamError // the body could not be read
		}
		// The verifier's errors name the check that failed, never a value.
		log.Warn().Int("status", status).Str("reason", err.Error()).Msg("notification refused")
		rc.count(r.Context(), source, "unauthorized")
		awda.WriteNack(w, status, code, err.Error())
		return
	}

	entry := store.InboxEntry{Source: source, Payload: body}
	switch source {
	case store.SourceLoanStatus:
		ev, err := awda.ParseLoanStatusEvent(body)
		if err != nil {
			rc.malformed(w, r, log, source, err)
			return
		}
		entry.EventID, entry.LoanNo, entry.UserID = ev.EventID, ev.LoanNo, ev.UserID
	case store.SourceAuthorization:
		ev, err := awda.ParseAuthorizationEvent(body)
		if err != nil {
			rc.malformed(w, r, log, source, err)
			return
		}
		entry.EventID, entry.UserID = ev.EventID, ev.UserID
	}
	// The IDs go into text columns, which cannot hold NUL: such an event
	// would fail the insert on every delivery (503 for ever), so it is
	// refused as malformed instead.
	for _, id := range [...]struct{ field, v string }{{"eventId", entry.EventID}, {"loanNo", entry.LoanNo}, {"userId", entry.UserID}} {
		if strings.ContainsRune(id.v, 0) {
			rc.malformed(w, r, log, source, fmt.Errorf("%w: %w", awda.ErrInvalidEvent, &awda.FieldError{Field: id.field, Reason: "contains a NUL character"}))
			return
		}
	}
	log = log.With().Str("event_id", entry.EventID).Str("loan_no", entry.LoanNo).Str("awda_user_id", entry.UserID).Logger()

	storeTO := rc.StoreTimeout
	if storeTO <= 0 {
		storeTO = DefaultStoreTimeout
	}
	sctx, cancel := context.WithTimeout(r.Context(), storeTO)
	id, inserted, err := rc.Store.InsertInbox(sctx, entry)
	cancel()
	if err != nil {
		// Not stored, so not acknowledged: AWDA delivers it again.
		log.Warn().Msg("notification not stored: inbox unavailable; answering 503")
		rc.count(r.Context(), source, "unavailable")
		w.Header().Set("Retry-After", "5")
		awda.WriteNack(w, http.StatusServiceUnavailable, awda.CodeSystemBusy, "partner unavailable")
		return
	}
	if !inserted {
		// Stored before: its delivery is under way or done.
		log.Debug().Int64("inbox_id", id).Msg("duplicate notification acknowledged")
		rc.count(r.Context(), source, "duplicate")
		awda.WriteAck(w)
		return
	}
	rc.count(r.Context(), source, "stored")
	if rc.Deliverer != nil {
		deliverTO := rc.DeliverTimeout
		if deliverTO <= 0 {
			deliverTO = DefaultDeliverTimeout
		}
		// One attempt before answering keeps a loan's signals in AWDA's
		// order when AWDA waits for each answer; its outcome does not change
		// the answer: the row is stored, and pending until delivered.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), deliverTO)
		_, _ = rc.Deliverer.Deliver(dctx, store.InboxItem{
			ID: id, Source: entry.Source, EventID: entry.EventID, LoanNo: entry.LoanNo, UserID: entry.UserID,
			Attempts: 1, ReceivedAt: time.Now(), Payload: body,
		})
		cancel()
	}
	awda.WriteAck(w)
}

func (rc *Receiver) malformed(w http.ResponseWriter, r *http.Request, log zerolog.Logger, source string, err error) {
	status, code := awda.NackFor(err)
	log.Warn().Int("status", status).Str("reason", err.Error()).Msg("notification refused: not a valid event")
	rc.count(r.Context(), source, "malformed")
	awda.WriteNack(w, status, code, err.Error())
}
