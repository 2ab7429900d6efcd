//go:build integration

package storefx_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/storefx"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m)) }

func ring(t *testing.T) *codec.KeyRing {
	t.Helper()
	spec, err := codec.GenerateKeySpec("test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func app(t *testing.T, url string, migrate bool, logs *testenv.SyncBuffer, populate ...any) *fx.App {
	t.Helper()
	cfg := &config.Config{Database: config.Database{URL: config.Secret(url), Migrate: migrate}}
	return fx.New(
		fx.NopLogger,
		fx.Supply(cfg, zerolog.New(logs), ring(t)),
		storefx.Module,
		// What the binaries' other modules do: use the store (fx builds
		// only what is used).
		fx.Invoke(func(*store.Store) {}),
		fx.Populate(populate...),
	)
}

// The module migrates an empty database on start (pool settings in the URL
// included) and hands out a working store; stop flushes and closes.
func TestModuleMigratesAndServes(t *testing.T) {
	_, url := testenv.NewDatabase(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	var (
		logs testenv.SyncBuffer
		st   *store.Store
		pool *pgxpool.Pool
	)
	a := app(t, url+sep+"pool_max_conns=3", true, &logs, &st, &pool)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start: %v\n%s", err, logs.String())
	}
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("pool max conns %d, want the URL's 3", got)
	}
	var applied int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil || applied == 0 {
		t.Fatalf("migrations applied: %d %v", applied, err)
	}
	if _, inserted, err := st.InsertInbox(ctx, store.InboxEntry{Source: store.SourceLoanStatus, EventID: "ev-1", Payload: []byte(`{}`)}); err != nil || !inserted {
		t.Fatalf("insert through the store: %v %v", inserted, err)
	}
	if !strings.Contains(logs.String(), "database migrated") {
		t.Errorf("no migration log line: %s", logs.String())
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := pool.Ping(ctx); err == nil {
		t.Error("the pool is still open after stop")
	}
}

// Without DATABASE_MIGRATE the schema is left alone.
func TestModuleWithoutMigrate(t *testing.T) {
	pool, url := testenv.NewDatabase(t)
	var logs testenv.SyncBuffer
	a := app(t, url, false, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(ctx)
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('webhook_inbox') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("schema created without migrate: %v %v", exists, err)
	}
}

// A database that never answers fails the start when its timeout ends, and
// nothing logged or returned shows the password.
func TestUnreachableDatabase(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	const password = "pw-never-printed-8c2e"
	var logs testenv.SyncBuffer
	a := app(t, "postgres://awdaflow:"+password+"@127.0.0.1:"+strconv.Itoa(port)+"/awdaflow?connect_timeout=1", true, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = a.Start(ctx)
	if err == nil {
		a.Stop(context.Background())
		t.Fatal("started without a database")
	}
	if !strings.Contains(logs.String(), "database not reachable yet") {
		t.Errorf("no retry was logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), password) || strings.Contains(err.Error(), password) {
		t.Errorf("the password was printed: %v\n%s", err, logs.String())
	}
}
