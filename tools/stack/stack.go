package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/workflows"
)

// Options configure a Stack. The zero value is a working stack: sandbox on
// autopilot with its default delays, product defaults for the worker and the
// starter, everything under a temporary directory removed by Close.
type Options struct {
	// Root is the repository (the directory holding go.mod); default: found
	// by walking up from the working directory.
	Root string
	// Dir holds the stack's state (binaries unless BinDir, the Temporal
	// SQLite file, the PostgreSQL cluster, logs unless LogDir). Default: a
	// new temporary directory. Close removes it unless Keep.
	Dir  string
	Keep bool
	// LogDir receives one log file per process (worker.log, starter.log,
	// temporal.log, postgres.log, sandbox.log), appended to across
	// restarts. Default: Dir/logs. Logs in LogDir survive Close.
	LogDir string
	// BinDir holds the worker and starter binaries to run. When empty they
	// are built into Dir/bin; when set and both are there, nothing is built.
	BinDir string
	// Build lists more main packages to build next to worker and starter
	// (e.g. "./tools/cmd/benchworker"); find them with Bin.
	Build []string

	// DatabaseURL is an external PostgreSQL server (any database on it): a
	// new database is created there for the stack and dropped by Close.
	// RestartPostgres needs the stack's own cluster and fails with it.
	// Default: a throwaway cluster under Dir (the DATABASE_URL environment
	// variable is not read here; callers pass it on if they want).
	DatabaseURL string
	// DatabaseQuery is added to the query of the database URL the worker
	// and the starter get (e.g. "application_name=bench"); the stack's own pool
	// and DatabaseURL do not have it.
	DatabaseQuery string

	// Sandbox configures the in-process AWDA sandbox. The stack fills in
	// AppID, HMACSecret, the webhook URLs and PublicURL; a zero Seed gets a
	// random one. Autopilot is what the caller sets (the zero Autopilot is
	// off: set Enabled).
	Sandbox sandbox.Config
	// SandboxLog makes the sandbox log (JSON) to LogDir/sandbox.log.
	SandboxLog bool

	// WorkerEnv and StarterEnv are appended to the environment of the
	// worker and the starter ("KEY=value"; later entries win), e.g.
	// "WORKER_MAX_CONCURRENT_ACTIVITIES=200" or "STARTER_ORPHAN_GRACE=0s".
	WorkerEnv  []string
	StarterEnv []string
	// LogLevel of the worker and the starter (default "info").
	LogLevel string

	// TemporalArgs go to `temporal server start-dev` as they are.
	TemporalArgs []string
	// TemporalAddress is an external Temporal server (host:port) to use
	// instead of a dev server of the stack's own, with TemporalNamespace
	// (default "default"), e.g. the server a test process shares
	// (testenv.Temporal). The caller registers the workflow's search
	// attributes there (testenv.Temporal does). TemporalArgs are unused,
	// RestartTemporal fails and Close leaves the server running.
	TemporalAddress   string
	TemporalNamespace string

	// Server runs Temporal's own server (bin/temporal-server, the binary
	// compose's temporalio/server image holds) on the stack's PostgreSQL
	// instead of the dev server: the production lane (server.go). Its
	// databases are created and their schema updated with
	// bin/temporal-sql-tool, the namespace and the search attributes
	// registered. HistoryShards is its number of history shards
	// (DefaultHistoryShards; fixed when the databases are created);
	// ServerBinDir holds both binaries (default: the repository's bin,
	// where `make temporal-server` puts them). TemporalArgs are unused.
	Server        bool
	HistoryShards int
	ServerBinDir  string
	// UICodecEndpoint is the codec endpoint the lane's Web UI (Options.Server
	// with Ports.TemporalUI) gives the browser, e.g. the starter's /codec.
	UICodecEndpoint string
	// Workers and Starters are how many replicas of each run (default 1;
	// 2 with Server). Several starters sit behind a round-robin proxy on
	// StarterURL (replicas.go).
	Workers  int
	Starters int

	// Logf reports progress (nil: silent), restarts included.
	Logf func(format string, args ...any)

	// What make run (tools/cmd/run) sets; the tools leave them zero.

	// Secrets are the stack's secrets; nil: fresh ones. make run passes
	// those of $AWDAFLOW_DATA/dev.env, so that the encrypted histories of
	// earlier runs stay readable.
	Secrets *Secrets
	// Ports fixes ports (0: a free one each; TemporalUI 0: no Web UI).
	Ports Ports
	// Database is a PostgreSQL database used as it is: nothing created,
	// nothing dropped (make run's DATABASE_URL). DatabaseURL is the
	// throwaway alternative.
	Database string
	// SandboxBinary runs the sandbox as a process (bin/awda-sandbox, built
	// with the others when missing) instead of in this process:
	// Stack.Sandbox is nil and Stack.SandboxProc is the process, restarted
	// like the others under AutoRestart. Of Options.Sandbox only Seed and
	// Autopilot.Enabled apply; SandboxEnv adds to its environment.
	SandboxBinary bool
	SandboxEnv    []string
	// SandboxStateFile keeps the sandbox's users and loans across restarts
	// (sandbox.Config.StateFile), in either mode.
	SandboxStateFile string
	// AutoRestart restarts the worker, the starter and a sandbox process
	// that die on their own (crash, OOM killer, kill -9 from outside), with
	// this backoff, and reports it through Logf. Nil: a dead process stays
	// dead, which is what chaos, e2e and bench need (they kill and restart
	// processes themselves and check what follows).
	AutoRestart *Backoff
}

