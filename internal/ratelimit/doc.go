// Package ratelimit is the one rate limit toward AWDA that every worker
// replica and every starter shares (issue 13): an awda.Limiter kept in
// PostgreSQL, one row per rate class (awda.RateRead, RateWrite, RateUpload)
// in awda_rate_limit (migration 00012).
//
// Why PostgreSQL and not Temporal's task-queue activity rate limit: the
// loan workflow runs its AWDA reads as local activities inside workflow
// tasks (workflows.loanWorkflow.reads), which no task-queue limit sees;
// starter serve calls AWDA too (the bank list), and so will the
// reconciliation sweep. Every one of them builds its AWDA client through
// internal/awdafx, which hands it this limiter, and every one already has
// the database.
//
// The limit is a GCRA (generic cell rate algorithm, a token bucket kept as
// one timestamp): each call takes, in one UPDATE … RETURNING under the
// class's row lock, the slot max(now, tat − τ, paused_until) and moves the
// theoretical arrival time tat to max(tat, slot) + T, with T = 1/rate and
// τ = (burst − 1)·T. The caller sleeps until its slot. However many
// processes take slots, the slots of a class in any window of length W
// number at most rate·W + burst (see limiter.go). A slot further away than
// the maximum wait (or the caller's deadline) is not taken: the call fails
// busy without reaching AWDA, and Temporal retries it later.
//
// A busy storm at AWDA (answers 100, 1000, 1011, HTTP 429 to at least
// AWDA_RATE_BUSY_STORM_PERCENT of the fleet's recent calls of a class, and
// at least three; both counted in the row, decaying over about ten
// seconds) pauses the class for the whole fleet: paused_until moves ahead
// by a backoff that doubles while the storm goes on right after each
// pause, up to a cap, and starts again from the base after a quiet spell
// (the decay). Calls resume after a pause at the steady rate, without a
// burst. Isolated busy answers pause nothing: Temporal retries them.
//
// Clocks: every time is the database's (clock_timestamp()); a process only
// sleeps the duration the database computed, so replicas' clocks do not
// matter.
//
// The package never sees a request or a borrower: its rows, errors, logs
// and metrics carry a class name, times and counts.
package ratelimit
