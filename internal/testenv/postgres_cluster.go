package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresCluster is a throwaway PostgreSQL server: one data directory, one
// postmaster listening on 127.0.0.1 with trust authentication for the
// superuser "postgres". It is for tests and local runs only: never point it at
// data you want to keep (fsync is off).
//
// Layout under Dir: data/ (PGDATA), sock/ (unix socket), postgres.log.
//
// When the current process runs as root, the directory is chowned to the
// "postgres" OS user and initdb and postgres run as that user (PostgreSQL
// refuses to run as root). We switch the credentials of the child directly
// rather than wrapping it in `runuser -u postgres --`: runuser turns our
// SIGINT (fast shutdown) into SIGTERM (smart shutdown, which waits for every
// client) and does not pass on the parent-death signal that keeps a crashed or
// timed-out test run from leaving a postmaster behind.
type PostgresCluster struct {
	Dir  string
	Port int

	binDir string
	cred   *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster exits
	werr error         // the postmaster's exit status, valid after done
}

// PostgresBinDir finds the PostgreSQL server binaries: $PG_BINDIR,
// /usr/lib/postgresql/15/bin, `pg_config --bindir`, then PATH.
func PostgresBinDir() (string, error) {
	has := func(dir string) bool {
		fi, err := os.Stat(filepath.Join(dir, "initdb"))
		return err == nil && !fi.IsDir()
	}
	if d := os.Getenv("PG_BINDIR"); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("testenv: PG_BINDIR=%s has no initdb", d)
	}
	if d := "/usr/lib/postgresql/15/bin"; has(d) {
		return d, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("testenv: PostgreSQL server binaries not found (install postgresql-15 or set PG_BINDIR)")
}

// NewPostgresCluster prepares a cluster under dir (created if missing) that
// will listen on port (0 picks a free one). An existing data directory is
// reused as is, so a cluster can be stopped and started again with its data.
// It does not start the server; call Start.
func NewPostgresCluster(dir string, port int) (*PostgresCluster, error) {
	binDir, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	c := &PostgresCluster{Dir: dir, Port: port, binDir: binDir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("testenv: running as root needs the postgres OS user: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	for _, d := range []string{dir, c.sockDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := c.own(d); err != nil {
			return nil, err
		}
	}
	if err := c.initdb(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *PostgresCluster) dataDir() string { return filepath.Join(c.Dir, "data") }
func (c *PostgresCluster) sockDir() string { return filepath.Join(c.Dir, "sock") }

// LogFile is the server's log; read it when a test fails mysteriously.
func (c *PostgresCluster) LogFile() string { return filepath.Join(c.Dir, "postgres.log") }

// URL is the superuser URL of database name ("postgres" when empty).
func (c *PostgresCluster) URL(name string) string {
	if name == "" {
		name = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path:     "/" + name,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

func (c *PostgresCluster) own(path string) error {
	if c.cred == nil {
		return nil
	}
	return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
}

func (c *PostgresCluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC", "PGTZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

func (c *PostgresCluster) initdb() error {
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err == nil {
		return nil // reuse
	}
	if err := os.RemoveAll(c.dataDir()); err != nil { // a half-done earlier initdb
		return err
	}
	cmd := c.command("initdb",
		"-D", c.dataDir(),
		"-U", "postgres",
		"--auth=trust",
		"--no-locale",
		"-E", "UTF8",
		"--no-sync",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testenv: initdb: %w\n%s", err, tail(out, 2000))
	}
	return nil
}

// Start starts the postmaster and waits until it accepts connections. It is a
// no-op when the server is already running.
func (c *PostgresCluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runningLocked() {
		return nil
	}
	logf, err := os.OpenFile(c.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child keeps its own descriptor
	if err := c.own(c.LogFile()); err != nil {
		return err
	}
	cmd := c.command("postgres",
		"-D", c.dataDir(),
		"-p", strconv.Itoa(c.Port),
		"-k", c.sockDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
		"-c", "max_wal_size=1GB",
		"-c", "log_min_messages=warning",
		"-c", "log_timezone=UTC",
		"-c", "timezone=UTC",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Our own process group, so a terminal's Ctrl-C reaches the owner, which
	// then shuts the server down in order; and SIGQUIT (immediate shutdown)
	// from the kernel if the owner dies without doing so.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := startOnLockedThread(cmd); err != nil {
		return fmt.Errorf("testenv: start postgres: %w", err)
	}
	done := make(chan struct{})
	c.cmd, c.done = cmd, done
	go func() {
		c.werr = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(pctx, c.URL(""))
		if err == nil {
			err = conn.Ping(pctx)
			conn.Close(pctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(c.LogFile())
			return fmt.Errorf("testenv: postgres exited during startup: %v\n%s", c.werr, tail(log, 2000))
		case <-ctx.Done():
			c.stopLocked()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stopLocked()
			log, _ := os.ReadFile(c.LogFile())
			return fmt.Errorf("testenv: postgres not ready after 60s: %v\n%s", err, tail(log, 2000))
		}
	}
}

// Running reports whether the postmaster started by Start is still up.
func (c *PostgresCluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runningLocked()
}

func (c *PostgresCluster) runningLocked() bool {
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// Stop shuts the server down (fast shutdown: open sessions are terminated)
// and waits for it to exit. The data directory stays; Start brings it back.
func (c *PostgresCluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked()
}

func (c *PostgresCluster) stopLocked() error {
	if !c.runningLocked() {
		c.cmd = nil
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	c.cmd = nil
	return nil
}

// Remove stops the server and deletes its directory.
func (c *PostgresCluster) Remove() error {
	if err := c.Stop(); err != nil {
		return err
	}
	return os.RemoveAll(c.Dir)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1. Another process
// may take it before we bind it; callers that care retry.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// The kernel sends Pdeathsig when the *thread* that forked the child exits,
// and the Go runtime may retire threads. Forking from one goroutine locked to
// its thread forever ties the signal to the process's life instead.
var launcher = sync.OnceValue(func() chan launchReq {
	ch := make(chan launchReq)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for req := range ch {
			req.reply <- req.cmd.Start()
		}
	}()
	return ch
})

type launchReq struct {
	cmd   *exec.Cmd
	reply chan error
}

func startOnLockedThread(cmd *exec.Cmd) error {
	reply := make(chan error, 1)
	launcher() <- launchReq{cmd: cmd, reply: reply}
	return <-reply
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
