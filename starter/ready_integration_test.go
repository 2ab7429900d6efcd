//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
)

// serveEnv is `starter serve`'s environment for the integration tests of
// this package, on a free port of 127.0.0.1, with AWDA at awdaURL; extra
// adds or overrides variables. It returns the environment and the base URL.
func serveEnv(t *testing.T, hostPort, ns, dbURL, keys, awdaURL string, extra map[string]string) (map[string]string, string) {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := map[string]string{
		config.EnvTemporalAddress:   hostPort,
		config.EnvTemporalNamespace: ns,
		config.EnvAWDABaseURL:       awdaURL,
		config.EnvAWDAAppID:         testAppID,
		config.EnvAWDAHMACSecret:    testSecret,
		config.EnvKeys:              keys,
		config.EnvDatabaseURL:       dbURL,
		config.EnvLogFormat:         "json",
		config.EnvLogLevel:          "warn",
		EnvHTTPAddr:                 addr,
		EnvAPITokens:                tokenA,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env, "http://" + addr
}

// noAWDA is an AWDA address nobody answers: these tests make no AWDA call.
const noAWDA = "http://127.0.0.1:1"

// readiness GETs a readiness path on a connection of its own (so that it
// shows whether the listener still accepts) and decodes the answer.
func readiness(t *testing.T, url string) (int, api.Readiness) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return 0, api.Readiness{Status: err.Error()}
	}
	defer res.Body.Close()
	var r api.Readiness
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatalf("%s: %d, not a readiness answer: %v", url, res.StatusCode, err)
	}
	return res.StatusCode, r
}

// signedPush is a loan-status notification for loanNo, signed as AWDA
// signs, with body as the request's body (nil: the event itself).
func signedPush(t *testing.T, base, eventID, loanNo string, body io.Reader) (*http.Request, []byte) {
	t.Helper()
	event, _ := json.Marshal(awda.LoanStatusEvent{EventID: eventID, EventType: awda.EventTypeLoanStatus, LoanNo: loanNo,
		Status: awda.LoanUnderReview, OccurredAt: time.Now().UnixMilli()})
	if body == nil {
		body = bytes.NewReader(event)
	}
	req, err := http.NewRequest(http.MethodPost, base+webhook.PathLoanStatus, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(event))
	signer, _ := awda.NewHMACSigner([]byte(testSecret))
	if err := awda.SignNotification(req, event, testAppID, signer, time.Now(), ""); err != nil {
		t.Fatal(err)
	}
	return req, event
}

// acked sends req and fails the test unless AWDA's acknowledgement comes.
func acked(t *testing.T, req *http.Request) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("notification: %v", err)
	}
	defer res.Body.Close()
	var env awda.Envelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil || res.StatusCode != http.StatusOK || env.Code != awda.CodeSuccess {
		t.Fatalf("notification answered %d %+v (%v)", res.StatusCode, env, err)
	}
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Temporal stopped under a running starter: the webhooks stay ready (the
// database answers) while the API and the whole are not, AWDA's push is
// stored and acknowledged as ever, and the forwarder signals it once
// Temporal is back.
func TestServeTakesNotificationsWhileTemporalIsDown(t *testing.T) {
	srv := testenv.StartTemporal(t)
	pool, dbURL := testenv.NewDatabase(t)
	keys, err := codec.GenerateKeySpec("rd1")
	if err != nil {
		t.Fatal(err)
	}
	env, base := serveEnv(t, srv.HostPort(), srv.Namespace(), dbURL, keys, noAWDA, nil)
	env[EnvForwardEvery], env[EnvRetryMax], env[EnvOrphanGrace], env[EnvDrainDelay] = "200ms", "1s", "1h", "0s"
	app := startServe(t, env)
	defer func() { _ = app.Stop(context.Background()) }()
	ctx := context.Background()

	// A loan whose workflow runs (nobody polls its task queue: signals
	// land in its history) and whose application the inbox routes by.
	ring, err := codec.ParseKeyRing(keys)
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace()}
	codec.ConfigureClient(&opts, ring)
	c := testenv.NewTemporalClient(t, opts)
	ref := fmt.Sprintf("down-%d", time.Now().UnixNano())
	wfID := workflows.LoanWorkflowID(ref)
	if err := store.New(pool, ring).UpsertApplication(ctx, activities.ApplicationProjection{
		ApplicantRef: ref, WorkflowID: wfID, Seq: 1, Stage: string(workflows.StageReview),
		AwdaUserID: "U-DOWN", AwdaLoanNo: "L-DOWN", OrderNo: workflows.OrderNo(wfID), LoanStatus: "SUBMITTED",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wfID, TaskQueue: "ready-test-" + ref},
		workflows.WorkflowName, workflows.LoanApplicationInput{ApplicantRef: ref}); err != nil {
		t.Fatal(err)
	}
	if code, r := readiness(t, base+api.PathReady); code != http.StatusOK {
		t.Fatalf("%s with everything up: %d %+v", api.PathReady, code, r)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]struct {
		code   int
		checks map[string]string
	}{
		api.PathReadyWebhooks: {http.StatusOK, map[string]string{"database": "ok"}},
		api.PathReadyAPI:      {http.StatusServiceUnavailable, map[string]string{"database": "ok", "temporal": "unreachable"}},
		api.PathReady:         {http.StatusServiceUnavailable, map[string]string{"database": "ok", "temporal": "unreachable"}},
	} {
		if code, r := readiness(t, base+path); code != want.code || !maps.Equal(r.Checks, want.checks) {
			t.Errorf("%s with Temporal down: %d %+v, want %d %v", path, code, r, want.code, want.checks)
		}
	}

	req, _ := signedPush(t, base, "ev-rd-1", "L-DOWN", nil)
	acked(t, req)
	row := func() (status string, attempts int, lastError string) {
		if err := pool.QueryRow(ctx, `SELECT status, attempts, last_error FROM webhook_inbox WHERE event_id = 'ev-rd-1'`).
			Scan(&status, &attempts, &lastError); err != nil {
			t.Fatal(err)
		}
		return
	}
	// The forwarder tries while Temporal is away, and fails: what is
	// delivered below is a retry.
	waitUntil(t, "a failed delivery attempt while Temporal is down", time.Minute, func() bool {
		status, attempts, lastError := row()
		if status != store.InboxPending {
			t.Fatalf("row %s while Temporal is down", status)
		}
		return attempts >= 1 && lastError != ""
	})

	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the push to be delivered once Temporal is back", time.Minute, func() bool {
		status, _, _ := row()
		return status == store.InboxDelivered
	})
	if n := signalCount(t, c, wfID, workflows.LoanStatusSignal.Name); n != 1 {
		t.Fatalf("%d %s signals in the workflow's history, want 1", n, workflows.LoanStatusSignal.Name)
	}
	waitUntil(t, api.PathReadyAPI+" to be ready again", time.Minute, func() bool {
		code, _ := readiness(t, base+api.PathReadyAPI)
		return code == http.StatusOK
	})
}

