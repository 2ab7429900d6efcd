// Package reconcile is the daily reconciliation of awdaflow's three views of
// a loan (issue 13): its workflow in Temporal, its read-model row
// (applications) and AWDA's loan/info.
//
// A Temporal Schedule (ScheduleID), created or brought up to date by the
// worker at startup (EnsureSchedule), starts the Reconcile workflow daily on
// the loans' task queue. A run reads the active (not terminal) read-model
// rows in applicant_ref order, RECONCILE_BATCH_SIZE at a time, one activity
// per batch (ReconcileBatch), and continues as new every BatchesPerRun
// batches carrying its cursor, so that a run whose worker dies resumes from
// its last finished batch and its history stays small. Each loan costs a
// describe and a status query in Temporal and, once it has an AWDA loan
// number, one AWDA loan/info, through awda.Client (and so under the
// fleet's rate limit toward AWDA), one loan at a time.
//
// What disagrees is recorded in reconcile_mismatches (Kinds), counted in
// the awdaflow_reconcile_* gauges and printed by `starter reconcile report`.
// What is safe is repaired through the normal paths only: AWDA's status the
// workflow has not seen (a lost push) becomes a notification in the webhook
// inbox, which the forwarder signals like AWDA's own (and the workflow
// confirms a final status with loan/info before it ends a loan); a read
// model behind the workflow takes the workflow's own state through the
// store's seq-ordered upsert. The rest is parked: recorded with a reason,
// and a read-model row that no workflow will write again is marked stuck.
// The loan workflow itself is never changed, started, terminated or reset.
//
// The workflow is deterministic (no I/O, no time.Now, no goroutines).
// Nothing here logs, records or labels a borrower's personal data: only
// applicant refs, AWDA's opaque IDs, stages, statuses and counts.
package reconcile
