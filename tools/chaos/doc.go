// Package chaos is `make chaos`: the whole system run as real processes
// (tools/stack) while everything that can go wrong does, followed by an
// audit that fails loudly when anything was lost or done twice.
//
// A run drives N applicants (the demo driver's scenario mix, so every
// applicant's terminal state is known in advance) through the public API
// while the AWDA sandbox answers busy, times out (sometimes after applying
// the request), adds latency, sends every notification four times out of
// order and, for a while, skews its clock so that every signed request is
// refused with 1003. Meanwhile the worker is killed with SIGKILL every
// 10–20 s and started again, and the Temporal dev server, PostgreSQL and the
// starter are each restarted once. On the production lane (Options.Server:
// Temporal's own server on PostgreSQL, 2 workers, 2 starters behind a proxy
// that routes by readiness) one worker replica is killed as often, one
// starter replica is killed every 25–40 s and started again, and Temporal's
// server is killed with SIGKILL once and restarted gracefully once, on the
// same databases, besides the PostgreSQL restart (one cluster holds
// Temporal's databases and ours). A Schedule, drawn from the seed, says
// when each of these happens.
//
// Afterwards Check audits what the run left behind (Observations, gathered
// from the API, Temporal, the sandbox and the database) and returns every
// Violation: an applicant not in its expected terminal state, an orderNo
// with other than one loan at AWDA, a notification applied twice or a
// status moving backwards, a webhook_inbox row still pending, a starter
// replica whose forwarder delivered no row (with several, they must have
// shared the inbox), a notification a workflow saw twice whose row was
// claimed only once (signalled twice under one lease), a workflow ID with a
// second run, a push never acknowledged, or chaos that did not happen (a
// run without faults proves nothing).
//
// Check is pure: it reads Observations and touches nothing, so that its
// rules are unit-tested with fabricated violations. It never prints
// personal data: applicants appear by ref, loans by orderNo and loanNo.
package chaos
