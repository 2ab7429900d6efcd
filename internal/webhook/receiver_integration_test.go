//go:build integration

package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
)

const (
	appID     = "app-webhook-test"
	secretOld = "awda-notify-secret-2025"
	secretNew = "awda-notify-secret-2026"
)

// rig is a receiver on a real database and a real Temporal server, served
// over HTTP. Workflows are started by name on a task queue no worker polls:
// what is under test is that a signal reaches the workflow's history (once),
// not what the workflow then does with it.
type rig struct {
	t         *testing.T
	pool      *pgxpool.Pool
	store     *store.Store
	temporal  client.Client
	deliverer *inbox.Deliverer
	forwarder *inbox.Forwarder
	url       string
	logs      *testenv.SyncBuffer
	taskQueue string
	dc        converter.DataConverter
}

// rigOptions shape a rig. The zero value: the shared dev server, a
// forwarder that only the receiver's wake sets going (it polls once an
// hour), orphans at once.
type rigOptions struct {
	hostPort    string        // a dev server of the test's own; empty: the shared one
	interval    time.Duration // the forwarder's poll interval (an hour when zero)
	grace       time.Duration // the deliverer's orphan grace
	timeout     time.Duration // the deliverer's AttemptTimeout (its default when zero)
	noForwarder bool          // no forwarder at all: rows stay as the receiver stored them
}

// newRig wires a receiver, a deliverer and a forwarder as the starter does.
func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	pool, dbURL := testenv.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	spec, err := codec.GenerateKeySpec("wh1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, ring)
	hostPort, ns := o.hostPort, "default"
	if hostPort == "" {
		hostPort, ns = testenv.Temporal(t)
	}
	opts := client.Options{HostPort: hostPort, Namespace: ns}
	codec.ConfigureClient(&opts, ring)
	c := testenv.NewTemporalClient(t, opts)

	logs := &testenv.SyncBuffer{}
	log := zerolog.New(logs)
	oldKey, _ := awda.NewHMACSigner([]byte(secretOld))
	newKey, _ := awda.NewHMACSigner([]byte(secretNew))
	d := &inbox.Deliverer{Store: st, Temporal: c, Log: log, OrphanGrace: o.grace, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
		AttemptTimeout: o.timeout}
	rc := &webhook.Receiver{
		Verifier: &awda.NotificationVerifier{AppID: appID, Keys: []awda.Verifier{oldKey, newKey}},
		Store:    st,
		Log:      log,
	}
	r := &rig{t: t, pool: pool, store: st, temporal: c, deliverer: d, url: "", logs: logs, dc: codec.NewDataConverter(ring),
		taskQueue: fmt.Sprintf("webhook-test-%d", time.Now().UnixNano())}
	if !o.noForwarder {
		interval := o.interval
		if interval == 0 {
			interval = time.Hour
		}
		r.forwarder = &inbox.Forwarder{Deliverer: d, Log: log, Interval: interval, Busy: rc.Busy}
		rc.Wake = r.forwarder.Wake
		r.forwarder.Start()
		t.Cleanup(func() { _ = r.forwarder.Stop(context.Background()) })
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+webhook.PathLoanStatus, rc)
	mux.Handle("POST "+webhook.PathAuthorization, rc)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// loan records an application with an AWDA loan and user, and starts its
// workflow (unless start is false). It returns the workflow ID.
func (r *rig) loan(ref, loanNo, userID string, start bool) string {
	r.t.Helper()
	ctx := context.Background()
	wfID := workflows.LoanWorkflowID(ref)
	if err := r.store.UpsertApplication(ctx, activities.ApplicationProjection{
		ApplicantRef: ref, WorkflowID: wfID, Seq: 1, Stage: string(workflows.StageReview),
		AwdaUserID: userID, AwdaLoanNo: loanNo, OrderNo: workflows.OrderNo(wfID), LoanStatus: "SUBMITTED",
	}); err != nil {
		r.t.Fatal(err)
	}
	if start {
		_, err := r.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: r.taskQueue},
			workflows.WorkflowName, workflows.LoanApplicationInput{ApplicantRef: ref})
		if err != nil {
			r.t.Fatal(err)
		}
		r.t.Cleanup(func() { _ = r.temporal.TerminateWorkflow(context.Background(), wfID, "", "test over") })
	}
	return wfID
}

