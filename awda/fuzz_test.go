package awda_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// The committed seed corpora live in testdata/fuzz/<FuzzName>/; plain
// `go test` runs every seed, `go test -fuzz=FuzzName` explores from them.

// Package errors describe, never quote: every error text a fuzz target can
// provoke must belong to a fixed vocabulary.

func oneOf(text string, allowed ...string) bool {
	for _, a := range allowed {
		if text == a {
			return true
		}
	}
	return false
}

var decodeErrorPattern = regexp.MustCompile(`^(response is not an AWDA envelope|response has no code|response data does not match the contract \(code -?\d+\))$`)

var verifyErrorPattern = regexp.MustCompile(`^awda: (notification lacks a signature header: X-Awda-(App-Id|Timestamp|Nonce|Sign-Type|Sign)|notification has a malformed signature header: X-Awda-(Timestamp|Nonce)|notification timestamp outside the tolerance|signature mismatch|no key for the notification's sign type)$`)

var eventFields = map[string]bool{"body": true, "eventId": true, "eventType": true, "loanNo": true, "orderNo": true, "userId": true,
	"status": true, "prevStatus": true, "period": true, "amount": true, "occurredAt": true, "authType": true}

var eventReasons = map[string]bool{"required": true, "not a JSON object": true, "not valid JSON": true, "wrong JSON type": true,
	"must be LOAN_STATUS": true, "not a loan status": true, "must not be negative": true, "must be SUCCESS, FAILED or EXPIRED": true}

