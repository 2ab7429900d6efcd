// Command pgtmp runs a throwaway PostgreSQL server for local runs and test
// scripts (make run, make test, .ci/run): it starts a cluster under -dir
// (initdb on first use, the existing data reused afterwards), creates the
// database -db if missing, prints its URL on stdout as one line, and stops
// the server on SIGINT or SIGTERM. Run as root, the server runs as the
// postgres OS user.
//
//	pgtmp -dir .data/postgres -port 0 > .data/database_url &
//
// With -port 0 a free port is chosen the first time and remembered in the
// directory, so the URL stays the same from one run to the next. If a server
// from an earlier pgtmp is still running on the directory, pgtmp prints its URL
// and exits 0 without taking ownership of it.
//
// Logs go to stderr and to <dir>/postgres.log. Never use it for data you want
// to keep: fsync is off.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/awdaflow/awdaflow/internal/testenv"
)

func main() {
	dir := flag.String("dir", ".data/postgres", "cluster directory (created if missing, reused if present)")
	port := flag.Int("port", 0, "TCP port on 127.0.0.1; 0 reuses the directory's last port or picks a free one")
	db := flag.String("db", "awdaflow", "database to create if missing; its URL is printed")
	flag.Parse()
	if err := run(*dir, *port, *db); err != nil {
		fmt.Fprintln(os.Stderr, "pgtmp:", err)
		os.Exit(1)
	}
}

func run(dir string, port int, db string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	portFile := filepath.Join(abs, "port")
	if port == 0 {
		if b, err := os.ReadFile(portFile); err == nil {
			port, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}

	if running, pid := runningPort(abs); running != 0 {
		c := &testenv.PostgresCluster{Dir: abs, Port: running}
		if err := createDatabase(context.Background(), c, db); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "pgtmp: a server (pid %d) already runs on %s; not managing it\n", pid, abs)
		fmt.Println(c.URL(db))
		return nil
	}

	c, err := testenv.NewPostgresCluster(abs, port)
	if err != nil {
		return err
	}
	if err := os.WriteFile(portFile, []byte(strconv.Itoa(c.Port)+"\n"), 0o644); err != nil {
		return err
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	err = c.Start(ctx)
	if err == nil {
		err = createDatabase(ctx, c, db)
	}
	cancel()
	if err != nil {
		_ = c.Stop()
		return err
	}
	fmt.Println(c.URL(db))
	fmt.Fprintf(os.Stderr, "pgtmp: PostgreSQL ready on 127.0.0.1:%d (data in %s); SIGINT or SIGTERM stops it\n", c.Port, abs)

	// Stop on a signal, or notice if the server dies under us.
	for c.Running() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "pgtmp: %v: stopping PostgreSQL\n", sig)
			return c.Stop()
		case <-time.After(time.Second):
		}
	}
	return errors.New("PostgreSQL exited unexpectedly; see " + c.LogFile())
}

// runningPort reads <dir>/data/postmaster.pid and returns the port and pid of
// a live postmaster, or zeros.
func runningPort(dir string) (port, pid int) {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, 0
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, 0
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, 0 // stale file from a crash; postgres removes it on start
	}
	return port, pid
}

func createDatabase(ctx context.Context, c *testenv.PostgresCluster, name string) error {
	if name == "" || name == "postgres" {
		return nil
	}
	conn, err := pgx.Connect(ctx, c.URL(""))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil || exists {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: a concurrent pgtmp won
		return nil
	}
	return err
}
