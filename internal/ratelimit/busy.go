package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// busyTimeout bounds the report of a busy answer: it runs after the
// attempt, whose context may have ended.
const busyTimeout = 2 * time.Second

// busySQL records a busy answer ($2 the base backoff, $3 the cap, both in
// milliseconds, $4 the decay and $5 τ, in seconds). During a pause, a busy
// answer (to a call made before it) changes nothing. After a pause, one
// that comes within the decay doubles the backoff (up to the cap); one
// after a quiet spell starts again from the base. A new pause also moves
// tat to its end plus τ, so that calls resume at the steady rate, not in a
// burst.
const busySQL = `
WITH cur AS (
	SELECT class, tat, paused_until, backoff_ms, clock_timestamp() AS now
	  FROM awda_rate_limit WHERE class = $1 FOR UPDATE
), b AS (
	SELECT class, tat, now, paused_until, now < paused_until AS paused,
	       CASE WHEN now < paused_until THEN backoff_ms
	            WHEN now < paused_until + make_interval(secs => $4) THEN LEAST($3::bigint, GREATEST($2::bigint, backoff_ms * 2))
	            ELSE $2::bigint END AS backoff_ms
	  FROM cur
)
UPDATE awda_rate_limit r
   SET backoff_ms = b.backoff_ms,
       paused_until = CASE WHEN b.paused THEN b.paused_until
                           ELSE b.now + b.backoff_ms * interval '1 millisecond' END,
       tat = CASE WHEN b.paused THEN b.tat
                  ELSE GREATEST(b.tat, b.now + b.backoff_ms * interval '1 millisecond' + make_interval(secs => $5)) END,
       busy_total = r.busy_total + 1,
       busy_at = b.now
  FROM b WHERE r.class = b.class
RETURNING NOT b.paused, r.backoff_ms, extract(epoch FROM r.paused_until - b.now)::float8`

// Busy pauses the class for the whole fleet (see busySQL). A failure is
// logged and counted, never returned: the answer itself already failed the
// call, and Temporal retries it.
func (l *Limiter) Busy(ctx context.Context, class awda.RateClass) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), busyTimeout)
	defer cancel()
	l.m.busy(ctx, class)
	var started bool
	var backoffMs int64
	var left float64
	err := l.withRow(ctx, class, func() error {
		return l.pool.QueryRow(ctx, busySQL, string(class), l.cfg.BusyBackoff.Milliseconds(), l.cfg.BusyBackoffCap.Milliseconds(),
			l.cfg.BusyDecay.Seconds(), l.limit(class).tolerance().Seconds()).Scan(&started, &backoffMs, &left)
	})
	if err != nil {
		l.log.Warn().Str("class", string(class)).Str("error_type", fmt.Sprintf("%T", err)).Msg("rate limiter: busy answer not recorded")
		return
	}
	l.notePause(class, began, seconds(left))
	if started {
		l.m.pauseStarted(ctx, class)
		l.log.Info().Str("class", string(class)).Dur("backoff", time.Duration(backoffMs)*time.Millisecond).
			Msg("AWDA answered busy: the fleet pauses this class")
	}
}

// notePause keeps this process's latest news of the class's pause, for the
// paused gauge: it ends left after the database's answer (at the latest
// began + left on this process's clock).
func (l *Limiter) notePause(class awda.RateClass, began time.Time, left time.Duration) {
	if left <= 0 {
		return
	}
	until := began.Add(left)
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.paused[class]) {
		l.paused[class] = until
	}
}

// pausedNow reports, per class, whether this process knows of a pause in
// force.
func (l *Limiter) pausedNow() map[awda.RateClass]bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[awda.RateClass]bool, len(awda.RateClasses))
	for _, c := range awda.RateClasses {
		out[c] = now.Before(l.paused[c])
	}
	return out
}
