package stack

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

// The production lane (Options.Server): Temporal's own server, the binary
// deployments run (docker-compose.yml's temporalio/server), on the stack's
// PostgreSQL for persistence and visibility, set up as compose's
// temporal-schema and temporal-setup jobs do it.

// Binary names of the real server and its schema tool in the server bin
// directory (`make temporal-server` installs both into ./bin).
const (
	TemporalServerBinary  = "temporal-server"
	TemporalSQLToolBinary = "temporal-sql-tool"
)

// TemporalUIBinary is Temporal's Web UI server (github.com/temporalio/ui-server,
// the binary of compose's temporalio/ui image), which the production lane
// runs beside the server when Ports.TemporalUI is set (`make temporal-ui`
// builds it into ./bin).
const TemporalUIBinary = "temporal-ui-server"

// DefaultHistoryShards is the lane's number of history shards: enough to
// spread the load over several shard owners, few enough to start in seconds
// on a laptop (compose's default is 128; the number is fixed when the
// databases are created).
const DefaultHistoryShards = 4

// Temporal's two databases and the sql tool's embedded schemas for them.
var temporalDatabases = []struct{ suffix, schema string }{
	{"", "postgresql/v12/temporal"},
	{"_visibility", "postgresql/v12/visibility"},
}

// ServerBinaries finds bin/temporal-server and bin/temporal-sql-tool in dir
// (default: the repository's bin).
func ServerBinaries(root, dir string) (server, sqlTool string, err error) {
	if dir == "" {
		dir = filepath.Join(root, "bin")
	}
	server, sqlTool = filepath.Join(dir, TemporalServerBinary), filepath.Join(dir, TemporalSQLToolBinary)
	for _, p := range []string{server, sqlTool} {
		if !isExecutable(p) {
			return "", "", fmt.Errorf("stack: %s is missing: `make temporal-server` builds Temporal's server and sql tool into ./bin (5-15 minutes once)", p)
		}
	}
	return server, sqlTool, nil
}

// pgTarget is where Temporal's databases live: connection parameters for
// the server's config and the sql tool, and the databases' base name.
type pgTarget struct {
	host, user, password string
	port                 int
	base                 string // "temporal": the databases base and base_visibility
	admin                string // a URL to create databases with
}

func (t pgTarget) dbName(suffix string) string { return t.base + suffix }

// temporalTarget settles the PostgreSQL of Temporal's databases: the
// stack's own cluster, or the server of Database / DatabaseURL (names of
// their own for a throwaway stack, dropped by Close).
func (s *Stack) temporalTarget() (pgTarget, error) {
	admin := s.opts.Database
	base := "temporal"
	switch {
	case s.Postgres != nil:
		admin = s.Postgres.URL("")
	case s.opts.DatabaseURL != "":
		admin, base = s.opts.DatabaseURL, "temporal_"+s.dbName
	}
	u, err := url.Parse(admin)
	if err != nil || u.Hostname() == "" {
		return pgTarget{}, fmt.Errorf("stack: the PostgreSQL URL for Temporal's databases needs a host (%v)", err)
	}
	t := pgTarget{host: u.Hostname(), user: u.User.Username(), base: base, admin: admin, port: 5432}
	t.password, _ = u.User.Password()
	if p := u.Port(); p != "" {
		if t.port, err = strconv.Atoi(p); err != nil {
			return pgTarget{}, fmt.Errorf("stack: PostgreSQL port %q: %w", p, err)
		}
	}
	return t, nil
}

