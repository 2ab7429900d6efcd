package sandbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// Event kinds.
const (
	EventKindLoanStatus    = awda.EventTypeLoanStatus // pushed to LoanStatusWebhookURL
	EventKindAuthorization = "AUTHORIZATION"          // pushed to AuthWebhookURL
)

// Event is one notification the sandbox emitted, whether or not a webhook
// was configured to receive it.
type Event struct {
	Kind    string                   `json:"kind"`
	EventID string                   `json:"eventId"`
	Loan    *awda.LoanStatusEvent    `json:"loan,omitempty"`
	Auth    *awda.AuthorizationEvent `json:"auth,omitempty"`
}

type pushState struct {
	queues map[string][]*delivery // per subject, ordered mode
	busy   map[string]bool        // subject has a delivery under way
	stats  PushStats
}

func newPushState() pushState {
	return pushState{queues: map[string][]*delivery{}, busy: map[string]bool{}}
}

type delivery struct {
	gen      uint64
	subject  string
	url      string
	body     []byte
	eventID  string
	attempts int
	ordered  bool
}

// emitLocked records ev and queues its deliveries. Called with s.mu held, at
// the moment of the status change, so that queue order is change order.
func (s *Server) emitLocked(ev Event, subject string) {
	s.st.events = append(s.st.events, ev)
	s.push.stats.Events++
	var (
		url  string
		body []byte
		err  error
	)
	switch ev.Kind {
	case EventKindLoanStatus:
		url = s.cfg.LoanStatusWebhookURL
		body, err = json.Marshal(ev.Loan)
	default:
		url = s.cfg.AuthWebhookURL
		body, err = json.Marshal(ev.Auth)
	}
	if err != nil || url == "" {
		s.push.stats.Undeliverable++
		return
	}
	d := s.delivery
	for range 1 + d.Duplicates {
		dl := &delivery{gen: s.gen, subject: subject, url: url, body: body, eventID: ev.EventID, ordered: !d.Reorder}
		s.push.stats.Deliveries++
		s.push.stats.Pending++
		if !dl.ordered {
			s.schedulePushLocked(dl, s.deliveryDelayLocked())
			continue
		}
		s.push.queues[subject] = append(s.push.queues[subject], dl)
		if !s.push.busy[subject] {
			s.push.busy[subject] = true
			s.schedulePushLocked(dl, s.deliveryDelayLocked())
		}
	}
}

func (s *Server) schedulePushLocked(d *delivery, after time.Duration) {
	s.sched.after(after, func() { s.attempt(d) })
}

func (s *Server) deliveryDelayLocked() time.Duration {
	d := s.delivery
	return uniform(s.rngDelays.Float64(), d.DelayMin, d.DelayMax)
}

func uniform(u float64, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(u*float64(hi-lo))
}

// backoffLocked is base·2^(n-1), capped, with ±20 % jitter.
func (s *Server) backoffLocked(attempts int) time.Duration {
	d := s.delivery
	b := d.RetryBase
	for i := 1; i < attempts && b < d.RetryMax; i++ {
		b *= 2
	}
	b = min(b, d.RetryMax)
	return time.Duration(float64(b) * (0.8 + 0.4*s.rngDelays.Float64()))
}

// nextLocked finishes the head delivery of an ordered subject and starts
// the one after it.
func (s *Server) nextLocked(d *delivery) {
	if !d.ordered {
		return
	}
	q := s.push.queues[d.subject]
	if len(q) > 0 && q[0] == d {
		q = q[1:]
	}
	if len(q) == 0 {
		delete(s.push.queues, d.subject)
		delete(s.push.busy, d.subject)
		return
	}
	s.push.queues[d.subject] = q
	s.schedulePushLocked(q[0], s.deliveryDelayLocked())
}

// attempt makes one signed POST of a delivery and books the outcome.
func (s *Server) attempt(d *delivery) {
	s.mu.Lock()
	if d.gen != s.gen {
		s.mu.Unlock()
		return
	}
	var nb [16]byte
	for i := range 2 {
		v := s.rngNonces.Uint64()
		for j := range 8 {
			nb[i*8+j] = byte(v >> (8 * j))
		}
	}
	nonce := hex.EncodeToString(nb[:])
	s.push.stats.Sent++
	sem := s.pushSem
	s.mu.Unlock()

	select {
	case sem <- struct{}{}:
	case <-s.closing:
		return
	}
	acked, err := s.post(d, nonce)
	<-sem

	select {
	case <-s.closing:
		return
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.gen != s.gen {
		return
	}
	d.attempts++
	if acked {
		s.push.stats.Acknowledged++
		s.push.stats.Pending--
		s.nextLocked(d)
		return
	}
	s.push.stats.Failed++
	s.log.Debug().Str("event_id", d.eventID).Int("attempt", d.attempts).AnErr("error", err).Msg("push not acknowledged; will retry")
	if limit := s.delivery.MaxAttempts; limit > 0 && d.attempts >= limit {
		s.push.stats.Dropped++
		s.push.stats.Pending--
		s.log.Warn().Str("event_id", d.eventID).Int("attempts", d.attempts).Msg("push dropped after max attempts")
		s.nextLocked(d)
		return
	}
	s.schedulePushLocked(d, s.backoffLocked(d.attempts))
}

var errNotAcked = errors.New("webhook did not answer code 0")

func (s *Server) post(d *delivery, nonce string) (bool, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return false, err
	}
	if err := s.signPush(req, d.body, nonce); err != nil {
		return false, err
	}
	res, err := s.pushHTTP.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if err != nil {
		return false, err
	}
	if res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("webhook answered HTTP %d", res.StatusCode)
	}
	code, _, err := awda.DecodeResponse(raw, nil)
	if err != nil {
		return false, err
	}
	if code != awda.NotificationAckCode {
		return false, errNotAcked
	}
	return true, nil
}

// signPush sets the same headers a partner request carries
// (awda.SignNotification): the string to sign uses the webhook URL's path and
// the partner's appId, the sandbox clock and a fresh nonce, and is signed
// with AWDA's key (PushSigner).
func (s *Server) signPush(req *http.Request, body []byte, nonce string) error {
	return awda.SignNotification(req, body, s.cfg.AppID, s.pushSigner, s.Now(), nonce)
}

// SetDelivery changes how pushes are delivered from now on (Workers is
// fixed at New).
func (s *Server) SetDelivery(d Delivery) error {
	if err := d.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.delivery = d.withDefaults()
	s.mu.Unlock()
	return nil
}

// Delivery returns the current delivery settings.
func (s *Server) Delivery() Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivery
}

// Events returns every event emitted since the start (or the last Reset),
// in the order the changes happened.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.st.events...)
}

// WaitIdle blocks until no push is pending and no autopilot step is
// scheduled (authorization-page expiry timers do not count), or ctx ends.
// Without Start it waits for ctx.
func (s *Server) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		idle := s.push.stats.Pending == 0 && s.autoTasks == 0
		s.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
