package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib" // database/sql over pgx, for goose
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/awdaflow/awdaflow/migrations"
)

// migrationLockID is the key of the session advisory lock held while
// migrating (goose's default key, salted so another goose-managed schema in
// the same database does not share it).
const migrationLockID int64 = 0x617764616d6967 // "awdamig"

// Migrate applies the pending migrations of package migrations to the database
// at databaseURL. It holds a PostgreSQL session advisory lock meanwhile, so
// several processes starting at once migrate one after the other (the later
// ones find nothing to do); a waiting process gives up after five minutes.
//
// databaseURL is the pool's: pool settings in it (pool_max_conns and the
// like, which a plain connection refuses) are understood and left out.
func Migrate(ctx context.Context, databaseURL string) error {
	pc, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors can quote the connection string.
		return errors.New("store: migrate: the database URL does not parse")
	}
	db := stdlib.OpenDB(*pc.ConnConfig)
	defer db.Close()
	db.SetMaxOpenConns(2) // one holds the lock, one runs the migrations

	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrationLockID),
		lock.WithLockTimeout(1, 300),
	)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}
