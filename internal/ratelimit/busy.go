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
// milliseconds, $4 the decay and $5 τ, in seconds; $6 the storm's share of
// busy answers, from 0 to 1). It counts the answer in the decaying busy
// count; it pauses the class only in a storm: about three busy answers or
// more in the last few seconds (the decayed count above 2.5), and at least
// the storm's share of the calls let through. During
// a pause, a busy answer (to a call made before it) changes nothing. After
// a pause, a storm within the decay doubles the backoff (up to the cap);
// one after a quiet spell starts again from the base. A new pause also
// moves tat to its end plus τ, so that calls resume at the steady rate,
// not in a burst.
const busySQL = `
WITH cur AS (
	SELECT class, tat, paused_until, backoff_ms, calls_ewma, busy_ewma, ewma_at, clock_timestamp() AS now
	  FROM awda_rate_limit WHERE class = $1 FOR UPDATE
), d AS (
	SELECT class, tat, now, paused_until, backoff_ms,
	       calls_ewma * ` + decaySQL + ` AS calls_e,
	       busy_ewma * ` + decaySQL + ` + 1 AS busy_e
	  FROM cur
), b AS (
	SELECT d.*, now < paused_until AS paused,
	       now >= paused_until AND busy_e > 2.5 AND busy_e >= $6 * GREATEST(calls_e, 1) AS pause
	  FROM d
), n AS (
	SELECT b.*,
	       CASE WHEN NOT b.pause THEN b.backoff_ms
	            WHEN b.now < b.paused_until + make_interval(secs => $4) THEN LEAST($3::bigint, GREATEST($2::bigint, b.backoff_ms * 2))
	            ELSE $2::bigint END AS next_ms
	  FROM b
)
UPDATE awda_rate_limit r
   SET backoff_ms = n.next_ms,
       paused_until = CASE WHEN n.pause THEN n.now + n.next_ms * interval '1 millisecond' ELSE n.paused_until END,
       tat = CASE WHEN n.pause THEN GREATEST(n.tat, n.now + n.next_ms * interval '1 millisecond' + make_interval(secs => $5)) ELSE n.tat END,
       calls_ewma = n.calls_e,
       busy_ewma = n.busy_e,
       ewma_at = n.now,
       busy_total = r.busy_total + 1,
       busy_at = n.now
  FROM n WHERE r.class = n.class
RETURNING n.pause, r.backoff_ms, extract(epoch FROM GREATEST(r.paused_until, n.now) - n.now)::float8`

// Busy counts a busy answer and, in a storm, pauses the class for the
// whole fleet (see busySQL). A failure is
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
			l.cfg.BusyDecay.Seconds(), l.limit(class).tolerance().Seconds(), l.cfg.BusyStorm).Scan(&started, &backoffMs, &left)
	})
	if err != nil {
		l.log.Warn().Str("class", string(class)).Str("error_type", fmt.Sprintf("%T", err)).Msg("rate limiter: busy answer not recorded")
		return
	}
	l.notePause(class, began, seconds(left))
	if started {
		l.m.pauseStarted(ctx, class)
		l.log.Info().Str("class", string(class)).Dur("backoff", time.Duration(backoffMs)*time.Millisecond).
			Msg("AWDA busy storm: the fleet pauses this class")
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
