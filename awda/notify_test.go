package awda_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

const webhookPath = "/webhooks/awda/loan-status"

var loanEventBody = []byte(`{"eventId":"evt-0001","eventType":"LOAN_STATUS","loanNo":"L0001","orderNo":"ord-1","userId":"U100","status":"APPROVED","prevStatus":"UNDER_REVIEW","amount":3000000,"occurredAt":1767225600000}`)

var authEventBody = []byte(`{"eventId":"evt-a1","userId":"U100","authType":"EKYC","status":"SUCCESS","occurredAt":1767225600000}`)

// signedNotification builds an inbound request as AWDA would send it.
func signedNotification(t *testing.T, path string, body []byte, appID string, s awda.Signer, at time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if err := awda.SignNotification(r, body, appID, s, at, ""); err != nil {
		t.Fatal(err)
	}
	return r
}

func verifierAt(now time.Time, keys ...awda.Verifier) *awda.NotificationVerifier {
	return &awda.NotificationVerifier{AppID: testAppID, Keys: keys, Clock: func() time.Time { return now }}
}

func TestVerifyValid(t *testing.T) {
	hs := hmacSigner(t, testSecret)
	rs := rsaSigner(t, "rsa_test_key.pem")
	for _, tc := range []struct {
		name   string
		signer awda.Signer
		key    awda.Verifier
	}{
		{"HMAC", hs, hs},
		{"RSA", rs, rs.Public()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := signedNotification(t, webhookPath, loanEventBody, testAppID, tc.signer, fixedNow)
			if got := r.Header.Get("X-Awda-Sign-Type"); got != tc.signer.SignType() {
				t.Errorf("sign type header %q", got)
			}
			if !awda.ValidNonce(r.Header.Get("X-Awda-Nonce")) || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers: %v", r.Header)
			}
			if err := verifierAt(fixedNow, tc.key).Verify(r, loanEventBody); err != nil {
				t.Fatalf("Verify = %v", err)
			}
			ev, err := awda.ParseLoanStatusEvent(loanEventBody)
			if err != nil {
				t.Fatal(err)
			}
			want := awda.LoanStatusEvent{EventID: "evt-0001", EventType: "LOAN_STATUS", LoanNo: "L0001", OrderNo: "ord-1", UserID: "U100",
				Status: awda.LoanApproved, PrevStatus: awda.LoanUnderReview, Amount: 3_000_000, OccurredAt: 1767225600000}
			if *ev != want {
				t.Errorf("event %+v", *ev)
			}
		})
	}
}

// TestSignNotificationGolden ties the notification signature to the
// OpenSSL-made vector: same headers, same signatures.
func TestSignNotificationGolden(t *testing.T) {
	body := readTestdata(t, "vectors/notification.body")
	gold := keyValues(t, readTestdata(t, "vectors/notification.golden"))
	at := time.UnixMilli(1767225659999)
	for _, s := range []awda.Signer{hmacSigner(t, testSecret), rsaSigner(t, "rsa_test_key.pem")} {
		r := httptest.NewRequest(http.MethodPost, webhookPath, bytes.NewReader(body))
		if err := awda.SignNotification(r, body, testAppID, s, at, "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb"); err != nil {
			t.Fatal(err)
		}
		want := gold["hmac"]
		if s.SignType() == awda.SignTypeRSA {
			want = gold["rsa"]
		}
		if r.Header.Get("X-Awda-Sign") != want || r.Header.Get("X-Awda-Timestamp") != "1767225659999" || r.Header.Get("X-Awda-App-Id") != testAppID {
			t.Errorf("%s: headers %v", s.SignType(), r.Header)
		}
	}
}

