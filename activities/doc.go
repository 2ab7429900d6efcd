// Package activities holds the Temporal activities of the loan workflow: one
// method per AWDA partner call on the Activities struct, the document upload
// (which reads image bytes by reference from a DocumentStore), and the
// projection write that keeps the read model current.
//
// Activities are the only place where the loan process does I/O. Each makes
// one attempt and reports failure as a Temporal application error whose type
// is the AWDA error class (see ErrorType; every type is a lower snake_case
// constant in errors.go, and a renamed one keeps its old spelling in
// LegacyErrorTypes), so that the retry policy retries
// what repeating can fix (busy, timeout, stale timestamp; every attempt is
// signed afresh by the client) and the workflow branches on the rest.
//
// This package must never put a borrower's personal data — NIK, names, phone
// or account numbers, tokens, image bytes — into a log line or an error text,
// and never retry inside an activity beyond what a single step needs (the
// upload refreshes an expired token once); retrying belongs to Temporal.
package activities
