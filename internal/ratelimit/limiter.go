package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/config"
)

// Limit is one class's rate: PerSecond calls a second on average, Burst at
// once after a quiet spell.
type Limit struct {
	PerSecond int
	Burst     int
}

// interval is the GCRA's emission interval T, and tolerance its τ.
func (l Limit) interval() time.Duration  { return time.Second / time.Duration(l.PerSecond) }
func (l Limit) tolerance() time.Duration { return time.Duration(l.Burst-1) * l.interval() }

// Config configures a Limiter.
type Config struct {
	Limits map[awda.RateClass]Limit
	// MaxWait bounds a caller's wait for its slot.
	MaxWait time.Duration
	// BusyStorm is the share of busy answers (0 to 1] among the fleet's
	// recent calls of a class from which it is paused. BusyBackoff,
	// BusyBackoffCap and BusyDecay shape the pause (see the package
	// documentation).
	BusyStorm      float64
	BusyBackoff    time.Duration
	BusyBackoffCap time.Duration
	BusyDecay      time.Duration
}

// ConfigFrom is the limiter's configuration from the process's.
func ConfigFrom(c config.RateLimit) Config {
	return Config{
		Limits: map[awda.RateClass]Limit{
			awda.RateRead:   {PerSecond: c.ReadPerSecond, Burst: c.ReadBurst},
			awda.RateWrite:  {PerSecond: c.WritePerSecond, Burst: c.WriteBurst},
			awda.RateUpload: {PerSecond: c.UploadPerSecond, Burst: c.UploadBurst},
		},
		MaxWait:        c.MaxWait,
		BusyStorm:      float64(c.BusyStormPercent) / 100,
		BusyBackoff:    c.BusyBackoff,
		BusyBackoffCap: c.BusyBackoffCap,
		BusyDecay:      c.BusyDecay,
	}
}

// Limiter is the PostgreSQL-backed awda.Limiter. It is safe for concurrent
// use; any number of Limiters on the same database share one limit.
type Limiter struct {
	pool *pgxpool.Pool
	cfg  Config
	log  zerolog.Logger
	m    *instruments

	mu     sync.Mutex
	paused map[awda.RateClass]time.Time // this process's latest news of each pause, on its own clock

	// admitted, when set (tests), hears of every slot taken, in the
	// database's time.
	admitted func(class awda.RateClass, slot time.Time)
}

var _ awda.Limiter = (*Limiter)(nil)

// New returns a limiter over pool. mp may be nil (no metrics).
func New(pool *pgxpool.Pool, cfg Config, mp metric.MeterProvider, log zerolog.Logger) (*Limiter, error) {
	for _, c := range awda.RateClasses {
		l, ok := cfg.Limits[c]
		if !ok || l.PerSecond < 1 || l.Burst < 1 {
			return nil, fmt.Errorf("ratelimit: class %s needs a rate and a burst of at least 1", c)
		}
	}
	if cfg.MaxWait <= 0 || cfg.BusyBackoff <= 0 || cfg.BusyBackoffCap < cfg.BusyBackoff || cfg.BusyDecay <= 0 || cfg.BusyStorm <= 0 || cfg.BusyStorm > 1 {
		return nil, errors.New("ratelimit: the maximum wait, the busy backoff, the decay and the storm's share must be positive (the share at most 1), the cap not below the backoff")
	}
	l := &Limiter{pool: pool, cfg: cfg, log: log.With().Str("component", "ratelimit").Logger(), paused: map[awda.RateClass]time.Time{}}
	m, err := newInstruments(mp, l.pausedNow)
	if err != nil {
		return nil, err
	}
	l.m = m
	return l, nil
}

func (l *Limiter) limit(class awda.RateClass) Limit {
	if lim, ok := l.cfg.Limits[class]; ok {
		return lim
	}
	return l.cfg.Limits[awda.RateWrite]
}

// errUnavailable is what a caller learns when the database did not answer:
// pgx's errors can name the host and the user.
var errUnavailable = errors.New("rate limiter: database unavailable")

