package testenv

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// Environment variables read by the Temporal harness.
const (
	// TemporalCLIEnv names the Temporal CLI binary to run the dev server
	// with. `make test` sets it to ./bin/temporal.
	TemporalCLIEnv = "TEMPORAL_CLI"
	// TemporalAddressEnv points the tests at an existing Temporal server
	// (host:port) instead of a dev server of their own. The search
	// attributes below are registered on it when missing; it is never
	// stopped or restarted.
	TemporalAddressEnv = "TEMPORAL_ADDRESS"
	// TemporalNamespaceEnv is the namespace used on that external server
	// (default "default").
	TemporalNamespaceEnv = "TEMPORAL_NAMESPACE"
)

// SearchAttribute is a custom search attribute the loan workflow upserts.
type SearchAttribute struct {
	Name string
	Type enumspb.IndexedValueType
}

// SearchAttributes are registered on every server the harness hands out.
// They mirror the typed keys in workflows/ (which this package must not
// import: the workflows' own tests import testenv).
var SearchAttributes = []SearchAttribute{
	{"LoanStage", enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	{"LoanStuck", enumspb.INDEXED_VALUE_TYPE_BOOL},
	{"AwdaLoanNo", enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	{"ApplicantRef", enumspb.INDEXED_VALUE_TYPE_KEYWORD},
}

// devServerDynamicConfig tunes the dev server for tests: one task-queue
// partition, so a handful of pollers always sync-match instead of waiting on
// forwarding between partitions; and the search-attribute cache as a real
// cluster keeps it. The CLI turns that cache off (every read of a search
// attribute's type goes to SQLite) so that attributes created at run time
// show at once; ours are created with the database (--search-attribute), so
// the cache is right from the start, and the uncached reads were some 4% of
// the server's CPU under load (make bench).
var devServerDynamicConfig = []string{
	"matching.numTaskqueueReadPartitions=1",
	"matching.numTaskqueueWritePartitions=1",
	"frontend.enableServerVersionCheck=false",
	"system.forceSearchAttributesCacheRefreshOnRead=false",
}

// TemporalCLIPath finds the Temporal CLI: $TEMPORAL_CLI, then
// <repo>/bin/temporal (what `make tools` installs), then
// $(go env GOPATH)/bin/temporal, then PATH.
func TemporalCLIPath() (string, error) {
	if p := os.Getenv(TemporalCLIEnv); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable file", TemporalCLIEnv, p)
	}
	var candidates []string
	if root, err := repoRoot(); err == nil {
		candidates = append(candidates, filepath.Join(root, "bin", "temporal"))
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		candidates = append(candidates, filepath.Join(gp, "bin", "temporal"))
	}
	for _, c := range candidates {
		if isExecutable(c) {
			return c, nil
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("temporal CLI not found (set %s, or run `make tools`; looked in %s and PATH)",
		TemporalCLIEnv, strings.Join(candidates, ", "))
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// repoRoot walks up from the working directory (a package directory under go
// test) to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// TemporalServer is a Temporal dev server (`temporal server start-dev`) run
// by the tests, headless, on 127.0.0.1, with its state in a SQLite file so
// that Stop and Start keep every workflow: a restart is a fault a test can
// inject, not a reset.
//
// We start the CLI ourselves rather than through testsuite.StartDevServer so
// that the server gets a parent-death signal (a go test timeout panics past
// every cleanup and would otherwise leave servers behind), can be restarted
// on the same port, logs to a file instead of the test output, and a server
// that dies at startup is reported at once with its log.
type TemporalServer struct {
	// UIPort serves the Web UI on 127.0.0.1 when set before Start (make
	// run); 0 runs the server headless, as the tests do.
	UIPort int

	cli       string
	dir       string // owned: SQLite file and log; removed by Remove
	hostPort  string
	namespace string
	extraArgs []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process exits
	werr error         // its exit status, valid after done
}

// NewTemporalServer prepares (does not start) a dev server whose state lives
// in dir, listening on 127.0.0.1:port (a free port when port is 0). extraArgs
// go to `temporal server start-dev` as they are, e.g.
// "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=50".
func NewTemporalServer(dir string, port int, extraArgs ...string) (*TemporalServer, error) {
	cli, err := TemporalCLIPath()
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &TemporalServer{
		cli:       cli,
		dir:       dir,
		hostPort:  "127.0.0.1:" + strconv.Itoa(port),
		namespace: "default",
		extraArgs: extraArgs,
	}, nil
}

// HostPort is the frontend's gRPC address.
func (s *TemporalServer) HostPort() string { return s.hostPort }

// Namespace is the namespace the tests use ("default").
func (s *TemporalServer) Namespace() string { return s.namespace }

// LogFile is where the server's output goes.
func (s *TemporalServer) LogFile() string { return filepath.Join(s.dir, "temporal.log") }

// DBFile is the server's SQLite state.
func (s *TemporalServer) DBFile() string { return filepath.Join(s.dir, "temporal.db") }

func (s *TemporalServer) args() []string {
	_, port, _ := strings.Cut(s.hostPort, ":")
	args := []string{"server", "start-dev", "--headless"}
	if s.UIPort != 0 {
		args = []string{"server", "start-dev", "--ui-port", strconv.Itoa(s.UIPort)}
	}
	args = append(args,
		"--ip", "127.0.0.1",
		"--port", port,
		"--namespace", s.namespace,
		"--db-filename", s.DBFile(),
		// WAL without fsync: a killed server keeps what it wrote (the OS
		// has it); only a machine crash could lose it, which tests do not do.
		"--sqlite-pragma", "journal_mode=wal",
		"--sqlite-pragma", "synchronous=off",
		"--log-level", "warn",
	)
	for _, sa := range SearchAttributes {
		args = append(args, "--search-attribute", sa.Name+"="+searchAttributeTypeName(sa.Type))
	}
	for _, dc := range devServerDynamicConfig {
		args = append(args, "--dynamic-config-value", dc)
	}
	return append(args, s.extraArgs...)
}

// searchAttributeTypeName is the CLI's spelling of a type (Keyword, Bool, ...).
func searchAttributeTypeName(t enumspb.IndexedValueType) string {
	return strings.ReplaceAll(t.String(), "_", "")
}

// Start starts the server and waits until it serves the namespace. It is a
// no-op when the server is already running. A restart binds the same port.
func (s *TemporalServer) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() {
		return nil
	}
	logf, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child keeps its own descriptor
	fmt.Fprintf(logf, "\n---- %s start ----\n", time.Now().UTC().Format(time.RFC3339Nano))

	cmd := exec.Command(s.cli, s.args()...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Our own process group, so a terminal's Ctrl-C reaches only the
		// test binary, which stops the server in order; and SIGKILL from the
		// kernel if the test binary dies without doing so.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if err := startOnLockedThread(cmd); err != nil {
		return fmt.Errorf("testenv: start temporal dev server: %w", err)
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() {
		s.werr = cmd.Wait()
		close(done)
	}()

	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var lastErr error
	for {
		if lastErr = s.ready(ctx); lastErr == nil {
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(s.LogFile())
			return fmt.Errorf("testenv: temporal dev server exited during startup: %v\n%s", s.werr, tail(log, 3000))
		case <-ctx.Done():
			_ = s.stopLocked()
			log, _ := os.ReadFile(s.LogFile())
			return fmt.Errorf("testenv: temporal dev server not ready: %v (last: %v)\n%s", ctx.Err(), lastErr, tail(log, 3000))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ready dials the frontend and checks that the namespace is served.
func (s *TemporalServer) ready(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, client.Options{HostPort: s.hostPort, Namespace: s.namespace, Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.namespace})
	return err
}

// Running reports whether the server process is up.
func (s *TemporalServer) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

func (s *TemporalServer) runningLocked() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop shuts the server down (SIGINT, then SIGKILL after 20 s) and waits for
// it to exit. The state file stays; Start brings the server back with it.
func (s *TemporalServer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *TemporalServer) stopLocked() error {
	if !s.runningLocked() {
		s.cmd = nil
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return nil
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it to
// exit. Start brings it back with what it had written.
func (s *TemporalServer) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		s.cmd = nil
		return nil
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
	return nil
}

// Remove stops the server and deletes its directory.
func (s *TemporalServer) Remove() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return os.RemoveAll(s.dir)
}

// ---- one shared server per test process ----

var temporalShared struct {
	mu        sync.Mutex
	started   bool
	hostPort  string
	namespace string
	server    *TemporalServer
	err       error
}

const temporalTmpPrefix = "awdaflow-temporal-"

// Temporal returns the address and namespace of the Temporal server the
// tests of this process share: $TEMPORAL_ADDRESS (and $TEMPORAL_NAMESPACE)
// when set, otherwise a dev server started on the first call. Either way the
// search attributes in SearchAttributes are registered. Tests isolate
// themselves with a task queue and workflow IDs of their own. Call RunMain
// from TestMain so the dev server is stopped when the tests end.
func Temporal(tb testing.TB) (hostPort, namespace string) {
	tb.Helper()
	hp, ns, err := sharedTemporal()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return hp, ns
}

func sharedTemporal() (string, string, error) {
	temporalShared.mu.Lock()
	defer temporalShared.mu.Unlock()
	if temporalShared.started {
		return temporalShared.hostPort, temporalShared.namespace, temporalShared.err
	}
	temporalShared.started = true
	if addr := os.Getenv(TemporalAddressEnv); addr != "" {
		ns := os.Getenv(TemporalNamespaceEnv)
		if ns == "" {
			ns = "default"
		}
		temporalShared.hostPort, temporalShared.namespace = addr, ns
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		temporalShared.err = RegisterSearchAttributes(ctx, addr, ns)
		return addr, ns, temporalShared.err
	}
	sweepStaleTemporalDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", temporalTmpPrefix, os.Getpid()))
	if err != nil {
		temporalShared.err = err
		return "", "", err
	}
	// Retry in case another process takes the free port before the server binds it.
	for try := 0; try < 3; try++ {
		var s *TemporalServer
		if s, err = NewTemporalServer(dir, 0); err != nil {
			break
		}
		if err = s.Start(context.Background()); err == nil {
			temporalShared.server, temporalShared.hostPort, temporalShared.namespace = s, s.HostPort(), s.Namespace()
			onExit(StopTemporalServer)
			return s.HostPort(), s.Namespace(), nil
		}
	}
	_ = os.RemoveAll(dir)
	temporalShared.err = err
	return "", "", err
}

// StopTemporalServer stops and deletes the shared dev server, if this process
// started one. RunMain calls it; it is exported for a TestMain that cannot
// use RunMain.
func StopTemporalServer() {
	temporalShared.mu.Lock()
	defer temporalShared.mu.Unlock()
	if temporalShared.server != nil {
		_ = temporalShared.server.Remove()
		temporalShared.server = nil
	}
}

// NewTemporalClient dials opts.HostPort (the shared server, see Temporal,
// when empty; for a server of StartTemporal pass its HostPort) and closes the
// client when the test ends. Pass the data converter a test needs in opts. Without a
// Logger in opts, the SDK's warnings and errors go to stderr (go test shows
// them for failing packages only) and the rest is dropped.
func NewTemporalClient(tb testing.TB, opts client.Options) client.Client {
	tb.Helper()
	if opts.HostPort == "" {
		hp, ns := Temporal(tb)
		opts.HostPort = hp
		if opts.Namespace == "" {
			opts.Namespace = ns
		}
	}
	if opts.Logger == nil {
		opts.Logger = stderrLogger{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		tb.Fatalf("testenv: dial temporal %s: %v", opts.HostPort, err)
	}
	tb.Cleanup(c.Close)
	return c
}

// StartTemporal starts a dev server for one test alone (stopped and deleted
// when the test ends), for fault drills that must not disturb other tests:
// Stop, Kill and Start it at will. extraArgs go to `temporal server
// start-dev`. It skips the test when $TEMPORAL_ADDRESS is set: such runs use
// an external server only.
func StartTemporal(tb testing.TB, extraArgs ...string) *TemporalServer {
	tb.Helper()
	if os.Getenv(TemporalAddressEnv) != "" {
		tb.Skipf("testenv: %s is set; not starting a dev server of our own", TemporalAddressEnv)
	}
	s, err := NewTemporalServer(tb.TempDir(), 0, extraArgs...)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { _ = s.Stop() }) // TempDir removes the directory
	return s
}

// RegisterSearchAttributes adds the attributes of SearchAttributes that the
// namespace lacks (the dev servers of this package register them at startup;
// an external server may not have them).
func RegisterSearchAttributes(ctx context.Context, hostPort, namespace string) error {
	c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: namespace, Logger: quietLogger{}})
	if err != nil {
		return fmt.Errorf("dial temporal %s: %w", hostPort, err)
	}
	defer c.Close()
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, sa := range SearchAttributes {
		have, ok := list.GetCustomAttributes()[sa.Name]
		switch {
		case !ok:
			missing[sa.Name] = sa.Type
		case have != sa.Type:
			return fmt.Errorf("search attribute %s is %v on %s, want %v", sa.Name, have, hostPort, sa.Type)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

// sweepStaleTemporalDirs deletes the directories of shared dev servers whose
// test process died without cleaning up (their servers died with them).
func sweepStaleTemporalDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), temporalTmpPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), temporalTmpPrefix)
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// quietLogger drops the SDK client's own logs (connection retries while a
// server starts or restarts would otherwise flood the test output).
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// stderrLogger prints the SDK's warnings and errors, not its chatter.
type stderrLogger struct{}

func (stderrLogger) Debug(string, ...any) {}
func (stderrLogger) Info(string, ...any)  {}
func (stderrLogger) Warn(msg string, kv ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"temporal WARN", msg}, kv...)...)
}
func (stderrLogger) Error(msg string, kv ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"temporal ERROR", msg}, kv...)...)
}
