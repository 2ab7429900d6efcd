//go:build integration

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/demo"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
)

const (
	appID    = "app-e2e"
	secret   = "e2e-hmac-secret-0123456789"
	apiToken = "e2e-api-token-0123456789abcdef"
)

// ---- binaries ----

var binaries struct {
	once sync.Once
	dir  string
	out  string
	err  error
}

// buildBinaries builds ./worker and ./starter once per test process.
func buildBinaries(t *testing.T) (worker, starter string) {
	t.Helper()
	binaries.once.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			binaries.err = err
			return
		}
		if binaries.dir, binaries.err = os.MkdirTemp("", "awdaflow-e2e-bin-"); binaries.err != nil {
			return
		}
		began := time.Now()
		cmd := exec.Command("go", "build", "-o", binaries.dir+string(filepath.Separator), "./worker", "./starter")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		binaries.out, binaries.err = string(out), err
		t.Logf("built worker and starter in %s", time.Since(began).Round(time.Millisecond))
	})
	if binaries.err != nil {
		t.Fatalf("go build ./worker ./starter: %v\n%s", binaries.err, binaries.out)
	}
	return filepath.Join(binaries.dir, "worker"), filepath.Join(binaries.dir, "starter")
}

func removeBinaries() {
	if binaries.dir != "" {
		_ = os.RemoveAll(binaries.dir)
	}
}

// ---- processes ----

// proc is a binary run as a subprocess, started again at will, its output
// appended to one log file.
type proc struct {
	name     string
	path     string
	args     []string
	env      []string
	logPath  string
	readyURL string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.starts++
	fmt.Fprintf(f, "---- %s start #%d at %s ----\n", p.name, p.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	// If the test process dies, so do its children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
}

// waitReady polls the process's /readyz until it answers 200.
func (p *proc) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		select {
		case <-exited:
			t.Fatalf("%s exited before it was ready\n%s", p.name, tail(p.logPath, 40))
		default:
		}
		resp, err := http.Get(p.readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s\n%s", p.name, timeout, tail(p.logPath, 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL, as a crash or an OOM kill would, and
// waits for it to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not die after SIGKILL", p.name)
	}
}

// stop asks the process to stop (SIGTERM) and waits for it, killing it if
// it takes too long.
func (p *proc) stop() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

// tail returns the last n lines of a log file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// keepLogs copies the logs of a failed test into $E2E_LOG_DIR, when set.
func keepLogs(t *testing.T, paths ...string) {
	dir := os.Getenv("E2E_LOG_DIR")
	if dir == "" {
		return
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		dst := filepath.Join(dir, strings.NewReplacer("/", "_").Replace(t.Name())+"-"+filepath.Base(p))
		if err := os.WriteFile(dst, b, 0o600); err == nil {
			t.Logf("kept %s", dst)
		}
	}
}

// ---- the stack ----

