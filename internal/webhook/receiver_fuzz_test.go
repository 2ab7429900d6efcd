package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/webhook"
)

// FuzzReceiver feeds arbitrary bodies and signature headers through the
// receiver's whole parse path: verification, event parsing, the inbox write.
// The inbox is a pool that cannot connect (no PostgreSQL is needed; this
// file has no build tag and TestMain starts nothing by itself), so nothing
// can ever be stored, and the receiver must therefore never acknowledge:
//
//   - an unknown path is 404; a request that is not an honest, fresh
//     signature of exactly this body, path and app is 401 (405 for a GET),
//     never 2xx, never 400 or 503 (nothing unverified is parsed or stored);
//   - an honestly signed body is 400 exactly when the event parser refuses
//     it (cross-checked against awda.Parse*) or its IDs hold a NUL (text
//     columns refuse it, so the insert would fail, 503, on every delivery
//     for ever), and otherwise reaches the inbox and gets 503 with
//     Retry-After, since the inbox is down;
//   - every answer is AWDA's envelope with a non-zero code and a message
//     from a fixed vocabulary (it never quotes the body or a header);
//   - the log never carries a body value other than AWDA's opaque IDs.
//
// mode bits: 0 replace X-Awda-Sign with hdr, 1 replace X-Awda-Timestamp, 2
// replace X-Awda-Nonce, 3 replace X-Awda-App-Id, 4 replace X-Awda-Sign-Type,
// 5 send a GET, 6 drop X-Awda-Sign, 7 flip a body byte after signing.
func FuzzReceiver(f *testing.F) {
	const appID, secret = "app-fuzz", "awda-notify-secret-fuzz"
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key, err := awda.NewHMACSigner([]byte(secret))
	if err != nil {
		f.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), "postgres://fuzz@127.0.0.1:1/fuzz?sslmode=disable&connect_timeout=2")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pool.Close)
	spec, err := codec.GenerateKeySpec("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	ring, err := codec.ParseKeyRing(spec)
	if err != nil {
		f.Fatal(err)
	}
	logs := &lockedBuffer{}
	rc := &webhook.Receiver{
		Verifier: &awda.NotificationVerifier{AppID: appID, Keys: []awda.Verifier{key}, Clock: func() time.Time { return now }},
		Store:    store.New(pool, ring),
		Log:      zerolog.New(logs),
	}

	f.Add(uint8(0), []byte(`{"eventId":"evt-1","eventType":"LOAN_STATUS","loanNo":"L1","orderNo":"o-1","userId":"U1","status":"APPROVED","occurredAt":1767225600000}`), int64(0), uint8(0), "")
	f.Add(uint8(1), []byte(`{"eventId":"evt-2","userId":"U1","authType":"EKYC","status":"SUCCESS","occurredAt":1767225600000}`), int64(-1000), uint8(0), "")
	f.Add(uint8(0), []byte(`{"eventId":"evt-3"}`), int64(0), uint8(1), "forged")
	f.Fuzz(func(t *testing.T, route uint8, body []byte, skewMillis int64, mode uint8, hdr string) {
		skewMillis %= 10_000_000_000 // keep time arithmetic in range
		path := []string{webhook.PathLoanStatus, webhook.PathAuthorization, "/webhooks/awda/other"}[int(route)%3]
		method := http.MethodPost
		if mode&32 != 0 {
			method = http.MethodGet
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		if err := awda.SignNotification(req, body, appID, key, now.Add(time.Duration(skewMillis)*time.Millisecond), ""); err != nil {
			t.Fatal(err)
		}
		signed := req.Header.Clone()
		for bit, name := range map[uint8]string{1: awda.HeaderSign, 2: awda.HeaderTimestamp, 4: awda.HeaderNonce, 8: awda.HeaderAppID, 16: awda.HeaderSignType} {
			if mode&bit != 0 {
				req.Header.Set(name, hdr)
			}
		}
		if mode&64 != 0 {
			req.Header.Del(awda.HeaderSign)
		}
		sent := body
		if mode&128 != 0 && len(body) > 0 {
			sent = bytes.Clone(body)
			sent[len(sent)/2] ^= 0x20
			req.Body = httpBody(sent)
		}
		honest := method == http.MethodPost && bytes.Equal(sent, body) && skewMillis >= -300_000 && skewMillis <= 300_000
		for _, name := range []string{awda.HeaderSign, awda.HeaderTimestamp, awda.HeaderNonce, awda.HeaderAppID, awda.HeaderSignType} {
			honest = honest && req.Header.Get(name) == signed.Get(name)
		}

		logs.take() // what an earlier, failed input left
		rec := httptest.NewRecorder()
		rc.ServeHTTP(rec, req)
		env := checkEnvelope(t, rec)

		switch {
		case path != webhook.PathLoanStatus && path != webhook.PathAuthorization:
			if rec.Code != http.StatusNotFound {
				t.Fatalf("unknown path answered %d", rec.Code)
			}
		case !honest:
			if rec.Code != http.StatusUnauthorized && !(method == http.MethodGet && rec.Code == http.StatusMethodNotAllowed) {
				t.Fatalf("unverifiable notification (mode %08b) answered %d %+v", mode, rec.Code, env)
			}
		default:
			var parseErr error
			var ids []string
			if path == webhook.PathLoanStatus {
				ev, err := awda.ParseLoanStatusEvent(body)
				if parseErr = err; err == nil {
					ids = []string{ev.EventID, ev.LoanNo, ev.UserID}
				}
			} else {
				ev, err := awda.ParseAuthorizationEvent(body)
				if parseErr = err; err == nil {
					ids = []string{ev.EventID, ev.UserID}
				}
			}
			storable := true
			for _, id := range ids {
				storable = storable && !strings.ContainsRune(id, 0)
			}
			switch {
			case parseErr != nil && rec.Code != http.StatusBadRequest:
				t.Fatalf("verified but invalid event (%v) answered %d", parseErr, rec.Code)
			case parseErr == nil && storable && rec.Code != http.StatusServiceUnavailable:
				t.Fatalf("verified valid event answered %d with the inbox down", rec.Code)
			case parseErr == nil && !storable && rec.Code != http.StatusBadRequest:
				// Its IDs cannot go into the inbox's text columns.
				t.Fatalf("verified event with a NUL in an ID answered %d", rec.Code)
			case rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "":
				t.Fatal("503 without Retry-After")
			}
		}

		// The log names AWDA's opaque IDs and nothing else of the body.
		var opaque []string
		if ev, err := awda.ParseLoanStatusEvent(body); err == nil {
			opaque = append(opaque, ev.EventID, ev.LoanNo, ev.UserID)
		}
		if ev, err := awda.ParseAuthorizationEvent(body); err == nil {
			opaque = append(opaque, ev.EventID, ev.UserID)
		}
		checkLogs(t, logs.take(), jsonStrings(body), opaque)
	})
}

var nackMessage = regexp.MustCompile(`^(awda: (notification lacks a signature header: X-Awda-(App-Id|Timestamp|Nonce|Sign-Type|Sign)|` +
	`notification has a malformed signature header: X-Awda-(Timestamp|Nonce)|notification timestamp outside the tolerance|` +
	`signature mismatch|no key for the notification's sign type|notification for an unknown appId|notification is not a POST|` +
	`invalid notification event: [A-Za-z.]+: (required|not a JSON object|not valid JSON|wrong JSON type|must be LOAN_STATUS|` +
	`not a loan status|must not be negative|must be SUCCESS, FAILED or EXPIRED|contains a NUL character))|partner unavailable|unknown notification path)$`)

// checkEnvelope: every answer is AWDA's envelope; none acknowledges (the
// inbox is down) and none quotes the request.
func checkEnvelope(t *testing.T, rec *httptest.ResponseRecorder) awda.Envelope {
	t.Helper()
	if rec.Code >= 200 && rec.Code < 300 {
		t.Fatalf("acknowledged (%d) with the inbox down: %s", rec.Code, rec.Body)
	}
	var env awda.Envelope
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("answer is not AWDA's envelope: %d %q (%v)", rec.Code, rec.Body, err)
	}
	if env.Code == awda.CodeSuccess {
		t.Fatalf("answer carries the success code: %+v", env)
	}
	if !nackMessage.MatchString(env.Message) {
		t.Fatalf("answer message outside the vocabulary: %q", env.Message)
	}
	return env
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func httpBody(b []byte) readCloser { return readCloser{bytes.NewReader(b)} }

// jsonStrings returns every string in a JSON document, member names and
// values (nothing when it is not JSON).
func jsonStrings(b []byte) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		walk(v)
	}
	return out
}

// checkLogs fails when a log line carries a submitted value of 6 bytes or
// more (shorter ones may occur in a status or a level by chance) that is
// not one of the allowed opaque IDs.
func checkLogs(t *testing.T, logs string, submitted, allowed []string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok || k == "level" || k == "message" || k == "component" || k == "source" || k == "reason" {
				// Fixed texts: the reason is the answer's message, checked against the vocabulary.
				continue
			}
			for _, sub := range submitted {
				if len(sub) < 6 || !strings.Contains(s, sub) || contains(allowed, sub) {
					continue
				}
				// A value that is itself inside an allowed ID is fine.
				inside := false
				for _, a := range allowed {
					inside = inside || strings.Contains(a, sub) && strings.Contains(s, a)
				}
				if !inside {
					t.Fatalf("log field %s carries a body value %q: %s", k, sub, line)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
