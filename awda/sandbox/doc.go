// Package sandbox is the AWDA sandbox: to AWDA what stripe-mock is to
// Stripe. It is a real HTTP server speaking the wire contract of package
// awda (awda/contract.go), strict about it, over a realistic in-memory state
// machine; tests, local runs (make run), benchmarks and chaos drills all use
// it. The binary is cmd/awda-sandbox; README.md is the user's guide.
//
//	srv, _ := sandbox.New(sandbox.Config{AppID: "app", HMACSecret: secret, LoanStatusWebhookURL: hook})
//	srv.Start()
//	defer srv.Close()
//	ts := httptest.NewServer(srv)
//
// # Strictness
//
// Every interface answers HTTP 200 with the envelope {"code","message","data"}
// except for two transport-level refusals. Checks run in this order:
//
//  1. method not POST → HTTP 405; unknown path → HTTP 404;
//  2. X-Awda-App-Id present but not Config.AppID → 1005;
//  3. a sign header missing (X-Awda-App-Id included: a request without any
//     X-Awda header is unsigned), a malformed timestamp or nonce, a sign
//     type without a configured key, or a wrong signature → 1004 (the
//     multipart image upload is signed over the sha256 of the file bytes);
//  4. timestamp more than 60 s from the sandbox clock (Clock + skew) → 1003;
//  5. nonce already used within the window → 1001 (only requests that
//     passed 3 and 4 consume a nonce; the cache is bounded);
//  6. fault rules (busy, forced code, timeout) — see Fault;
//  7. body not a JSON object of the interface (Content-Type other than
//     application/json, unknown fields, wrong types, trailing data; for
//     image/upload: not multipart) → 400;
//  8. a missing field → 1006, an invalid one → 1007, using the awda
//     package's Validate methods, then the interface's own rules.
//
// # State and rules
//
//   - user/register: the same partnerUserId or NIK again → 1008 with the
//     existing userId in data.
//   - user/eligible-check: eligible with maxAmount Config.MaxAmount and
//     Config.Tenors (default Tenors), unless the partnerUserId contains
//     "ineligible".
//   - auth/list, auth/page: Config.AuthTypes (default EKYC and TELCO
//     required, BPJS optional); unknown authType → 1012; a page puts the
//     authorization in PENDING until it is completed (autopilot, admin API,
//     or the H5 page's ?result=success|failed) or expires (AuthPageTTL →
//     EXPIRED, pushed).
//   - bank/list: Banks. bankcard/verify: unknown bankCode or an account
//     number outside the bank's length range → 1007; an account number
//     ending in 0000 → FAILED "name mismatch"; otherwise BOUND, unless
//     QueueCardVerdicts scripted the answer (FAILED, or VERIFYING until
//     SetCardStatus finishes it; bankcard/query shows the card meanwhile).
//   - image/token: expires after ImageTokenTTL; image/upload with an
//     unknown or expired token → 1002.
//   - loan/submit: the same orderNo again → 1001 with the existing loanNo
//     (never a second loan); unknown userId → 1009; identity.nik must be
//     the registered one, the image ids the user's KTP and SELFIE, the tenor
//     one of those offered (else 1007); the required authorizations must be
//     SUCCESS (else 1012) and a card BOUND (else 1007), unless
//     Config.SkipPrerequisites.
//   - loan/agreement: from APPROVED on (else 1007). loan/sign: wrong
//     agreementId → 1007; APPROVED → SIGNED; signing again once signed
//     answers 0 with the current status; any other status → 1007.
//   - loan/info by loanNo or orderNo (unknown → 1010); the schedule exists
//     from DISBURSED on: MONTH n → n installments, DAY → 1.
//   - repayment/va: for DISBURSED, REPAYING and OVERDUE loans (else 1007);
//     the amount due on the next installment, valid for VATTL.
//   - redirect-url: an H5 page link for a loan of that user.
//
// Pricing: admin fee 5 % (deducted at disbursement), interest 3 % of the
// amount per month or 0.1 % per day, overdue fee 1 % of the installment's
// principal.
//
// # Loan state machine and pushes
//
// SUBMITTED → UNDER_REVIEW → APPROVED | REJECTED; APPROVED → SIGNED →
// DISBURSING → DISBURSED | DISBURSE_FAILED (→ DISBURSING again); DISBURSED,
// REPAYING, OVERDUE → REPAYING (pays the next installment; Period says
// which), OVERDUE (the next installment is late), SETTLED (pays all that
// remain); CANCELLED from SUBMITTED, UNDER_REVIEW, APPROVED, DISBURSE_FAILED
// and (never by the autopilot: a cancellation after the money went out)
// DISBURSED, REPAYING, OVERDUE.
// Every change, whoever causes it, is recorded and pushed as a
// LoanStatusEvent to Config.LoanStatusWebhookURL; authorization changes to
// SUCCESS, FAILED or EXPIRED are pushed as AuthorizationEvents to
// Config.AuthWebhookURL. A push is a POST signed like a partner request
// (path = the webhook URL's path, appId = Config.AppID, sandbox clock,
// fresh nonce, Config.PushSigner) and is retried with exponential backoff
// until the answer is HTTP 200 with code 0. Events of one loan (or one
// user's authorizations) go out in order, each after the previous was
// acknowledged, unless Delivery.Reorder; Delivery can also duplicate and
// delay them. Event ids derive from the seed, the loan (or user) and its
// event sequence.
//
// # Autopilot
//
// With Config.Autopilot.Enabled, each step waits a seeded delay (default
// 100–500 ms, none with NoDelay):
//
//   - auth/page → SUCCESS (FAILED for the first page when partnerUserId
//     contains "authfail");
//   - SUBMITTED → UNDER_REVIEW → REJECTED when partnerUserId contains
//     "reject" or "ineligible" or the amount exceeds MaxAmount, else
//     APPROVED; the partner then signs;
//   - SIGNED → DISBURSING → DISBURSED (DISBURSE_FAILED on the first attempt
//     when partnerUserId contains "disbursefail"; the autopilot stops there
//     until the admin API moves the loan on);
//   - each installment is repaid after a step delay: REPAYING with its
//     period, SETTLED after the last (with "overdue" in the partnerUserId
//     the first installment goes OVERDUE before it is paid);
//   - partnerUserId containing "manual": the autopilot leaves that user alone.
//
// Whatever moves a loan (API, admin, autopilot), the autopilot carries on
// from the new status; a step whose loan moved in the meantime is dropped.
//
// # Admin API
//
// Unsigned JSON under /_sandbox/, loopback clients only unless
// Config.AdminAllowRemote (see the Admin* route constants): stats, events,
// faults, delivery, loans/{loanNo} and loans/{loanNo}/status,
// authorizations, clock, reset, healthz. The same operations are methods:
// Stats, Events, SetFaults, ClearFaults, SetDelivery, Advance, Loan,
// LoanTransitions, SetAuthorization, SetClockSkew, Reset, WaitIdle.
//
// # In-process use
//
// Tests and the simulator (tools/loansim) run the sandbox in their own
// process, on their own clock (Config.Clock: simulated time) and without
// Start, so that nothing runs in the background: they play AWDA's part
// through methods (Advance, SetAuthorization, QueueCardVerdicts,
// SetCardStatus) at the moments they choose, and look things up with
// UserID, LoanNo, Loan and ImagesStored. internal/testenv puts the real
// awda client in front of it.
//
// # Determinism and what it must never do
//
// Ids, fault draws, delays and push nonces come from math/rand/v2 PCG
// generators seeded with Config.Seed, one stream per purpose: the same seed
// and the same sequence of calls give the same ids. The sandbox never logs
// personal data (NIK, names, phone or account numbers, tokens, images): its
// logs carry endpoints, codes, loanNos, userIds, eventIds and statuses. It
// stores only hashes of uploaded images.
package sandbox