// stack is the whole system for one test: its own database, sandbox,
// starter and worker around the shared dev server.
type stack struct {
	t          *testing.T
	sandbox    *sandbox.Server
	sandboxURL string
	starterURL string
	worker     *proc
	starter    *proc
	temporal   client.Client // without the codec: search attributes and histories
	api        *demo.Client
	admin      *demo.SandboxAdmin
	prefix     string

	mu   sync.Mutex
	refs []string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

var prefixes struct {
	sync.Mutex
	n int
}

// newStack starts everything and waits until the starter and the worker are
// ready. Every applicant ref of the test starts with s.prefix.
func newStack(t *testing.T, seed uint64) *stack {
	t.Helper()
	workerBin, starterBin := buildBinaries(t)
	hostPort, ns := testenv.Temporal(t)
	_, dbURL := testenv.NewDatabase(t)

	prefixes.Lock()
	prefixes.n++
	prefix := fmt.Sprintf("e2e%d-%s", prefixes.n, strconv.FormatUint(rand.Uint64()%(36*36*36*36), 36))
	prefixes.Unlock()
	s := &stack{t: t, prefix: prefix}

	starterAddr, workerAddr := freeAddr(t), freeAddr(t)
	s.starterURL = "http://" + starterAddr

	// The sandbox plays AWDA: small autopilot delays, pushes to the
	// starter's webhooks (retried quickly while the starter starts).
	sb, err := sandbox.New(sandbox.Config{
		AppID:                appID,
		HMACSecret:           []byte(secret),
		LoanStatusWebhookURL: s.starterURL + webhook.PathLoanStatus,
		AuthWebhookURL:       s.starterURL + webhook.PathAuthorization,
		Seed:                 seed,
		Autopilot:            sandbox.Autopilot{Enabled: true, MinDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
		Delivery:             sandbox.Delivery{RetryBase: 100 * time.Millisecond, RetryMax: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	sb.Start()
	t.Cleanup(func() { _ = sb.Close() })
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	s.sandbox, s.sandboxURL = sb, srv.URL

	keys, err := codec.GenerateKeySpec("e2e1")
	if err != nil {
		t.Fatal(err)
	}
	shared := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		config.EnvTemporalAddress + "=" + hostPort,
		config.EnvTemporalNamespace + "=" + ns,
		config.EnvAWDABaseURL + "=" + srv.URL,
		config.EnvAWDAAppID + "=" + appID,
		config.EnvAWDAHMACSecret + "=" + secret,
		config.EnvKeys + "=" + keys,
		config.EnvDatabaseURL + "=" + dbURL,
		config.EnvLogFormat + "=json",
		config.EnvLogLevel + "=info",
	}
	logDir := t.TempDir()
	s.starter = &proc{
		name: "starter", path: starterBin, args: []string{"serve"},
		env: append(append([]string(nil), shared...),
			"STARTER_HTTP_ADDR="+starterAddr,
			"STARTER_API_TOKENS="+apiToken,
			"STARTER_FORWARD_INTERVAL=200ms",
			"STARTER_RETRY_MAX_BACKOFF=1s",
			"STARTER_UPDATE_TIMEOUT=20s",
			"STARTER_SHUTDOWN_TIMEOUT=5s",
		),
		logPath:  filepath.Join(logDir, "starter.log"),
		readyURL: s.starterURL + "/readyz",
	}
	s.worker = &proc{
		name: "worker", path: workerBin,
		env: append(append([]string(nil), shared...),
			config.EnvHTTPAddr+"="+workerAddr,
			config.EnvWorkerStopTimeout+"=5s",
		),
		logPath:  filepath.Join(logDir, "worker.log"),
		readyURL: "http://" + workerAddr + "/readyz",
	}
	t.Cleanup(func() {
		// Before the database is dropped: stop the processes, and end the
		// loans of this test that are still open so that no later worker
		// picks them up.
		s.worker.stop()
		s.starter.stop()
		s.terminateOpen()
		if t.Failed() {
			t.Logf("starter log (tail):\n%s", tail(s.starter.logPath, 60))
			t.Logf("worker log (tail):\n%s", tail(s.worker.logPath, 60))
			keepLogs(t, s.starter.logPath, s.worker.logPath)
		}
	})
	// The starter migrates the database; the worker waits for the lock.
	s.starter.start(t)
	s.worker.start(t)
	s.starter.waitReady(t, 2*time.Minute)
	s.worker.waitReady(t, 2*time.Minute)

	s.temporal = testenv.NewTemporalClient(t, client.Options{HostPort: hostPort, Namespace: ns})
	s.api = demo.NewClient(s.starterURL, apiToken, nil)
	s.admin = demo.NewSandboxAdmin(s.sandboxURL, nil)
	return s
}

func (s *stack) terminateOpen() {
	s.mu.Lock()
	refs := append([]string(nil), s.refs...)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ref := range refs {
		_ = s.temporal.TerminateWorkflow(ctx, workflows.LoanWorkflowID(ref), "", "e2e test over")
	}
}

// options are the demo options of this stack: its API, token, sandbox and
// ref prefix, a short poll interval.
func (s *stack) options(plan []demo.Scenario) demo.Options {
	return demo.Options{
		APIURL:          s.starterURL,
		Token:           apiToken,
		SandboxAdminURL: s.sandboxURL,
		Plan:            plan,
		Concurrency:     len(plan),
		Seed:            1,
		RunID:           s.prefix,
		RefPrefix:       s.prefix,
		PollInterval:    250 * time.Millisecond,
		Timeout:         4 * time.Minute,
	}
}

// run drives the applicants and logs the summary table.
func (s *stack) run(ctx context.Context, o demo.Options) *demo.Summary {
	s.t.Helper()
	for i, sc := range o.Plan {
		s.mu.Lock()
		s.refs = append(s.refs, demo.RefFor(o.RefPrefix, i, sc))
		s.mu.Unlock()
	}
	sum, err := demo.Run(ctx, o)
	if err != nil {
		s.t.Fatalf("demo: %v", err)
	}
	var b strings.Builder
	_ = sum.WriteTable(&b)
	s.t.Logf("summary:\n%s", b.String())
	return sum
}

// checkOutcomes fails the test for every applicant not in its expected
// terminal state, and shows what the loan was doing: its status (stage,
// stuck reason, authorizations, transitions; no personal data) and the
// notifications AWDA sent about it.
func (s *stack) checkOutcomes(sum *demo.Summary) {
	s.t.Helper()
	for _, r := range sum.Mismatches() {
		s.t.Errorf("%s (%s): expected %s, got %s: %s; stages %v; problems %v",
			r.Ref, r.Scenario, r.Expected, r.Actual, r.Reason, r.Stages, r.Problems)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := s.api.Application(ctx, r.Ref)
		cancel()
		if err != nil || v.Live == nil {
			continue
		}
		st := v.Live
		b, _ := json.Marshal(map[string]any{"stage": st.Stage, "stuck": st.Stuck, "loanStatus": st.LoanStatus,
			"authorizations": st.Authorizations, "transitions": st.Transitions, "ignored": st.Ignored})
		s.t.Logf("%s: status %s", r.Ref, b)
		var pushes []string
		for _, ev := range s.sandbox.Events() {
			switch {
			case ev.Auth != nil && ev.Auth.UserID == st.UserID:
				pushes = append(pushes, fmt.Sprintf("%s %s %s", ev.EventID, ev.Auth.AuthType, ev.Auth.Status))
			case ev.Loan != nil && ev.Loan.LoanNo == st.LoanNo && st.LoanNo != "":
				pushes = append(pushes, fmt.Sprintf("%s %s", ev.EventID, ev.Loan.Status))
			}
		}
		s.t.Logf("%s: AWDA pushed %v", r.Ref, pushes)
	}
}

// checkOneLoanPerOrder fails the test unless AWDA (the sandbox) holds
// exactly one loan for every applicant that reached submission and none for
// the others, and no orderNo or user has two.
func (s *stack) checkOneLoanPerOrder(sum *demo.Summary) *sandbox.Stats {
	s.t.Helper()
	st := s.sandbox.Stats()
	if len(st.DuplicateOrderNos) != 0 || len(st.UsersWithSeveralLoans) != 0 {
		s.t.Errorf("duplicate loans: orderNos %v, users %v", st.DuplicateOrderNos, st.UsersWithSeveralLoans)
	}
	for no, n := range st.LoansByOrderNo {
		if n != 1 {
			s.t.Errorf("orderNo %s has %d loans", no, n)
		}
	}
	for _, r := range sum.Results {
		want := 1
		if r.Scenario == demo.Ineligible || r.Scenario == demo.Cancel {
			want = 0 // never submitted
		}
		if r.OrderNo == "" {
			s.t.Errorf("%s: no orderNo in the application", r.Ref)
			continue
		}
		if r.OrderNo != workflows.OrderNo(workflows.LoanWorkflowID(r.Ref)) {
			s.t.Errorf("%s: orderNo %s is not the one derived from the workflow ID", r.Ref, r.OrderNo)
		}
		if got := st.LoansByOrderNo[r.OrderNo]; got != want {
			s.t.Errorf("%s (%s): %d loans at AWDA for orderNo %s, want %d", r.Ref, r.Scenario, got, r.OrderNo, want)
		}
	}
	return &st
}
