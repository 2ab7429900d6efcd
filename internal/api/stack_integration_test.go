//go:build integration

package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/logging"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
)

const (
	stackAppID  = "app-api-test"
	stackSecret = "api-test-hmac-secret"
	codecToken  = "codec-test-token-0123456789"
)

// stack is the starter's wiring in process, around real services: a fresh
// database, the shared Temporal dev server (with a task queue of the test's
// own, polled by a real worker running the real loan workflow and
// activities), and the AWDA sandbox over HTTP on autopilot, pushing its
// notifications to the API's webhook routes. Every log line of the stack
// (API, webhooks, inbox, Temporal SDK, AWDA calls) goes to logs.
type stack struct {
	t         *testing.T
	pool      *pgxpool.Pool
	store     *store.Store
	ring      *codec.KeyRing
	spec      string          // the ring's spec
	keys      *codec.DataKeys // the applicants' data keys, as storefx wires them
	temporal  client.Client
	plain     client.Client // no codec: what the server stores
	sandbox   *sandbox.Server
	api       *Server
	url       string
	logs      *testenv.SyncBuffer
	taskQueue string
	namespace string
	hostPort  string       // the Temporal frontend
	bankCalls atomic.Int32 // bank/list calls by the API's AWDA client
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{t: t, logs: &testenv.SyncBuffer{}, taskQueue: fmt.Sprintf("api-test-%d", time.Now().UnixNano())}
	zl := zerolog.New(s.logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()

	pool, dbURL := testenv.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	spec, err := codec.GenerateKeySpec("api1")
	if err != nil {
		t.Fatal(err)
	}
	s.spec = spec
	if s.ring, err = codec.ParseKeyRing(spec); err != nil {
		t.Fatal(err)
	}
	s.pool, s.store = pool, store.New(pool, s.ring)
	s.keys = codec.NewDataKeys(s.ring, s.store, codec.DataKeysOptions{ApplicantOf: workflows.ApplicantRefOf})
	s.store.UseDataKeys(s.keys)

	hostPort, ns := testenv.Temporal(t)
	s.namespace, s.hostPort = ns, hostPort
	opts := client.Options{HostPort: hostPort, Namespace: ns, Logger: logging.NewTemporalLogger(zl)}
	codec.ConfigureClientWithKeys(&opts, s.ring, s.keys)
	s.temporal = testenv.NewTemporalClient(t, opts)
	s.plain = testenv.NewTemporalClient(t, client.Options{HostPort: hostPort, Namespace: ns})

	// The API's URL is needed by the sandbox (webhooks) before the API can
	// be built (it needs the sandbox's URL): serve through a pointer.
	var handler atomic.Pointer[http.Handler]
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	t.Cleanup(apiSrv.Close)
	s.url = apiSrv.URL

	sb, err := sandbox.New(sandbox.Config{
		AppID:                stackAppID,
		HMACSecret:           []byte(stackSecret),
		LoanStatusWebhookURL: apiSrv.URL + webhook.PathLoanStatus,
		AuthWebhookURL:       apiSrv.URL + webhook.PathAuthorization,
		Autopilot:            sandbox.Autopilot{Enabled: true, MinDelay: 20 * time.Millisecond, MaxDelay: 80 * time.Millisecond},
		Seed:                 42,
	})
	if err != nil {
		t.Fatal(err)
	}
	sb.Start()
	t.Cleanup(func() { _ = sb.Close() })
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)
	s.sandbox = sb

	signer, _ := awda.NewHMACSigner([]byte(stackSecret))
	newAWDA := func(extra ...awda.Observer) *awda.Client {
		c, err := awda.NewClient(awda.Config{BaseURL: sbSrv.URL, AppID: stackAppID, Signer: signer,
			Observers: append([]awda.Observer{awda.ZerologObserver(zl)}, extra...)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	w := worker.New(s.temporal, s.taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.LoanApplication, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivity(activities.New(newAWDA(), s.store, s.store))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	m, err := metrics.New(zl)
	if err != nil {
		t.Fatal(err)
	}
	d := &inbox.Deliverer{Store: s.store, Temporal: s.temporal, Log: zl, OrphanGrace: 0,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	if err := d.Instrument(m.MeterProvider()); err != nil {
		t.Fatal(err)
	}
	fw := &inbox.Forwarder{Deliverer: d, Log: zl, Interval: 200 * time.Millisecond}
	fw.Start()
	t.Cleanup(func() { _ = fw.Stop(context.Background()) })
	rc := &webhook.Receiver{Store: s.store, Wake: fw.Wake, Log: zl,
		Verifier: &awda.NotificationVerifier{AppID: stackAppID, Keys: []awda.Verifier{signer}}}
	if err := rc.Instrument(m.MeterProvider()); err != nil {
		t.Fatal(err)
	}

	bankObserver := func(_ context.Context, ci awda.CallInfo) {
		if ci.Endpoint == awda.PathBankList {
			s.bankCalls.Add(1)
		}
	}
	s.api, err = New(Options{
		Store: s.store, Temporal: s.temporal, Banks: newAWDA(bankObserver),
		Tokens: []string{testToken}, Logger: zl, Webhooks: rc,
		Codec:   codec.NewHandler(s.ring, codec.HandlerOptions{BearerTokens: []string{codecToken}, AllowedOrigins: []string{"http://localhost:8233"}, DataKeys: s.keys}),
		Metrics: m.Handler(), MeterProvider: m.MeterProvider(),
		TaskQueue: s.taskQueue, UpdateTimeout: 45 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = s.api
	handler.Store(&h)
	return s
}

// do calls the API over HTTP with the test token.
func (s *stack) do(method, path, contentType string, body []byte, hdr ...string) (int, []byte, http.Header) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

func (s *stack) postJSON(path string, v any, hdr ...string) (int, []byte) {
	s.t.Helper()
	code, body, _ := s.do(http.MethodPost, path, "application/json", mustJSON(s.t, v), hdr...)
	return code, body
}

// upload stores a PNG as imageType, multipart or base64, and returns its ID.
func (s *stack) upload(imageType string, n int, asBase64 bool) string {
	s.t.Helper()
	img := testPNG(s.t, n)
	var code int
	var body []byte
	if asBase64 {
		code, body = s.postJSON("/v1/documents", map[string]string{"imageType": imageType, "base64": base64.StdEncoding.EncodeToString(img)})
	} else {
		mb, ct := multipartBody(s.t, map[string]string{"imageType": imageType}, img)
		code, body, _ = s.do(http.MethodPost, "/v1/documents", ct, mb)
	}
	if code != http.StatusCreated {
		s.t.Fatalf("upload %s: %d %s", imageType, code, body)
	}
	var res DocumentResponse
	if err := json.Unmarshal(body, &res); err != nil || res.DocumentID == "" || res.ContentType != "image/png" || res.Size != len(img) {
		s.t.Fatalf("upload answer %s (%v)", body, err)
	}
	return res.DocumentID
}

// application is a valid application for ref with freshly uploaded images
// and a NIK of its own (serial), so that applications of one test are
// different AWDA users.
func (s *stack) application(ref string, serial int) ApplicationRequest {
	s.t.Helper()
	app := validApplication(ref)
	app.Applicant.NIK = fmt.Sprintf("317101550590%04d", serial)
	app.Documents[0].DocumentID = s.upload("KTP", 8+serial, false)
	app.Documents[1].DocumentID = s.upload("SELFIE", 9+serial, true)
	return app
}

func (s *stack) create(app ApplicationRequest) (int, CreatedResponse, []byte) {
	s.t.Helper()
	code, body := s.postJSON("/v1/applications", app)
	var res CreatedResponse
	if code == http.StatusAccepted {
		if err := json.Unmarshal(body, &res); err != nil {
			s.t.Fatal(err)
		}
		s.t.Cleanup(func() {
			_ = s.temporal.TerminateWorkflow(context.Background(), res.WorkflowID, "", "test over")
		})
	}
	return code, res, body
}

func (s *stack) get(ref string) ApplicationView {
	s.t.Helper()
	code, body, _ := s.do(http.MethodGet, "/v1/applications/"+ref, "", nil)
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", ref, code, body)
	}
	var v ApplicationView
	if err := json.Unmarshal(body, &v); err != nil {
		s.t.Fatal(err)
	}
	return v
}

// waitView polls GET /v1/applications/{ref} until cond holds.
func (s *stack) waitView(ref, what string, timeout time.Duration, cond func(ApplicationView) bool) ApplicationView {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var v ApplicationView
	for {
		v = s.get(ref)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(v, "", "  ")
			s.t.Fatalf("timed out after %s waiting for %s; last view:\n%s", timeout, what, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func nextAction(v ApplicationView) string {
	if v.Next == nil {
		return ""
	}
	return v.Next.Action
}

// notify posts a notification signed as AWDA to the API's webhook route.
func (s *stack) notify(path string, body []byte) (int, awda.Envelope) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
	signer, _ := awda.NewHMACSigner([]byte(stackSecret))
	if err := awda.SignNotification(req, body, stackAppID, signer, time.Now(), ""); err != nil {
		s.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var env awda.Envelope
	_ = json.NewDecoder(res.Body).Decode(&env)
	return res.StatusCode, env
}

// waitInbox waits until the inbox row of eventID has left pending (the
// forwarder delivers after the receiver has answered) and returns its status.
func (s *stack) waitInbox(eventID string, timeout time.Duration) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.inboxStatus(eventID)
		if st != store.InboxPending || time.Now().After(deadline) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) inboxStatus(eventID string) string {
	s.t.Helper()
	var st string
	if err := s.pool.QueryRow(context.Background(), `SELECT status FROM webhook_inbox WHERE event_id = $1`, eventID).Scan(&st); err != nil {
		s.t.Fatalf("inbox row %s: %v", eventID, err)
	}
	return st
}

func problemOf(t *testing.T, body []byte) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Type == "" {
		t.Fatalf("not a problem: %s", body)
	}
	return p
}

func containsAny(haystack string, needles ...string) string {
	for _, n := range needles {
		if strings.Contains(haystack, n) {
			return n
		}
	}
	return ""
}