func checkEventError(t *testing.T, err error) {
	t.Helper()
	fe, ok := awda.AsFieldError(err)
	if !ok || !errors.Is(err, awda.ErrInvalidEvent) || !eventFields[fe.Field] || !eventReasons[fe.Reason] ||
		err.Error() != "awda: invalid notification event: "+fe.Field+": "+fe.Reason {
		t.Fatalf("parse error outside the vocabulary: %q", err)
	}
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"code":0,"message":"success","data":{"loanNo":"L1","status":"SUBMITTED","schedule":[]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var info awda.LoanInfoResponse
		code, msg, err := awda.DecodeResponse(raw, &info)
		if err != nil {
			if !decodeErrorPattern.MatchString(err.Error()) {
				t.Fatalf("error outside the vocabulary: %q", err)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		// An accepted answer has a code: the same bytes without a "code"
		// member (in any letter case, as encoding/json matches) would fail.
		var members map[string]json.RawMessage
		if json.Unmarshal(raw, &members) != nil {
			t.Fatalf("accepted a non-object %q", raw)
		}
		hasCode := false
		for k, v := range members {
			if strings.EqualFold(k, "code") && string(v) != "null" {
				hasCode = true
			}
		}
		if !hasCode {
			t.Fatalf("accepted an answer without code: %q", raw)
		}
		// Re-encoding what was decoded decodes to the same thing.
		data, _ := json.Marshal(info)
		again, _ := json.Marshal(awda.Envelope{Code: code, Message: msg, Data: data})
		var info2 awda.LoanInfoResponse
		code2, msg2, err := awda.DecodeResponse(again, &info2)
		if err != nil || code2 != code || msg2 != msg {
			t.Fatalf("round trip: %d %q %v, was %d %q", code2, msg2, err, code, msg)
		}
		// Any decoded data must also survive a RegisterResponse decode path.
		var reg awda.RegisterResponse
		_, _, _ = awda.DecodeResponse(raw, &reg)
	})
}

func FuzzVerifyNotification(f *testing.F) {
	f.Add(loanEventBody, int64(0), "", "", uint8(0))
	f.Add(authEventBody, int64(-300_000), "0123456789abcdef0123456789abcdef", "", uint8(1))
	hs, err := awda.NewHMACSigner([]byte(testSecret))
	if err != nil {
		f.Fatal(err)
	}
	rs := rsaSigner(f, "rsa_test_key.pem")
	v := &awda.NotificationVerifier{AppID: testAppID, Keys: []awda.Verifier{hs, rs.Public()}, Clock: func() time.Time { return fixedNow }}

	// mode bit 0: sign with RSA instead of HMAC; bit 1: replace the signature
	// with the fuzzed one; bit 2: flip a body byte after signing; bit 3: use
	// the fuzzed string as the timestamp header.
	f.Fuzz(func(t *testing.T, body []byte, skewMillis int64, nonce, sig string, mode uint8) {
		skewMillis %= 10_000_000_000 // keep time.Time arithmetic in range
		var s awda.Signer = hs
		if mode&1 != 0 {
			s = rs
		}
		r := httptest.NewRequest(http.MethodPost, webhookPath, bytes.NewReader(body))
		if err := awda.SignNotification(r, body, testAppID, s, fixedNow.Add(time.Duration(skewMillis)*time.Millisecond), nonce); err != nil {
			t.Fatal(err)
		}
		honest := r.Header.Get("X-Awda-Sign")
		verifyBody := body
		if mode&2 != 0 {
			r.Header.Set("X-Awda-Sign", sig)
		}
		if mode&4 != 0 && len(body) > 0 {
			verifyBody = bytes.Clone(body)
			verifyBody[len(verifyBody)/2] ^= 0x20
		}
		if mode&8 != 0 {
			r.Header.Set("X-Awda-Timestamp", sig)
		}
		err := v.Verify(r, verifyBody)

		tampered := mode&2 != 0 && sig != honest || mode&4 != 0 && len(body) > 0 || mode&8 != 0
		inWindow := skewMillis >= -300_000 && skewMillis <= 300_000
		usedNonce := r.Header.Get("X-Awda-Nonce")
		switch {
		case err == nil && tampered && mode&8 == 0:
			t.Fatalf("tampered notification verified (mode %d)", mode)
		case err == nil && mode&8 == 0 && (!inWindow || !awda.ValidNonce(usedNonce)):
			t.Fatalf("verified with skew %d ms and nonce %q", skewMillis, usedNonce)
		case err != nil && !tampered && inWindow && awda.ValidNonce(usedNonce):
			t.Fatalf("honest notification refused: %v", err)
		}
		if err != nil && !verifyErrorPattern.MatchString(err.Error()) {
			t.Fatalf("verify error outside the vocabulary: %q", err)
		}

		// The parsers see whatever arrives: never panic, never quote.
		if ev, err := awda.ParseLoanStatusEvent(body); err == nil {
			if ev.EventID == "" || ev.LoanNo == "" || !ev.Status.Valid() || ev.EventType != awda.EventTypeLoanStatus || ev.OccurredAt <= 0 {
				t.Fatalf("accepted incomplete event %+v", ev)
			}
		} else {
			checkEventError(t, err)
		}
		if ev, err := awda.ParseAuthorizationEvent(body); err == nil {
			if ev.EventID == "" || ev.UserID == "" || ev.AuthType == "" || ev.OccurredAt <= 0 ||
				(ev.Status != awda.AuthSuccess && ev.Status != awda.AuthFailed && ev.Status != awda.AuthExpired) {
				t.Fatalf("accepted incomplete event %+v", ev)
			}
		} else {
			checkEventError(t, err)
		}
	})
}

func FuzzNormalizeMobile(f *testing.F) {
	f.Add("081234567890")
	f.Fuzz(func(t *testing.T, in string) {
		out, err := awda.NormalizeMobile(in)
		if err != nil {
			if !oneOf(err.Error(), "not an Indonesian mobile number (08…, 628… or +628…)", "not an Indonesian mobile number: wrong length or not digits") {
				t.Fatalf("error outside the vocabulary: %q", err)
			}
			return
		}
		if !strings.HasPrefix(out, "+628") || len(out) < 12 || len(out) > 15 {
			t.Fatalf("NormalizeMobile(%q) = %q", in, out)
		}
		for _, c := range out[1:] {
			if c < '0' || c > '9' {
				t.Fatalf("NormalizeMobile(%q) = %q has a non-digit", in, out)
			}
		}
		if again, err := awda.NormalizeMobile(out); err != nil || again != out {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
		// The subscriber digits come from the input, in order.
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, in)
		if !strings.HasSuffix(digits, out[4:]) {
			t.Fatalf("NormalizeMobile(%q) = %q invents digits", in, out)
		}
	})
}

func FuzzNIK(f *testing.F) {
	f.Add("3171015205900001", "1990-05-12")
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, nik, birth string) {
		d, female, err := awda.NIKBirthDate(nik, now)
		nikErrors := []string{"NIK must be 16 digits", "NIK has an invalid province code", "NIK does not encode a valid birth date",
			"NIK has an invalid serial number", "NIK does not match the birth date", "not a date (YYYY-MM-DD)"}
		if err == nil {
			if len(nik) != 16 || d.After(now) || !d.After(now.AddDate(-100, 0, 0)) {
				t.Fatalf("NIKBirthDate(%q) = %v, outside the last hundred years", nik, d)
			}
			day := d.Day()
			if female {
				day += 40
			}
			if enc := fmt.Sprintf("%02d%02d%02d", day, int(d.Month()), d.Year()%100); enc != nik[6:12] {
				t.Fatalf("NIK %q decoded to %v female=%v, which encodes as %s", nik, d, female, enc)
			}
		} else if !oneOf(err.Error(), nikErrors...) {
			t.Fatalf("error outside the vocabulary: %q", err)
		}
		if err := awda.ValidateNIK(nik, birth); err != nil && !oneOf(err.Error(), nikErrors...) {
			t.Fatalf("error outside the vocabulary: %q", err)
		}
	})
}