// Stack is the running system. Its fields are read-only after Start.
type Stack struct {
	opts   Options
	root   string
	dir    string
	logDir string
	binDir string
	ownDir bool

	// Temporal is the dev server (nil with an external TemporalAddress);
	// Postgres the throwaway cluster (nil with an external DatabaseURL).
	Temporal *testenv.TemporalServer
	Postgres *testenv.PostgresCluster
	// Sandbox is AWDA, in this process: read Stats, set faults and
	// delivery, advance loans.
	Sandbox *sandbox.Server
	// Worker and Starter are the two binaries (their first replicas;
	// Workers and Starters hold all of them); SandboxProc is the sandbox
	// when it runs as a process (Options.SandboxBinary); Server is
	// Temporal's own server (Options.Server) and ServerMetricsURL its
	// Prometheus endpoint.
	Worker           *Process
	Starter          *Process
	Workers          []*Process
	Starters         []*Process
	SandboxProc      *Process
	Server           *Process
	ServerMetricsURL string
	UI               *Process

	// URLs: the starter (API, webhooks, codec; the replicas' proxy when
	// there are several), the worker's probes and metrics (the first
	// replica's), the sandbox (partner API and admin API); StarterURLs and
	// WorkerURLs are every replica's own.
	StarterURL  string
	WorkerURL   string
	SandboxURL  string
	StarterURLs []string
	WorkerURLs  []string
	// TemporalAddress and Namespace of the dev server; TemporalUIURL its
	// Web UI (empty when headless).
	TemporalAddress string
	Namespace       string
	TemporalUIURL   string
	// DatabaseURL of the stack's database.
	DatabaseURL string

	// Generated secrets: the payload key ring spec (AWDAFLOW_KEYS), the API
	// bearer token, AWDA's app id and HMAC secret (requests and
	// notifications).
	Keys       string
	APIToken   string
	AppID      string
	HMACSecret string

	// Client is a Temporal client with the project's codec (it reads
	// payloads in clear). Pool is a pgx pool on the stack's database. API
	// and Admin are the demo's clients of the starter and of the sandbox's
	// admin API.
	Client client.Client
	Pool   *pgxpool.Pool
	// DataKeys are the applicants' data keys in the stack's database, which
	// Client decodes a loan's payloads with (and which decode a history's
	// payloads: codec.NewDataConverterWithKeys).
	DataKeys *codec.DataKeys
	API      *demo.Client
	Admin    *demo.SandboxAdmin

	sandboxSrv *http.Server
	sandboxLog *os.File
	dbName     string // created on an external server, dropped by Close
	apiTokens  string // STARTER_API_TOKENS
	ports      Ports
	pg         pgTarget    // Temporal's databases (Options.Server)
	proxy      *roundRobin // in front of several starters

	mu     sync.Mutex
	extra  []*Process
	closed bool
}

// Binary names in the bin directory.
const (
	WorkerBinary  = "worker"
	StarterBinary = "starter"
	SandboxBinary = "awda-sandbox"
)