func TestVerifyForged(t *testing.T) {
	hs := hmacSigner(t, testSecret)
	v := verifierAt(fixedNow, hs)
	mutations := map[string]func(r *http.Request) []byte{
		"body changed": func(r *http.Request) []byte {
			return bytes.Replace(loanEventBody, []byte("APPROVED"), []byte("REJECTED"), 1)
		},
		"other path": func(r *http.Request) []byte { r.URL.Path = "/webhooks/awda/auth"; return loanEventBody },
		"timestamp moved": func(r *http.Request) []byte {
			r.Header.Set("X-Awda-Timestamp", "1767225600001")
			return loanEventBody
		},
		"nonce changed": func(r *http.Request) []byte {
			r.Header.Set("X-Awda-Nonce", "0123456789abcdef0123456789abcdef")
			return loanEventBody
		},
		"garbage signature": func(r *http.Request) []byte { r.Header.Set("X-Awda-Sign", "deadbeef"); return loanEventBody },
		"other secret": func(r *http.Request) []byte {
			if err := awda.SignNotification(r, loanEventBody, testAppID, hmacSigner(t, "guessed"), fixedNow, ""); err != nil {
				t.Fatal(err)
			}
			return loanEventBody
		},
		"empty body": func(r *http.Request) []byte { return nil },
	}
	for name, mut := range mutations {
		t.Run(name, func(t *testing.T) {
			r := signedNotification(t, webhookPath, loanEventBody, testAppID, hs, fixedNow)
			body := mut(r)
			err := v.Verify(r, body)
			if !errors.Is(err, awda.ErrBadSignature) {
				t.Errorf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
	t.Run("rsa header, hmac keys", func(t *testing.T) {
		r := signedNotification(t, webhookPath, loanEventBody, testAppID, rsaSigner(t, "rsa_test_key.pem"), fixedNow)
		if err := v.Verify(r, loanEventBody); !errors.Is(err, awda.ErrUnsupportedSignType) {
			t.Errorf("Verify = %v, want ErrUnsupportedSignType", err)
		}
	})
	t.Run("sign type relabelled", func(t *testing.T) {
		// An RSA signature presented as HMAC (or any other relabelling) fails.
		rs := rsaSigner(t, "rsa_test_key.pem")
		r := signedNotification(t, webhookPath, loanEventBody, testAppID, rs, fixedNow)
		r.Header.Set("X-Awda-Sign-Type", awda.SignTypeHMAC)
		if err := verifierAt(fixedNow, hs, rs.Public()).Verify(r, loanEventBody); !errors.Is(err, awda.ErrBadSignature) {
			t.Errorf("Verify = %v, want ErrBadSignature", err)
		}
	})
	t.Run("GET", func(t *testing.T) {
		r := signedNotification(t, webhookPath, loanEventBody, testAppID, hs, fixedNow)
		r.Method = http.MethodGet
		if err := v.Verify(r, loanEventBody); !errors.Is(err, awda.ErrMethodNotAllowed) {
			t.Errorf("Verify = %v", err)
		}
	})
}

func TestVerifyTimestampTolerance(t *testing.T) {
	hs := hmacSigner(t, testSecret)
	cases := []struct {
		skew  time.Duration // signing time minus receiver time
		tol   time.Duration
		stale bool
	}{
		{0, 0, false},
		{-299 * time.Second, 0, false},
		{299 * time.Second, 0, false},
		{-300 * time.Second, 0, false},
		{300 * time.Second, 0, false},
		{-300*time.Second - time.Millisecond, 0, true},
		{300*time.Second + time.Millisecond, 0, true},
		{-time.Hour, 0, true},
		{time.Hour, 0, true},
		{-10 * time.Second, 10 * time.Second, false},
		{-11 * time.Second, 10 * time.Second, true},
		{11 * time.Second, 10 * time.Second, true},
		{-time.Hour, 2 * time.Hour, false},
	}
	for _, c := range cases {
		r := signedNotification(t, webhookPath, loanEventBody, testAppID, hs, fixedNow.Add(c.skew))
		v := verifierAt(fixedNow, hs)
		v.Tolerance = c.tol
		err := v.Verify(r, loanEventBody)
		if c.stale != errors.Is(err, awda.ErrStaleTimestamp) || (!c.stale && err != nil) {
			t.Errorf("skew %v tolerance %v: Verify = %v, want stale=%v", c.skew, c.tol, err, c.stale)
		}
	}
	// The default clock is the wall clock.
	r := signedNotification(t, webhookPath, loanEventBody, testAppID, hs, time.Now())
	if err := (&awda.NotificationVerifier{AppID: testAppID, Keys: []awda.Verifier{hs}}).Verify(r, loanEventBody); err != nil {
		t.Errorf("wall clock: %v", err)
	}
}

func TestVerifyMissingAndMalformedHeaders(t *testing.T) {
	hs := hmacSigner(t, testSecret)
	v := verifierAt(fixedNow, hs)
	for _, h := range []string{"X-Awda-App-Id", "X-Awda-Timestamp", "X-Awda-Nonce", "X-Awda-Sign-Type", "X-Awda-Sign"} {
		r := signedNotification(t, webhookPath, loanEventBody, testAppID, hs, fixedNow)
		r.Header.Del(h)
		err := v.Verify(r, loanEventBody)
		if !errors.Is(err, awda.ErrMissingHeaders) || !strings.Contains(err.Error(), h) {
			t.Errorf("without %s: Verify = %v", h, err)
		}
	}
	for _, ts := range []string{"abc", "-1767225600000", "+1767225600000", "1.7e12", " 1767225600000", "99999999999999999999"} {
		r := signedNotification(t, webhookPath, loanEventBody, testAppID, hs, fixedNow)
		r.Header.Set("X-Awda-Timestamp", ts)
		if err := v.Verify(r, loanEventBody); !errors.Is(err, awda.ErrMalformedHeaders) {
			t.Errorf("timestamp %q: Verify = %v", ts, err)
		}
	}
	for _, n := range []string{"0123456789ABCDEF0123456789ABCDEF", "short", strings.Repeat("a", 33)} {
		r := signedNotification(t, webhookPath, loanEventBody, testAppID, hs, fixedNow)
		r.Header.Set("X-Awda-Nonce", n)
		if err := v.Verify(r, loanEventBody); !errors.Is(err, awda.ErrMalformedHeaders) {
			t.Errorf("nonce %q: Verify = %v", n, err)
		}
	}
}

func TestVerifyUnknownApp(t *testing.T) {
	hs := hmacSigner(t, testSecret)
	r := signedNotification(t, webhookPath, loanEventBody, "someone-else", hs, fixedNow)
	if err := verifierAt(fixedNow, hs).Verify(r, loanEventBody); !errors.Is(err, awda.ErrUnknownApp) {
		t.Errorf("Verify = %v, want ErrUnknownApp", err)
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	oldKey := hmacSigner(t, "secret-2025")
	newKey := hmacSigner(t, "secret-2026")
	newRSA := rsaSigner(t, "rsa_test_key2.pem")
	fromOld := signedNotification(t, webhookPath, loanEventBody, testAppID, oldKey, fixedNow)
	fromNew := signedNotification(t, webhookPath, loanEventBody, testAppID, newKey, fixedNow)
	fromRSA := signedNotification(t, webhookPath, loanEventBody, testAppID, newRSA, fixedNow)

	during := verifierAt(fixedNow, oldKey, newKey, newRSA.Public())
	for name, r := range map[string]*http.Request{"old": fromOld, "new": fromNew, "rsa": fromRSA} {
		if err := during.Verify(r, loanEventBody); err != nil {
			t.Errorf("during rotation, %s key: %v", name, err)
		}
	}
	after := verifierAt(fixedNow, newKey, newRSA.Public())
	if err := after.Verify(fromOld, loanEventBody); !errors.Is(err, awda.ErrBadSignature) {
		t.Errorf("removed key still accepted: %v", err)
	}
	if err := after.Verify(fromNew, loanEventBody); err != nil {
		t.Errorf("after rotation, new key: %v", err)
	}
	// The order of the keys does not matter.
	reversed := verifierAt(fixedNow, newRSA.Public(), newKey, oldKey)
	if err := reversed.Verify(fromOld, loanEventBody); err != nil {
		t.Errorf("old key listed last: %v", err)
	}
	// An RSA key pair that is not listed is refused.
	other := signedNotification(t, webhookPath, loanEventBody, testAppID, rsaSigner(t, "rsa_test_key.pem"), fixedNow)
	if err := during.Verify(other, loanEventBody); !errors.Is(err, awda.ErrBadSignature) {
		t.Errorf("unlisted RSA key: %v", err)
	}
}

func TestVerifierMisconfigured(t *testing.T) {
	hs := hmacSigner(t, testSecret)
	r := signedNotification(t, webhookPath, loanEventBody, testAppID, hs, fixedNow)
	for _, v := range []*awda.NotificationVerifier{nil, {Keys: []awda.Verifier{hs}}, {AppID: testAppID}} {
		if err := v.Verify(r, loanEventBody); !errors.Is(err, awda.ErrVerifierConfig) {
			t.Errorf("Verify with %+v = %v", v, err)
		}
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	all := []error{awda.ErrMissingHeaders, awda.ErrMalformedHeaders, awda.ErrStaleTimestamp, awda.ErrBadSignature,
		awda.ErrUnknownApp, awda.ErrUnsupportedSignType, awda.ErrMethodNotAllowed, awda.ErrVerifierConfig,
		awda.ErrBodyTooLarge, awda.ErrInvalidEvent}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v is %v", a, b)
			}
		}
	}
}

func TestReadAndVerify(t *testing.T) {
	hs := hmacSigner(t, testSecret)
	v := verifierAt(fixedNow, hs)
	r := signedNotification(t, webhookPath, loanEventBody, testAppID, hs, fixedNow)
	body, err := v.ReadAndVerify(r)
	if err != nil || !bytes.Equal(body, loanEventBody) {
		t.Fatalf("ReadAndVerify = %q, %v", body, err)
	}
	big := bytes.Repeat([]byte(" "), awda.MaxNotificationBytes+1)
	r = signedNotification(t, webhookPath, big, testAppID, hs, fixedNow)
	if _, err := v.ReadAndVerify(r); !errors.Is(err, awda.ErrBodyTooLarge) {
		t.Errorf("oversized body: %v", err)
	}
}

func TestParseLoanStatusEvent(t *testing.T) {
	for _, s := range awda.LoanStatuses {
		body := bytes.Replace(loanEventBody, []byte(`"status":"APPROVED"`), []byte(`"status":"`+string(s)+`"`), 1)
		if ev, err := awda.ParseLoanStatusEvent(body); err != nil || ev.Status != s {
			t.Errorf("status %s: %v", s, err)
		}
	}
	// AWDA may add fields.
	withExtra := bytes.Replace(loanEventBody, []byte(`{`), []byte(`{"newField":{"x":[1,2]},`), 1)
	if _, err := awda.ParseLoanStatusEvent(withExtra); err != nil {
		t.Errorf("unknown field refused: %v", err)
	}
	bad := []struct {
		name, body, field string
		empty             bool
	}{
		{"no eventId", `{"eventType":"LOAN_STATUS","loanNo":"L1","status":"APPROVED","occurredAt":1}`, "eventId", true},
		{"no eventType", `{"eventId":"e","loanNo":"L1","status":"APPROVED","occurredAt":1}`, "eventType", true},
		{"other eventType", `{"eventId":"e","eventType":"AUTH","loanNo":"L1","status":"APPROVED","occurredAt":1}`, "eventType", false},
		{"no loanNo", `{"eventId":"e","eventType":"LOAN_STATUS","status":"APPROVED","occurredAt":1}`, "loanNo", true},
		{"no status", `{"eventId":"e","eventType":"LOAN_STATUS","loanNo":"L1","occurredAt":1}`, "status", true},
		{"unknown status", `{"eventId":"e","eventType":"LOAN_STATUS","loanNo":"L1","status":"PAID","occurredAt":1}`, "status", false},
		{"lowercase status", `{"eventId":"e","eventType":"LOAN_STATUS","loanNo":"L1","status":"approved","occurredAt":1}`, "status", false},
		{"bad prevStatus", `{"eventId":"e","eventType":"LOAN_STATUS","loanNo":"L1","status":"APPROVED","prevStatus":"X","occurredAt":1}`, "prevStatus", false},
		{"no occurredAt", `{"eventId":"e","eventType":"LOAN_STATUS","loanNo":"L1","status":"APPROVED"}`, "occurredAt", true},
		{"negative amount", `{"eventId":"e","eventType":"LOAN_STATUS","loanNo":"L1","status":"APPROVED","occurredAt":1,"amount":-1}`, "amount", false},
		{"amount as string", `{"eventId":"e","eventType":"LOAN_STATUS","loanNo":"L1","status":"APPROVED","occurredAt":1,"amount":"3171015205900001"}`, "amount", false},
		{"loanNo as number", `{"eventId":"e","eventType":"LOAN_STATUS","loanNo":3171015205900001,"status":"APPROVED","occurredAt":1}`, "loanNo", false},
		{"not JSON", `eventId=e&nik=3171015205900001`, "body", false},
		{"array", `[{"eventId":"e"}]`, "body", false},
		{"null", `null`, "body", false},
		{"empty", ``, "body", false},
		{"trailing", `{"eventId":"e","eventType":"LOAN_STATUS","loanNo":"L1","status":"APPROVED","occurredAt":1} {}`, "body", false},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			ev, err := awda.ParseLoanStatusEvent([]byte(b.body))
			if ev != nil || !errors.Is(err, awda.ErrInvalidEvent) {
				t.Fatalf("Parse = %+v, %v", ev, err)
			}
			fe, ok := awda.AsFieldError(err)
			if !ok || fe.Field != b.field || fe.Empty != b.empty {
				t.Errorf("field error %+v, want field %q empty=%v", fe, b.field, b.empty)
			}
			assertNoPII(t, "parse error", err.Error())
			if strings.Contains(err.Error(), "PAID") || strings.Contains(err.Error(), "approved") {
				t.Errorf("error quotes the input: %v", err)
			}
		})
	}
}

func TestParseAuthorizationEvent(t *testing.T) {
	ev, err := awda.ParseAuthorizationEvent(authEventBody)
	if err != nil {
		t.Fatal(err)
	}
	if *ev != (awda.AuthorizationEvent{EventID: "evt-a1", UserID: "U100", AuthType: "EKYC", Status: awda.AuthSuccess, OccurredAt: 1767225600000}) {
		t.Errorf("event %+v", *ev)
	}
	for _, s := range []string{"FAILED", "EXPIRED"} {
		body := bytes.Replace(authEventBody, []byte("SUCCESS"), []byte(s), 1)
		if _, err := awda.ParseAuthorizationEvent(body); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		`{"userId":"U1","authType":"EKYC","status":"SUCCESS","occurredAt":1}`:                 "eventId",
		`{"eventId":"e","authType":"EKYC","status":"SUCCESS","occurredAt":1}`:                 "userId",
		`{"eventId":"e","userId":"U1","status":"SUCCESS","occurredAt":1}`:                     "authType",
		`{"eventId":"e","userId":"U1","authType":"EKYC","occurredAt":1}`:                      "status",
		`{"eventId":"e","userId":"U1","authType":"EKYC","status":"PENDING","occurredAt":1}`:   "status",
		`{"eventId":"e","userId":"U1","authType":"EKYC","status":"NONE","occurredAt":1}`:      "status",
		`{"eventId":"e","userId":"U1","authType":"EKYC","status":"SUCCESS"}`:                  "occurredAt",
		`{"eventId":"e","userId":"U1","authType":"EKYC","status":"SUCCESS","occurredAt":"x"}`: "occurredAt",
		`"SUCCESS"`: "body",
	}
	for body, field := range bad {
		ev, err := awda.ParseAuthorizationEvent([]byte(body))
		fe, ok := awda.AsFieldError(err)
		if ev != nil || !errors.Is(err, awda.ErrInvalidEvent) || !ok || fe.Field != field {
			t.Errorf("%s: %+v %v, want field %s", body, ev, err, field)
		}
	}
}

func TestAckAndNack(t *testing.T) {
	w := httptest.NewRecorder()
	awda.WriteAck(w)
	if w.Code != 200 || w.Body.String() != `{"code":0,"message":"success"}` || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("ack: %d %q %v", w.Code, w.Body.String(), w.Header())
	}

	w = httptest.NewRecorder()
	awda.WriteNack(w, 0, awda.CodeSignatureFailed, "signature check failed")
	var env awda.Envelope
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || w.Code != 200 || env.Code != 1004 || env.Message != "signature check failed" {
		t.Errorf("nack: %d %q %v", w.Code, w.Body.String(), err)
	}
	w = httptest.NewRecorder()
	awda.WriteNack(w, 503, awda.CodeSuccess, "x")
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || w.Code != 503 || env.Code == 0 {
		t.Errorf("a nack must never carry code 0: %d %q", w.Code, w.Body.String())
	}

	mapping := []struct {
		err    error
		status int
		code   awda.Code
	}{
		{awda.ErrMissingHeaders, 401, 1006},
		{awda.ErrMalformedHeaders, 401, 1007},
		{awda.ErrUnsupportedSignType, 401, 1007},
		{awda.ErrStaleTimestamp, 401, 1003},
		{awda.ErrBadSignature, 401, 1004},
		{awda.ErrUnknownApp, 401, 1005},
		{awda.ErrMethodNotAllowed, 405, 400},
		{awda.ErrBodyTooLarge, 413, 400},
		{errors.New("database down"), 503, 1000},
	}
	for _, m := range mapping {
		if s, c := awda.NackFor(m.err); s != m.status || c != m.code {
			t.Errorf("NackFor(%v) = %d %d, want %d %d", m.err, s, c, m.status, m.code)
		}
	}
	_, err := awda.ParseLoanStatusEvent([]byte(`{"eventId":"e"}`))
	if s, c := awda.NackFor(err); s != 400 || c != awda.CodeParamEmpty {
		t.Errorf("NackFor(missing field) = %d %d", s, c)
	}
	_, err = awda.ParseLoanStatusEvent([]byte(`{`))
	if s, c := awda.NackFor(err); s != 400 || c != awda.CodeParamInvalid {
		t.Errorf("NackFor(bad JSON) = %d %d", s, c)
	}
	w = httptest.NewRecorder()
	awda.WriteNackFor(w, errors.New("pq: connection to 10.0.0.5 refused"))
	if w.Code != 503 || strings.Contains(w.Body.String(), "10.0.0.5") {
		t.Errorf("internal failure leaked to AWDA: %d %s", w.Code, w.Body.String())
	}
}

