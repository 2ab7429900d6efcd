package awda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/awdaflow/awdaflow/awda"
)

// Run: go test -run='^$' -bench=. -benchmem ./awda/

func benchSTS(b *testing.B) []byte {
	b.Helper()
	return readTestdata(b, "vectors/register.sts")
}

func BenchmarkSignHMAC(b *testing.B) {
	s := hmacSigner(b, testSecret)
	sts := benchSTS(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(sts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignRSA(b *testing.B) {
	s := rsaSigner(b, "rsa_test_key.pem")
	sts := benchSTS(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(sts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeSignSubmit is the client's CPU work for one loan
// submission before the network: validate and normalise, JSON-encode, hash,
// build the string to sign, sign.
func BenchmarkEncodeSignSubmit(b *testing.B) {
	for _, tc := range []struct {
		name string
		s    awda.Signer
	}{
		{"HMAC", hmacSigner(b, testSecret)},
		{"RSA", rsaSigner(b, "rsa_test_key.pem")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := validLoanSubmit()
			var size int
			b.ReportAllocs()
			for b.Loop() {
				r := *req
				r.EmergencyContacts = append([]awda.EmergencyContact(nil), req.EmergencyContacts...)
				if err := r.Validate(); err != nil {
					b.Fatal(err)
				}
				body, err := json.Marshal(&r)
				if err != nil {
					b.Fatal(err)
				}
				size = len(body)
				sts := awda.StringToSign(awda.PathLoanSubmit, testAppID, fixedNow.UnixMilli(), "0123456789abcdef0123456789abcdef", awda.BodyHash(body))
				if _, err := tc.s.Sign(sts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size), "body-bytes")
		})
	}
}

// BenchmarkBuildRequest adds header construction and the http.Request.
func BenchmarkBuildRequest(b *testing.B) {
	c, err := awda.NewClient(awda.Config{BaseURL: awda.BaseURLStaging, AppID: testAppID, Signer: hmacSigner(b, testSecret)})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(validLoanSubmit())
	hash := awda.BodyHash(body)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.BuildRequest(ctx, awda.PathLoanSubmit, body, "application/json", hash, awda.NewNonce()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyNotification(b *testing.B) {
	for _, tc := range []struct {
		name string
		s    awda.Signer
		v    awda.Verifier
	}{
		{"HMAC", hmacSigner(b, testSecret), hmacSigner(b, testSecret)},
		{"RSA", rsaSigner(b, "rsa_test_key.pem"), rsaSigner(b, "rsa_test_key.pem").Public()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, webhookPath, bytes.NewReader(loanEventBody))
			if err := awda.SignNotification(r, loanEventBody, testAppID, tc.s, fixedNow, ""); err != nil {
				b.Fatal(err)
			}
			v := verifierAt(fixedNow, tc.v)
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Verify(r, loanEventBody); err != nil {
					b.Fatal(err)
				}
				if _, err := awda.ParseLoanStatusEvent(loanEventBody); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
