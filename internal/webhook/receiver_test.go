package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/webhook"
)

// A receiver whose database hangs: it is busy while a notification waits
// for the inbox (the forwarder defers to it), answers 503 with Retry-After
// when the store timeout runs out, wakes nobody (checked once its writer has
// given up, which is where a wake would come from), and is idle again after.
func TestReceiverBusyWhileStoringAnd503OnTimeout(t *testing.T) {
	// A "database" that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	pool, err := pgxpool.New(context.Background(), "postgres://x@"+ln.Addr().String()+"/x?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	spec, _ := codec.GenerateKeySpec("busy")
	ring, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	const appID, secret = "app-busy", "awda-notify-secret-busy"
	key, _ := awda.NewHMACSigner([]byte(secret))
	var woken atomic.Int32
	rc := &webhook.Receiver{
		Verifier:     &awda.NotificationVerifier{AppID: appID, Keys: []awda.Verifier{key}},
		Store:        store.New(pool, ring),
		Log:          zerolog.Nop(),
		StoreTimeout: time.Second,
		Wake:         func() { woken.Add(1) },
	}
	if rc.Busy() {
		t.Fatal("busy before any request")
	}
	body := []byte(`{"eventId":"ev-busy","eventType":"LOAN_STATUS","loanNo":"L1","status":"APPROVED","occurredAt":1767225600000}`)
	req := httptest.NewRequest(http.MethodPost, webhook.PathLoanStatus, bytes.NewReader(body))
	if err := awda.SignNotification(req, body, appID, key, time.Now(), ""); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		rc.ServeHTTP(rec, req)
	}()
	// The request waits a second for the inbox: busy all along.
	for !rc.Busy() {
		select {
		case <-done:
			t.Fatal("not busy while a notification waited for the inbox")
		case <-time.After(time.Millisecond):
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the store timeout did not end the request")
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("answer %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// The request gave up at its own timeout; the writer that holds its
	// row gives up at the same timeout, a moment later or earlier. Any
	// wake would come from it, before it counts itself out.
	waitUntil(t, "the writer to give up", 10*time.Second, func() bool { return rc.Writers() == 0 })
	if n := woken.Load(); n != 0 {
		t.Errorf("woke the forwarder %d times for nothing stored", n)
	}
	// Busy lingers a few milliseconds after the last answer (so that a
	// burst does not look idle between its answers), then ends.
	waitUntil(t, "the receiver to be idle after the answer", 10*time.Second, func() bool { return !rc.Busy() })
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// The receiver on its own (no API middleware in front): a notification of
// 10 MB, ten times the limit, sent by a client that writes its whole request
// before reading, gets its 413 and AWDA's refusal every time, not a reset.
func TestOversizedNotificationAlwaysGets413(t *testing.T) {
	key, _ := awda.NewHMACSigner([]byte("awda-notify-secret-big"))
	rc := &webhook.Receiver{Verifier: &awda.NotificationVerifier{AppID: "app-big", Keys: []awda.Verifier{key}}, Log: zerolog.Nop()}
	mux := http.NewServeMux()
	mux.Handle("POST "+webhook.PathLoanStatus, rc)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	body := bytes.Repeat([]byte(" "), 10<<20)
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		webhook.PathLoanStatus, addr, len(body))
	const tries = 20
	var failures []string
	for i := range tries {
		if why := sendWhole(addr, append([]byte(head), body...)); why != "" {
			failures = append(failures, fmt.Sprintf("try %d: %s", i+1, why))
		}
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d tries did not read a 413:\n%s", len(failures), tries, strings.Join(failures, "\n"))
	}
}

// sendWhole writes request on a connection of its own, then reads the
// answer, and says what was wrong with it ("" for a 413 with AWDA's
// refusal).
func sendWhole(addr string, request []byte) string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Write(request); err != nil {
		return "sending: " + err.Error()
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "no answer: " + err.Error()
	}
	defer res.Body.Close()
	var env awda.Envelope
	if res.StatusCode != http.StatusRequestEntityTooLarge || json.NewDecoder(res.Body).Decode(&env) != nil || env.Code == awda.CodeSuccess {
		return fmt.Sprintf("answer %d %+v", res.StatusCode, env)
	}
	return ""
}
