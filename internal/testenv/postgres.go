package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DatabaseURLEnv names the variable that points the tests at an existing
// PostgreSQL server instead of a throwaway cluster. The URL must be in URL form
// (postgres://user:pass@host:port/db?...) and its user must be allowed to
// CREATE DATABASE: every test gets its own database on that server.
const DatabaseURLEnv = "DATABASE_URL"

// One throwaway cluster per test process, started on first use.
var pgShared struct {
	mu       sync.Mutex
	started  bool
	external bool
	url      string // the server's admin URL
	cluster  *PostgresCluster
	err      error
}

// PostgresURL returns the URL of the PostgreSQL server the tests use: $DATABASE_URL
// when set, otherwise a throwaway PostgreSQL cluster started on first call
// and shared by every test of the process. Call RunMain from TestMain so the
// cluster is stopped and deleted when the tests end.
//
// Most tests want NewDatabase, which gives them a database of their own on
// this server.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u, err := postgresURL()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return u
}

func postgresURL() (string, error) {
	pgShared.mu.Lock()
	defer pgShared.mu.Unlock()
	if pgShared.started {
		return pgShared.url, pgShared.err
	}
	pgShared.started = true
	if u := os.Getenv(DatabaseURLEnv); u != "" {
		pgShared.external, pgShared.url = true, u
		return u, nil
	}
	sweepStaleClusters()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", tmpPrefix, os.Getpid()))
	if err != nil {
		pgShared.err = err
		return "", err
	}
	// Retry a few times in case another process takes the free port first.
	for try := 0; try < 3; try++ {
		var c *PostgresCluster
		c, err = NewPostgresCluster(dir, 0)
		if err != nil {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		err = c.Start(ctx)
		cancel()
		if err == nil {
			pgShared.cluster, pgShared.url = c, c.URL("")
			installSignalCleanup(c)
			onExit(shutdownPostgres)
			return pgShared.url, nil
		}
	}
	_ = os.RemoveAll(dir)
	pgShared.err = err
	return "", err
}

// RunMain runs the tests and then stops what the tests started: the
// throwaway PostgreSQL cluster is stopped and deleted. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m)) }
//
// Other services of this package that need stopping at exit register with
// onExit.
func RunMain(m *testing.M) int {
	code := m.Run()
	exitHooks.Lock()
	hooks := exitHooks.fns
	exitHooks.fns = nil
	exitHooks.Unlock()
	for i := len(hooks) - 1; i >= 0; i-- {
		hooks[i]()
	}
	return code
}

var exitHooks struct {
	sync.Mutex
	fns []func()
}

// onExit registers fn to run when RunMain returns (last registered, first
// run), for services started lazily by tests.
func onExit(fn func()) {
	exitHooks.Lock()
	defer exitHooks.Unlock()
	exitHooks.fns = append(exitHooks.fns, fn)
}

func shutdownPostgres() {
	pgShared.mu.Lock()
	defer pgShared.mu.Unlock()
	if pgShared.cluster != nil {
		_ = pgShared.cluster.Remove()
		pgShared.cluster = nil
	}
}

// installSignalCleanup stops the cluster on SIGINT/SIGTERM and then dies of
// the same signal, as the test binary would have without us.
func installSignalCleanup(c *PostgresCluster) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		_ = c.Remove()
		signal.Reset(sig)
		_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
	}()
}

const tmpPrefix = "awdaflow-pg-"

// sweepStaleClusters deletes the directories of throwaway clusters whose test
// process died without cleaning up (a go test timeout panics past TestMain).
// Their postmasters died with them (parent-death signal).
func sweepStaleClusters() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tmpPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), tmpPrefix)
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			if pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])); err == nil && processAlive(pm) {
				continue
			}
		}
		_ = os.RemoveAll(d)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// NewDatabase creates an empty database with a unique name on the test server
// (see PostgresURL) and returns a pool on it and its URL. The pool is closed and
// the database dropped when the test ends. Apply the schema with
// store.Migrate(ctx, url).
func NewDatabase(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	server := PostgresURL(tb)
	name := databaseName(tb.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Fatalf("testenv: connect to test server: %v", err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0")
	admin.Close(ctx)
	if err != nil {
		tb.Fatalf("testenv: create database: %v", err)
	}
	dbURL, err := withDatabase(server, name)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		tb.Fatalf("testenv: open pool: %v", err)
	}
	tb.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, server)
		if err != nil {
			tb.Logf("testenv: drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	return pool, dbURL
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

// databaseName is readable in pg_stat_activity (it starts with the test name)
// and unique across processes sharing one server (random suffix).
func databaseName(testName string) string {
	n := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if len(n) > 40 {
		n = n[:40]
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t_" + n + "_" + hex.EncodeToString(b[:])
}

func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s must be a postgres:// URL", DatabaseURLEnv)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// StopPostgres stops the throwaway test server, for tests of what happens when
// the database goes away (readiness, 503s, retries). Sessions are terminated;
// data is kept. It skips the test when the server is external ($DATABASE_URL):
// we never stop someone else's server. If the test does not call
// RestartPostgres itself, the server is restarted when the test ends, so later
// tests find it up. Tests that use it must not run in parallel with others of
// the same package, which share the server.
func StopPostgres(tb testing.TB) {
	tb.Helper()
	c := ownCluster(tb)
	if err := c.Stop(); err != nil {
		tb.Fatalf("testenv: stop postgres: %v", err)
	}
	tb.Cleanup(func() {
		if !c.Running() {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			if err := c.Start(ctx); err != nil {
				tb.Errorf("testenv: restart postgres: %v", err)
			}
		}
	})
}

// RestartPostgres starts the throwaway test server again after StopPostgres
// (or stops and starts it, if it is running) on the same port with the same
// data, and waits until it accepts connections. Like StopPostgres it skips
// the test when the server is external.
func RestartPostgres(tb testing.TB) {
	tb.Helper()
	c := ownCluster(tb)
	if err := c.Stop(); err != nil {
		tb.Fatalf("testenv: stop postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		tb.Fatalf("testenv: restart postgres: %v", err)
	}
}

func ownCluster(tb testing.TB) *PostgresCluster {
	tb.Helper()
	PostgresURL(tb)
	pgShared.mu.Lock()
	defer pgShared.mu.Unlock()
	if pgShared.external {
		tb.Skipf("testenv: %s points at an external server; not stopping it", DatabaseURLEnv)
	}
	return pgShared.cluster
}
