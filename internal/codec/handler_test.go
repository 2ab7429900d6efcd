package codec_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/awdaflow/awdaflow/internal/codec"
)

const (
	uiOrigin = "http://localhost:8233"
	token    = "ops-token-1"
)

func newCodecServer(t *testing.T, k *codec.KeyRing, opts codec.HandlerOptions) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(codec.PathPrefix+"/", codec.NewHandler(k, opts))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, auth string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func payloadsJSON(t *testing.T, ps []*commonpb.Payload) []byte {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parsePayloads(t *testing.T, b []byte) []*commonpb.Payload {
	t.Helper()
	var ps commonpb.Payloads
	if err := protojson.Unmarshal(b, &ps); err != nil {
		t.Fatalf("response is not Payloads JSON: %v: %s", err, b)
	}
	return ps.Payloads
}

func TestHandlerDecodeAndEncode(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	srv := newCodecServer(t, k, codec.HandlerOptions{BearerTokens: []string{"other", token}, AllowedOrigins: []string{uiOrigin}})

	// What a worker wrote into the history.
	encrypted, err := codec.NewDataConverter(k).ToPayloads(testApplicant, "plain text")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := post(t, srv.URL+"/codec/decode", "Bearer "+token, payloadsJSON(t, encrypted.Payloads))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decode: %d %s", resp.StatusCode, body)
	}
	decoded := parsePayloads(t, body)
	for i, p := range decoded {
		if enc := string(p.Metadata[converter.MetadataEncoding]); enc != converter.MetadataEncodingJSON {
			t.Fatalf("decoded payload %d has encoding %q, want %s", i, enc, converter.MetadataEncodingJSON)
		}
	}
	var a applicant
	var s string
	if err := converter.GetDefaultDataConverter().FromPayloads(&commonpb.Payloads{Payloads: decoded}, &a, &s); err != nil {
		t.Fatal(err)
	}
	if a != testApplicant || s != "plain text" {
		t.Fatalf("decoded %+v %q", a, s)
	}

	// Encode (the UI uses it to send signals/queries with encrypted input).
	plain, _ := converter.GetDefaultDataConverter().ToPayloads(testApplicant)
	resp, body = post(t, srv.URL+"/codec/encode", "bearer "+token, payloadsJSON(t, plain.Payloads))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("encode: %d %s", resp.StatusCode, body)
	}
	assertNoPII(t, "encode response", body)
	enc := parsePayloads(t, body)
	if len(enc) != 1 || string(enc[0].Metadata[codec.MetadataEncryptionKeyID]) != "k1" {
		t.Fatalf("encode response %s", body)
	}
	if err := codec.NewDataConverter(k).FromPayload(enc[0], &a); err != nil || a != testApplicant {
		t.Fatalf("encoded payload decodes to %+v, %v", a, err)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control = %q, want no-store", got)
	}
}

func TestHandlerAuth(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	srv := newCodecServer(t, k, codec.HandlerOptions{BearerTokens: []string{token}})
	encrypted, _ := codec.NewDataConverter(k).ToPayloads(testApplicant)
	body := payloadsJSON(t, encrypted.Payloads)

	for name, auth := range map[string]string{
		"missing":      "",
		"wrong":        "Bearer not-the-token",
		"prefix":       "Bearer " + token[:len(token)-1],
		"longer":       "Bearer " + token + "x",
		"empty":        "Bearer ",
		"basic scheme": "Basic " + token,
		"no scheme":    token,
	} {
		for _, path := range []string{"/codec/decode", "/codec/encode"} {
			resp, b := post(t, srv.URL+path, auth, body)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s token on %s: status %d, want 401", name, path, resp.StatusCode)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s: no WWW-Authenticate challenge", name)
			}
			assertNoPII(t, "401 body", b)
		}
	}

	// No tokens configured fails closed.
	closed := newCodecServer(t, k, codec.HandlerOptions{BearerTokens: []string{""}})
	if resp, _ := post(t, closed.URL+"/codec/decode", "Bearer ", body); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no tokens configured: status %d, want 401", resp.StatusCode)
	}
	// Explicit development opt-out.
	open := newCodecServer(t, k, codec.HandlerOptions{AllowUnauthenticated: true})
	if resp, b := post(t, open.URL+"/codec/decode", "", body); resp.StatusCode != http.StatusOK {
		t.Fatalf("AllowUnauthenticated: status %d %s", resp.StatusCode, b)
	}
}

func TestHandlerCORS(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	srv := newCodecServer(t, k, codec.HandlerOptions{BearerTokens: []string{token}, AllowedOrigins: []string{uiOrigin + "/"}})

	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/codec/decode", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-namespace")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	resp := preflight(uiOrigin)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight: status %d, want 204", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Fatalf("Allow-Origin = %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Fatalf("Allow-Credentials = %q", got)
	}
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "content-type", "x-namespace"} {
		if !strings.Contains(allowed, h) {
			t.Fatalf("Allow-Headers %q lacks %s", allowed, h)
		}
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("Allow-Methods = %q", resp.Header.Get("Access-Control-Allow-Methods"))
	}

	evil := preflight("http://evil.example")
	if evil.StatusCode != http.StatusForbidden || evil.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin preflight: %d, Allow-Origin %q", evil.StatusCode, evil.Header.Get("Access-Control-Allow-Origin"))
	}

	// The actual request from the UI carries the CORS headers too, even a 401
	// (so the UI can show the error instead of a CORS failure).
	encrypted, _ := codec.NewDataConverter(k).ToPayloads("x")
	for _, auth := range []string{"Bearer " + token, ""} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/codec/decode", bytes.NewReader(payloadsJSON(t, encrypted.Payloads)))
		req.Header.Set("Origin", uiOrigin)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
			t.Fatalf("POST (auth %v, status %d) without Allow-Origin", auth != "", resp.StatusCode)
		}
	}
}

func TestHandlerLimitsAndRouting(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	srv := newCodecServer(t, k, codec.HandlerOptions{BearerTokens: []string{token}, MaxBodyBytes: 1024})
	auth := "Bearer " + token

	big, _ := converter.GetDefaultDataConverter().ToPayloads(strings.Repeat("a", 2048))
	if resp, _ := post(t, srv.URL+"/codec/encode", auth, payloadsJSON(t, big.Payloads)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: status %d, want 413", resp.StatusCode)
	}
	if resp, _ := post(t, srv.URL+"/codec/decode", auth, []byte("{not json")); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad JSON: status %d, want 400", resp.StatusCode)
	}
	if resp, _ := post(t, srv.URL+"/codec/other", auth, []byte("{}")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: status %d, want 404", resp.StatusCode)
	}
	if resp, _ := post(t, srv.URL+"/codec/x/decode", auth, []byte("{}")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("nested path: status %d, want 404", resp.StatusCode)
	}
	resp, err := http.Get(srv.URL + "/codec/decode")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: status %d, want 405", resp.StatusCode)
	}

	// A payload under a key the server does not hold: 400 naming the key ID.
	foreign, _ := codec.NewDataConverter(mustRing(t, genEntry(t, "elsewhere"))).ToPayloads(testApplicant)
	resp, body := post(t, srv.URL+"/codec/decode", auth, payloadsJSON(t, foreign.Payloads))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "elsewhere") {
		t.Fatalf("foreign key: %d %s", resp.StatusCode, body)
	}
}
