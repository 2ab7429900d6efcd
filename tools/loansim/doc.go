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
// Issue 13. A loan-status push that would end the loan is confirmed with
// AWDA's loan/info first (workflows: confirm-final, confirm-each). A
// quarter of the seeds (ForgeShare; chosen, and drawn, from streams of
// their own, so that every seed keeps the main story it always had, and an
// unchosen seed its whole script) carry one to three forged pushes: a final
// status AWDA does not hold, with the loan's real loanNo and orderNo, at a
// random moment, in the same workflow task as one of AWDA's pushes (before
// or after it), with the continue-as-new suggestion, or while loan/info is
// down (the confirmation read fails until it answers); or AWDA's own final
// push lands in a loan/info outage. The model: a forged push changes
// nothing; before submission nothing is read; after, its confirmation read
// tells the workflow what AWDA holds (changes AWDA made before it are known
// from then on, as if pushed); AWDA's final push during an outage ends the
// loan once loan/info answers again, within pushLatency, and not before
// when AWDA made the change during the outage. Generated outages stay
// within what a read's retries outlast (maxOutage); past the retry budget
// the workflow asks again every PollInterval (TestFinalPushDuringLongOutage,
// a 20-minute outage in AGREEMENT).
//
// Due-date storms (GenerateStorm, TestStorm, make sim's SIM_STORMS): a
// family of loans (100 in make test, 200 a family in make sim) disbursed
// on the same day, so due on the same dates, each with its own workflow ID
// and so its own jitter; one family draws the tenor (1–3 months) and the
// jitter (3 h, 1 h or 6 h). Each installment is paid early and pushed (no
// check), early with the push lost (the check finds it paid, SETTLED for
// the last), or after the check (the check finds it unpaid); some loans
// continue as new before a due date. The simulator runs one loan per
// environment; CheckStorm then holds every loan to one loan/info check per
// due date it had no news of, at 01:00 WIB the next day plus an offset in
// [0, DueCheckJitter), the same offset for all its due dates and runs, none
// when the payment was pushed, and every family to a spread: no minute
// holds more than StormBound(n, jitter) of a due date's n checks (four times
// the uniform mean plus 8, about 10 for 100 checks over 3 hours; without
// jitter all n fall in one), and 40 checks or more span two thirds of the
// jitter. Every storm loan must settle.
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
// ignored; a forged push is never applied; a final push during a loan/info
// outage does not end the loan before loan/info answers; when AWDA calls
// back an authorization, the read model already holds the loan's AWDA user
// ID, by which the inbox routes it (publish-user-id; the callbacks come a
// minute or more after the start, after register's faults, not during a
// slow eligibility check: the chaos run found that case); at most one submission per orderNo is applied at AWDA; every
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
