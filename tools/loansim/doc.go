// Package loansim is the deterministic simulator of issue 10: it drives the
// real workflows.LoanApplication and the real activities.Activities in the
// SDK's time-skipping test environment, over the real awda client, against
// the AWDA sandbox in process (internal/testenv.AWDA: the sandbox on the
// environment's simulated clock, never started, so nothing moves at AWDA
// but what a scenario scripts), through scenarios drawn from a seed, for up
// to two simulated years per loan, and checks every scenario against a
// reference model written from the specified semantics, not from the
// workflow code.
//
// AWDA's side of a script goes through the sandbox's back office (Advance,
// SetAuthorization, QueueCardVerdicts, SetCardStatus) and the script in
// front of it (queued busy or stale-timestamp codes, answers lost after
// the call was applied, loan/info outages). Its pushes are not the
// sandbox's: the script delivers them as signals, on time, late,
// duplicated or never, which is what the model reasons about. A move the
// sandbox refuses (Result.Refused; none in the first 2,000 seeds) changes
// nothing, as at AWDA.
//
// A seed determines a scenario (Generate: math/rand/v2 with a PCG source)
// and with it the outcome. A scenario is a script of events at simulated
// times: AWDA approving, rejecting, reviewing for minutes to weeks, failing
// a disbursement and disbursing days later, VERIFYING a card for days,
// refusing cards, marking installments overdue, settling early, cancelling;
// pushes delivered, lost, duplicated or late by hours (which reorders
// them); the borrower authorizing, submitting cards and signing, sending
// invalid updates, cancelling at any moment; operations retrying or
// abandoning, stuck or not; busy storms (100/1000/1011), 1003, calls applied
// whose answer is lost, loan/info outages; continue-as-new suggested at
// random moments, some in the same workflow task as a push. Predict is the
// reference model. Drafts it calls ambiguous (two decisive moments closer
// than a poll can tell apart) are redrawn from the same seed.
//
// Runs. The environment returns a *workflow.ContinueAsNewError at
// continue-as-new; the simulator decodes its input and starts the next run
// in a fresh environment at the simulated time the previous one ended, on
// the same AWDA and read model, re-registering the events not yet played at
// their absolute times. A scripted event whose callback fires after the run
// completed is played in the next run, as the server delivers a signal that
// arrives after a continue-as-new to the new run; one delivered before is
// part of the old run's history, and its effect must travel in the carried
// state.
//
// History estimate. The environment does not count events, so the
// simulator estimates them, on the high side, and feeds the running total
// to the workflow (SetCurrentHistoryLength) so that its own threshold
// (Config.ContinueAsNewEvents) acts:
//
//   - 4 at start (started, one workflow task) and 1 at the end;
//   - a timer: 1 when started, 1+3 when it fires (the event and the
//     workflow task it wakes), 1 when cancelled;
//   - an activity attempt: 2 when started (scheduled, started), 1+3 when it
//     completes (every attempt is counted, although the server records only
//     the last one's started event);
//   - a local activity: 1 marker when it completes or is cancelled;
//   - a signal: 1+3; an update: 2+3 (accepted, completed and a task; a
//     rejected update costs the server nothing, counted anyway);
//   - a search-attribute upsert: 1.
//
// The bench scenario of a loan polling AWDA every 10 minutes in review
// estimates 864 events a day, issue 10's "about 860 a day".
//
// Invariants (check): the outcome is the model's; a borrower's cancel ends
// the loan at its simulated time wherever the stage allows it, and a final
// status pushed ends a waiting loan within 5 minutes; the loan status never
// moves backwards (recorded transitions across runs, read-model writes); every
// delivered push is applied exactly once across runs, or recorded as
// ignored; at most one submission per orderNo is applied at AWDA; every
// run's estimate stays under 10,240 events, and under ContinueAsNewEvents
// plus ContinueAsNewSlack (the work between two waits, where the workflow
// looks at its history length: a loan that never continues as new breaks
// it); AWDA calls per waiting day stay under
// CallsPerWaitingDay over every window of two days or more without scripted
// events (after the first card, before the end); every payload the
// environment produces goes through the project's encrypting codec and
// carries no borrower data in plain text, and no log line does; invalid
// updates are refused.
//
// The package prints seeds, times, stages, statuses and eventIds, never a
// name, NIK, phone or account number. It is a test tool: nothing that ships
// imports it.
package loansim