// startServer creates Temporal's databases (when missing) and brings their
// schema up to date with the sql tool, writes the server's config, starts
// the server and waits until the namespace and the search attributes are
// served.
func (s *Stack) startServer(ctx context.Context) error {
	if s.opts.TemporalAddress != "" {
		return errors.New("stack: Options.Server starts a Temporal server of the stack's own: leave TemporalAddress empty")
	}
	began := time.Now()
	bin, sqlTool, err := ServerBinaries(s.root, s.serverBinDir())
	if err != nil {
		return err
	}
	if s.pg, err = s.temporalTarget(); err != nil {
		return err
	}
	if err := s.setupSchema(ctx, sqlTool); err != nil {
		return err
	}
	cfg, err := s.writeServerConfig()
	if err != nil {
		return err
	}
	s.Server = &Process{
		Name: "temporal", Path: bin,
		Args:        []string{"--config-file", cfg, "--allow-no-auth", "start"},
		Env:         []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()},
		LogPath:     filepath.Join(s.logDir, "temporal.log"),
		StopTimeout: 30 * time.Second,
	}
	s.TemporalAddress, s.Namespace = loopback(s.ports.Temporal), "default"
	if s.opts.TemporalNamespace != "" {
		s.Namespace = s.opts.TemporalNamespace
	}
	if err := s.Server.spawn(); err != nil {
		return err
	}
	if err := s.serverReady(ctx, true); err != nil {
		return err
	}
	if s.opts.Ports.TemporalUI != 0 {
		if err := s.startUI(ctx); err != nil {
			return err
		}
	}
	s.logf("temporal server %s (PostgreSQL %s:%d, %d history shards) up in %s", s.TemporalAddress,
		s.pg.host, s.pg.port, s.historyShards(), time.Since(began).Round(time.Millisecond))
	return nil
}

func (s *Stack) historyShards() int {
	if s.opts.HistoryShards > 0 {
		return s.opts.HistoryShards
	}
	return DefaultHistoryShards
}

