//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
)

// The inbox wiring of `starter serve`: the receiver wakes the forwarder (it
// would not poll for an hour here), so a notification is attempted right
// after its acknowledgement; the inbox metrics are on /metrics.
func TestServeWakesTheForwarder(t *testing.T) {
	hostPort, ns := testenv.Temporal(t)
	_, dbURL := testenv.NewDatabase(t)
	keys, err := codec.GenerateKeySpec("st2")
	if err != nil {
		t.Fatal(err)
	}
	env, base := serveEnv(t, hostPort, ns, dbURL, keys, noAWDA, map[string]string{
		EnvForwardEvery: "1h",
		EnvOrphanGrace:  "0s",
	})
	app := startServe(t, env)
	defer func() { _ = app.Stop(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// A loan no application has: orphaned at its first attempt.
	body, _ := json.Marshal(awda.LoanStatusEvent{EventID: "ev-wake-1", EventType: awda.EventTypeLoanStatus, LoanNo: "L-WAKE",
		Status: awda.LoanApproved, OccurredAt: time.Now().UnixMilli()})
	req, _ := http.NewRequest(http.MethodPost, base+webhook.PathLoanStatus, bytes.NewReader(body))
	signer, _ := awda.NewHMACSigner([]byte(testSecret))
	if err := awda.SignNotification(req, body, testAppID, signer, time.Now(), ""); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("notification answered %d", res.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var status string
		if err := pool.QueryRow(ctx, `SELECT status FROM webhook_inbox WHERE event_id = 'ev-wake-1'`).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status == "orphan" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s: the receiver did not wake the forwarder", status)
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, text := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{inbox.MetricPending + `{state="due"} 0`, inbox.MetricLag + " 0",
		inbox.MetricDeliveries + `{outcome="orphan",source="loan_status"} 1`, `awdaflow_webhook_notifications_total{result="stored",source="loan_status"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
