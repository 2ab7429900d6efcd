// Package inbox delivers the AWDA notifications stored in webhook_inbox to
// their loan workflows, as Temporal signals.
//
// The webhook receiver stores a notification, wakes the Forwarder and
// answers AWDA: delivery is never on AWDA's request path. The Forwarder
// claims the due rows in batches (leased, so that replicas share the
// inbox), and the Deliverer routes a batch in bulk, signals it with bounded
// concurrency across workflows and in the stored order within one, and
// records the outcomes in one statement; what could not be delivered is
// retried with backoff, from startup on. Delivery is at least once: a
// signal whose outcome could not be recorded may be sent again, and the
// workflow drops an eventId it has seen.
//
// It must never start a workflow: a notification is signalled to an open
// workflow by ID (no run ID, never signal-with-start); a loan without an
// application, or whose workflow has closed, is marked orphan and logged for
// reconciliation (a warning), except a loan status whose workflow has
// closed: AWDA pushes SETTLED and DISBURSED itself, so one after the loan
// ended is expected, logged at info and counted as outcome after_close. Log lines carry AWDA's opaque IDs (eventId, loanNo,
// userId) and workflow IDs only, never the payload.
//
// When tracing is on (Deliverer.Tracer), each signal attempt is a span,
// inbox.deliver, the root of a trace of its own linked to the receipt's
// span by the traceparent the receiver stored with the row; the signal is
// sent under it, so Temporal's tracing interceptor carries the trace into
// the workflow's handling of the signal.
package inbox
