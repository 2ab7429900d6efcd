package webhook_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
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
// when the store timeout runs out, wakes nobody, and is idle again after.
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
	if n := woken.Load(); n != 0 {
		t.Errorf("woke the forwarder %d times for nothing stored", n)
	}
	time.Sleep(50 * time.Millisecond)
	if rc.Busy() {
		t.Error("still busy well after the answer")
	}
}