// Start brings the whole stack up and returns once the starter and the
// worker are ready. On error everything started so far is stopped.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	s := &Stack{opts: o}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	// Temporal and PostgreSQL in turn: both are CPU-hungry at startup; the
	// real server needs PostgreSQL first.
	servers := []func(context.Context) error{s.startTemporal, s.startPostgres}
	if o.Server {
		servers = []func(context.Context) error{s.startPostgres, s.startServer}
	}
	steps := []func(context.Context) error{
		s.prepareDirs,
		s.buildBinaries, // the slowest step, and one that needs nothing else
		s.prepareSecrets,
		s.pickPorts,
		servers[0],
		servers[1],
		s.startSandbox,
		s.startApps,
		s.dial,
	}
	for _, step := range steps {
		if err = step(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Stack) prepareDirs(context.Context) (err error) {
	o := s.opts
	if s.root = o.Root; s.root == "" {
		if s.root, err = RepoRoot(); err != nil {
			return err
		}
	}
	if s.dir = o.Dir; s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "awdaflow-stack-"); err != nil {
			return err
		}
		s.ownDir = true
		// PostgreSQL runs as another user when we are root: it must be
		// able to reach its directory inside this one.
		if err = os.Chmod(s.dir, 0o755); err != nil {
			return err
		}
	} else if err = os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	if s.dir, err = filepath.Abs(s.dir); err != nil {
		return err
	}
	if s.logDir = o.LogDir; s.logDir == "" {
		s.logDir = filepath.Join(s.dir, "logs")
	}
	return os.MkdirAll(s.logDir, 0o755)
}

func (s *Stack) buildBinaries(ctx context.Context) error {
	if s.binDir = s.opts.BinDir; s.binDir == "" {
		s.binDir = filepath.Join(s.dir, "bin")
	}
	pkgs := append([]string{"./worker", "./starter"}, s.opts.Build...)
	if s.opts.SandboxBinary {
		pkgs = append(pkgs, "./awda/sandbox/cmd/"+SandboxBinary)
	}
	need := false
	for _, p := range pkgs {
		if !isExecutable(filepath.Join(s.binDir, filepath.Base(p))) {
			need = true
		}
	}
	if !need {
		return nil
	}
	began := time.Now()
	if err := Build(ctx, s.root, s.binDir, pkgs...); err != nil {
		return err
	}
	s.logf("built %s in %s", strings.Join(pkgs, " "), time.Since(began).Round(time.Millisecond))
	return nil
}

// Secrets are a stack's development secrets.
type Secrets struct {
	// Keys is the payload key ring spec (AWDAFLOW_KEYS).
	Keys string
	// APITokens are the starter's API tokens (STARTER_API_TOKENS, comma
	// separated); the first is the one the stack's clients use.
	APITokens string
	// AppID and HMACSecret are AWDA's merchant id and shared secret.
	AppID      string
	HMACSecret string
}

func (s *Stack) prepareSecrets(context.Context) (err error) {
	if sec := s.opts.Secrets; sec != nil {
		s.Keys, s.apiTokens, s.AppID, s.HMACSecret = sec.Keys, sec.APITokens, sec.AppID, sec.HMACSecret
		s.APIToken, _, _ = strings.Cut(sec.APITokens, ",")
		if s.Keys == "" || s.APIToken == "" || s.AppID == "" || s.HMACSecret == "" {
			return errors.New("stack: Options.Secrets needs Keys, APITokens, AppID and HMACSecret")
		}
		return nil
	}
	s.AppID = "app-stack-" + randomHex(4)
	s.HMACSecret = randomHex(24)
	s.APIToken = randomHex(24)
	s.apiTokens = s.APIToken
	s.Keys, err = codec.GenerateKeySpec("stack1")
	return err
}

// Ports fixes the stack's ports on 127.0.0.1; 0 picks a free one. A
// TemporalUI of 0 runs the dev server without its Web UI.
type Ports struct {
	Temporal   int
	TemporalUI int
	Postgres   int
	Starter    int
	Worker     int
	Sandbox    int
}

