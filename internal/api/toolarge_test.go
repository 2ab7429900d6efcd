package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/webhook"
)

// oversized is one request whose body is far over its route's limit (or
// one refused before its body is looked at).
type oversized struct {
	name, path, contentType string
	body                    []byte
	webhook                 bool // answered with AWDA's envelope, not a problem
	noToken                 bool // sent without the bearer token: 401
}

// testMaxDocument is the document limit of the server under test: small, so
// that the handlers' own reading (to the limit) stays cheap under -race; the
// bodies are ten times over it, as a 100 MB upload would be at the real
// 10 MiB limit.
const testMaxDocument = 1 << 20

func oversizedRequests(t *testing.T) []oversized {
	t.Helper()
	const mib = 1 << 20
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("imageType", "KTP")
	fw, err := mw.CreateFormFile("file", "ktp.png")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(bytes.Repeat([]byte{0x89}, 10*mib)) // ten times testMaxDocument
	_ = mw.Close()
	b64 := `{"imageType":"KTP","base64":"` + strings.Repeat("A", 10*mib) + `"}`
	return []oversized{
		{"document, multipart", "/v1/documents", mw.FormDataContentType(), form.Bytes(), false, false},
		{"document, JSON", "/v1/documents", "application/json", []byte(b64), false, false},
		{"application", "/v1/applications", "application/json", bytes.Repeat([]byte(" "), 10*mib), false, false},
		{"notification", webhook.PathLoanStatus, "application/json", bytes.Repeat([]byte(" "), 10*mib), true, false},
		// Not a 413, the same trouble: refused before the body is read.
		{"document without a token", "/v1/documents", mw.FormDataContentType(), form.Bytes(), false, true},
	}
}

// A body far over its route's limit, sent by a real client over a real TCP
// connection, gets its 413 and the answer's body every time, never a
// connection reset while the client is still sending (net/http closes a
// connection whose handler left more than 256 KB unread, and a client still
// writing then loses the answer).
func TestOversizedBodiesAlwaysGet413(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	signer, _ := awda.NewHMACSigner([]byte("toolarge-secret"))
	rc := &webhook.Receiver{Verifier: &awda.NotificationVerifier{AppID: "app-toolarge", Keys: []awda.Verifier{signer}}, Log: zerolog.Nop()}
	s, err := New(Options{Store: store.New(nil, nil), Temporal: c, Tokens: []string{testToken}, Webhooks: rc,
		MaxDocumentBytes: testMaxDocument})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)

	const tries = 20
	for _, o := range oversizedRequests(t) {
		t.Run(o.name, func(t *testing.T) {
			var failures []string
			for i := range tries {
				if why := postOversized(srv.Listener.Addr().String(), o); why != "" {
					failures = append(failures, fmt.Sprintf("try %d: %s", i+1, why))
				}
			}
			if len(failures) > 0 {
				t.Errorf("%d of %d tries did not read a 413:\n%s", len(failures), tries, strings.Join(failures, "\n"))
			}
		})
	}
}

// postOversized sends o as a client that writes its whole request before
// it reads the answer (as curl does while it is sending, and as many simple
// clients do), on a connection of its own, and says what was wrong with the
// answer ("" when it was a 413 with its problem, or AWDA's envelope for a
// notification).
func postOversized(addr string, o oversized) string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	auth := "Authorization: Bearer " + testToken + "\r\n"
	if o.noToken {
		auth = ""
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n\r\n",
		o.path, addr, o.contentType, auth, len(o.body))
	if _, err := conn.Write(append([]byte(head), o.body...)); err != nil {
		return "sending: " + err.Error()
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "no answer: " + err.Error()
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	switch {
	case err != nil:
		return "reading the answer: " + err.Error()
	case o.noToken:
		if res.StatusCode != http.StatusUnauthorized {
			return fmt.Sprintf("status %d, want 401: %s", res.StatusCode, body)
		}
	case res.StatusCode != http.StatusRequestEntityTooLarge:
		return fmt.Sprintf("status %d: %s", res.StatusCode, body)
	case o.webhook:
		var env awda.Envelope
		if json.Unmarshal(body, &env) != nil || env.Code == awda.CodeSuccess {
			return "not AWDA's refusal: " + string(body)
		}
	default:
		var p Problem
		if res.Header.Get("Content-Type") != ContentTypeProblem || json.Unmarshal(body, &p) != nil ||
			p.Type != TypeTooLarge || p.Status != http.StatusRequestEntityTooLarge {
			return "not the too-large problem: " + string(body)
		}
	}
	return ""
}

// A client that asks first (Expect: 100-continue) and is refused before the
// handler reads anything is answered at once: the server neither asks for
// the body (100 Continue) nor waits for it.
func TestRefusalWithoutContinue(t *testing.T) {
	srv := httptest.NewServer(bareServer(t))
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	head := "POST /v1/documents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 20971520\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer without the body: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("answered %d, want 401 without 100 Continue", res.StatusCode)
	}
}