// Wait takes the class's next slot and sleeps until it, or returns an error
// wrapping awda.ErrRateLimited, without taking one, when the slot is
// further away than the maximum wait or than ctx's deadline allows (keeping
// a quarter of the time left, at most a second, for the call itself).
func (l *Limiter) Wait(ctx context.Context, class awda.RateClass) error {
	began := time.Now()
	maxWait := l.cfg.MaxWait
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		maxWait = max(0, min(maxWait, left-min(time.Second, left/4)))
	}
	r, err := l.reserve(ctx, class, maxWait)
	if err != nil {
		if ctx.Err() != nil {
			l.m.refused(ctx, class, reasonCancelled)
			return ctx.Err()
		}
		l.m.refused(ctx, class, reasonError)
		l.log.Warn().Str("class", string(class)).Str("error_type", fmt.Sprintf("%T", err)).Msg("rate limiter: no slot from the database")
		return errUnavailable
	}
	l.notePause(class, began, r.pausedFor)
	if r.admitted && l.admitted != nil {
		l.admitted(class, r.slot)
	}
	if !r.admitted {
		l.m.refused(ctx, class, reasonMaxWait)
		return fmt.Errorf("%w: %s slot %s away, at most %s", awda.ErrRateLimited, class, r.wait.Round(time.Millisecond), maxWait.Round(time.Millisecond))
	}
	if r.wait > 0 {
		t := time.NewTimer(r.wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			l.m.refused(ctx, class, reasonCancelled)
			return ctx.Err()
		case <-t.C:
		}
	}
	l.m.waited(ctx, class, time.Since(began))
	return nil
}

// reservation is the database's answer to one Wait.
type reservation struct {
	slot      time.Time     // the database's time of the slot
	wait      time.Duration // from the database's now to the slot
	admitted  bool          // the slot is taken (within the maximum wait)
	pausedFor time.Duration // what is left of the class's pause
}

// reserveSQL is the GCRA step, in one statement under the class's row lock
// ($2 τ, $3 T, $4 the maximum wait, all in seconds). A slot beyond the
// maximum wait leaves tat as it was.
//
// Why the count bound holds across any number of callers: updates of one
// row are serialised, tat grows by at least T per slot taken, and a slot is
// never before tat − τ; so between the i-th and the j-th slot taken,
// slot_j ≥ slot_i + (j−i)·T − τ, and a window of length W holds at most
// (W + τ)/T + 1 = rate·W + burst of them, whatever the callers' clocks,
// latencies or order.
const reserveSQL = `
WITH cur AS (
	SELECT class, tat, paused_until, calls_ewma, busy_ewma, ewma_at, clock_timestamp() AS now
	  FROM awda_rate_limit WHERE class = $1 FOR UPDATE
), s AS (
	SELECT class, tat, now, paused_until, calls_ewma, busy_ewma,
	       GREATEST(now, tat - make_interval(secs => $2), paused_until) AS slot,
	       ` + decaySQL + ` AS decay
	  FROM cur
), a AS (
	SELECT s.*, s.slot <= s.now + make_interval(secs => $4) AS admitted FROM s
)
UPDATE awda_rate_limit r
   SET tat = CASE WHEN a.admitted THEN GREATEST(a.tat, a.slot) + make_interval(secs => $3) ELSE r.tat END,
       calls_ewma = CASE WHEN a.admitted THEN a.calls_ewma * a.decay + 1 ELSE r.calls_ewma END,
       busy_ewma = CASE WHEN a.admitted THEN a.busy_ewma * a.decay ELSE r.busy_ewma END,
       ewma_at = CASE WHEN a.admitted THEN a.now ELSE r.ewma_at END
  FROM a WHERE r.class = a.class
RETURNING a.slot, extract(epoch FROM a.slot - a.now)::float8, a.admitted,
          extract(epoch FROM GREATEST(a.paused_until, a.now) - a.now)::float8`

// decaySQL is the factor the call and busy counts of cur decay by since
// ewma_at: a 10 s time constant, clamped (exp underflows to an error in
// PostgreSQL).
const decaySQL = `exp(-LEAST(GREATEST(extract(epoch FROM now - ewma_at)::float8, 0) / 10, 50))`

func (l *Limiter) reserve(ctx context.Context, class awda.RateClass, maxWait time.Duration) (reservation, error) {
	lim := l.limit(class)
	var r reservation
	var wait, paused float64
	err := l.withRow(ctx, class, func() error {
		return l.pool.QueryRow(ctx, reserveSQL, string(class), lim.tolerance().Seconds(), lim.interval().Seconds(), maxWait.Seconds()).
			Scan(&r.slot, &wait, &r.admitted, &paused)
	})
	r.wait, r.pausedFor = seconds(wait), seconds(paused)
	return r, err
}

// withRow runs q, creating the class's row first if q finds none (a class
// the migration did not seed).
func (l *Limiter) withRow(ctx context.Context, class awda.RateClass, q func() error) error {
	err := q()
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if _, err := l.pool.Exec(ctx, `INSERT INTO awda_rate_limit (class) VALUES ($1) ON CONFLICT DO NOTHING`, string(class)); err != nil {
		return err
	}
	return q()
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