// pickPorts settles the starter's, the worker's and the sandbox's ports
// before anything starts: the sandbox pushes to the starter and the UI
// decodes through it.
func (s *Stack) pickPorts(context.Context) error {
	p := &s.ports
	*p = s.opts.Ports
	ports := []*int{&p.Starter, &p.Worker, &p.Sandbox}
	if s.opts.Server {
		ports = append(ports, &p.Temporal)
	}
	for _, port := range ports {
		if *port != 0 {
			continue
		}
		free, err := testenv.FreePort()
		if err != nil {
			return err
		}
		*port = free
	}
	s.StarterURL = "http://" + loopback(p.Starter)
	s.WorkerURL = "http://" + loopback(p.Worker)
	s.SandboxURL = "http://" + loopback(p.Sandbox)
	return nil
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (s *Stack) startTemporal(ctx context.Context) (err error) {
	o := s.opts
	if o.TemporalAddress != "" {
		s.TemporalAddress, s.Namespace = o.TemporalAddress, o.TemporalNamespace
		if s.Namespace == "" {
			s.Namespace = "default"
		}
		return nil
	}
	began := time.Now()
	if s.Temporal, err = testenv.NewTemporalServer(filepath.Join(s.dir, "temporal"), o.Ports.Temporal, o.TemporalArgs...); err != nil {
		return err
	}
	s.Temporal.UIPort = o.Ports.TemporalUI
	if err = s.Temporal.Start(ctx); err != nil {
		return err
	}
	s.TemporalAddress, s.Namespace = s.Temporal.HostPort(), s.Temporal.Namespace()
	if o.Ports.TemporalUI != 0 {
		s.TemporalUIURL = "http://" + loopback(o.Ports.TemporalUI)
		if err = waitHTTP(ctx, s.TemporalUIURL+"/", 2*time.Minute); err != nil {
			return fmt.Errorf("stack: the Temporal Web UI: %w", err)
		}
	}
	s.logf("temporal dev server %s up in %s", s.TemporalAddress, time.Since(began).Round(time.Millisecond))
	return nil
}

// waitHTTP polls url until it answers 200, ctx ends or timeout passes.
func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)", url, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Stack) startPostgres(ctx context.Context) error {
	began := time.Now()
	var err error
	switch {
	case s.opts.Database != "":
		s.DatabaseURL = s.opts.Database
	case s.opts.DatabaseURL != "":
		err = s.createExternalDatabase(ctx)
	default:
		err = s.startOwnPostgres(ctx)
	}
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, s.DatabaseURL)
	if err != nil {
		return err
	}
	s.Pool = pool
	if s.Postgres != nil {
		s.logf("postgres up in %s", time.Since(began).Round(time.Millisecond))
	}
	return nil
}

func (s *Stack) createExternalDatabase(ctx context.Context) error {
	s.dbName = "stack_" + randomHex(6)
	admin, err := pgx.Connect(ctx, s.opts.DatabaseURL)
	if err != nil {
		return fmt.Errorf("stack: connect to the database server: %w", err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.dbName}.Sanitize()+" TEMPLATE template0")
	admin.Close(ctx)
	if err != nil {
		s.dbName = ""
		return fmt.Errorf("stack: create database: %w", err)
	}
	u, err := url.Parse(s.opts.DatabaseURL)
	if err != nil {
		return fmt.Errorf("stack: DatabaseURL: %w", err)
	}
	u.Path, u.RawPath = "/"+s.dbName, ""
	s.DatabaseURL = u.String()
	return nil
}

// startOwnPostgres starts the stack's cluster under Dir/postgres (an
// existing one is reused with its data) and creates the database awdaflow
// unless it is there.
func (s *Stack) startOwnPostgres(ctx context.Context) error {
	c, err := testenv.NewPostgresCluster(filepath.Join(s.dir, "postgres"), s.opts.Ports.Postgres)
	if err != nil {
		return err
	}
	s.Postgres = c
	if err := c.Start(ctx); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.URL(""))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'awdaflow')").Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE awdaflow TEMPLATE template0"); err != nil {
			return fmt.Errorf("stack: create database: %w", err)
		}
	}
	s.DatabaseURL = c.URL("awdaflow")
	return nil
}

