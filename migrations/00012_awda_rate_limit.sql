-- The one rate limit toward AWDA that every worker and starter shares
-- (internal/ratelimit; issue 13): one row per rate class (awda.RateClass:
-- read, write, upload), updated by every call with a single UPDATE … RETURNING
-- under the row's lock.
--
-- tat is the GCRA's theoretical arrival time: a call may go at
-- max(now, tat - burst tolerance, paused_until), and moves tat one emission
-- interval (1 / rate) past that. paused_until is the fleet-wide pause in a
-- busy storm; backoff_ms the length of the last pause, which doubles while
-- the storm goes on. calls_ewma and busy_ewma count the calls let through
-- and the busy answers, decaying with a 10 s time constant from ewma_at:
-- their ratio is the fleet's busy share, which tells a storm from isolated
-- busy answers. Times are the database's clock (clock_timestamp()), so
-- replicas' clocks do not matter.
--
-- No personal data: a class name, times and counters.

-- +goose Up
CREATE TABLE awda_rate_limit (
    class        text        PRIMARY KEY,
    tat          timestamptz NOT NULL DEFAULT '-infinity',
    paused_until timestamptz NOT NULL DEFAULT '-infinity',
    backoff_ms   bigint      NOT NULL DEFAULT 0,
    busy_total   bigint      NOT NULL DEFAULT 0,
    busy_at      timestamptz,
    calls_ewma   double precision NOT NULL DEFAULT 0,
    busy_ewma    double precision NOT NULL DEFAULT 0,
    ewma_at      timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50); -- room on the page for HOT updates: every call updates its row

INSERT INTO awda_rate_limit (class) VALUES ('read'), ('write'), ('upload');

-- +goose Down
DROP TABLE awda_rate_limit;
