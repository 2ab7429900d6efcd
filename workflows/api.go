package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
)

// TaskQueue is the task queue of the loan workflow and its activities.
const TaskQueue = "awdaflow-loans"

// WorkflowName is the name LoanApplication is registered under (its function
// name, the SDK default). Starters may use it instead of the function.
const WorkflowName = "LoanApplication"

// LoanWorkflowID is the workflow ID of an applicant's loan. applicantRef is
// the lending backend's opaque ID, never personal data.
func LoanWorkflowID(applicantRef string) string { return loanIDPrefix + applicantRef }

const loanIDPrefix = "loan:"

// ApplicantRefOf is LoanWorkflowID's inverse: the applicant ref of a loan's
// workflow ID, ok false for any other workflow. The payload codec uses it
// to encrypt a loan's payloads under its applicant's data key.
func ApplicantRefOf(workflowID string) (ref string, ok bool) {
	ref, ok = strings.CutPrefix(workflowID, loanIDPrefix)
	return ref, ok && ref != ""
}

// OrderNo is the partner orderNo (AWDA's idempotency key) of the loan with
// this workflow ID: derived from the ID alone, so it is the same on every
// attempt, after any crash and in every run of the workflow, and AWDA can
// never hold two loans for one applicant.
func OrderNo(workflowID string) string {
	sum := sha256.Sum256([]byte(workflowID))
	return "AF" + hex.EncodeToString(sum[:15])
}

// The query, signals and updates, each a wire name with its payload types
// (messages.go). The names are what running loans, recorded histories and
// the Temporal UI know: never change one.
var (
	// StatusQuery returns the loan's Status.
	StatusQuery = Query[Status]{Name: "status"}

	// LoanStatusSignal carries AWDA's LOAN_STATUS push.
	LoanStatusSignal = Signal[awda.LoanStatusEvent]{Name: "loan-status"}
	// AuthorizationSignal carries AWDA's authorization callback.
	AuthorizationSignal = Signal[awda.AuthorizationEvent]{Name: "authorization"}
	// CancelSignal is the borrower withdrawing. Honoured until the
	// agreement is signed; ignored (and recorded) afterwards.
	CancelSignal = Signal[CancelRequest]{Name: "cancel"}
	// RetrySignal is ops re-running the step a stuck loan is parked on.
	RetrySignal = Signal[RetryRequest]{Name: "retry"}
	// AbandonSignal is ops giving up on a stuck loan, which ends FAILED.
	AbandonSignal = Signal[AbandonRequest]{Name: "abandon"}

	// An update is refused with ErrTypeWrongStage or ErrTypeInvalidInput
	// (errors.go); match a refusal with IsErrorType.

	// SubmitBankCardUpdate submits the card that receives the disbursement.
	SubmitBankCardUpdate = Update[BankCardInput, BankCardResult]{Name: "submit-bank-card"}
	// SignAgreementUpdate signs the agreement on offer.
	SignAgreementUpdate = Update[SignAgreementInput, SignAgreementResult]{Name: "sign-agreement"}
)

