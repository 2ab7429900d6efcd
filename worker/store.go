package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/awdafx"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
)

// storeModule provides the PostgreSQL store: the documents the activities
// upload, the read model they keep current, and the audit of every AWDA call.
var storeModule = fx.Module("store",
	fx.Provide(
		newPool,
		newStore,
		awdafx.AsObserver(func(s *store.Store, l zerolog.Logger) awda.Observer {
			return s.AuditObserver(l.With().Str("component", "audit").Logger())
		}),
	),
)

// newPool opens the pool without connecting; OnStart waits for the database
// (as long as the start timeout allows) and applies the migrations.
func newPool(lc fx.Lifecycle, cfg *config.Config, l zerolog.Logger) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(context.Background(), cfg.Database.URL.Reveal())
	if err != nil {
		// pgx's parse errors can quote the connection string.
		return nil, fmt.Errorf("%s: cannot open a pool with this URL", config.EnvDatabaseURL)
	}
	l = l.With().Str("component", "store").Str("database", cfg.Database.Redacted()).Logger()
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := waitDatabase(ctx, pool, l); err != nil {
				return err
			}
			if cfg.Database.Migrate {
				if err := store.Migrate(ctx, cfg.Database.URL.Reveal()); err != nil {
					return err
				}
				l.Info().Msg("database migrated")
			}
			return nil
		},
		OnStop: func(context.Context) error {
			pool.Close()
			return nil
		},
	})
	return pool, nil
}

func waitDatabase(ctx context.Context, pool *pgxpool.Pool, l zerolog.Logger) error {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := pool.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		l.Warn().Err(err).Int("attempt", attempt).Msg("database not reachable yet")
		select {
		case <-ctx.Done():
			return fmt.Errorf("database not reachable: %w", ctx.Err())
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// newStore seals documents with the same key ring as the payloads. Its stop
// hook flushes the audit rows still buffered, after the worker has stopped
// (the worker is constructed later, so it stops earlier).
func newStore(lc fx.Lifecycle, pool *pgxpool.Pool, ring *codec.KeyRing) *store.Store {
	s := store.New(pool, ring)
	lc.Append(fx.StopHook(s.Close))
	return s
}