func (s *Stack) startSandbox(ctx context.Context) error {
	if s.opts.SandboxBinary {
		return s.startSandboxProcess(ctx)
	}
	cfg := s.sandboxConfig()
	if s.opts.SandboxLog {
		f, err := os.OpenFile(filepath.Join(s.logDir, "sandbox.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		s.sandboxLog = f
		cfg.Logger = newJSONLogger(f)
	}
	ln, err := net.Listen("tcp", loopback(s.ports.Sandbox))
	if err != nil {
		return err
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	sb.Start()
	s.Sandbox = sb
	s.sandboxSrv = &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.sandboxSrv.Serve(ln) }()
	return nil
}

func (s *Stack) sandboxConfig() sandbox.Config {
	cfg := s.opts.Sandbox
	cfg.AppID = s.AppID
	cfg.HMACSecret = []byte(s.HMACSecret)
	cfg.LoanStatusWebhookURL = s.StarterURL + webhook.PathLoanStatus
	cfg.AuthWebhookURL = s.StarterURL + webhook.PathAuthorization
	cfg.PublicURL = s.SandboxURL
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if cfg.StateFile == "" {
		cfg.StateFile = s.opts.SandboxStateFile
	}
	return cfg
}

// startSandboxProcess runs bin/awda-sandbox with what sandboxConfig says
// (app id and secret, webhooks, seed, autopilot on or off, state file).
func (s *Stack) startSandboxProcess(ctx context.Context) error {
	cfg := s.sandboxConfig()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TMPDIR=" + os.TempDir(),
		config.EnvAWDAAppID + "=" + cfg.AppID,
		config.EnvAWDAHMACSecret + "=" + s.HMACSecret,
		"SANDBOX_ADDR=" + loopback(s.ports.Sandbox),
		"SANDBOX_AUTOPILOT=" + strconv.FormatBool(cfg.Autopilot.Enabled),
		"SANDBOX_SEED=" + strconv.FormatUint(cfg.Seed, 10),
		"SANDBOX_LOAN_WEBHOOK_URL=" + cfg.LoanStatusWebhookURL,
		"SANDBOX_AUTH_WEBHOOK_URL=" + cfg.AuthWebhookURL,
		"SANDBOX_PUBLIC_URL=" + cfg.PublicURL,
		"SANDBOX_LOG_FORMAT=json",
		"SANDBOX_STATE_FILE=" + cfg.StateFile,
	}
	s.SandboxProc = &Process{
		Name: "sandbox", Path: filepath.Join(s.binDir, SandboxBinary),
		Env:         concat(env, s.opts.SandboxEnv),
		LogPath:     filepath.Join(s.logDir, "sandbox.log"),
		ReadyURL:    s.SandboxURL + "/_sandbox/healthz",
		StopTimeout: 15 * time.Second,
		AutoRestart: s.opts.AutoRestart,
		Report:      s.opts.Logf,
	}
	return s.SandboxProc.Start(ctx)
}

// startApps starts the starters and the workers (their replicas) and waits
// until all are ready. The starters apply the migrations under their lock;
// the workers wait for it.
func (s *Stack) startApps(ctx context.Context) error {
	workerPorts, starterPorts, err := s.replicaPorts()
	if err != nil {
		return err
	}
	for i, port := range starterPorts {
		s.Starters = append(s.Starters, s.starterProcess(i, port))
		s.StarterURLs = append(s.StarterURLs, "http://"+loopback(port))
	}
	for i, port := range workerPorts {
		s.Workers = append(s.Workers, s.workerProcess(i, port))
		s.WorkerURLs = append(s.WorkerURLs, "http://"+loopback(port))
	}
	s.Starter, s.Worker = s.Starters[0], s.Workers[0]
	if len(s.Starters) > 1 {
		if s.proxy, err = newRoundRobin(s.Starters, s.StarterURLs); err != nil {
			return err
		}
		if err := s.proxy.serve(loopback(s.ports.Starter)); err != nil {
			return err
		}
	}
	began := time.Now()
	all := append(append([]*Process(nil), s.Starters...), s.Workers...)
	for _, p := range all {
		if err := p.spawn(); err != nil {
			return err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, p := range all {
		if err := p.WaitReady(rctx); err != nil {
			return err
		}
	}
	s.logf("%d starter(s) %s and %d worker(s) %s ready in %s", len(s.Starters), strings.Join(s.StarterURLs, " "),
		len(s.Workers), strings.Join(s.WorkerURLs, " "), time.Since(began).Round(time.Millisecond))
	return nil
}

// starterProcess is starter replica i, listening on port.
func (s *Stack) starterProcess(i, port int) *Process {
	name := replicaName("starter", i)
	return &Process{
		Name: name, Path: filepath.Join(s.binDir, StarterBinary), Args: []string{"serve"},
		Env: concat(s.sharedEnv(), []string{
			"STARTER_HTTP_ADDR=" + loopback(port),
			"STARTER_API_TOKENS=" + s.apiTokens,
			"STARTER_SHUTDOWN_TIMEOUT=5s",
			// No load balancer reads readiness here (the replicas' proxy
			// skips a dead process, not a draining one): stop at once
			// (StarterEnv may set a delay, e.g. to test the drain).
			"STARTER_DRAIN_DELAY=0s",
		}, s.opts.StarterEnv),
		LogPath:     filepath.Join(s.logDir, name+".log"),
		ReadyURL:    "http://" + loopback(port) + "/readyz",
		StopTimeout: 30 * time.Second,
		AutoRestart: s.opts.AutoRestart,
		Report:      s.opts.Logf,
	}
}

// workerProcess is worker replica i, its probes and metrics on port.
func (s *Stack) workerProcess(i, port int) *Process {
	name := replicaName("worker", i)
	return &Process{
		Name: name, Path: filepath.Join(s.binDir, WorkerBinary),
		Env: concat(s.sharedEnv(), []string{
			config.EnvHTTPAddr + "=" + loopback(port),
			config.EnvWorkerStopTimeout + "=5s",
		}, s.opts.WorkerEnv),
		LogPath:     filepath.Join(s.logDir, name+".log"),
		ReadyURL:    "http://" + loopback(port) + "/readyz",
		StopTimeout: 30 * time.Second,
		AutoRestart: s.opts.AutoRestart,
		Report:      s.opts.Logf,
	}
}

// sharedEnv is what the worker and the starter both get: nothing of the
// launcher's own environment but PATH, HOME and TMPDIR, so that settings for
// a real cluster or a real AWDA in the caller's shell cannot leak in.
func (s *Stack) sharedEnv() []string {
	level := s.opts.LogLevel
	if level == "" {
		level = "info"
	}
	shared := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TMPDIR=" + os.TempDir(),
		config.EnvTemporalAddress + "=" + s.TemporalAddress,
		config.EnvTemporalNamespace + "=" + s.Namespace,
		config.EnvAWDABaseURL + "=" + s.SandboxURL,
		config.EnvAWDAAppID + "=" + s.AppID,
		config.EnvAWDAHMACSecret + "=" + s.HMACSecret,
		config.EnvKeys + "=" + s.Keys,
		config.EnvDatabaseURL + "=" + withQuery(s.DatabaseURL, s.opts.DatabaseQuery),
		config.EnvLogFormat + "=json",
		config.EnvLogLevel + "=" + level,
	}
	if gc := os.Getenv("GOMAXPROCS"); gc != "" {
		shared = append(shared, "GOMAXPROCS="+gc)
	}
	return shared
}

// dial makes the stack's own clients: Temporal (with the project's codec),
// the API and the sandbox's admin API.
func (s *Stack) dial(ctx context.Context) error {
	ring, err := codec.ParseKeyRing(s.Keys)
	if err != nil {
		return err
	}
	copts := client.Options{HostPort: s.TemporalAddress, Namespace: s.Namespace, Logger: quietLogger{}}
	// As the worker and starter encrypt: a loan's payloads under its
	// applicant's data key.
	s.DataKeys = codec.NewDataKeys(ring, store.New(s.Pool, ring), codec.DataKeysOptions{ApplicantOf: workflows.ApplicantRefOf})
	codec.ConfigureClientWithKeys(&copts, ring, s.DataKeys)
	if s.Client, err = client.DialContext(ctx, copts); err != nil {
		return fmt.Errorf("stack: dial temporal: %w", err)
	}
	s.API = demo.NewClient(s.StarterURL, s.APIToken, nil)
	s.Admin = demo.NewSandboxAdmin(s.SandboxURL, nil)
	return nil
}

// Bin is the path of a built binary (by its package's last element).
func (s *Stack) Bin(name string) string { return filepath.Join(s.binDir, name) }

// Dir is the stack's state directory; LogDir where the logs go.
func (s *Stack) Dir() string    { return s.dir }
func (s *Stack) LogDir() string { return s.logDir }

// CopyLogs copies every file of LogDir (one log per process) into dir,
// each named prefix followed by its own name, e.g. to keep the logs of a
// failed test. It returns the paths it wrote. Call it before Close, or after
// it when Options.LogDir is the caller's (Close removes the default one).
func (s *Stack) CopyLogs(dir, prefix string) ([]string, error) {
	entries, err := os.ReadDir(s.logDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.logDir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dst := filepath.Join(dir, prefix+e.Name())
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, dst)
	}
	return out, errors.Join(errs...)
}

// Env is the environment the worker and the starter share (Temporal,
// AWDA, keys, database, logging), for more processes of the same system.
func (s *Stack) Env() []string {
	// The worker's environment without its own entries.
	var out []string
	for _, kv := range s.Worker.Env {
		if strings.HasPrefix(kv, "WORKER_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Spawn starts one more process of the system (e.g. a benchmark's worker)
// with the shared environment plus env, logging to LogDir/name.log, and
// waits until readyURL (if any) answers 200. Close stops it.
func (s *Stack) Spawn(ctx context.Context, name, path string, args, env []string, readyURL string) (*Process, error) {
	p := &Process{
		Name: name, Path: path, Args: args,
		Env:         concat(s.Env(), env),
		LogPath:     filepath.Join(s.logDir, name+".log"),
		ReadyURL:    readyURL,
		StopTimeout: 30 * time.Second,
	}
	s.mu.Lock()
	s.extra = append(s.extra, p)
	s.mu.Unlock()
	return p, p.Start(ctx)
}

// DemoOptions are demo options for this stack: its API, token and sandbox
// admin, the given ref prefix (which must not contain a sandbox marker).
// Set the plan or N, concurrency and the rest.
func (s *Stack) DemoOptions(refPrefix string) demo.Options {
	return demo.Options{
		APIURL:          s.StarterURL,
		Token:           s.APIToken,
		SandboxAdminURL: s.SandboxURL,
		RunID:           refPrefix,
		RefPrefix:       refPrefix,
	}
}

// KillWorker ends the worker with SIGKILL; StartWorker starts it again and
// waits until it is ready.
func (s *Stack) KillWorker() error                     { return s.Worker.Kill() }
func (s *Stack) StartWorker(ctx context.Context) error { return s.Worker.Start(ctx) }

// KillStarter ends the starter with SIGKILL; StartStarter starts it again;
// RestartStarter stops it gracefully (SIGTERM) and starts it again.
func (s *Stack) KillStarter() error                       { return s.Starter.Kill() }
func (s *Stack) StartStarter(ctx context.Context) error   { return s.Starter.Start(ctx) }
func (s *Stack) RestartStarter(ctx context.Context) error { return s.Starter.Restart(ctx) }

// RestartTemporal stops the dev server (SIGINT, graceful) and starts it
// again on the same port with the same SQLite file, or the real server
// (Options.Server: SIGTERM) with the same config; it returns once the
// namespace is served. With kill, the server is ended with SIGKILL instead,
// as a crash would. Clients reconnect by themselves.
func (s *Stack) RestartTemporal(ctx context.Context, kill bool) error {
	if s.Server != nil {
		return s.restartServer(ctx, kill)
	}
	if s.Temporal == nil {
		return errors.New("stack: RestartTemporal needs the stack's own dev server (Options.TemporalAddress is set)")
	}
	var err error
	if kill {
		err = s.Temporal.Kill()
	} else {
		err = s.Temporal.Stop()
	}
	if err != nil {
		return err
	}
	return s.Temporal.Start(ctx)
}

// RestartPostgres stops PostgreSQL (fast shutdown: sessions are ended) and
// starts it again with the same data on the same port. It needs the stack's
// own cluster.
func (s *Stack) RestartPostgres(ctx context.Context) error {
	if s.Postgres == nil {
		return errors.New("stack: RestartPostgres needs the stack's own PostgreSQL (Options.DatabaseURL is set)")
	}
	if err := s.Postgres.Stop(); err != nil {
		return err
	}
	return s.Postgres.Start(ctx)
}

// WorkerMemory and StarterMemory read the processes' resident memory.
func (s *Stack) WorkerMemory() (Memory, error)  { return s.Worker.Memory() }
func (s *Stack) StarterMemory() (Memory, error) { return s.Starter.Memory() }

// TerminateOpen terminates every open loan workflow whose applicant ref
// starts with prefix ("" for all), so that nothing runs on after a drill.
// It returns how many it terminated.
func (s *Stack) TerminateOpen(ctx context.Context, prefix, reason string) (int, error) {
	n := 0
	var token []byte
	for {
		resp, err := s.Client.ListWorkflow(ctx, listRequest(s.Namespace, token))
		if err != nil {
			return n, err
		}
		for _, ex := range resp.GetExecutions() {
			id := ex.GetExecution().GetWorkflowId()
			if !strings.HasPrefix(id, workflows.LoanWorkflowID(prefix)) {
				continue
			}
			if err := s.Client.TerminateWorkflow(ctx, id, "", reason); err == nil {
				n++
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return n, nil
		}
	}
}

// Close stops everything (starter, worker, other processes, sandbox,
// Temporal, PostgreSQL) and removes the state directory unless Keep. It is
// safe to call more than once.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	extra := s.extra
	s.mu.Unlock()

	// In parallel: each takes up to its stop timeout.
	errs := []error{StopAll(concat(s.Starters, s.Workers, extra)...)}
	s.proxy.close()
	if s.Client != nil {
		s.Client.Close()
	}
	errs = append(errs, s.closeSandbox())
	if s.Pool != nil {
		s.Pool.Close()
	}
	if s.Temporal != nil {
		errs = append(errs, s.Temporal.Stop())
		s.copyLog(s.Temporal.LogFile(), "temporal.log")
	}
	if s.UI != nil {
		errs = append(errs, s.UI.Stop())
	}
	if s.Server != nil {
		errs = append(errs, s.Server.Stop())
	}
	if s.Postgres != nil {
		errs = append(errs, s.Postgres.Stop())
		s.copyLog(s.Postgres.LogFile(), "postgres.log")
	}
	errs = append(errs, s.dropDatabase())
	if !s.opts.Keep && s.dir != "" {
		errs = append(errs, s.removeDir())
	}
	return errors.Join(errs...)
}

func (s *Stack) closeSandbox() error {
	var errs []error
	if s.SandboxProc != nil {
		errs = append(errs, s.SandboxProc.Stop())
	}
	if s.sandboxSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.sandboxSrv.Shutdown(ctx); err != nil {
			_ = s.sandboxSrv.Close()
		}
		cancel()
	}
	if s.Sandbox != nil {
		errs = append(errs, s.Sandbox.Close())
	}
	if s.sandboxLog != nil {
		_ = s.sandboxLog.Close()
	}
	return errors.Join(errs...)
}

// dropDatabase drops the database Start created on an external server.
func (s *Stack) dropDatabase() error {
	if s.dbName == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.opts.DatabaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.dbName}.Sanitize()+" WITH (FORCE)")
	return errors.Join(err, s.dropTemporalDatabases(ctx, conn))
}

// removeDir deletes the state directory: all of it when the stack created
// it, otherwise only what the stack put there.
func (s *Stack) removeDir() error {
	if s.ownDir && (s.opts.LogDir == "" || !isWithin(s.opts.LogDir, s.dir)) {
		return os.RemoveAll(s.dir)
	}
	var errs []error
	for _, sub := range []string{"temporal", "temporal-server", "postgres"} {
		errs = append(errs, os.RemoveAll(filepath.Join(s.dir, sub)))
	}
	if s.opts.BinDir == "" {
		errs = append(errs, os.RemoveAll(filepath.Join(s.dir, "bin")))
	}
	if s.opts.LogDir == "" {
		errs = append(errs, os.RemoveAll(filepath.Join(s.dir, "logs")))
	}
	return errors.Join(errs...)
}

// copyLog keeps a server's log next to the others when LogDir is the
// caller's (the server's own lives in Dir, which Close removes).
func (s *Stack) copyLog(src, name string) {
	if s.opts.LogDir == "" {
		return
	}
	if b, err := os.ReadFile(src); err == nil {
		_ = os.WriteFile(filepath.Join(s.logDir, name), b, 0o644)
	}
}

func (s *Stack) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// Build runs `go build -o dir/ pkgs...` for pkgs relative to root (the
// repository): product packages ("./worker") in root, tool packages
// ("./tools/cmd/benchworker") in root/tools, each module's in one go build.
func Build(ctx context.Context, root, dir string, pkgs ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var product, tools []string
	for _, p := range pkgs {
		if rest, ok := strings.CutPrefix(p, "./tools/"); ok {
			tools = append(tools, "./"+rest)
		} else {
			product = append(product, p)
		}
	}
	for _, b := range []struct {
		dir  string
		pkgs []string
	}{{root, product}, {filepath.Join(root, "tools"), tools}} {
		if len(b.pkgs) == 0 {
			continue
		}
		args := append([]string{"build", "-o", dir + string(filepath.Separator)}, b.pkgs...)
		cmd := exec.CommandContext(ctx, goTool(), args...)
		cmd.Dir = b.dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("stack: go build %s: %w\n%s", strings.Join(b.pkgs, " "), err, out)
		}
	}
	return nil
}

// goTool is $GO, else the go of this toolchain's GOROOT, else go on PATH.
func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); isExecutable(p) {
			return p
		}
	}
	return "go"
}

// RepoRoot walks up from the working directory to the repository: the
// directory whose go.mod is the product's module (tools/ has its own).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isProductModule(b) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("stack: the product's go.mod (module " + productModule + ") not found above the working directory")
		}
		dir = parent
	}
}

const productModule = "github.com/awdaflow/awdaflow"

// isProductModule reports whether a go.mod declares the product's module.
func isProductModule(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == productModule
		}
	}
	return false
}

// withQuery adds query parameters to a URL.
func withQuery(u, q string) string {
	if q == "" {
		return u
	}
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func concat[T any](lists ...[]T) []T {
	var out []T
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func isWithin(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func listRequest(namespace string, token []byte) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{
		Namespace:     namespace,
		PageSize:      1000,
		NextPageToken: token,
		Query:         "ExecutionStatus = 'Running'",
	}
}

func newJSONLogger(w io.Writer) zerolog.Logger {
	return zerolog.New(w).With().Timestamp().Logger()
}

// quietLogger drops the SDK's logs (a restarting server makes it chatty).
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

var _ log.Logger = quietLogger{}