// CancelRequest is the payload of CancelSignal.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RetryRequest is the payload of RetrySignal.
type RetryRequest struct {
	Operator string `json:"operator,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// AbandonRequest is the payload of AbandonSignal.
type AbandonRequest struct {
	Operator string `json:"operator,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// BankCardInput is the payload of SubmitBankCardUpdate. The account number
// is personal data: it goes to AWDA and nowhere else (the workflow keeps only
// a masked form).
type BankCardInput struct {
	BankCode    string `json:"bankCode"`
	AccountNo   string `json:"accountNo"`
	AccountName string `json:"accountName"`
}

// BankCardResult is AWDA's verdict on a submitted card. Status is
// awda.CardBound or awda.CardVerifying when accepted, awda.CardFailed when
// AWDA refused it (Reason says why; the borrower may submit again), or
// CardPending when the verification is delayed by an AWDA problem that
// operations are handling (the outcome shows in the status query).
type BankCardResult struct {
	Accepted bool   `json:"accepted"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

// CardPending is BankCardResult.Status while a verification waits for ops.
const CardPending = "PENDING"

// SignAgreementInput is the payload of SignAgreementUpdate.
type SignAgreementInput struct {
	AgreementID string `json:"agreementId"`
	Consent     bool   `json:"consent"`
	ClientIP    string `json:"clientIp"`
}

// SignAgreementResult answers SignAgreementUpdate. Status is the loan's AWDA
// status once signed (SIGNED or later), or SignPending when AWDA could not be
// reached and operations are handling it; the consent is kept either way.
type SignAgreementResult struct {
	Accepted bool   `json:"accepted"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

// SignPending is SignAgreementResult.Status while signing waits for ops.
const SignPending = "PENDING"

// Search attributes for operations: list stuck loans with `LoanStuck = true`,
// loans at a stage with `LoanStage = "BANK_CARD"`, find one by
// `AwdaLoanNo = "…"` or `ApplicantRef = "…"`. None carries personal data.
var (
	LoanStageKey    = temporal.NewSearchAttributeKeyKeyword("LoanStage")
	LoanStuckKey    = temporal.NewSearchAttributeKeyBool("LoanStuck")
	AwdaLoanNoKey   = temporal.NewSearchAttributeKeyKeyword("AwdaLoanNo")
	ApplicantRefKey = temporal.NewSearchAttributeKeyKeyword("ApplicantRef")
)

// SearchAttribute names one custom search attribute and its type, as
// `temporal operator search-attribute create --name N --type T` and the dev
// server's `--search-attribute N=T` spell it.
type SearchAttribute struct {
	Name string
	Type string // "Keyword" or "Bool"
}

// SearchAttributes lists the custom search attributes the workflow upserts;
// register them in the namespace before starting a worker.
func SearchAttributes() []SearchAttribute {
	return []SearchAttribute{
		{LoanStageKey.GetName(), "Keyword"},
		{LoanStuckKey.GetName(), "Bool"},
		{AwdaLoanNoKey.GetName(), "Keyword"},
		{ApplicantRefKey.GetName(), "Keyword"},
	}
}

// Stage is where a loan is in its lifecycle: one of the ten working stages,
// in order, or one of the six terminal outcomes.
type Stage string

// Working stages, in the order the loan walks them.
const (
	StageRegister       Stage = "REGISTER"
	StageEligibility    Stage = "ELIGIBILITY"
	StageAuthorizations Stage = "AUTHORIZATIONS"
	StageBankCard       Stage = "BANK_CARD"
	StageDocuments      Stage = "DOCUMENTS"
	StageSubmit         Stage = "SUBMIT"
	StageReview         Stage = "REVIEW"
	StageAgreement      Stage = "AGREEMENT"
	StageDisbursement   Stage = "DISBURSEMENT"
	StageRepayment      Stage = "REPAYMENT"
)

// Terminal outcomes.
const (
	StageSettled    Stage = "SETTLED"    // repaid in full
	StageRejected   Stage = "REJECTED"   // AWDA rejected the application
	StageIneligible Stage = "INELIGIBLE" // AWDA's eligibility check said no
	StageExpired    Stage = "EXPIRED"    // the borrower did not act before a deadline
	StageCancelled  Stage = "CANCELLED"  // the borrower withdrew (or AWDA cancelled)
	StageFailed     Stage = "FAILED"     // abandoned by operations, or attempts exhausted
)

// Stages lists the working stages in order.
var Stages = []Stage{
	StageRegister, StageEligibility, StageAuthorizations, StageBankCard, StageDocuments,
	StageSubmit, StageReview, StageAgreement, StageDisbursement, StageRepayment,
}

// Terminal reports whether s is an outcome.
func (s Stage) Terminal() bool {
	switch s {
	case StageSettled, StageRejected, StageIneligible, StageExpired, StageCancelled, StageFailed:
		return true
	}
	return false
}

// index is s's position in Stages; -1 for "" and terminal outcomes.
func (s Stage) index() int {
	for i, st := range Stages {
		if st == s {
			return i
		}
	}
	return -1
}

// LoanApplicationInput starts a loan. It carries the applicant's profile
// (personal data: the payload codec encrypts it in Temporal) and references
// to documents, never their bytes.
type LoanApplicationInput struct {
	// ApplicantRef is the lending backend's opaque applicant ID.
	ApplicantRef      string                   `json:"applicantRef"`
	Applicant         Applicant                `json:"applicant"`
	Loan              LoanRequest              `json:"loan"`
	EmergencyContacts []awda.EmergencyContact  `json:"emergencyContacts"`
	Documents         []activities.DocumentRef `json:"documents"` // at least KTP and SELFIE
	// UploadMethod is how images reach AWDA (default stream).
	UploadMethod activities.UploadMethod `json:"uploadMethod,omitempty"`
	// ReturnURL is where AWDA's H5 pages (authorization, signature) send the
	// borrower back to. Optional.
	ReturnURL string `json:"returnUrl,omitempty"`
	// Config overrides the defaults field by field (zero keeps the default).
	Config Config `json:"config"`

	// Resume is set only by continue-as-new: the state the previous run
	// ended with. A resumed run needs no applicant profile.
	Resume *State `json:"resume,omitempty"`
}

// Applicant is the borrower's profile as AWDA wants it.
type Applicant struct {
	Name       string            `json:"name"`
	NIK        string            `json:"nik"`
	Mobile     string            `json:"mobile"`
	Email      string            `json:"email,omitempty"`
	BirthDate  string            `json:"birthDate"` // YYYY-MM-DD
	BirthPlace string            `json:"birthPlace,omitempty"`
	Personal   awda.PersonalInfo `json:"personal"`
	Work       awda.WorkInfo     `json:"work"`
}

// LoanRequest is what the borrower asks for.
type LoanRequest struct {
	Amount    int64          `json:"amount"` // IDR
	Tenor     int            `json:"tenor"`
	TenorUnit awda.TenorUnit `json:"tenorUnit"`
	Purpose   string         `json:"purpose"`
}

// LoanResult is how a loan ended. Every business outcome, FAILED included,
// completes the workflow with a result; only invalid input fails it.
type LoanResult struct {
	Outcome Stage  `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Operator is who ended the loan, when operations did (abandon).
	Operator   string          `json:"operator,omitempty"`
	AwdaUserID string          `json:"awdaUserId,omitempty"`
	AwdaLoanNo string          `json:"awdaLoanNo,omitempty"`
	OrderNo    string          `json:"orderNo"`
	LoanStatus awda.LoanStatus `json:"loanStatus,omitempty"`
	ClosedAt   time.Time       `json:"closedAt"`
}

// Config holds the workflow's timings and budgets. DefaultConfig gives the
// defaults; a zero field in LoanApplicationInput.Config keeps its default.
type Config struct {
	// AuthorizationDeadline bounds the wait for authorizations (3 days).
	AuthorizationDeadline time.Duration `json:"authorizationDeadline,omitempty"`
	// BankCardDeadline bounds the wait for a bank card (3 days).
	BankCardDeadline time.Duration `json:"bankCardDeadline,omitempty"`
	// AgreementDeadline bounds the wait for the signature (7 days).
	AgreementDeadline time.Duration `json:"agreementDeadline,omitempty"`
	// PollInterval is how long the workflow waits for a push before it asks
	// AWDA itself the first time (10 minutes). Each poll that finds nothing
	// new doubles the wait, up to PollBackoffCap, with ±20% jitter; news (a
	// push or a poll that moves the loan) resets it.
	PollInterval time.Duration `json:"pollInterval,omitempty"`
	// PollBackoffCap caps the growing poll interval (6 hours).
	PollBackoffCap time.Duration `json:"pollBackoffCap,omitempty"`
	// ReviewDeadline bounds the wait for AWDA's review decision after
	// submission (14 days); then the loan is parked as stuck for operations.
	ReviewDeadline time.Duration `json:"reviewDeadline,omitempty"`
	// DisbursementDeadline bounds the wait for DISBURSED after the signature,
	// and again after operations retry a failed disbursement (30 days); then
	// the loan is parked as stuck.
	DisbursementDeadline time.Duration `json:"disbursementDeadline,omitempty"`
	// CardVerifyDeadline bounds AWDA's VERIFYING of a bank card (3 days);
	// then the loan is parked as stuck.
	CardVerifyDeadline time.Duration `json:"cardVerifyDeadline,omitempty"`
	// ContinueAsNewEvents is the history length at which a waiting loan
	// continues as new even before the server suggests it (1,500): every run
	// stays well under 2,000 events, cheap to replay when a parked loan wakes
	// on a worker whose cache no longer holds it.
	ContinueAsNewEvents int `json:"continueAsNewEvents,omitempty"`
	// OverduePollInterval is how often an overdue loan's schedule is
	// refreshed when no notification comes (24 hours).
	OverduePollInterval time.Duration `json:"overduePollInterval,omitempty"`
	// DueCheckJitter spreads the due-date checks (3 hours): a loan with no
	// news of an installment asks AWDA at 01:00 WIB the day after its due
	// date plus an offset in [0, DueCheckJitter) drawn from its workflow ID,
	// so that the loans due on one date do not all ask at once.
	DueCheckJitter time.Duration `json:"dueCheckJitter,omitempty"`
	// RetryBudget bounds all attempts of one AWDA call (ScheduleToClose,
	// 30 minutes); when it is spent the loan is parked as stuck.
	RetryBudget time.Duration `json:"retryBudget,omitempty"`
	// ReadBudget bounds an AWDA read (a list, a page, loan info) run as a
	// local activity, its retries included (4 s): a local activity runs
	// inside the workflow task, which must stay short (the SDK warns past
	// 5 s) under a busy storm. A read still failing then runs as a regular
	// activity with the full RetryBudget, its retries kept by the server.
	ReadBudget time.Duration `json:"readBudget,omitempty"`
	// CallTimeout bounds one attempt of an AWDA call (StartToClose, 30 s).
	CallTimeout time.Duration `json:"callTimeout,omitempty"`
	// UploadTimeout bounds one attempt of the document upload (2 minutes).
	UploadTimeout time.Duration `json:"uploadTimeout,omitempty"`
	// UploadHeartbeatTimeout is how long the document upload may go without
	// a heartbeat (15 s): a worker that dies mid-upload is noticed after it,
	// not after UploadTimeout.
	UploadHeartbeatTimeout time.Duration `json:"uploadHeartbeatTimeout,omitempty"`
	// MaxRetryInterval caps the backoff between attempts (1 minute).
	MaxRetryInterval time.Duration `json:"maxRetryInterval,omitempty"`
	// MaxAuthorizationAttempts bounds the pages fetched per authorization
	// type (3); a borrower failing more often ends the loan FAILED.
	MaxAuthorizationAttempts int `json:"maxAuthorizationAttempts,omitempty"`
	// MaxBankCardAttempts bounds refused bank cards (5).
	MaxBankCardAttempts int `json:"maxBankCardAttempts,omitempty"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		AuthorizationDeadline:    72 * time.Hour,
		BankCardDeadline:         72 * time.Hour,
		AgreementDeadline:        7 * 24 * time.Hour,
		PollInterval:             10 * time.Minute,
		PollBackoffCap:           6 * time.Hour,
		ReviewDeadline:           14 * 24 * time.Hour,
		DisbursementDeadline:     30 * 24 * time.Hour,
		CardVerifyDeadline:       72 * time.Hour,
		ContinueAsNewEvents:      1500,
		OverduePollInterval:      24 * time.Hour,
		DueCheckJitter:           3 * time.Hour,
		RetryBudget:              30 * time.Minute,
		ReadBudget:               4 * time.Second,
		CallTimeout:              30 * time.Second,
		UploadTimeout:            2 * time.Minute,
		UploadHeartbeatTimeout:   15 * time.Second,
		MaxRetryInterval:         time.Minute,
		MaxAuthorizationAttempts: 3,
		MaxBankCardAttempts:      5,
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	pickN := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	return Config{
		AuthorizationDeadline:    pick(c.AuthorizationDeadline, d.AuthorizationDeadline),
		BankCardDeadline:         pick(c.BankCardDeadline, d.BankCardDeadline),
		AgreementDeadline:        pick(c.AgreementDeadline, d.AgreementDeadline),
		PollInterval:             pick(c.PollInterval, d.PollInterval),
		PollBackoffCap:           pick(c.PollBackoffCap, d.PollBackoffCap),
		ReviewDeadline:           pick(c.ReviewDeadline, d.ReviewDeadline),
		DisbursementDeadline:     pick(c.DisbursementDeadline, d.DisbursementDeadline),
		CardVerifyDeadline:       pick(c.CardVerifyDeadline, d.CardVerifyDeadline),
		ContinueAsNewEvents:      pickN(c.ContinueAsNewEvents, d.ContinueAsNewEvents),
		OverduePollInterval:      pick(c.OverduePollInterval, d.OverduePollInterval),
		DueCheckJitter:           pick(c.DueCheckJitter, d.DueCheckJitter),
		RetryBudget:              pick(c.RetryBudget, d.RetryBudget),
		ReadBudget:               pick(c.ReadBudget, d.ReadBudget),
		CallTimeout:              pick(c.CallTimeout, d.CallTimeout),
		UploadTimeout:            pick(c.UploadTimeout, d.UploadTimeout),
		UploadHeartbeatTimeout:   pick(c.UploadHeartbeatTimeout, d.UploadHeartbeatTimeout),
		MaxRetryInterval:         pick(c.MaxRetryInterval, d.MaxRetryInterval),
		MaxAuthorizationAttempts: pickN(c.MaxAuthorizationAttempts, d.MaxAuthorizationAttempts),
		MaxBankCardAttempts:      pickN(c.MaxBankCardAttempts, d.MaxBankCardAttempts),
	}
}

// Bounds a Config must stay within (Validate).
const (
	// MinContinueAsNewEvents keeps a run long enough to do a stage's work
	// between two waits; MaxContinueAsNewEvents keeps it under the server's
	// history warning (10,240 events) with room for that work.
	MinContinueAsNewEvents = 100
	MaxContinueAsNewEvents = 8000
)

// Validate reports every field of c (after WithDefaults) that a loan cannot
// run with, all at once, naming fields by their JSON names. Starters and
// workers call it at startup, so a bad deployment setting stops the process
// instead of a loan.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, errors.New(field+" "+msg)) }
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"authorizationDeadline", c.AuthorizationDeadline}, {"bankCardDeadline", c.BankCardDeadline},
		{"agreementDeadline", c.AgreementDeadline}, {"pollInterval", c.PollInterval},
		{"pollBackoffCap", c.PollBackoffCap}, {"reviewDeadline", c.ReviewDeadline},
		{"disbursementDeadline", c.DisbursementDeadline}, {"cardVerifyDeadline", c.CardVerifyDeadline},
		{"overduePollInterval", c.OverduePollInterval}, {"dueCheckJitter", c.DueCheckJitter}, {"retryBudget", c.RetryBudget},
		{"readBudget", c.ReadBudget}, {"callTimeout", c.CallTimeout}, {"uploadTimeout", c.UploadTimeout},
		{"uploadHeartbeatTimeout", c.UploadHeartbeatTimeout}, {"maxRetryInterval", c.MaxRetryInterval},
	} {
		if d.v < 0 {
			bad(d.name, "must not be negative")
		}
	}
	switch {
	case c.PollInterval > 0 && c.PollInterval < time.Second:
		bad("pollInterval", "must be at least 1s")
	case c.PollBackoffCap > 0 && c.PollBackoffCap < c.PollInterval:
		bad("pollBackoffCap", "must not be below pollInterval")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"reviewDeadline", c.ReviewDeadline}, {"disbursementDeadline", c.DisbursementDeadline}, {"cardVerifyDeadline", c.CardVerifyDeadline}} {
		if d.v > 0 && d.v < c.PollInterval {
			bad(d.name, "must not be below pollInterval")
		}
	}
	if c.DueCheckJitter >= 20*time.Hour {
		bad("dueCheckJitter", "must be under 20h: the checks must stay within the day after the due date")
	}
	if c.RetryBudget > 0 && c.RetryBudget < c.CallTimeout {
		bad("retryBudget", "must not be below callTimeout")
	}
	if n := c.ContinueAsNewEvents; n != 0 && (n < MinContinueAsNewEvents || n > MaxContinueAsNewEvents) {
		bad("continueAsNewEvents", fmt.Sprintf("must be between %d and %d", MinContinueAsNewEvents, MaxContinueAsNewEvents))
	}
	if c.MaxAuthorizationAttempts < 0 {
		bad("maxAuthorizationAttempts", "must not be negative")
	}
	if c.MaxBankCardAttempts < 0 {
		bad("maxBankCardAttempts", "must not be negative")
	}
	return errors.Join(errs...)
}
