// Package inbox delivers the AWDA notifications stored in webhook_inbox to
// their loan workflows, as Temporal signals.
//
// The webhook receiver stores a notification and answers AWDA before (or
// whatever the outcome of) the delivery; the Deliverer makes one attempt
// right away and the Forwarder retries what is still pending, with backoff,
// from startup on. Delivery is at least once: a signal whose outcome could
// not be recorded may be sent again, and the workflow drops an eventId it
// has seen.
//
// It must never start a workflow: a notification is signalled to an open
// workflow by ID (no run ID, never signal-with-start); a loan without an
// application, or whose workflow has closed, is marked orphan and logged for
// reconciliation. Log lines carry AWDA's opaque IDs (eventId, loanNo,
// userId) and workflow IDs only, never the payload.
package inbox
