package awda

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"time"
)

// AWDA's notifications (the loan status push and the authorization callback)
// carry the same five headers as the partner's requests, signed with AWDA's
// key over the path of the partner's webhook URL. The partner answers
// {"code":0,"message":"success"}; any other answer, or none, makes AWDA
// deliver again later. Deliveries may repeat and arrive out of order, so a
// receiver deduplicates on eventId and orders on LoanStatus.Rank, not on
// arrival; the verifier does not remember nonces.

// Sentinel errors of NotificationVerifier.Verify, for errors.Is. The error
// returned wraps exactly one of them (ErrBadSignature is declared in sign.go).
// None of the texts quote a header value or the body.
var (
	ErrMissingHeaders      = errors.New("awda: notification lacks a signature header")
	ErrMalformedHeaders    = errors.New("awda: notification has a malformed signature header")
	ErrStaleTimestamp      = errors.New("awda: notification timestamp outside the tolerance")
	ErrUnknownApp          = errors.New("awda: notification for an unknown appId")
	ErrUnsupportedSignType = errors.New("awda: no key for the notification's sign type")
	ErrMethodNotAllowed    = errors.New("awda: notification is not a POST")
	ErrVerifierConfig      = errors.New("awda: notification verifier has no appId or no keys")
	ErrBodyTooLarge        = errors.New("awda: notification body too large")
)

// ErrInvalidEvent is wrapped by ParseLoanStatusEvent and
// ParseAuthorizationEvent; the error also wraps a *FieldError naming the
// field (never quoting its value).
var ErrInvalidEvent = errors.New("awda: invalid notification event")

// DefaultNotificationTolerance is how far a notification's timestamp may lie
// from the receiver's clock, in either direction, when
// NotificationVerifier.Tolerance is zero. It is wider than the 60 s AWDA
// applies to requests because deliveries are retried and queued.
const DefaultNotificationTolerance = 300 * time.Second

// MaxNotificationBytes bounds the body ReadAndVerify accepts.
const MaxNotificationBytes = 1 << 20

// NotificationVerifier authenticates AWDA's notifications. The zero Clock is
// time.Now and the zero Tolerance is DefaultNotificationTolerance. Keys holds
// every key currently accepted: during a rotation list the old and the new
// one; each key whose SignType matches the X-Awda-Sign-Type header is tried.
// A NotificationVerifier is safe for concurrent use once built.
type NotificationVerifier struct {
	AppID     string
	Keys      []Verifier
	Tolerance time.Duration
	Clock     func() time.Time
}

// Verify checks r's signature headers against body, the raw request body.
// The string to sign uses r.URL.Path and BodyHash(body).
func (v *NotificationVerifier) Verify(r *http.Request, body []byte) error {
	return v.VerifyHash(r, BodyHash(body))
}

// VerifyHash is Verify for a caller that has already hashed what was signed
// (for instance the file of a multipart upload, which the sandbox verifies
// with the same rules).
func (v *NotificationVerifier) VerifyHash(r *http.Request, bodyHash string) error {
	if v == nil || v.AppID == "" || len(v.Keys) == 0 {
		return ErrVerifierConfig
	}
	if r.Method != http.MethodPost {
		return ErrMethodNotAllowed
	}
	appID := header(r.Header, HeaderAppID)
	tsRaw := header(r.Header, HeaderTimestamp)
	nonce := header(r.Header, HeaderNonce)
	signType := header(r.Header, HeaderSignType)
	sign := header(r.Header, HeaderSign)
	for _, h := range [...]struct{ name, val string }{
		{HeaderAppID, appID}, {HeaderTimestamp, tsRaw}, {HeaderNonce, nonce},
		{HeaderSignType, signType}, {HeaderSign, sign},
	} {
		if h.val == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeaders, h.name)
		}
	}
	if appID != v.AppID {
		return ErrUnknownApp
	}
	ts, ok := parseMillis(tsRaw)
	if !ok {
		return fmt.Errorf("%w: %s", ErrMalformedHeaders, HeaderTimestamp)
	}
	if !ValidNonce(nonce) {
		return fmt.Errorf("%w: %s", ErrMalformedHeaders, HeaderNonce)
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultNotificationTolerance
	}
	now := time.Now
	if v.Clock != nil {
		now = v.Clock
	}
	skew := now().UnixMilli() - ts
	if skew > tol.Milliseconds() || -skew > tol.Milliseconds() {
		return ErrStaleTimestamp
	}
	sts := StringToSign(r.URL.Path, appID, ts, nonce, bodyHash)
	tried := false
	for _, k := range v.Keys {
		if k == nil || k.SignType() != signType {
			continue
		}
		tried = true
		if k.Verify(sts, sign) == nil {
			return nil
		}
	}
	if !tried {
		return ErrUnsupportedSignType
	}
	return ErrBadSignature
}

