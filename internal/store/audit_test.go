//go:build integration

package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/testsuite"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/store"
)

func TestAuditObserverWritesAndFlushesOnClose(t *testing.T) {
	s := newStore(t)
	observe := s.AuditObserver(zerolog.Nop())

	const n = 300 // more than one batch
	for i := 0; i < n; i++ {
		observe(context.Background(), awda.CallInfo{
			Endpoint: "/api/partner/loan/status", Nonce: "nonce", HTTPStatus: 200, Latency: 15 * time.Millisecond,
		})
	}
	observe(context.Background(), awda.CallInfo{
		Endpoint: "/api/partner/user/register", Nonce: "n-busy", Code: awda.CodeBusy, HTTPStatus: 200,
		Latency: 1500 * time.Microsecond, Err: &awda.Error{Class: awda.ClassBusy, Code: awda.CodeBusy},
	})
	s.Close() // flush
	if d := s.AuditDropped(); d != 0 {
		t.Fatalf("%d records dropped", d)
	}

	var total, ok int
	if err := s.Pool().QueryRow(ctx(t), `SELECT count(*), count(*) FILTER (WHERE outcome = 'ok') FROM awda_calls`).Scan(&total, &ok); err != nil {
		t.Fatal(err)
	}
	if total != n+1 || ok != n {
		t.Fatalf("awda_calls: %d rows (%d ok), want %d (%d ok)", total, ok, n+1, n)
	}
	var (
		code, status int
		outcome      string
		latency      float64
		wf           *string
		calledAt     time.Time
	)
	if err := s.Pool().QueryRow(ctx(t),
		`SELECT code, outcome, http_status, latency_ms, workflow_id, called_at FROM awda_calls WHERE nonce = 'n-busy'`).
		Scan(&code, &outcome, &status, &latency, &wf, &calledAt); err != nil {
		t.Fatal(err)
	}
	if code != 100 || outcome != awda.ClassBusy.String() || status != 200 || latency != 1.5 || wf != nil ||
		time.Since(calledAt) > time.Minute || time.Since(calledAt) < 0 {
		t.Errorf("busy row: code=%d outcome=%q status=%d latency=%v wf=%v at=%v", code, outcome, status, latency, wf, calledAt)
	}

	// After Close, records are dropped and counted, never written.
	observe(context.Background(), awda.CallInfo{Endpoint: "/late", Nonce: "late"})
	if d := s.AuditDropped(); d != 1 {
		t.Errorf("dropped after close = %d, want 1", d)
	}
}

func TestAuditRecorderNamesTheActivity(t *testing.T) {
	s := newStore(t)
	rec := store.NewAuditRecorder(s, zerolog.Nop(), 0)

	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	callAWDA := func(ctx context.Context) error {
		rec.Observe(ctx, awda.CallInfo{Endpoint: "/api/partner/loan/apply", Nonce: "n-act", HTTPStatus: 200})
		return nil
	}
	env.RegisterActivityWithOptions(callAWDA, activityOptions("ApplyLoan"))
	if _, err := env.ExecuteActivity("ApplyLoan"); err != nil {
		t.Fatal(err)
	}
	rec.Close()

	var wf, act string
	var attempt int
	if err := s.Pool().QueryRow(ctx(t), `SELECT workflow_id, activity_type, attempt FROM awda_calls WHERE nonce = 'n-act'`).
		Scan(&wf, &act, &attempt); err != nil {
		t.Fatal(err)
	}
	if wf == "" || act != "ApplyLoan" || attempt != 1 {
		t.Errorf("activity row: workflow=%q activity=%q attempt=%d", wf, act, attempt)
	}
}

func TestAuditRecorderDropsWhenFull(t *testing.T) {
	s := newStore(t)
	rec := store.NewAuditRecorder(s, zerolog.Nop(), 1)
	// Never blocks: with a buffer of one, a burst outruns the writer and the
	// excess is dropped and counted, not waited for.
	const n = 2000
	for i := 0; i < n; i++ {
		rec.Record(store.CallRecord{Endpoint: "/x", Outcome: "ok", Nonce: "burst", CalledAt: time.Now()})
	}
	rec.Close()
	var written int
	if err := s.Pool().QueryRow(ctx(t), `SELECT count(*) FROM awda_calls`).Scan(&written); err != nil {
		t.Fatal(err)
	}
	if rec.Dropped() == 0 {
		t.Fatalf("no drops with a buffer of 1 and %d records", n)
	}
	if uint64(written)+rec.Dropped() != n || rec.Failed() != 0 {
		t.Errorf("written %d + dropped %d + failed %d != %d", written, rec.Dropped(), rec.Failed(), n)
	}
}

func TestRecordCall(t *testing.T) {
	s := newStore(t)
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	if err := s.RecordCall(ctx(t), store.CallRecord{
		Endpoint: "/api/partner/bank/list", Outcome: "timeout", Latency: 2 * time.Second, Nonce: "n1",
		WorkflowID: "loan:r", ActivityType: "BankList", Attempt: 3, CalledAt: at,
	}); err != nil {
		t.Fatal(err)
	}
	var latency float64
	var attempt int
	var got time.Time
	if err := s.Pool().QueryRow(ctx(t), `SELECT latency_ms, attempt, called_at FROM awda_calls WHERE nonce = 'n1'`).Scan(&latency, &attempt, &got); err != nil {
		t.Fatal(err)
	}
	if latency != 2000 || attempt != 3 || !got.Equal(at) {
		t.Errorf("row: latency=%v attempt=%d at=%v", latency, attempt, got)
	}
}
