// Package workflows holds LoanApplication, the durable Temporal workflow of
// one applicant's loan at AWDA: register, eligibility, authorizations, bank
// card, documents, submission, review, agreement, disbursement and
// repayment, in that order, ending SETTLED, REJECTED, INELIGIBLE, EXPIRED,
// CANCELLED or FAILED.
//
// api.go is the package's contract with starters, workers and the front
// door: the task queue, workflow ID and orderNo helpers, the query, signals
// and updates (each one typed value of its name and payload types, whose
// senders and workflow-side registration live in messages.go), the search
// attributes and the configuration. loan.go is the story, stage by stage;
// handlers.go the query, updates and signals; steps.go the generic step
// runner that parks a loan as stuck for operations instead of failing it,
// and the typed AWDA calls (callOf) it runs; versions.go the GetVersion
// change IDs; errors.go the error types (lower snake_case, with the old
// spellings still honoured by IsErrorType, the only way to branch on one).
//
// Two rules hold between the handlers and run(): an AWDA answer that was
// asked for before a signal arrived never overwrites what the signal
// applied (loan statuses only move forward; an authorization callback
// stands against a page read that overlapped it), and a final AWDA status
// (SETTLED, CANCELLED, REJECTED) wins over a step AWDA refused because of
// it, and over a loan parked for operations.
//
// Workflow code must be deterministic. It must never do I/O (every AWDA call
// and database write is an activity), never read the clock or sleep except
// through workflow.Now, workflow.NewTimer and workflow.Await*, never start a
// goroutine (workflow.Go only), never iterate a map to decide what to do,
// and never log or put into state, search attributes or error texts a
// borrower's NIK, phone number, name or account number (the input carries
// the profile; the payload codec encrypts it). A change to what a running
// loan does must go behind workflow.GetVersion, and the replay tests over
// recorded histories must keep passing.
package workflows
