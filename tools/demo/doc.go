// Package demo drives awdaflow the way a lending backend and its borrowers
// would: through the starter's public HTTP API only (POST /v1/documents,
// POST /v1/applications, GET /v1/applications/{ref} and the borrower and ops
// actions), never through Temporal or the database.
//
// Run takes N applicants, gives each a scenario (a happy path, a rejection,
// an ineligible applicant, a failed first authorization, a refused first
// bank card, an overdue installment, a withdrawal, a disbursement that fails
// and is retried by operations) and therefore an expected terminal outcome,
// generates realistic but fake Indonesian applicant data for it (valid NIKs
// that encode the birth date, +628 mobile numbers, names, addresses, KTP and
// selfie images), and walks every applicant to a terminal state with bounded
// concurrency: it uploads the documents, creates the application, polls it
// and does what its `next` action asks (submit the bank card, sign the
// agreement), as a borrower would. Authorizations and repayments are left to
// the AWDA sandbox's autopilot; scenarios are selected with the sandbox's
// partnerUserId markers (the applicant ref is the partnerUserId).
//
// Progress goes to a callback (counts per stage, for a live display); the
// result is a Summary with the expected and actual outcome of every
// applicant. The starter's `demo` command, `make run`, the benchmarks and
// the chaos drill are built on it.
//
// The package is a pure library: no globals, no output of its own. It never
// puts the applicants' personal data (names, NIKs, phone or account numbers)
// in events, results or errors: those carry applicant refs, stages, AWDA
// loan numbers and the API's problem details, which never quote a value.
package demo
