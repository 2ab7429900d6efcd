//go:build integration

package store_test

import (
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/migrations"
)

func TestMigrateConcurrentlyAndTwice(t *testing.T) {
	pool, url := testenv.NewDatabase(t)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = store.Migrate(ctx(t), url)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate #%d: %v", i, err)
		}
	}
	if err := store.Migrate(ctx(t), url); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	// The pool's URL, pool settings included, is what the binaries pass.
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	if err := store.Migrate(ctx(t), url+sep+"pool_max_conns=4&pool_min_conns=1"); err != nil {
		t.Fatalf("migrate with pool settings in the URL: %v", err)
	}

	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v %v", files, err)
	}
	// Each migration applied exactly once, despite three runs.
	var applied, maxVersion int
	if err := pool.QueryRow(ctx(t),
		`SELECT count(*), max(version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &maxVersion); err != nil {
		t.Fatal(err)
	}
	// The newest file's number, not the count: numbers are reserved per
	// branch, so a branch may lack another's (00012 without 00010).
	newest, err := strconv.Atoi(strings.SplitN(files[len(files)-1], "_", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(files) || maxVersion != newest {
		t.Errorf("goose_db_version: %d rows, max version %d; want %d and %d", applied, maxVersion, len(files), newest)
	}
	for _, table := range []string{"applications", "documents", "webhook_inbox", "awda_calls", "loan_trail", "action_keys", "awda_rate_limit"} {
		var ok bool
		if err := pool.QueryRow(ctx(t), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
}
