package ratelimit

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
)

// Module provides the awda.Limiter internal/awdafx gives the AWDA client:
// this package's over the application's pool, or nil (no limit) when
// AWDA_RATE_LIMIT is false.
var Module = fx.Module("ratelimit", fx.Provide(Provide))

// Provide builds the limiter from the configuration.
func Provide(cfg *config.Config, pool *pgxpool.Pool, m *metrics.Metrics, log zerolog.Logger) (awda.Limiter, error) {
	if !cfg.RateLimit.Enabled {
		log.Warn().Str("component", "ratelimit").Msg("AWDA rate limit off (" + config.EnvRateLimit + "=false)")
		return nil, nil
	}
	l, err := New(pool, ConfigFrom(cfg.RateLimit), m.MeterProvider(), log)
	if err != nil {
		return nil, err
	}
	return l, nil
}
