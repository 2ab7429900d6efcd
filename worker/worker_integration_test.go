//go:build integration

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/storefx"
	"github.com/awdaflow/awdaflow/internal/temporalx"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/workflows"
)

const (
	testAppID  = "app-worker-test"
	testSecret = "worker-test-hmac-secret"
)

// stack is what a worker needs around it: the shared dev server, a fresh
// database (not migrated: the worker migrates it), the sandbox over HTTP,
// and the environment pointing at them.
type stack struct {
	env      map[string]string
	dbURL    string
	sandbox  *sandbox.Server
	httpAddr string
	keys     string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	hostPort, ns := testenv.Temporal(t)
	_, dbURL := testenv.NewDatabase(t)
	sb, err := sandbox.New(sandbox.Config{AppID: testAppID, HMACSecret: []byte(testSecret), Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	sb.Start()
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	keys, err := codec.GenerateKeySpec("test1")
	if err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return &stack{
		dbURL:    dbURL,
		sandbox:  sb,
		httpAddr: addr,
		keys:     keys,
		env: map[string]string{
			config.EnvTemporalAddress:   hostPort,
			config.EnvTemporalNamespace: ns,
			config.EnvAWDABaseURL:       srv.URL,
			config.EnvAWDAAppID:         testAppID,
			config.EnvAWDAHMACSecret:    testSecret,
			config.EnvKeys:              keys,
			config.EnvDatabaseURL:       dbURL,
			config.EnvHTTPAddr:          addr,
			config.EnvLogFormat:         "json",
			config.EnvLogLevel:          "info",
			config.EnvWorkerStopTimeout: "5s",
		},
	}
}

// client is a Temporal client with the stack's current key ring and the
// applicants' data keys in its database, as the worker encrypts.
func (s *stack) client(t *testing.T) client.Client {
	t.Helper()
	ring, err := codec.ParseKeyRing(s.keys)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t)
	opts, err := temporalx.Options(cfg.Temporal, ring, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), cfg.Database.URL.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	codec.ConfigureClientWithKeys(&opts, ring, storefx.NewDataKeys(ring, store.New(pool, ring), cfg.DataKeys))
	return testenv.NewTemporalClient(t, opts)
}

func (s *stack) config(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.LoadFrom(func(k string) string { return s.env[k] }, false)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func applicantInput(ref string) workflows.LoanApplicationInput {
	return workflows.LoanApplicationInput{
		ApplicantRef: ref,
		Applicant: workflows.Applicant{
			Name:      "Dewi Lestari",
			NIK:       "3171015505900001", // born 15 May 1990, female (+40)
			Mobile:    "081234567890",
			BirthDate: "1990-05-15",
			Personal: awda.PersonalInfo{Gender: "FEMALE", MaritalStatus: "SINGLE",
				Province: "DKI Jakarta", City: "Jakarta Selatan", Address: "Jl. Melati 1"},
			Work: awda.WorkInfo{Occupation: "EMPLOYEE", MonthlyIncome: 8_000_000, YearsEmployed: 3},
		},
		Loan:              workflows.LoanRequest{Amount: 2_000_000, Tenor: 3, TenorUnit: awda.TenorMonth, Purpose: "EDUCATION"},
		EmergencyContacts: []awda.EmergencyContact{{Name: "Budi", Mobile: "081298765432", Relation: "SIBLING"}},
		Documents: []activities.DocumentRef{
			{Type: awda.ImageKTP, DocumentID: "00000000-0000-0000-0000-000000000001"},
			{Type: awda.ImageSelfie, DocumentID: "00000000-0000-0000-0000-000000000002"},
		},
	}
}

// The fx application, in process: it migrates the database, runs the loan
// workflow with activities that call the sandbox (observed by metrics and the
// audit), keeps the read model current, answers its probes, and stops
// cleanly.
func TestWorkerRunsLoansInProcess(t *testing.T) {
	s := newStack(t)
	cfg := s.config(t)
	app := newApp(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = app.Stop(context.Background())
		}
	}()

	if code, body := get(t, "http://"+s.httpAddr+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, "http://"+s.httpAddr+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	// A client of our own, with the same key ring, starts a loan.
	c := s.client(t)
	ref := fmt.Sprintf("worker-test-%d", time.Now().UnixNano())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.LoanWorkflowID(ref), TaskQueue: workflows.TaskQueue,
	}, workflows.LoanApplication, applicantInput(ref))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "test over") })

	// Registration and eligibility done: the loan waits on the borrower's
	// authorizations (the sandbox is not on autopilot).
	var st workflows.Status
	waitFor(t, "the loan to reach AUTHORIZATIONS", time.Minute, func() bool {
		var err error
		st, err = workflows.StatusQuery.Get(ctx, c, run.GetID(), run.GetRunID())
		return err == nil && st.Stage == workflows.StageAuthorizations
	})
	if st.UserID == "" {
		t.Fatalf("no AWDA userId in the status: %+v", st)
	}

	pool, err := pgxpool.New(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	waitFor(t, "the read model row", 30*time.Second, func() bool {
		var stage string
		err := pool.QueryRow(ctx, `SELECT stage FROM applications WHERE applicant_ref = $1`, ref).Scan(&stage)
		return err == nil && stage == string(workflows.StageAuthorizations)
	})
	waitFor(t, "audit rows of the AWDA calls", 30*time.Second, func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM awda_calls WHERE endpoint = $1`, awda.PathUserRegister).Scan(&n)
		return err == nil && n >= 1
	})

	_, metricsBody := get(t, "http://"+s.httpAddr+"/metrics")
	for _, want := range []string{
		`awdaflow_awda_calls_total{code="0",endpoint="/api/partner/v1/user/register",outcome="ok"}`,
		`awdaflow_awda_call_duration_seconds_bucket{endpoint="/api/partner/v1/user/eligible-check",outcome="ok"`,
		`temporal_workflow_task_execution_latency_seconds_bucket`,
		`temporal_activity_execution_latency_seconds_bucket`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(metricsBody, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	stopped = true
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if code, _ := get(t, "http://"+s.httpAddr+"/healthz"); code != 0 {
		t.Errorf("/healthz still answers %d after stop", code)
	}
}

// The real binary: exits 2 naming the variable on bad configuration; with a
// good one it becomes ready, logs JSON without secrets, and on SIGTERM stops
// gracefully with status 0.
func TestWorkerBinarySIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	bad := exec.Command(bin)
	bad.Env = []string{"PATH=" + os.Getenv("PATH"), config.EnvAWDAAppID + "=x"}
	out, err := bad.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), config.EnvKeys) {
		t.Fatalf("bad config: err %v, output %s; want exit 2 naming %s", err, out, config.EnvKeys)
	}

	s := newStack(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var logsMu sync.Mutex
	done := make(chan struct{})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logsMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logsMu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	waitFor(t, "/readyz", time.Minute, func() bool {
		code, _ := get(t, "http://"+s.httpAddr+"/readyz")
		return code == 200
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { <-done; waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("worker exited with %v after SIGTERM\n%s", err, logs.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("worker did not exit after SIGTERM\n%s", logs.String())
	}

	logsMu.Lock()
	text := logs.String()
	logsMu.Unlock()
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("log line is not JSON: %q", l)
		}
	}
	for _, want := range []string{`"message":"worker started"`, `"message":"worker stopped"`, `"message":"temporal connected"`} {
		if !strings.Contains(text, want) {
			t.Errorf("logs lack %s\n%s", want, text)
		}
	}
	_, keyMaterial, _ := strings.Cut(s.keys, "=")
	for _, secret := range []string{testSecret, keyMaterial} {
		if strings.Contains(text, secret) {
			t.Errorf("logs contain a secret")
		}
	}
}
