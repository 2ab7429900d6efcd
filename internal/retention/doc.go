// Package retention deletes what awdaflow no longer needs to keep (issue
// 13): the documents of loans closed more than RETENTION_DOCUMENTS_DAYS ago,
// webhook_inbox rows delivered more than RETENTION_INBOX_DAYS ago,
// awda_calls rows older than RETENTION_AWDA_CALLS_DAYS, and documents no
// application references (loose, or of an applicant ref never created)
// uploaded more than RETENTION_UNREFERENCED_DOCUMENTS_DAYS ago.
//
// Each kind has a Temporal Schedule (ScheduleID), created or brought up to
// date by the worker at startup (EnsureSchedules), that starts the Sweep
// workflow daily on the loans' task queue. A sweep fixes its cutoff when it
// starts, then deletes batches of at most RETENTION_BATCH_SIZE rows, one
// activity each, until a batch comes back short; it continues as new every
// BatchesPerRun batches so that its history stays small. Deletes are
// idempotent, so a sweep that crashes resumes with its next batch, and the
// next day's sweep takes whatever a failed one left.
//
// The workflow is deterministic (no I/O, no time.Now, no goroutines: the
// rows are deleted by activities). Nothing here logs, labels or returns
// anything about a borrower: only kinds, counts and times.
package retention
