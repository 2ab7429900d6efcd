package workflows

import (
	"time"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
)

// State is everything the loan knows: what the status query shows, and what
// continue-as-new carries to the next run. It holds no personal data: AWDA
// IDs, statuses, URLs, a masked account number, schedules.
type State struct {
	Stage  Stage  `json:"stage"`
	Reason string `json:"reason,omitempty"` // why the loan ended, for terminal stages
	// Seq numbers the read-model writes; it only grows.
	Seq int64 `json:"seq"`

	UserID     string          `json:"awdaUserId,omitempty"`
	OrderNo    string          `json:"orderNo"`
	LoanNo     string          `json:"awdaLoanNo,omitempty"`
	LoanStatus awda.LoanStatus `json:"loanStatus,omitempty"`

	Amount    int64          `json:"amount"`
	Tenor     int            `json:"tenor"`
	TenorUnit awda.TenorUnit `json:"tenorUnit"`

	// Deadline is when the borrower's current task expires (zero when the
	// loan is not waiting for the borrower).
	Deadline time.Time `json:"deadline,omitzero"`
	// DeadlineStage is the stage that set Deadline: a run handed the loan
	// keeps a deadline only in the stage it belongs to.
	DeadlineStage Stage `json:"deadlineStage,omitempty"`

	Eligibility    *Eligibility               `json:"eligibility,omitempty"`
	Authorizations []Authorization            `json:"authorizations,omitempty"`
	Banks          []awda.Bank                `json:"banks,omitempty"`
	BankCard       *BankCard                  `json:"bankCard,omitempty"`
	Images         []activities.UploadedImage `json:"images,omitempty"`
	Agreement      *Agreement                 `json:"agreement,omitempty"`
	Schedule       []awda.Installment         `json:"schedule,omitempty"`
	RepaymentVA    *awda.RepaymentVAResponse  `json:"repaymentVa,omitempty"`

	Stuck *Stuck `json:"stuck,omitempty"`

	// Transitions holds the loan's latest stage changes, loan-status
	// changes and stuck/resumes, with their workflow time: the last
	// maxTrail written to the durable trail (PostgreSQL, through the
	// projection) plus every one not written yet. TrailSeq numbers them
	// (it is also the count of all transitions so far); TrailWritten is the
	// highest Seq the read model has confirmed.
	Transitions  []Transition `json:"transitions"`
	TrailSeq     int64        `json:"trailSeq,omitempty"`
	TrailWritten int64        `json:"trailWritten,omitempty"`
	// Wait is the AWDA wait in progress (review, disbursement, a card
	// VERIFYING): its deadline and poll backoff, carried across
	// continue-as-new so that a resumed run neither restarts the deadline
	// nor polls from the shortest interval again.
	Wait *Wait `json:"wait,omitempty"`
	// Ignored records notifications and requests that were not applied.
	Ignored []Ignored `json:"ignored,omitempty"`
	// SeenEventIDs are the AWDA eventIds already applied or ignored, oldest
	// first (the last maxSeenEvents).
	SeenEventIDs []string `json:"seenEventIds,omitempty"`

	// Confirm is a push that would end the loan, held until AWDA's loan
	// info confirms it (the next wait asks).
	Confirm *Confirm `json:"confirm,omitempty"`
	// ConfirmMore are the final pushes that arrived while Confirm was held
	// (changeConfirmEach): the same read answers them.
	ConfirmMore []Confirm `json:"confirmMore,omitempty"`
	// ConfirmRetryAt is when the held pushes' read is tried again, after
	// it failed (changeConfirmEach); zero: at once.
	ConfirmRetryAt time.Time `json:"confirmRetryAt,omitzero"`
	// RefreshPending asks the repayment stage to refresh the schedule.
	RefreshPending bool `json:"refreshPending,omitempty"`
	// DisburseFailures counts DISBURSE_FAILED reports; DisburseFailuresSeen
	// those ops already handled.
	DisburseFailures     int `json:"disburseFailures,omitempty"`
	DisburseFailuresSeen int `json:"disburseFailuresSeen,omitempty"`
	// Runs counts continue-as-new hand-overs.
	Runs int `json:"runs,omitempty"`
}

// maxSeenEvents bounds the dedupe set carried across continue-as-new. A loan
// sees a few dozen events; an eventId older than this many is also stopped
// by the rule that a status never moves backwards.
const maxSeenEvents = 1000

// maxTrail is how many written transitions the state keeps; the rest are
// in the durable trail. A month of repayment makes a handful, so the status
// query still shows a loan's recent story.
const maxTrail = 50

// Wait is an AWDA wait in progress.
type Wait struct {
	Kind     string    `json:"kind"` // review, disbursement, verify bank card
	Deadline time.Time `json:"deadline"`
	// Polls counts the polls since the last news; the next poll comes
	// after PollInterval·2^Polls (capped), jittered.
	Polls    int       `json:"polls"`
	NextPoll time.Time `json:"nextPoll,omitzero"`
}