// ReadAndVerify reads r's body (at most MaxNotificationBytes) and verifies
// it. It returns the body for ParseLoanStatusEvent or ParseAuthorizationEvent.
func (v *NotificationVerifier) ReadAndVerify(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxNotificationBytes+1))
	if err != nil {
		return nil, fmt.Errorf("awda: read notification: %w", err)
	}
	if len(body) > MaxNotificationBytes {
		return nil, ErrBodyTooLarge
	}
	if err := v.Verify(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// header returns the first value of a header, as http.Header.Get does.
func header(h http.Header, key string) string {
	if vs := h[textproto.CanonicalMIMEHeaderKey(key)]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// parseMillis accepts 1 to 19 ASCII digits (no sign, no spaces).
func parseMillis(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 19 || !isDigits(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// SignNotification sets the five signature headers on req, an outbound
// notification whose raw body is body, signed as appID at now with s. An
// empty nonce is replaced by NewNonce(). Content-Type is set to JSON when
// unset. The sandbox uses it to sign its pushes, tests to forge them.
func SignNotification(req *http.Request, body []byte, appID string, s Signer, now time.Time, nonce string) error {
	if s == nil || appID == "" {
		return errors.New("awda: SignNotification needs an appId and a signer")
	}
	if nonce == "" {
		nonce = NewNonce()
	}
	ts := now.UnixMilli()
	sig, err := s.Sign(StringToSign(req.URL.Path, appID, ts, nonce, BodyHash(body)))
	if err != nil {
		return err
	}
	h := req.Header
	if h == nil {
		h = http.Header{}
		req.Header = h
	}
	if h.Get(HeaderContentType) == "" {
		h.Set(HeaderContentType, "application/json")
	}
	h.Set(HeaderAppID, appID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignType, s.SignType())
	h.Set(HeaderSign, sig)
	return nil
}

// ---- typed events ----

// decodeEvent unmarshals an event object. Unknown fields are tolerated (AWDA
// may add some); wrong types and non-objects are not. The error never quotes
// the input.
func decodeEvent(body []byte, out any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return eventError(invalid("body", "not a JSON object"))
	}
	if err := json.Unmarshal(body, out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return eventError(invalid(te.Field, "wrong JSON type"))
		}
		return eventError(invalid("body", "not valid JSON"))
	}
	return nil
}

func eventError(fe error) error { return fmt.Errorf("%w: %w", ErrInvalidEvent, fe) }

// ParseLoanStatusEvent decodes and checks a loan status push: eventId,
// eventType LOAN_STATUS, loanNo, a valid status (and prevStatus when given)
// and occurredAt are required.
func ParseLoanStatusEvent(body []byte) (*LoanStatusEvent, error) {
	var ev LoanStatusEvent
	if err := decodeEvent(body, &ev); err != nil {
		return nil, err
	}
	var err error
	switch {
	case ev.EventID == "":
		err = missing("eventId")
	case ev.EventType == "":
		err = missing("eventType")
	case ev.EventType != EventTypeLoanStatus:
		err = invalid("eventType", "must be "+EventTypeLoanStatus)
	case ev.LoanNo == "":
		err = missing("loanNo")
	case ev.Status == "":
		err = missing("status")
	case !ev.Status.Valid():
		err = invalid("status", "not a loan status")
	case ev.PrevStatus != "" && !ev.PrevStatus.Valid():
		err = invalid("prevStatus", "not a loan status")
	case ev.OccurredAt <= 0:
		err = missing("occurredAt")
	case ev.Period < 0:
		err = invalid("period", "must not be negative")
	case ev.Amount < 0:
		err = invalid("amount", "must not be negative")
	}
	if err != nil {
		return nil, eventError(err)
	}
	return &ev, nil
}

// ParseAuthorizationEvent decodes and checks an authorization callback:
// eventId, userId, authType, a status of SUCCESS, FAILED or EXPIRED and
// occurredAt are required.
func ParseAuthorizationEvent(body []byte) (*AuthorizationEvent, error) {
	var ev AuthorizationEvent
	if err := decodeEvent(body, &ev); err != nil {
		return nil, err
	}
	var err error
	switch {
	case ev.EventID == "":
		err = missing("eventId")
	case ev.UserID == "":
		err = missing("userId")
	case ev.AuthType == "":
		err = missing("authType")
	case ev.Status == "":
		err = missing("status")
	case ev.Status != AuthSuccess && ev.Status != AuthFailed && ev.Status != AuthExpired:
		err = invalid("status", "must be SUCCESS, FAILED or EXPIRED")
	case ev.OccurredAt <= 0:
		err = missing("occurredAt")
	}
	if err != nil {
		return nil, eventError(err)
	}
	return &ev, nil
}

// ---- answers ----

var ackBody = []byte(`{"code":0,"message":"success"}`)

// WriteAck answers a notification as AWDA expects when it was accepted:
// HTTP 200 {"code":0,"message":"success"}.
func WriteAck(w http.ResponseWriter) {
	w.Header().Set(HeaderContentType, "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ackBody)
}

// WriteNack refuses a notification, so that AWDA delivers it again later.
// status 0 means 200 (AWDA retries on any non-zero code). msg goes to AWDA:
// it must not carry personal data. code must not be CodeSuccess, which would
// acknowledge; it is replaced by CodeUnknown.
func WriteNack(w http.ResponseWriter, status int, code Code, msg string) {
	if status == 0 {
		status = http.StatusOK
	}
	if code == CodeSuccess {
		code = CodeUnknown
	}
	b, _ := json.Marshal(Envelope{Code: code, Message: msg})
	w.Header().Set(HeaderContentType, "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// NackFor maps an error of Verify, ReadAndVerify or the Parse functions to the
// HTTP status and AWDA code a receiver answers with. Anything else is the
// receiver's own failure: 503 with CodeSystemBusy, so that AWDA retries.
func NackFor(err error) (status int, code Code) {
	switch {
	case errors.Is(err, ErrMissingHeaders):
		return http.StatusUnauthorized, CodeParamEmpty
	case errors.Is(err, ErrMalformedHeaders), errors.Is(err, ErrUnsupportedSignType):
		return http.StatusUnauthorized, CodeParamInvalid
	case errors.Is(err, ErrStaleTimestamp):
		return http.StatusUnauthorized, CodeTimestampExpired
	case errors.Is(err, ErrBadSignature):
		return http.StatusUnauthorized, CodeSignatureFailed
	case errors.Is(err, ErrUnknownApp):
		return http.StatusUnauthorized, CodeMerchantInvalid
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed, CodeParamError
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge, CodeParamError
	case errors.Is(err, ErrInvalidEvent):
		if fe, ok := AsFieldError(err); ok && fe.Empty {
			return http.StatusBadRequest, CodeParamEmpty
		}
		return http.StatusBadRequest, CodeParamInvalid
	}
	return http.StatusServiceUnavailable, CodeSystemBusy
}

// WriteNackFor answers with NackFor(err) and a message that names the
// failure without quoting the request.
func WriteNackFor(w http.ResponseWriter, err error) {
	status, code := NackFor(err)
	msg := "partner unavailable"
	if status != http.StatusServiceUnavailable {
		msg = err.Error()
	}
	WriteNack(w, status, code, msg)
}