func loanEvent(eventID, loanNo string, status awda.LoanStatus) []byte {
	b, _ := json.Marshal(awda.LoanStatusEvent{
		EventID: eventID, EventType: awda.EventTypeLoanStatus, LoanNo: loanNo, UserID: "u-" + loanNo,
		Status: status, OccurredAt: time.Now().UnixMilli(),
	})
	return b
}

type answer struct {
	status     int
	env        awda.Envelope
	retryAfter string
}

// post sends body to path signed with secret at ts (now when zero).
func (r *rig) post(path string, body []byte, secret string, ts time.Time) answer {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	signer, _ := awda.NewHMACSigner([]byte(secret))
	if err := awda.SignNotification(req, body, appID, signer, ts, ""); err != nil {
		r.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var a answer
	a.status, a.retryAfter = res.StatusCode, res.Header.Get("Retry-After")
	if err := json.Unmarshal(raw, &a.env); err != nil {
		r.t.Fatalf("answer is not AWDA's envelope: %d %q", res.StatusCode, raw)
	}
	return a
}

func (a answer) acked() bool {
	return a.status == http.StatusOK && a.env.Code == awda.CodeSuccess && a.env.Message == awda.MessageSuccess
}

type row struct {
	status, workflowID, lastError string
	attempts                      int
}

func (r *rig) rows(eventID string) []row {
	r.t.Helper()
	rows, err := r.pool.Query(context.Background(),
		`SELECT status, coalesce(workflow_id, ''), last_error, attempts FROM webhook_inbox WHERE event_id = $1`, eventID)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.status, &x.workflowID, &x.lastError, &x.attempts); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// settled waits for the only row of eventID to reach status, and returns it.
func (r *rig) settled(eventID, status string) row {
	r.t.Helper()
	var last []row
	waitFor(r.t, eventID+" "+status, 30*time.Second, func() bool {
		last = r.rows(eventID)
		return len(last) == 1 && last[0].status == status
	})
	if len(last) != 1 {
		r.t.Fatalf("%s: rows %+v", eventID, last)
	}
	return last[0]
}

func (r *rig) countRows() int {
	r.t.Helper()
	var n int
	if err := r.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_inbox`).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// signals counts the signal events named name in the workflow's history.
func signals(t *testing.T, c client.Client, wfID, name string) int {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == name {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A signed notification is stored, acknowledged and signalled once, with
// its payload: the row is there when the answer comes, the forwarder (woken
// by the receiver: it would not poll for an hour) delivers it, the
// workflow's history holds the event (decoded through the codec) and the
// inbox row is delivered to that workflow.
func TestNotificationIsStoredAcknowledgedAndSignalled(t *testing.T) {
	r := newRig(t, rigOptions{})
	wfID := r.loan("wh-deliver", "L-DELIVER", "U-DELIVER", true)
	a := r.post(webhook.PathLoanStatus, loanEvent("ev-deliver-1", "L-DELIVER", awda.LoanUnderReview), secretNew, time.Time{})
	if !a.acked() {
		t.Fatalf("answer %d %+v", a.status, a.env)
	}
	if rows := r.rows("ev-deliver-1"); len(rows) != 1 {
		t.Fatalf("acknowledged with inbox rows %+v", rows)
	}
	if row := r.settled("ev-deliver-1", store.InboxDelivered); row.workflowID != wfID || row.attempts != 1 {
		t.Fatalf("inbox row %+v", row)
	}
	if n := signals(t, r.temporal, wfID, workflows.LoanStatusSignal.Name); n != 1 {
		t.Fatalf("%d signals, want 1", n)
	}
	// The signal carries the event, readable through the codec only.
	it := r.temporal.GetWorkflowHistory(context.Background(), wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, _ := it.Next()
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
			p := a.GetInput().GetPayloads()[0]
			if string(p.GetMetadata()["encoding"]) == "json/plain" {
				t.Fatal("the signal payload is not encrypted")
			}
			var got awda.LoanStatusEvent
			if err := codecDecode(r, p, &got); err != nil {
				t.Fatal(err)
			}
			if got.EventID != "ev-deliver-1" || got.Status != awda.LoanUnderReview || got.LoanNo != "L-DELIVER" {
				t.Fatalf("signal payload %+v", got)
			}
		}
	}

	// The authorization callback is routed by AWDA user.
	auth, _ := json.Marshal(awda.AuthorizationEvent{EventID: "ev-auth-1", UserID: "U-DELIVER", AuthType: "EKYC",
		Status: awda.AuthSuccess, OccurredAt: time.Now().UnixMilli()})
	if a := r.post(webhook.PathAuthorization, auth, secretOld, time.Time{}); !a.acked() {
		t.Fatalf("authorization answer %d %+v", a.status, a.env)
	}
	if row := r.settled("ev-auth-1", store.InboxDelivered); row.workflowID != wfID {
		t.Fatalf("authorization inbox row %+v", row)
	}
	if n := signals(t, r.temporal, wfID, workflows.AuthorizationSignal.Name); n != 1 {
		t.Fatalf("%d authorization signals, want 1", n)
	}
}

// Refusals store nothing: a forged signature, a stale or future timestamp,
// another appId, missing headers (401); a verified body that is not an event
// (400).
func TestRefusedNotificationsStoreNothing(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.loan("wh-refuse", "L-REFUSE", "U-REFUSE", true)
	body := loanEvent("ev-refuse", "L-REFUSE", awda.LoanApproved)

	if a := r.post(webhook.PathLoanStatus, body, "forged-secret", time.Time{}); a.status != 401 || a.env.Code == 0 {
		t.Errorf("forged: %d %+v", a.status, a.env)
	}
	if a := r.post(webhook.PathLoanStatus, body, secretNew, time.Now().Add(-10*time.Minute)); a.status != 401 || a.env.Code != awda.CodeTimestampExpired {
		t.Errorf("stale: %d %+v", a.status, a.env)
	}
	if a := r.post(webhook.PathLoanStatus, body, secretNew, time.Now().Add(10*time.Minute)); a.status != 401 {
		t.Errorf("future: %d %+v", a.status, a.env)
	}
	// Signed, then tampered with.
	req, _ := http.NewRequest(http.MethodPost, r.url+webhook.PathLoanStatus, bytes.NewReader(body))
	signer, _ := awda.NewHMACSigner([]byte(secretNew))
	_ = awda.SignNotification(req, body, appID, signer, time.Now(), "")
	tampered := bytes.Replace(body, []byte("APPROVED"), []byte("REJECTED"), 1)
	req.Body = io.NopCloser(bytes.NewReader(tampered))
	req.ContentLength = int64(len(tampered))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Errorf("tampered: %v %v", res.StatusCode, err)
	}
	// No signature headers at all.
	res, err := http.Post(r.url+webhook.PathLoanStatus, "application/json", bytes.NewReader(body))
	if err != nil || res.StatusCode != 401 {
		t.Errorf("unsigned: %v %v", res.StatusCode, err)
	}
	// Another merchant's appId.
	req, _ = http.NewRequest(http.MethodPost, r.url+webhook.PathLoanStatus, bytes.NewReader(body))
	_ = awda.SignNotification(req, body, "another-app", signer, time.Now(), "")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Errorf("other appId: %v %v", res.StatusCode, err)
	}

	for name, bad := range map[string][]byte{
		"not json":     []byte(`{"eventId":`),
		"array":        []byte(`[]`),
		"no eventId":   []byte(`{"eventType":"LOAN_STATUS","loanNo":"L-REFUSE","status":"APPROVED","occurredAt":1}`),
		"bad status":   []byte(`{"eventId":"x","eventType":"LOAN_STATUS","loanNo":"L-REFUSE","status":"MAYBE","occurredAt":1}`),
		"wrong type":   []byte(`{"eventId":7,"eventType":"LOAN_STATUS","loanNo":"L-REFUSE","status":"APPROVED","occurredAt":1}`),
		"auth as loan": []byte(`{"eventId":"y","userId":"U-REFUSE","authType":"EKYC","status":"SUCCESS","occurredAt":1}`),
	} {
		if a := r.post(webhook.PathLoanStatus, bad, secretNew, time.Time{}); a.status != 400 || a.env.Code == 0 {
			t.Errorf("%s: %d %+v", name, a.status, a.env)
		}
	}
	if n := r.countRows(); n != 0 {
		t.Fatalf("%d inbox rows after refusals, want 0", n)
	}
}

// The same notification ten times at once: one row, one signal, ten
// acknowledgements (concurrent requests share a statement, so some of the
// repeats meet their first in the same batch). Then ten more, one after
// another, once it is delivered: still one.
func TestDuplicateNotificationsConcurrently(t *testing.T) {
	r := newRig(t, rigOptions{})
	wfID := r.loan("wh-dup", "L-DUP", "U-DUP", true)
	body := loanEvent("ev-dup-1", "L-DUP", awda.LoanApproved)
	var wg sync.WaitGroup
	var acks atomic.Int32
	start := make(chan struct{})
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Each delivery freshly signed, as AWDA's retries are.
			if r.post(webhook.PathLoanStatus, body, secretNew, time.Time{}).acked() {
				acks.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if acks.Load() != 10 {
		t.Fatalf("%d acknowledgements, want 10", acks.Load())
	}
	r.settled("ev-dup-1", store.InboxDelivered)
	for i := 0; i < 10; i++ {
		if !r.post(webhook.PathLoanStatus, body, secretOld, time.Time{}).acked() {
			t.Fatal("a repeat was not acknowledged")
		}
	}
	if rows := r.rows("ev-dup-1"); len(rows) != 1 || rows[0].status != store.InboxDelivered || rows[0].attempts != 1 {
		t.Fatalf("rows %+v", rows)
	}
	// Only the inbox signals, and only a claimed row (a claim counts an
	// attempt), before its outcome is recorded: one row in the whole inbox,
	// delivered on its one attempt, means no signal is still to come, and
	// the history already holds every signal there will be.
	if n := r.countRows(); n != 1 {
		t.Fatalf("%d inbox rows, want 1", n)
	}
	if n := signals(t, r.temporal, wfID, workflows.LoanStatusSignal.Name); n != 1 {
		t.Fatalf("%d signals, want 1", n)
	}
}

// A loan nobody applied for: orphan, logged, and no workflow started.
func TestUnknownLoanIsOrphan(t *testing.T) {
	r := newRig(t, rigOptions{})
	before := countWorkflows(t, r.temporal)
	if a := r.post(webhook.PathLoanStatus, loanEvent("ev-unknown-1", "L-NOBODY", awda.LoanApproved), secretNew, time.Time{}); !a.acked() {
		t.Fatalf("answer %d %+v", a.status, a.env)
	}
	r.settled("ev-unknown-1", store.InboxOrphan)
	if !strings.Contains(r.logs.String(), "orphan notification") || !strings.Contains(r.logs.String(), "L-NOBODY") {
		t.Errorf("no reconciliation log line: %s", r.logs)
	}
	if after := countWorkflows(t, r.temporal); after != before {
		t.Fatalf("%d workflows before, %d after: one was started", before, after)
	}
}

// A loan AWDA pushes about before the workflow has recorded its loan
// number is routed by orderNo when it can be; one no application has stays
// pending through the grace period (its attempt recorded), and is orphaned
// only after it.
func TestRoutingByOrderNoAndGrace(t *testing.T) {
	r := newRig(t, rigOptions{grace: time.Hour})
	wfID := r.loan("wh-order", "", "U-ORDER", true)
	ev := awda.LoanStatusEvent{EventID: "ev-order-1", EventType: awda.EventTypeLoanStatus, LoanNo: "L-NOT-YET",
		OrderNo: workflows.OrderNo(wfID), Status: awda.LoanSubmitted, OccurredAt: time.Now().UnixMilli()}
	body, _ := json.Marshal(ev)
	if a := r.post(webhook.PathLoanStatus, body, secretNew, time.Time{}); !a.acked() {
		t.Fatalf("answer %+v", a)
	}
	if row := r.settled("ev-order-1", store.InboxDelivered); row.workflowID != wfID {
		t.Fatalf("routed by orderNo: row %+v", row)
	}

	if a := r.post(webhook.PathLoanStatus, loanEvent("ev-grace-1", "L-LATER", awda.LoanSubmitted), secretNew, time.Time{}); !a.acked() {
		t.Fatalf("answer %+v", a)
	}
	waitFor(t, "the attempt within the grace", 30*time.Second, func() bool {
		rows := r.rows("ev-grace-1")
		return len(rows) == 1 && rows[0].lastError != ""
	})
	if rows := r.rows("ev-grace-1"); rows[0].status != store.InboxPending || rows[0].lastError != "no application for this loan yet" {
		t.Fatalf("within the grace period: rows %+v", rows)
	}
}

// A notification after the workflow has closed: orphan, and the workflow
// ID still has exactly one run (nothing was started).
func TestNotificationForClosedWorkflowIsOrphan(t *testing.T) {
	r := newRig(t, rigOptions{})
	// A workflow ID of this run's own: the dev server is shared, and keeps
	// the runs of earlier -count iterations.
	wfID := r.loan(fmt.Sprintf("wh-closed-%d", time.Now().UnixNano()), "L-CLOSED", "U-CLOSED", true)
	desc, err := r.temporal.DescribeWorkflow(context.Background(), wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	runID := desc.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	if err := r.temporal.TerminateWorkflow(context.Background(), wfID, "", "settled elsewhere"); err != nil {
		t.Fatal(err)
	}
	if a := r.post(webhook.PathLoanStatus, loanEvent("ev-closed-1", "L-CLOSED", awda.LoanSettled), secretNew, time.Time{}); !a.acked() {
		t.Fatalf("answer %+v", a)
	}
	r.settled("ev-closed-1", store.InboxOrphan)
	desc, err = r.temporal.DescribeWorkflow(context.Background(), wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.RawResponse.GetWorkflowExecutionInfo(); got.GetExecution().GetRunId() != runID ||
		got.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Fatalf("latest run %s (%v), want the terminated %s", got.GetExecution().GetRunId(), got.GetStatus(), runID)
	}
	if n := countRuns(t, r.temporal, wfID); n != 1 {
		t.Fatalf("%d runs of %s, want 1", n, wfID)
	}
}

// Temporal away: notifications are still stored and acknowledged (pending),
// and the forwarder delivers them once it is back.
func TestTemporalDownNotificationsDeliveredLater(t *testing.T) {
	srv := testenv.StartTemporal(t)
	// Short attempts: the SDK retries an unavailable server within one.
	r := newRig(t, rigOptions{hostPort: srv.HostPort(), interval: 100 * time.Millisecond, timeout: 300 * time.Millisecond})
	wfID := r.loan("wh-down", "L-DOWN", "U-DOWN", true)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("ev-down-%d", i)
		a := r.post(webhook.PathLoanStatus, loanEvent(id, "L-DOWN", awda.LoanUnderReview), secretNew, time.Time{})
		if !a.acked() {
			t.Fatalf("%s not acknowledged while Temporal is down: %d %+v", id, a.status, a.env)
		}
		if rows := r.rows(id); len(rows) != 1 || rows[0].status != store.InboxPending {
			t.Fatalf("%s: rows %+v", id, rows)
		}
	}
	// Every row attempted, and the attempt failed, while Temporal is away:
	// what is delivered below is then a retry.
	waitFor(t, "a failed attempt at each row while Temporal is down", time.Minute, func() bool {
		for i := 1; i <= 3; i++ {
			rows := r.rows(fmt.Sprintf("ev-down-%d", i))
			if len(rows) != 1 || rows[0].status != store.InboxPending || rows[0].attempts < 1 || rows[0].lastError == "" {
				return false
			}
		}
		return true
	})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forwarder to deliver all three", time.Minute, func() bool {
		for i := 1; i <= 3; i++ {
			if rows := r.rows(fmt.Sprintf("ev-down-%d", i)); len(rows) != 1 || rows[0].status != store.InboxDelivered {
				return false
			}
		}
		return true
	})
	if n := signals(t, r.temporal, wfID, workflows.LoanStatusSignal.Name); n < 3 {
		t.Fatalf("%d signals after recovery, want 3", n)
	}
	if rows := r.rows("ev-down-1"); rows[0].attempts < 2 {
		t.Errorf("delivered on attempt %d; the forwarder should have retried", rows[0].attempts)
	}
}

// The database away: 503 and a non-zero code, so that AWDA delivers again;
// once it is back the same notification is stored and acknowledged.
func TestDatabaseDownAnswers503(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.loan("wh-dbdown", "L-DBDOWN", "U-DBDOWN", true)
	body := loanEvent("ev-dbdown-1", "L-DBDOWN", awda.LoanApproved)
	testenv.StopPostgres(t)
	a := r.post(webhook.PathLoanStatus, body, secretNew, time.Time{})
	if a.status != http.StatusServiceUnavailable || a.env.Code == awda.CodeSuccess || a.retryAfter == "" {
		t.Fatalf("with the database down: %d %+v, Retry-After %q", a.status, a.env, a.retryAfter)
	}
	testenv.RestartPostgres(t)
	waitFor(t, "the pool to reconnect", 30*time.Second, func() bool {
		return r.store.Ping(context.Background()) == nil
	})
	if a := r.post(webhook.PathLoanStatus, body, secretNew, time.Time{}); !a.acked() {
		t.Fatalf("after the database is back: %d %+v", a.status, a.env)
	}
	r.settled("ev-dbdown-1", store.InboxDelivered)
}

// The forwarder delivers at startup what a crashed process left pending:
// a row stored and never woken for, and a row whose claimer died (its lease
// has run out).
func TestForwarderDeliversLeftoversAtStartup(t *testing.T) {
	r := newRig(t, rigOptions{noForwarder: true})
	wfID := r.loan("wh-left", "L-LEFT", "U-LEFT", true)
	for _, ev := range []string{"ev-left-1", "ev-left-2"} {
		if _, inserted, err := r.store.InsertInbox(context.Background(), store.InboxEntry{
			Source: store.SourceLoanStatus, EventID: ev, LoanNo: "L-LEFT", Payload: loanEvent(ev, "L-LEFT", awda.LoanApproved),
		}); err != nil || !inserted {
			t.Fatal(inserted, err)
		}
	}
	// One of them claimed by a forwarder that then died; its lease is over.
	claimed, err := r.store.ClaimPending(context.Background(), 1, time.Now())
	if err != nil || len(claimed) != 1 {
		t.Fatal(claimed, err)
	}
	if _, err := r.pool.Exec(context.Background(), `UPDATE webhook_inbox SET next_attempt_at = now() - interval '1 second' WHERE id = $1`, claimed[0].ID); err != nil {
		t.Fatal(err)
	}
	f := &inbox.Forwarder{Deliverer: r.deliverer, Log: zerolog.Nop(), Interval: time.Hour}
	f.Start()
	defer f.Stop(context.Background())
	r.settled("ev-left-1", store.InboxDelivered)
	r.settled("ev-left-2", store.InboxDelivered)
	if n := signals(t, r.temporal, wfID, workflows.LoanStatusSignal.Name); n != 2 {
		t.Fatalf("%d signals, want 2", n)
	}
}

// The receiver answers without waiting for Temporal: with no forwarder
// running, a notification is acknowledged and stored, pending, with no
// attempt made and no signal sent; a forwarder started later delivers it.
func TestAcknowledgedWithoutDelivery(t *testing.T) {
	r := newRig(t, rigOptions{noForwarder: true})
	wfID := r.loan("wh-async", "L-ASYNC", "U-ASYNC", true)
	if a := r.post(webhook.PathLoanStatus, loanEvent("ev-async-1", "L-ASYNC", awda.LoanApproved), secretNew, time.Time{}); !a.acked() {
		t.Fatalf("answer %d %+v", a.status, a.env)
	}
	if rows := r.rows("ev-async-1"); len(rows) != 1 || rows[0].status != store.InboxPending || rows[0].attempts != 0 || rows[0].lastError != "" {
		t.Fatalf("rows %+v", rows)
	}
	if n := signals(t, r.temporal, wfID, workflows.LoanStatusSignal.Name); n != 0 {
		t.Fatalf("%d signals before any forwarder ran", n)
	}
	f := &inbox.Forwarder{Deliverer: r.deliverer, Log: zerolog.Nop(), Interval: time.Hour}
	f.Start()
	defer f.Stop(context.Background())
	r.settled("ev-async-1", store.InboxDelivered)
	if n := signals(t, r.temporal, wfID, workflows.LoanStatusSignal.Name); n != 1 {
		t.Fatalf("%d signals, want 1", n)
	}
}

// AWDA sends a loan's notifications one after the other, each once the
// last was acknowledged: the workflow gets them in that order, though they
// are delivered after the answers.
func TestOneLoansNotificationsArriveInOrder(t *testing.T) {
	r := newRig(t, rigOptions{})
	wfID := r.loan("wh-order-many", "L-MANY", "U-MANY", true)
	var sent []string
	for i := range 12 {
		id := fmt.Sprintf("ev-many-%02d", i)
		if a := r.post(webhook.PathLoanStatus, loanEvent(id, "L-MANY", awda.LoanUnderReview), secretNew, time.Time{}); !a.acked() {
			t.Fatalf("%s: %d %+v", id, a.status, a.env)
		}
		sent = append(sent, id)
	}
	for _, id := range sent {
		r.settled(id, store.InboxDelivered)
	}
	if got := signalledEvents(t, r, wfID); fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Fatalf("signalled %v, want %v", got, sent)
	}
}

// A burst of concurrent notifications about several loans, each sent twice
// or three times: every one acknowledged, each stored once and signalled
// once, and each loan's in the order they were stored.
func TestBurstOfNotifications(t *testing.T) {
	r := newRig(t, rigOptions{})
	const loans, perLoan = 4, 10
	wfIDs := make([]string, loans)
	for l := range loans {
		wfIDs[l] = r.loan(fmt.Sprintf("wh-burst-%d", l), fmt.Sprintf("L-BURST-%d", l), fmt.Sprintf("U-BURST-%d", l), true)
	}
	type post struct{ id, loanNo string }
	var posts []post
	for l := range loans {
		for i := range perLoan {
			p := post{fmt.Sprintf("ev-burst-%d-%02d", l, i), fmt.Sprintf("L-BURST-%d", l)}
			for range 1 + (l+i)%3 {
				posts = append(posts, p)
			}
		}
	}
	var (
		wg    sync.WaitGroup
		acks  atomic.Int32
		next  atomic.Int32
		fails = make(chan string, len(posts))
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(posts) {
					return
				}
				if a := r.post(webhook.PathLoanStatus, loanEvent(posts[i].id, posts[i].loanNo, awda.LoanUnderReview), secretNew, time.Time{}); a.acked() {
					acks.Add(1)
				} else {
					fails <- fmt.Sprintf("%s: %d %+v", posts[i].id, a.status, a.env)
				}
			}
		}()
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Error(f)
	}
	if int(acks.Load()) != len(posts) {
		t.Fatalf("%d acknowledgements of %d", acks.Load(), len(posts))
	}
	if n := r.countRows(); n != loans*perLoan {
		t.Fatalf("%d rows, want %d", n, loans*perLoan)
	}
	for l, wfID := range wfIDs {
		var stored []string // in ID order
		rows, err := r.pool.Query(context.Background(), `SELECT event_id FROM webhook_inbox WHERE loan_no = $1 ORDER BY id`, fmt.Sprintf("L-BURST-%d", l))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			_ = rows.Scan(&id)
			stored = append(stored, id)
		}
		rows.Close()
		for _, id := range stored {
			r.settled(id, store.InboxDelivered)
		}
		if got := signalledEvents(t, r, wfID); fmt.Sprint(got) != fmt.Sprint(stored) {
			t.Errorf("%s signalled %v, want %v", wfID, got, stored)
		}
	}
}

// signalledEvents lists the event IDs of the loan-status signals in the
// workflow's history, in order.
func signalledEvents(t *testing.T, r *rig, wfID string) []string {
	t.Helper()
	it := r.temporal.GetWorkflowHistory(context.Background(), wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []string
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == workflows.LoanStatusSignal.Name {
			var got awda.LoanStatusEvent
			if err := codecDecode(r, a.GetInput().GetPayloads()[0], &got); err != nil {
				t.Fatal(err)
			}
			out = append(out, got.EventID)
		}
	}
	return out
}

func countWorkflows(t *testing.T, c client.Client) int64 {
	t.Helper()
	res, err := c.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetCount()
}

func countRuns(t *testing.T, c client.Client, wfID string) int {
	t.Helper()
	res, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", wfID),
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.GetExecutions())
}

func codecDecode(r *rig, p *commonpb.Payload, out any) error {
	return r.dc.FromPayload(p, out)
}