// TestWebhookOverHTTP is the receiver as a webhook handler would write it,
// reached over real HTTP by a signed POST.
func TestWebhookOverHTTP(t *testing.T) {
	hs := hmacSigner(t, testSecret)
	v := &awda.NotificationVerifier{AppID: testAppID, Keys: []awda.Verifier{hs}}
	var got []*awda.LoanStatusEvent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.ReadAndVerify(r)
		if err != nil {
			awda.WriteNackFor(w, err)
			return
		}
		ev, err := awda.ParseLoanStatusEvent(body)
		if err != nil {
			awda.WriteNackFor(w, err)
			return
		}
		got = append(got, ev)
		awda.WriteAck(w)
	}))
	defer srv.Close()

	post := func(body []byte, s awda.Signer, at time.Time) (int, awda.Envelope) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+webhookPath, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := awda.SignNotification(req, body, testAppID, s, at, ""); err != nil {
			t.Fatal(err)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var env awda.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("answer %q: %v", raw, err)
		}
		return res.StatusCode, env
	}
	if status, env := post(loanEventBody, hs, time.Now()); status != 200 || env.Code != 0 || env.Message != "success" {
		t.Errorf("valid push answered %d %+v", status, env)
	}
	if status, env := post(loanEventBody, hmacSigner(t, "forged"), time.Now()); status != 401 || env.Code != awda.CodeSignatureFailed {
		t.Errorf("forged push answered %d %+v", status, env)
	}
	if status, env := post(loanEventBody, hs, time.Now().Add(-time.Hour)); status != 401 || env.Code != awda.CodeTimestampExpired {
		t.Errorf("stale push answered %d %+v", status, env)
	}
	if status, env := post([]byte(`{"eventId":"e2"}`), hs, time.Now()); status != 400 || env.Code == 0 {
		t.Errorf("invalid event answered %d %+v", status, env)
	}
	if len(got) != 1 || got[0].EventID != "evt-0001" {
		t.Errorf("handled %d events", len(got))
	}
}