func signalCount(t *testing.T, c client.Client, wfID, name string) int {
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

// Stopping (what SIGTERM does): every readiness path answers 503 at once
// while the listener still accepts and serves (a push sent then is
// acknowledged); the listener closes only once the drain delay is over; a
// request in flight then still finishes, and the stop waits for it.
func TestServeDrainsBeforeClosing(t *testing.T) {
	const delay = 3 * time.Second
	hostPort, ns := testenv.Temporal(t)
	_, dbURL := testenv.NewDatabase(t)
	keys, err := codec.GenerateKeySpec("rd2")
	if err != nil {
		t.Fatal(err)
	}
	env, base := serveEnv(t, hostPort, ns, dbURL, keys, noAWDA, nil)
	env[EnvDrainDelay], env[EnvShutdown] = delay.String(), "20s"
	var rc *webhook.Receiver
	app := startServe(t, env, fx.Populate(&rc))
	stopped := make(chan error, 1)
	defer func() {
		select {
		case <-stopped:
		default:
			_ = app.Stop(context.Background())
		}
	}()
	for _, p := range []string{api.PathReady, api.PathReadyWebhooks, api.PathReadyAPI} {
		if code, r := readiness(t, base+p); code != http.StatusOK {
			t.Fatalf("%s before the stop: %d %+v", p, code, r)
		}
	}

	// A push in flight: its headers and half its body sent.
	pr, pw := io.Pipe()
	inFlight, event := signedPush(t, base, "ev-rd-inflight", "L-INFLIGHT", pr)
	answered := make(chan *http.Response, 1)
	go func() {
		res, err := http.DefaultClient.Do(inFlight)
		if err != nil {
			t.Errorf("the push in flight: %v", err)
		}
		answered <- res
	}()
	if _, err := pw.Write(event[:len(event)/2]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the receiver to be reading the push", 10*time.Second, rc.Busy)

	began := time.Now()
	go func() { stopped <- app.Stop(context.Background()) }()
	waitUntil(t, "every readiness path to answer 503 draining", 10*time.Second, func() bool {
		for _, p := range []string{api.PathReady, api.PathReadyWebhooks, api.PathReadyAPI} {
			code, r := readiness(t, base+p)
			if code == 0 {
				t.Fatalf("%s refused (%s) before readiness turned 503", p, r.Status)
			}
			if code != http.StatusServiceUnavailable || r.Status != "draining" {
				return false
			}
		}
		return true
	})
	// Still serving, on new connections: the probe and a push.
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while draining: %d %s", code, body)
	}
	req, _ := signedPush(t, base, "ev-rd-draining", "L-DRAINING", nil)
	acked(t, req)
	if waited := time.Since(began); waited >= delay {
		t.Fatalf("the checks above took %s, the whole drain delay: the test proves nothing", waited)
	}

	waitUntil(t, "the listener to close", 30*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", base[len("http://"):], time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	if closed := time.Since(began); closed < delay {
		t.Fatalf("the listener closed %s after the stop began, before the drain delay (%s)", closed, delay)
	}
	select {
	case err := <-stopped:
		t.Fatalf("stopped (%v) with a request in flight", err)
	default:
	}
	if _, err := pw.Write(event[len(event)/2:]); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	res := <-answered
	if res == nil {
		t.FailNow()
	}
	var ack awda.Envelope
	if err := json.NewDecoder(res.Body).Decode(&ack); err != nil || res.StatusCode != http.StatusOK || ack.Code != awda.CodeSuccess {
		t.Fatalf("the push in flight answered %d %+v (%v)", res.StatusCode, ack, err)
	}
	res.Body.Close()
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
}