// setupSchema is compose's temporal-schema job: each database created
// unless it exists, `setup-schema -v 0.0` (a no-op past 0.0), then
// `update-schema` to the newest version the tool embeds.
func (s *Stack) setupSchema(ctx context.Context, sqlTool string) error {
	conn, err := pgx.Connect(ctx, s.pg.admin)
	if err != nil {
		return fmt.Errorf("stack: connect to PostgreSQL for Temporal's databases: %w", err)
	}
	defer conn.Close(ctx)
	for _, db := range temporalDatabases {
		name := s.pg.dbName(db.suffix)
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
				return fmt.Errorf("stack: create database %s: %w", name, err)
			}
		}
		for _, args := range [][]string{{"setup-schema", "-v", "0.0"}, {"update-schema", "--schema-name", db.schema}} {
			if err := s.sqlTool(ctx, sqlTool, name, args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// sqlTool runs temporal-sql-tool on database db; its output goes to
// LogDir/temporal-schema.log.
func (s *Stack) sqlTool(ctx context.Context, bin, db string, args ...string) error {
	full := append([]string{"--plugin", "postgres12", "--ep", s.pg.host, "-p", strconv.Itoa(s.pg.port),
		"-u", s.pg.user, "--db", db}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SQL_PASSWORD=" + s.pg.password}
	out, err := cmd.CombinedOutput()
	if f, ferr := os.OpenFile(filepath.Join(s.logDir, "temporal-schema.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); ferr == nil {
		fmt.Fprintf(f, "---- %s %s\n%s", filepath.Base(bin), strings.Join(full, " "), out)
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("stack: %s %s: %w\n%s", filepath.Base(bin), strings.Join(full, " "), err, out)
	}
	return nil
}

// serverConfig is what the config template needs.
type serverConfig struct {
	Shards                    int
	Host, User, Password      string
	Port                      int
	DB, VisibilityDB          string
	Frontend, FrontendHTTP    int
	History, Matching, Worker int
	Membership                [4]int
	Metrics                   int
	DynamicConfig             string
}

// writeServerConfig writes Dir/temporal-server/config.yaml (0600: it holds
// the database password) and returns its path.
func (s *Stack) writeServerConfig() (string, error) {
	c := serverConfig{
		Shards: s.historyShards(), Host: s.pg.host, User: s.pg.user, Password: s.pg.password, Port: s.pg.port,
		DB: s.pg.dbName(""), VisibilityDB: s.pg.dbName("_visibility"),
		Frontend:      s.ports.Temporal,
		DynamicConfig: filepath.Join(s.root, "deploy", "temporal", "dynamicconfig.yaml"),
	}
	for _, p := range []*int{&c.FrontendHTTP, &c.History, &c.Matching, &c.Worker, &c.Metrics} {
		free, err := testenv.FreePort()
		if err != nil {
			return "", err
		}
		*p = free
	}
	for i := range c.Membership {
		free, err := freeMembershipPort(c.Membership[:i])
		if err != nil {
			return "", err
		}
		c.Membership[i] = free
	}
	s.ServerMetricsURL = "http://" + loopback(c.Metrics) + "/metrics"
	dir := filepath.Join(s.dir, "temporal-server")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "config.yaml")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	err = serverConfigTemplate.Execute(f, c)
	return path, errors.Join(err, f.Close())
}

// serverConfigTemplate is the server module's config/development-postgres12.yaml
// with our ports, database and shards, without archival or pprof, and with
// the dynamic config compose mounts (deploy/temporal/dynamicconfig.yaml).
var serverConfigTemplate = template.Must(template.New("config").Parse(`# Written by tools/stack for the production lane; rewritten at every start.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: {{.Shards}}
  datastores:
    postgres-default:
      sql:
        pluginName: postgres12
        databaseName: {{printf "%q" .DB}}
        connectAddr: "{{.Host}}:{{.Port}}"
        connectProtocol: tcp
        user: {{printf "%q" .User}}
        password: {{printf "%q" .Password}}
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    postgres-visibility:
      sql:
        pluginName: postgres12
        databaseName: {{printf "%q" .VisibilityDB}}
        connectAddr: "{{.Host}}:{{.Port}}"
        connectProtocol: tcp
        user: {{printf "%q" .User}}
        password: {{printf "%q" .Password}}
        maxConns: 10
        maxIdleConns: 10
        maxConnLifetime: 1h
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  metrics:
    prometheus:
      framework: tally
      timerType: histogram
      listenAddress: "127.0.0.1:{{.Metrics}}"
services:
  frontend:
    rpc: {grpcPort: {{.Frontend}}, membershipPort: {{index .Membership 0}}, bindOnLocalHost: true, httpPort: {{.FrontendHTTP}}}
  history:
    rpc: {grpcPort: {{.History}}, membershipPort: {{index .Membership 1}}, bindOnLocalHost: true}
  matching:
    rpc: {grpcPort: {{.Matching}}, membershipPort: {{index .Membership 2}}, bindOnLocalHost: true}
  worker:
    rpc: {grpcPort: {{.Worker}}, membershipPort: {{index .Membership 3}}, bindOnLocalHost: true}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:{{.Frontend}}"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: {{printf "%q" .DynamicConfig}}
  pollInterval: 10s
`))

// serverReady waits until the server serves the namespace (created with
// the search attributes when setup is true, as compose's temporal-setup job
// does) to a client, at most two minutes, or reports the end of its log.
func (s *Stack) serverReady(ctx context.Context, setup bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	for {
		if last = s.serverStep(ctx, setup); last == nil {
			return nil
		}
		select {
		case <-s.Server.Done():
			return fmt.Errorf("stack: the temporal server exited during startup (%s); the end of %s:\n%s",
				ExitReason(s.Server.werrSnapshot()), s.Server.LogPath, Tail(s.Server.LogPath, 30))
		case <-ctx.Done():
			return fmt.Errorf("stack: the temporal server is not ready: %v (last: %v); the end of %s:\n%s",
				ctx.Err(), last, s.Server.LogPath, Tail(s.Server.LogPath, 30))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// serverStep is one attempt: dial, register the namespace and the search
// attributes when missing, and count the namespace's workflows with a query
// on every search attribute, which fails until the frontend's namespace
// cache knows the namespace and its attributes (a workflow started before
// would be refused). The server reads search attributes through its cache
// (deploy/temporal/dynamicconfig.yaml), refreshed every 10 s, so attributes
// registered here show only after a refresh.
func (s *Stack) serverStep(ctx context.Context, setup bool) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, client.Options{HostPort: s.TemporalAddress, Namespace: s.Namespace, Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer c.Close()
	if setup {
		if err := ensureNamespace(dctx, c, s.Namespace); err != nil {
			return err
		}
		if err := testenv.RegisterSearchAttributes(dctx, s.TemporalAddress, s.Namespace); err != nil {
			return err
		}
	}
	_, err = c.CountWorkflow(dctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.Namespace, Query: searchAttributesProbe()})
	return err
}

// searchAttributesProbe is a visibility query that names every search
// attribute of the workflow: refused while the server does not know one.
func searchAttributesProbe() string {
	var terms []string
	for _, sa := range testenv.SearchAttributes {
		switch sa.Type {
		case enumspb.INDEXED_VALUE_TYPE_BOOL:
			terms = append(terms, sa.Name+" = false")
		case enumspb.INDEXED_VALUE_TYPE_INT:
			terms = append(terms, sa.Name+" = 0")
		default:
			terms = append(terms, sa.Name+" = ''")
		}
	}
	return strings.Join(terms, " AND ")
}

// NamespaceRetention is the retention of the namespace the lane creates
// (compose's TEMPORAL_NAMESPACE_RETENTION default).
const NamespaceRetention = 30 * 24 * time.Hour

func ensureNamespace(ctx context.Context, c client.Client, ns string) error {
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	if err == nil {
		return nil
	}
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        ns,
		WorkflowExecutionRetentionPeriod: durationpb.New(NamespaceRetention),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", ns, err)
	}
	return nil
}

// werrSnapshot is the exit error of the last run.
func (p *Process) werrSnapshot() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}

// restartServer stops the real server (SIGTERM, graceful; SIGKILL with
// kill) and starts it again with the same config and ports.
func (s *Stack) restartServer(ctx context.Context, kill bool) error {
	var err error
	if kill {
		err = s.Server.Kill()
	} else {
		err = s.Server.Stop()
	}
	if err != nil {
		return err
	}
	if err := s.Server.spawn(); err != nil {
		return err
	}
	return s.serverReady(ctx, false)
}

// dropTemporalDatabases drops the databases a throwaway stack created on
// an external server (DatabaseURL).
func (s *Stack) dropTemporalDatabases(ctx context.Context, conn *pgx.Conn) error {
	if s.Server == nil || s.opts.DatabaseURL == "" || s.pg.base == "" {
		return nil
	}
	var errs []error
	for _, db := range temporalDatabases {
		_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.pg.dbName(db.suffix)}.Sanitize()+" WITH (FORCE)")
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// freeMembershipPort is a free port below 32768: Temporal stores the
// membership ports in a smallint column, and the kernel's ephemeral ports
// (what FreePort gets) start at 32768.
func freeMembershipPort(taken []int) (int, error) {
	for range 100 {
		p := 20000 + mrand.IntN(12000)
		if slices.Contains(taken, p) {
			continue
		}
		ln, err := net.Listen("tcp", loopback(p))
		if err != nil {
			continue
		}
		ln.Close()
		return p, nil
	}
	return 0, errors.New("stack: no free port between 20000 and 32000 for Temporal's membership")
}

// startUI runs bin/temporal-ui-server on Ports.TemporalUI against the
// server, with the codec endpoint given by Options.UICodecEndpoint.
func (s *Stack) startUI(ctx context.Context) error {
	bin := filepath.Join(s.serverBinDir(), TemporalUIBinary)
	if !isExecutable(bin) {
		return fmt.Errorf("stack: %s is missing: `make temporal-ui` builds Temporal's Web UI server into ./bin (about 2 minutes once)", bin)
	}
	dir := filepath.Join(s.dir, "temporal-server", "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := fmt.Sprintf("temporalGrpcAddress: %q\nhost: 127.0.0.1\nport: %d\nenableUi: true\ndefaultNamespace: %q\n"+
		"notifyOnNewVersion: false\ncodec:\n  endpoint: %q\n"+
		// Ops signal loans (retry, abandon go through the API); they do not
		// terminate, cancel or reset them from the UI (docs/operations.md).
		"workflowTerminateDisabled: true\nworkflowCancelDisabled: true\nworkflowResetDisabled: true\n"+
		"batchActionsDisabled: true\n", s.TemporalAddress, s.ports.TemporalUI, s.Namespace, s.opts.UICodecEndpoint)
	if err := os.WriteFile(filepath.Join(dir, "lane.yaml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	s.TemporalUIURL = "http://" + loopback(s.ports.TemporalUI)
	s.UI = &Process{
		Name: "temporal-ui", Path: bin,
		Args:        []string{"--root", dir, "--config", ".", "--env", "lane", "start"},
		Env:         []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")},
		LogPath:     filepath.Join(s.logDir, "temporal-ui.log"),
		ReadyURL:    s.TemporalUIURL + "/",
		StopTimeout: 10 * time.Second,
		AutoRestart: s.opts.AutoRestart,
		Report:      s.opts.Logf,
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return s.UI.Start(rctx)
}

func (s *Stack) serverBinDir() string {
	if s.opts.ServerBinDir != "" {
		return s.opts.ServerBinDir
	}
	return filepath.Join(s.root, "bin")
}
