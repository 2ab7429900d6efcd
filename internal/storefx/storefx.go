// Package storefx provides the PostgreSQL store to an fx application, the
// same way in the worker and the starter: a pgx pool whose start waits for
// the database and applies the migrations (under their advisory lock, when
// DATABASE_MIGRATE is on), the store sealing documents and inbox payloads
// with the payload key ring, and the store's audit of every AWDA call as an
// awda.Observer.
//
// Stop order: the store (flushing its buffered audit rows) stops before the
// pool closes; both stop after whatever was constructed later (the worker,
// the HTTP server), as fx stops in reverse.
package storefx

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
	"github.com/awdaflow/awdaflow/workflows"
)

// Module provides *pgxpool.Pool and *store.Store, and contributes the audit
// observer to awdafx.ObserverGroup.
var Module = fx.Module("store",
	fx.Provide(
		NewPool,
		NewStore,
		awdafx.AsObserver(func(s *store.Store, l zerolog.Logger) awda.Observer {
			return s.AuditObserver(l.With().Str("component", "audit").Logger())
		}),
	),
)

// NewPool opens the pool without connecting. Its start waits for the
// database (as long as the application's start timeout allows) and applies
// the migrations when cfg.Database.Migrate; its stop closes the pool.
func NewPool(lc fx.Lifecycle, cfg *config.Config, l zerolog.Logger) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(context.Background(), cfg.Database.URL.Reveal())
	if err != nil {
		// pgx's parse errors can quote the connection string.
		return nil, fmt.Errorf("%s: cannot open a pool with this URL", config.EnvDatabaseURL)
	}
	l = l.With().Str("component", "store").Str("database", cfg.Database.Redacted()).Logger()
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := WaitDatabase(ctx, pool, l); err != nil {
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

// WaitDatabase pings until the database answers, backing off from 200 ms to
// 5 s, until ctx ends. The log names the attempt and the error's type, not
// its text (a connection error can quote the host and user).
func WaitDatabase(ctx context.Context, pool *pgxpool.Pool, l zerolog.Logger) error {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := pool.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		l.Warn().Int("attempt", attempt).Str("error_type", fmt.Sprintf("%T", err)).Msg("database not reachable yet")
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

// NewStore seals with the payload key ring and the applicants' data keys it
// keeps (also provided: the Temporal client's codec and the codec server
// encrypt a loan's payloads under its applicant's key with them). Its stop
// hook flushes the audit rows still buffered.
func NewStore(lc fx.Lifecycle, pool *pgxpool.Pool, ring *codec.KeyRing, cfg *config.Config) (*store.Store, *codec.DataKeys) {
	s := store.New(pool, ring)
	keys := NewDataKeys(ring, s, cfg.DataKeys)
	s.UseDataKeys(keys)
	lc.Append(fx.StopHook(s.Close))
	return s, keys
}

// NewDataKeys is the applicants' data keys kept by src, with a loan's
// workflow ID naming its applicant (workflows.ApplicantRefOf).
func NewDataKeys(ring *codec.KeyRing, src codec.KeySource, c config.DataKeys) *codec.DataKeys {
	return codec.NewDataKeys(ring, src, codec.DataKeysOptions{
		ApplicantOf: workflows.ApplicantRefOf,
		CacheTTL:    c.CacheTTL,
		CacheSize:   c.CacheSize,
	})
}