// Eligibility is AWDA's eligibility answer.
type Eligibility struct {
	MaxAmount int64              `json:"maxAmount"`
	Tenors    []awda.TenorOption `json:"tenors,omitempty"`
}

// Authorization is one of AWDA's authorizations and where the borrower is
// with it.
type Authorization struct {
	AuthType string          `json:"authType"`
	Name     string          `json:"name"`
	Required bool            `json:"required"`
	Status   awda.AuthStatus `json:"status"`
	URL      string          `json:"url,omitempty"`
	ExpireAt time.Time       `json:"expireAt,omitzero"`
	// Attempts counts the pages fetched.
	Attempts int `json:"attempts"`
	// NeedsPage is set when the borrower needs a (fresh) page.
	NeedsPage bool `json:"needsPage,omitempty"`
}

// BankCard is the card that receives the disbursement, masked.
type BankCard struct {
	BankCode        string          `json:"bankCode,omitempty"`
	AccountNoMasked string          `json:"accountNoMasked,omitempty"`
	Status          awda.CardStatus `json:"status,omitempty"`
	// Reason is AWDA's reason for the last refusal.
	Reason   string `json:"reason,omitempty"`
	Attempts int    `json:"attempts"`
}

// Agreement is the agreement on offer and the H5 page to sign it on.
type Agreement struct {
	ID         string             `json:"agreementId"`
	Title      string             `json:"title"`
	ContentURL string             `json:"contentUrl"`
	Fees       awda.AgreementFees `json:"fees"`
	SignURL    string             `json:"signUrl"`
	SignedAt   time.Time          `json:"signedAt,omitzero"`
}

// Stuck says why a loan cannot progress without operations.
type Stuck struct {
	Step   string    `json:"step"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// Awaiting is the AWDA wait whose deadline parked the loan ("" for a
	// failed step): the awaited news resumes it without operations.
	Awaiting string `json:"awaiting,omitempty"`
}

// Transition kinds.
const (
	KindStage      = "stage"
	KindLoanStatus = "loan_status"
	KindAuth       = "authorization"
	KindStuck      = "stuck"
	KindResumed    = "resumed"
)

// Transition is one recorded change.
type Transition struct {
	// Seq numbers the loan's transitions, 1, 2, … across continue-as-new;
	// the durable trail (PostgreSQL) is keyed by it. Zero in histories from
	// before the trail.
	Seq     int64     `json:"seq,omitempty"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to"`
	EventID string    `json:"eventId,omitempty"` // the AWDA notification that caused it
	Note    string    `json:"note,omitempty"`
	// Operator is who sent an operator action (retry, abandon).
	Operator string `json:"operator,omitempty"`
}

// Ignored is a notification or request that was not applied, and why.
type Ignored struct {
	At      time.Time `json:"at"`
	Signal  string    `json:"signal"`
	EventID string    `json:"eventId,omitempty"`
	Status  string    `json:"status,omitempty"`
	Reason  string    `json:"reason"`
}

// Status is the answer to StatusQuery: the State plus what the borrower must
// do next. It echoes no NIK, phone, name or full account number.
type Status struct {
	ApplicantRef string `json:"applicantRef"`
	WorkflowID   string `json:"workflowId"`
	Terminal     bool   `json:"terminal"`
	// Next is what the loan waits for from the borrower, if anything.
	Next *NextAction `json:"next,omitempty"`
	State
}

// Next actions.
const (
	ActionAuthorize      = "AUTHORIZE"        // open the authorization URLs
	ActionSubmitBankCard = "SUBMIT_BANK_CARD" // choose a bank and submit the card
	ActionSignAgreement  = "SIGN_AGREEMENT"   // read the agreement, sign
	ActionRepay          = "REPAY"            // pay into the VA by the due date
)

// NextAction is the borrower's task.
type NextAction struct {
	Action   string    `json:"action"`
	Deadline time.Time `json:"deadline,omitzero"`
	// Authorizations lists the pages to open (ActionAuthorize).
	Authorizations []Authorization `json:"authorizations,omitempty"`
	// Banks to choose from, and why the last card was refused
	// (ActionSubmitBankCard).
	Banks  []awda.Bank `json:"banks,omitempty"`
	Reason string      `json:"reason,omitempty"`
	// Agreement and its signing page (ActionSignAgreement).
	Agreement *Agreement `json:"agreement,omitempty"`
	// Installment due next and the VA to pay into (ActionRepay).
	Installment *awda.Installment         `json:"installment,omitempty"`
	RepaymentVA *awda.RepaymentVAResponse `json:"repaymentVa,omitempty"`
}

// Confirm is a final status pushed by AWDA, not applied until AWDA's loan
// info says the same.
type Confirm struct {
	EventID string          `json:"eventId"`
	Status  awda.LoanStatus `json:"status"`
	Note    string          `json:"note,omitempty"`
}
