//go:build integration

package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

// The test binary doubles as pgtmp: started with PGTMP_AS_MAIN=1 it runs main.
func TestMain(m *testing.M) {
	if os.Getenv("PGTMP_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(testenv.RunMain(m))
}

type pgtmpProc struct {
	cmd *exec.Cmd
	url string
}

// startPgtmp runs pgtmp and waits for the URL it prints.
func startPgtmp(t *testing.T, args ...string) *pgtmpProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PGTMP_AS_MAIN=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil { // still ours to stop
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case url, ok := <-lines:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("pgtmp printed no URL (exit: %v)", cmd.ProcessState)
		}
		return &pgtmpProc{cmd: cmd, url: url}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("pgtmp did not print a URL in time")
	}
	return nil
}

// tempDir is under the system temp dir, which the postgres user can reach
// (t.TempDir's parent is private to root).
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgtmp-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func query(t *testing.T, url, sql string, args ...any) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}

func exec1(url, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func TestPgtmpStartsStopsAndReusesItsDirectory(t *testing.T) {
	dir := tempDir(t)
	p := startPgtmp(t, "-dir", dir, "-db", "demo")
	if !strings.HasPrefix(p.url, "postgres://postgres@127.0.0.1:") || !strings.Contains(p.url, "/demo?") {
		t.Fatalf("URL %q", p.url)
	}
	if _, err := query(t, p.url, `WITH c AS (SELECT 1) SELECT 1`); err != nil {
		t.Fatal(err)
	}
	if err := exec1(p.url, `CREATE TABLE kept AS SELECT 42 AS v`); err != nil {
		t.Fatalf("create: %v", err)
	}

	// A second pgtmp on the same directory reports the running server and
	// leaves it alone.
	second := exec.Command(os.Args[0], "-dir", dir, "-db", "demo")
	second.Env = append(os.Environ(), "PGTMP_AS_MAIN=1")
	out, err := second.Output()
	if err != nil {
		t.Fatalf("second pgtmp: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != p.url {
		t.Errorf("second pgtmp printed %q, want %q", got, p.url)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("pgtmp exit after SIGTERM: %v", err)
	}
	if _, err := query(t, p.url, `SELECT 1`); err == nil {
		t.Fatal("server still answers after pgtmp stopped")
	}

	// Started again: same port (remembered), same data.
	again := startPgtmp(t, "-dir", dir, "-db", "demo")
	if again.url != p.url {
		t.Errorf("URL changed across restarts: %q then %q", p.url, again.url)
	}
	if v, err := query(t, again.url, `SELECT v FROM kept`); err != nil || v != 42 {
		t.Errorf("data after restart: %d, %v", v, err)
	}
}

// A pgtmp killed outright takes its server with it (parent-death signal).
func TestPgtmpKilledTakesTheServerWithIt(t *testing.T) {
	dir := tempDir(t)
	p := startPgtmp(t, "-dir", dir, "-db", "")
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGQUIT)
			t.Fatalf("postmaster %d still alive 30s after pgtmp was killed", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNewDatabaseIsolatesAndDrops(t *testing.T) {
	server := testenv.PostgresURL(t)
	var names [2]string
	for i := range names {
		t.Run("db", func(t *testing.T) {
			pool, url := testenv.NewDatabase(t)
			if err := pool.QueryRow(context.Background(), `SELECT current_database()`).Scan(&names[i]); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(url, "/"+names[i]) {
				t.Errorf("URL %q does not name database %q", url, names[i])
			}
			// Empty: nothing from the other test's database.
			if n, err := query(t, url, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`); err != nil || n != 0 {
				t.Errorf("fresh database has %d tables (%v)", n, err)
			}
			if _, err := pool.Exec(context.Background(), `CREATE TABLE mine (x int)`); err != nil {
				t.Fatal(err)
			}
		})
	}
	if names[0] == names[1] {
		t.Fatalf("both tests got database %q", names[0])
	}
	for _, name := range names {
		if n, err := query(t, server, `SELECT count(*) FROM pg_database WHERE datname = $1`, name); err != nil || n != 0 {
			t.Errorf("database %s not dropped after its test (%d, %v)", name, n, err)
		}
	}
}

func TestStopAndRestartPostgres(t *testing.T) {
	pool, url := testenv.NewDatabase(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE t (x int); INSERT INTO t VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	t.Run("stopped", func(t *testing.T) {
		testenv.StopPostgres(t)
		if _, err := query(t, url, `SELECT 1`); err == nil {
			t.Fatal("server answers while stopped")
		}
		// No RestartPostgres: the cleanup of StopPostgres brings it back.
	})
	if v, err := query(t, url, `SELECT x FROM t`); err != nil || v != 7 {
		t.Fatalf("after the automatic restart: %d, %v", v, err)
	}
	testenv.RestartPostgres(t) // while running: stop and start
	if v, err := query(t, url, `SELECT x FROM t`); err != nil || v != 7 {
		t.Fatalf("after RestartPostgres: %d, %v", v, err)
	}
}

// With DATABASE_URL set, the harness uses that server: databases are created
// on it, and it is never stopped.
func TestExternalServer(t *testing.T) {
	server := testenv.PostgresURL(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestExternalChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+server, "PGTMP_EXTERNAL_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{"--- SKIP: TestExternalChild/stop", "--- PASS: TestExternalChild "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
	if _, err := query(t, server, `SELECT 1`); err != nil {
		t.Errorf("server down after the child: %v", err)
	}
}

func TestExternalChild(t *testing.T) {
	if os.Getenv("PGTMP_EXTERNAL_CHILD") != "1" {
		t.Skip("run by TestExternalServer")
	}
	server := os.Getenv("DATABASE_URL")
	if got := testenv.PostgresURL(t); got != server {
		t.Fatalf("PostgresURL = %q, want DATABASE_URL %q", got, server)
	}
	_, url := testenv.NewDatabase(t)
	if !strings.HasPrefix(url, strings.SplitN(server, "/postgres?", 2)[0]+"/t_") {
		t.Errorf("database URL %q is not on %q", url, server)
	}
	t.Run("stop", func(t *testing.T) {
		testenv.StopPostgres(t)
		t.Error("StopPostgres did not skip for an external server")
	})
	if _, err := query(t, url, `SELECT 1`); err != nil {
		t.Errorf("external server unreachable: %v", err)
	}
}
