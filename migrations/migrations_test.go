//go:build integration

package migrations_test

import (
	"context"
	"database/sql"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/migrations"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m)) }

func provider(t *testing.T) (*goose.Provider, *sql.DB) {
	t.Helper()
	_, url := testenv.NewDatabase(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return p, db
}

// Every migration goes down cleanly and comes back up, so a bad release can
// be rolled back.
func TestUpDownUp(t *testing.T) {
	p, db := provider(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if len(p.ListSources()) < 4 {
		t.Fatalf("only %d migrations embedded", len(p.ListSources()))
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_name <> 'goose_db_version'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables left after migrating down to 0", tables)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	// The newest source's version, not their count: numbers are reserved
	// per branch, so a branch may lack another's (00012 without 00010).
	srcs := p.ListSources()
	if cur, err := p.GetDBVersion(ctx); err != nil || cur != srcs[len(srcs)-1].Version {
		t.Errorf("version %d (%v), want %d", cur, err, srcs[len(srcs)-1].Version)
	}
}

// A guard for future migrations: a column whose name suggests personal data
// must be a sealed bytea (*_sealed), never text.
func TestNoClearTextPersonalDataColumns(t *testing.T) {
	p, db := provider(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	personal := regexp.MustCompile(`nik|phone|mobile|name|email|address|account|card|birth|payload|token|contact|image|photo`)
	// Columns the pattern catches that hold no personal data.
	notPersonal := map[string]bool{
		"documents.image_type": true, // AWDA's document kind, e.g. ID_CARD
	}
	checked := 0
	for rows.Next() {
		var table, column, typ string
		if err := rows.Scan(&table, &column, &typ); err != nil {
			t.Fatal(err)
		}
		if !personal.MatchString(column) || notPersonal[table+"."+column] {
			continue
		}
		checked++
		if !strings.HasSuffix(column, "_sealed") || typ != "bytea" {
			t.Errorf("%s.%s (%s) looks like personal data but is not a sealed bytea column", table, column, typ)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Error("no sealed columns found; the check is not looking at the schema")
	}
}
