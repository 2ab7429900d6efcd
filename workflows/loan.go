package workflows

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
)

// LoanApplication is one applicant's loan, from AWDA registration to the
// last repayment: the workflow registered under WorkflowName on TaskQueue,
// with ID LoanWorkflowID(applicantRef).
func LoanApplication(ctx workflow.Context, in LoanApplicationInput) (*LoanResult, error) {
	if err := in.validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("invalid loan application: "+err.Error(), ErrTypeInvalidInput, nil)
	}
	w := &loanWorkflow{in: in}
	if err := w.setup(ctx); err != nil {
		return nil, err
	}
	return w.finish(ctx, w.run(ctx))
}

// loanWorkflow is one run of LoanApplication.
type loanWorkflow struct {
	in     LoanApplicationInput
	cfg    Config
	state  State
	seen   map[string]bool // SeenEventIDs, for lookups
	logger log.Logger

	// Set by handlers, consumed by run().
	cancelReq          *CancelRequest
	retryReq           *RetryRequest
	abandonReq         *AbandonRequest
	cardSeq            int
	pendingCard        *cardSubmission // holds the account number: never in State
	cardVerdict        *cardVerdict
	acceptingSignature bool
	pendingSign        *signRequest // holds the client IP: never in State
	signed             bool
	// authCallbacks counts the callbacks applied per authType, so that an
	// AWDA read started before one (a page, the list) does not overwrite it.
	authCallbacks map[string]int

	// atRest caches the changePublishAtRest version (nil: not asked yet);
	// unpublished is a stage change it has not made visible yet.
	atRest      *bool
	unpublished bool

	// bounded is set in runs begun with changeBoundedWaits: every wait
	// bounded and able to continue as new, the durable trail. Histories from
	// before it replay through the old waits.
	bounded bool
	// rev is this run's version of changeBoundedWaits, asked when it starts:
	// revEveryChange means every change of versions.go (has).
	rev        workflow.Version
	workflowID string
	// dueJitter shifts the repayment stage's due-date checks (changeDueJitter).
	dueJitter time.Duration
	// stepCancel interrupts the AWDA step in flight when the borrower
	// withdraws before submission (nil outside such a step).
	stepCancel workflow.CancelFunc
	// abandonedBy is the operator whose Abandon ended the loan.
	abandonedBy string
	// pollNews is set while awaitAWDA polls: the news it waits for, which
	// resumes a loan parked because the poll failed (pollKind names the
	// wait, for a run handed the parked loan).
	pollNews func() bool
	pollKind string
}

func (w *loanWorkflow) setup(ctx workflow.Context) error {
	info := workflow.GetInfo(ctx)
	w.cfg = w.in.Config.WithDefaults()
	w.workflowID = info.WorkflowExecution.ID
	w.logger = log.With(workflow.GetLogger(ctx), "ApplicantRef", w.in.ApplicantRef)
	w.rev = workflow.GetVersion(ctx, changeBoundedWaits, workflow.DefaultVersion, revEveryChange)
	w.bounded = w.rev >= 1
	if w.in.Resume != nil {
		w.state = *w.in.Resume
		w.state.Runs++
	} else {
		w.state = State{
			OrderNo:   OrderNo(info.WorkflowExecution.ID),
			Amount:    w.in.Loan.Amount,
			Tenor:     w.in.Loan.Tenor,
			TenorUnit: w.in.Loan.TenorUnit,
		}
	}
	w.numberTransitions()
	if w.in.Resume != nil && w.bounded && w.state.Stage == StageAgreement && w.state.Agreement != nil &&
		w.state.Stuck == nil && !w.signedAtAWDA() && !w.state.LoanStatus.Terminal() {
		// Handed over while waiting for the signature: a signature that
		// arrives with the new run's first task (its validator runs as the
		// handler is registered, before run() is back at the wait) is
		// taken, not refused as if the loan were elsewhere.
		w.acceptingSignature = true
	}
	w.authCallbacks = map[string]int{}
	w.seen = make(map[string]bool, len(w.state.SeenEventIDs))
	for _, id := range w.state.SeenEventIDs {
		w.seen[id] = true
	}

	if err := StatusQuery.setHandler(ctx, func() (Status, error) {
		return w.status(info.WorkflowExecution.ID), nil
	}); err != nil {
		return err
	}
	if err := SubmitBankCardUpdate.setHandler(ctx, w.submitBankCard, w.validateBankCard); err != nil {
		return err
	}
	if err := SignAgreementUpdate.setHandler(ctx, w.signAgreement, w.validateSignature); err != nil {
		return err
	}
	w.listen(ctx)
	return nil
}

// run walks the loan through its stages, in order. A resumed run (after
// continue-as-new) starts at the stage it left.
func (w *loanWorkflow) run(ctx workflow.Context) error {
	stages := []struct {
		stage Stage
		run   func(workflow.Context) error
	}{
		{StageRegister, w.register},
		{StageEligibility, w.checkEligibility},
		{StageAuthorizations, w.authorize},
		{StageBankCard, w.bindBankCard},
		{StageDocuments, w.uploadDocuments},
		{StageSubmit, w.submit},
		{StageReview, w.awaitReview},
		{StageAgreement, w.awaitSignature},
		{StageDisbursement, w.awaitDisbursement},
		{StageRepayment, w.repay},
	}
	if w.state.Stuck != nil {
		// A loan handed over while parked stays parked in the new run.
		if err := w.parked(ctx); err != nil {
			return err
		}
	}
	for _, s := range stages {
		if s.stage.index() < w.state.Stage.index() {
			continue
		}
		if w.cancelReq != nil {
			return w.end(ctx, StageCancelled, "cancelled by the borrower")
		}
		w.moveTo(ctx, s.stage, "")
		if err := s.run(ctx); err != nil {
			return err
		}
	}
	return errors.New("the repayment stage returned without an outcome")
}

// finish turns how run() ended into the workflow's result.
func (w *loanWorkflow) finish(ctx workflow.Context, err error) (*LoanResult, error) {
	var e *ended
	switch {
	case errors.As(err, &e):
	case temporal.IsCanceledError(err):
		// Cancelled through Temporal: record the outcome, then report it.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		_ = w.end(dctx, StageCancelled, "workflow cancelled")
		return nil, err
	default:
		return nil, err // continue-as-new, or a bug
	}
	// Let update callers have their answers before the workflow closes.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil, err
	}
	w.logger.Info("Loan ended", "Outcome", string(e.outcome))
	return &LoanResult{
		Outcome:    e.outcome,
		Reason:     e.reason,
		Operator:   w.abandonedBy,
		AwdaUserID: w.state.UserID,
		AwdaLoanNo: w.state.LoanNo,
		OrderNo:    w.state.OrderNo,
		LoanStatus: w.state.LoanStatus,
		ClosedAt:   workflow.Now(ctx),
	}, nil
}

// ---- 1. register ----

func (w *loanWorkflow) register(ctx workflow.Context) error {
	if w.state.UserID != "" {
		return nil
	}
	ap := w.in.Applicant
	req := awda.RegisterRequest{
		PartnerUserID: w.in.ApplicantRef,
		Mobile:        ap.Mobile,
		Name:          ap.Name,
		NIK:           ap.NIK,
		Email:         ap.Email,
		BirthDate:     ap.BirthDate,
	}
	if err := w.do(ctx, "register", func(ctx workflow.Context) error {
		var res activities.RegisterResult
		if err := w.call(ctx, callOf(&res, a.Register, req)); err != nil {
			return err
		}
		if res.UserID == "" {
			return unexpected("register answered without a userId")
		}
		w.state.UserID = res.UserID
		return nil
	}); err != nil {
		return err
	}
	if w.bounded && w.has(ctx, changePublishUserID) {
		w.publishRow(ctx) // the inbox routes AWDA's callbacks by it
	}
	return nil
}

// ---- 2. eligibility ----

func (w *loanWorkflow) checkEligibility(ctx workflow.Context) error {
	var res awda.EligibleCheckResponse
	if err := w.do(ctx, "check eligibility", func(ctx workflow.Context) error {
		return firstErr(w.reads(ctx, callOf(&res, a.EligibleCheck, awda.EligibleCheckRequest{UserID: w.state.UserID})))
	}); err != nil {
		return err
	}
	w.state.Eligibility = &Eligibility{MaxAmount: res.MaxAmount, Tenors: res.Tenors}
	loan := w.in.Loan
	switch {
	case !res.Eligible:
		reason := res.Reason
		if reason == "" {
			reason = "not eligible"
		}
		return w.end(ctx, StageIneligible, reason)
	case res.MaxAmount > 0 && loan.Amount > res.MaxAmount:
		return w.end(ctx, StageIneligible, fmt.Sprintf("amount above AWDA's maximum of %d", res.MaxAmount))
	case len(res.Tenors) > 0 && !offered(res.Tenors, loan.Tenor, loan.TenorUnit):
		return w.end(ctx, StageIneligible, fmt.Sprintf("tenor %d %s not offered", loan.Tenor, loan.TenorUnit))
	}
	return nil
}

func offered(opts []awda.TenorOption, tenor int, unit awda.TenorUnit) bool {
	for _, o := range opts {
		if o.Tenor == tenor && o.TenorUnit == unit {
			return true
		}
	}
	return false
}

// ---- 3. authorizations ----

func (w *loanWorkflow) authorize(ctx workflow.Context) error {
	w.startDeadline(ctx, w.cfg.AuthorizationDeadline)
	if err := w.do(ctx, "list authorizations", w.listAuthorizations); err != nil {
		return err
	}
	for {
		if w.authorized() {
			w.state.Deadline = time.Time{}
			return nil
		}
		if w.cancelReq != nil {
			return w.end(ctx, StageCancelled, "cancelled by the borrower")
		}
		if err := w.fetchAuthPages(ctx); err != nil {
			return err
		}
		ok, err := w.awaitUntil(ctx, w.state.Deadline, func() bool {
			return w.authorized() || w.needsAuthPage() || w.cancelReq != nil
		})
		if err != nil {
			return err
		}
		if !ok {
			// One last look, in case a callback was lost.
			if err := w.do(ctx, "list authorizations", w.listAuthorizations); err != nil {
				return err
			}
			if !w.authorized() {
				return w.end(ctx, StageExpired, "authorizations not completed before the deadline")
			}
		}
	}
}

// listAuthorizations merges AWDA's list into the state: a SUCCESS (from a
// callback or the list) is never taken back.
func (w *loanWorkflow) listAuthorizations(ctx workflow.Context) error {
	callbacks := w.authCallbacksNow()
	var res awda.AuthListResponse
	if err := firstErr(w.reads(ctx, callOf(&res, a.AuthList, awda.AuthListRequest{UserID: w.state.UserID}))); err != nil {
		return err
	}
	for _, it := range res.Items {
		au := w.authorization(it.AuthType)
		au.Name, au.Required = it.Name, it.Required
		if au.Status == awda.AuthSuccess || w.authCallbacks[it.AuthType] != callbacks[it.AuthType] {
			continue // a callback during the read is newer than the list
		}
		au.Status = it.Status
		switch it.Status {
		case awda.AuthSuccess:
			au.NeedsPage = false
		case awda.AuthFailed, awda.AuthExpired:
			au.NeedsPage = true
		default:
			au.NeedsPage = au.NeedsPage || au.URL == ""
		}
	}
	return nil
}

func (w *loanWorkflow) authorized() bool {
	for _, au := range w.state.Authorizations {
		if au.Required && au.Status != awda.AuthSuccess {
			return false
		}
	}
	return true
}

func (w *loanWorkflow) needsAuthPage() bool {
	for _, au := range w.state.Authorizations {
		if au.Required && au.Status != awda.AuthSuccess && au.NeedsPage {
			return true
		}
	}
	return false
}

// fetchAuthPages fetches, in parallel, a page for every required
// authorization that needs one; a borrower who used up the attempts of one
// ends the loan FAILED.
func (w *loanWorkflow) fetchAuthPages(ctx workflow.Context) error {
	for _, au := range w.state.Authorizations {
		if au.Required && au.Status != awda.AuthSuccess && au.NeedsPage && au.Attempts >= w.cfg.MaxAuthorizationAttempts {
			return w.end(ctx, StageFailed, fmt.Sprintf("authorization %s not completed in %d attempts", au.AuthType, au.Attempts))
		}
	}
	return w.do(ctx, "fetch authorization pages", func(ctx workflow.Context) error {
		callbacks := w.authCallbacksNow()
		var idx []int
		for i, au := range w.state.Authorizations {
			if au.Required && au.Status != awda.AuthSuccess && au.NeedsPage {
				idx = append(idx, i)
			}
		}
		pages := make([]awda.AuthPageResponse, len(idx))
		rs := make([]awdaCall, len(idx))
		for k, i := range idx {
			au := w.state.Authorizations[i]
			rs[k] = callOf(&pages[k], a.AuthPage, awda.AuthPageRequest{UserID: w.state.UserID, AuthType: au.AuthType, ReturnURL: w.in.ReturnURL})
		}
		errs := w.reads(ctx, rs...)
		for k := range rs {
			page := &pages[k]
			if errs[k] != nil {
				continue
			}
			if page.URL == "" {
				errs[k] = unexpected("authorization page answered without a URL")
				continue
			}
			au := &w.state.Authorizations[idx[k]]
			au.URL = page.URL
			au.ExpireAt = time.UnixMilli(page.ExpireAt).UTC()
			au.Attempts++
			if w.authCallbacks[au.AuthType] != callbacks[au.AuthType] && w.callbackWins(ctx) {
				// The callback that came while the pages were read is about
				// this page (the borrower was quick): its status stands, and
				// a FAILED or EXPIRED one gets the borrower a fresh page.
				continue
			}
			au.NeedsPage = false
			if au.Status != awda.AuthSuccess {
				au.Status = awda.AuthPending
			}
		}
		return firstErr(errs)
	})
}

// authCallbacksNow copies the callback counts of the known authorizations,
// to compare after a read (a type it lacks had none).
func (w *loanWorkflow) authCallbacksNow() map[string]int {
	m := make(map[string]int, len(w.state.Authorizations))
	for _, au := range w.state.Authorizations {
		m[au.AuthType] = w.authCallbacks[au.AuthType]
	}
	return m
}

// callbackWins reports whether an authorization callback applied during a
// page read stands against the page's result. Histories from before the rule
// (changeAuthCallbackWins) let the page overwrite it.
func (w *loanWorkflow) callbackWins(ctx workflow.Context) bool {
	return w.has(ctx, changeAuthCallbackWins)
}

// ---- 4. bank card ----

func (w *loanWorkflow) bindBankCard(ctx workflow.Context) error {
	var cards awda.BankCardQueryResponse
	var banks awda.BankListResponse
	if err := w.do(ctx, "query bank cards", func(ctx workflow.Context) error {
		if err := firstErr(w.reads(ctx,
			callOf(&cards, a.BankCardQuery, awda.BankCardQueryRequest{UserID: w.state.UserID}),
			callOfNoReq(&banks, a.BankList),
		)); err != nil {
			return err
		}
		if len(banks.Banks) == 0 && boundCard(cards.Cards) == nil {
			return unexpected("bank list is empty")
		}
		return nil
	}); err != nil {
		return err
	}
	if c := boundCard(cards.Cards); c != nil {
		w.state.BankCard = &BankCard{BankCode: c.BankCode, AccountNoMasked: c.AccountNoMasked, Status: awda.CardBound}
		w.state.Deadline, w.state.Banks = time.Time{}, nil
		return nil
	}
	w.state.Banks = banks.Banks
	if w.bounded && w.state.BankCard != nil && w.state.BankCard.Status == awda.CardVerifying {
		// Handed over while AWDA verified the card: go on waiting for it.
		bound, err := w.awaitCardVerdict(ctx, cards.Cards)
		if err != nil || bound {
			w.state.Deadline = time.Time{}
			w.state.Banks = nil
			return err
		}
	} else if w.state.BankCard == nil || !w.bounded {
		w.state.BankCard = &BankCard{}
	}
	w.startDeadline(ctx, w.cfg.BankCardDeadline)
	for {
		ok, err := w.awaitUntil(ctx, w.state.Deadline, func() bool { return w.pendingCard != nil || w.cancelReq != nil })
		switch {
		case err != nil:
			return err
		case w.pendingCard == nil && w.cancelReq != nil:
			return w.end(ctx, StageCancelled, "cancelled by the borrower")
		case !ok:
			return w.end(ctx, StageExpired, "no bank card bound before the deadline")
		}
		bound, err := w.verifyCard(ctx)
		if err != nil || bound {
			w.state.Deadline = time.Time{}
			w.state.Banks = nil
			return err
		}
	}
}

func boundCard(cards []awda.BankCard) *awda.BankCard {
	for i := range cards {
		if cards[i].Status == awda.CardBound {
			return &cards[i]
		}
	}
	return nil
}

// verifyCard verifies the submitted card at AWDA and hands the verdict to
// the waiting update. AWDA's VERIFYING is followed by polling.
func (w *loanWorkflow) verifyCard(ctx workflow.Context) (bool, error) {
	sub := w.pendingCard
	in := sub.in
	defer func() { w.pendingCard = nil }()
	card := w.state.BankCard
	card.BankCode, card.AccountNoMasked = in.BankCode, mask(in.AccountNo)

	var res awda.BankCardVerifyResponse
	if err := w.do(ctx, "verify bank card", func(ctx workflow.Context) error {
		err := w.call(ctx, callOf(&res, a.BankCardVerify, awda.BankCardVerifyRequest{UserID: w.state.UserID, BankCode: in.BankCode, AccountNo: in.AccountNo, AccountName: in.AccountName}))
		if IsErrorType(err, activities.ErrTypeValidation) {
			res = awda.BankCardVerifyResponse{Status: awda.CardFailed, FailReason: "AWDA refused the card details"}
			return nil
		}
		if err != nil {
			return err
		}
		switch res.Status {
		case awda.CardBound, awda.CardFailed, awda.CardVerifying:
			return nil
		}
		return unexpected("bank card verification answered status %q", res.Status)
	}); err != nil {
		return false, err
	}

	if res.Status == awda.CardVerifying {
		card.Status = awda.CardVerifying
		w.cardVerdict = &cardVerdict{n: sub.n, res: BankCardResult{Accepted: true, Status: string(awda.CardVerifying)}}
		if w.bounded {
			// The update has its answer, and the account number is needed
			// no more: the verdict is read from AWDA's card list.
			w.pendingCard = nil
			return w.awaitCardVerdict(ctx, nil)
		}
		if err := w.pollVerifyingLegacy(ctx, in, &res); err != nil {
			return false, err
		}
	}
	return w.cardDecided(ctx, res.Status, res.FailReason, sub.n)
}

// pollVerifyingLegacy is how loans from before changeBoundedWaits waited for
// a VERIFYING card: a poll every PollInterval, for ever, matching AWDA's
// cards by bank code alone. Kept for their replay.
func (w *loanWorkflow) pollVerifyingLegacy(ctx workflow.Context, in BankCardInput, res *awda.BankCardVerifyResponse) error {
	card := w.state.BankCard
	for res.Status == awda.CardVerifying {
		if err := workflow.Sleep(ctx, w.cfg.PollInterval); err != nil {
			return err
		}
		if err := w.do(ctx, "query bank cards", func(ctx workflow.Context) error {
			var q awda.BankCardQueryResponse
			if err := firstErr(w.reads(ctx, callOf(&q, a.BankCardQuery, awda.BankCardQueryRequest{UserID: w.state.UserID}))); err != nil {
				return err
			}
			for _, c := range q.Cards {
				if c.BankCode == in.BankCode && c.Status != awda.CardVerifying {
					res.Status = c.Status
					if c.AccountNoMasked != "" {
						card.AccountNoMasked = c.AccountNoMasked
					}
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// awaitCardVerdict waits while AWDA verifies the loan's card (State.BankCard,
// VERIFYING), polling its card list with backoff, for at most
// CardVerifyDeadline before the loan is parked for operations. The
// borrower's cancel ends the loan. known is a card list just read, if any.
func (w *loanWorkflow) awaitCardVerdict(ctx workflow.Context, known []awda.BankCard) (bool, error) {
	card := w.state.BankCard
	if known != nil {
		w.applyCards(known)
	}
	if err := w.awaitAWDA(ctx, waitVerifyCard, w.cfg.CardVerifyDeadline,
		func() bool { return card.Status != awda.CardVerifying },
		func(ctx workflow.Context) error {
			return w.do(ctx, "query bank cards", func(ctx workflow.Context) error {
				var q awda.BankCardQueryResponse
				if err := firstErr(w.reads(ctx, callOf(&q, a.BankCardQuery, awda.BankCardQueryRequest{UserID: w.state.UserID}))); err != nil {
					return err
				}
				w.applyCards(q.Cards)
				return nil
			})
		}); err != nil {
		return false, err
	}
	if card.Status == awda.CardVerifying {
		return false, w.end(ctx, StageCancelled, "cancelled by the borrower")
	}
	return w.cardDecided(ctx, card.Status, "", w.cardSeq)
}

// applyCards takes the verdict on the loan's card from AWDA's card list. A
// card is the loan's when its bank and the last four digits of its account
// number match: an earlier card at the same bank (say, one AWDA refused) says
// nothing about this one. Of several matches (the same account submitted
// again), a BOUND one wins, then one still VERIFYING.
func (w *loanWorkflow) applyCards(cards []awda.BankCard) {
	card := w.state.BankCard
	var status awda.CardStatus
	for _, c := range cards {
		if c.BankCode != card.BankCode || last4(c.AccountNoMasked) != last4(card.AccountNoMasked) {
			continue
		}
		switch {
		case c.Status == awda.CardBound:
			status = awda.CardBound
		case c.Status == awda.CardVerifying && status != awda.CardBound:
			status = awda.CardVerifying
		case c.Status == awda.CardFailed && status == "":
			status = awda.CardFailed
		}
	}
	if status != "" {
		card.Status = status
	}
}

func last4(masked string) string {
	if len(masked) <= 4 {
		return masked
	}
	return masked[len(masked)-4:]
}

// cardDecided records AWDA's verdict on the card and hands it to the update
// that submitted it (n); true when the card is bound. A borrower refused
// MaxBankCardAttempts times ends the loan FAILED.
func (w *loanWorkflow) cardDecided(ctx workflow.Context, status awda.CardStatus, failReason string, n int) (bool, error) {
	card := w.state.BankCard
	card.Status = status
	if status == awda.CardBound {
		card.Reason = ""
		w.cardVerdict = &cardVerdict{n: n, res: BankCardResult{Accepted: true, Status: string(awda.CardBound)}}
		w.logger.Info("Bank card bound", "BankCode", card.BankCode)
		return true, nil
	}
	card.Attempts++
	card.Reason = failReason
	if card.Reason == "" {
		card.Reason = "refused by AWDA"
	}
	w.cardVerdict = &cardVerdict{n: n, res: BankCardResult{Accepted: false, Status: string(awda.CardFailed), Reason: card.Reason}}
	if card.Attempts >= w.cfg.MaxBankCardAttempts {
		return false, w.end(ctx, StageFailed, fmt.Sprintf("bank card refused %d times", card.Attempts))
	}
	return false, nil
}

// mask keeps the last four digits of an account number.
func mask(accountNo string) string {
	if len(accountNo) <= 4 {
		return strings.Repeat("*", len(accountNo))
	}
	return strings.Repeat("*", len(accountNo)-4) + accountNo[len(accountNo)-4:]
}

// ---- 5. documents ----

func (w *loanWorkflow) uploadDocuments(ctx workflow.Context) error {
	if len(w.state.Images) > 0 {
		return nil
	}
	return w.do(ctx, "upload documents", func(ctx workflow.Context) error {
		actx := workflow.WithActivityOptions(ctx, w.uploadOptions())
		var res activities.UploadDocumentsResult
		if err := workflow.ExecuteActivity(actx, a.UploadDocuments, activities.UploadDocumentsInput{
			UserID: w.state.UserID, Method: w.in.UploadMethod, Documents: w.in.Documents,
		}).Get(ctx, &res); err != nil {
			return err
		}
		for _, t := range []awda.ImageType{awda.ImageKTP, awda.ImageSelfie} {
			if imageID(res.Images, t) == "" {
				return unexpected("no %s image after upload", t)
			}
		}
		w.state.Images = res.Images
		return nil
	})
}

// uploadOptions are the upload's activity options. An attempt makes
// several AWDA calls (a token, then one upload per image), so one busy
// answer fails it: attempts are retried from 1 s, doubling, at most every
// maxUploadRetryInterval, each skipping the images an earlier one uploaded
// (heartbeat details). The heartbeat timeout lets a worker's death be
// noticed in seconds; the activity heartbeats well within it.
func (w *loanWorkflow) uploadOptions() workflow.ActivityOptions {
	o := w.awdaOptions(w.cfg.UploadTimeout)
	o.HeartbeatTimeout = w.cfg.UploadHeartbeatTimeout
	o.RetryPolicy.MaximumInterval = min(o.RetryPolicy.MaximumInterval, maxUploadRetryInterval)
	return o
}

// maxUploadRetryInterval caps the upload's backoff: a busy AWDA answers again
// within seconds, and a later attempt redoes only what was not uploaded.
const maxUploadRetryInterval = 30 * time.Second

func imageID(images []activities.UploadedImage, t awda.ImageType) string {
	for _, im := range images {
		if im.Type == t && im.ImageID != "" {
			return im.ImageID
		}
	}
	return ""
}

// ---- 6. submit ----

// submit submits the loan under the workflow's orderNo. The same orderNo on
// every attempt makes AWDA answer a repeat with 1001; the loan is then
// adopted by LoanInfo(orderNo), so AWDA never holds two loans for one
// applicant.
func (w *loanWorkflow) submit(ctx workflow.Context) error {
	if w.state.LoanNo != "" {
		return nil
	}
	req := w.submitRequest()
	return w.do(ctx, "submit loan", func(ctx workflow.Context) error {
		var res activities.LoanSubmitResult
		if err := w.call(ctx, callOf(&res, a.LoanSubmit, req)); err != nil {
			return err
		}
		if !res.Duplicate && res.LoanNo != "" {
			w.state.LoanNo = res.LoanNo
			status := res.Status
			if !status.Valid() {
				status = awda.LoanSubmitted
			}
			w.advance(ctx, status, "", "submitted")
			return nil
		}
		var info awda.LoanInfoResponse
		if err := firstErr(w.reads(ctx, callOf(&info, a.LoanInfo, awda.LoanInfoRequest{OrderNo: w.state.OrderNo}))); err != nil {
			return err
		}
		if info.LoanNo == "" || (res.LoanNo != "" && res.LoanNo != info.LoanNo) {
			return unexpected("AWDA reported the orderNo in use but LoanInfo does not name its loan")
		}
		w.state.LoanNo = info.LoanNo
		w.applyLoanInfo(ctx, &info, "reconciled after a repeated submission")
		w.logger.Info("Submission reconciled with the existing loan", "AwdaLoanNo", info.LoanNo)
		return nil
	})
}

func (w *loanWorkflow) submitRequest() awda.LoanSubmitRequest {
	ap, ln := w.in.Applicant, w.in.Loan
	return awda.LoanSubmitRequest{
		UserID:    w.state.UserID,
		OrderNo:   w.state.OrderNo,
		Amount:    ln.Amount,
		Tenor:     ln.Tenor,
		TenorUnit: ln.TenorUnit,
		Purpose:   ln.Purpose,
		Personal:  ap.Personal,
		Identity: awda.IdentityInfo{
			NIK: ap.NIK, Name: ap.Name, BirthDate: ap.BirthDate, BirthPlace: ap.BirthPlace,
			KTPImageID:    imageID(w.state.Images, awda.ImageKTP),
			SelfieImageID: imageID(w.state.Images, awda.ImageSelfie),
		},
		Work:              ap.Work,
		EmergencyContacts: w.in.EmergencyContacts,
	}
}

// ---- 7. review ----

func (w *loanWorkflow) awaitReview(ctx workflow.Context) error {
	if w.bounded {
		decided := func() bool { return w.state.LoanStatus.Rank() >= awda.LoanApproved.Rank() }
		if err := w.awaitAWDA(ctx, waitReview, w.cfg.ReviewDeadline, decided, w.pollLoan); err != nil {
			return err
		}
		if !decided() {
			return w.end(ctx, StageCancelled, ReasonWithdrawnAfterSubmission)
		}
	} else if err := w.awaitLoanStatus(ctx, func(s awda.LoanStatus) bool { return s.Rank() >= awda.LoanApproved.Rank() }); err != nil {
		return err
	}
	switch w.state.LoanStatus {
	case awda.LoanRejected:
		return w.end(ctx, StageRejected, "rejected by AWDA")
	case awda.LoanCancelled:
		return w.end(ctx, StageCancelled, "cancelled by AWDA")
	}
	return nil
}

// ReasonWithdrawnAfterSubmission is the outcome reason of a loan the
// borrower withdrew after it was submitted and before it was signed. AWDA
// has no endpoint to cancel a submitted loan: it keeps the status it had
// (APPROVED, say), but a loan nobody signs is never disbursed.
const ReasonWithdrawnAfterSubmission = "withdrawn by the borrower after submission; AWDA has no cancel endpoint, so the loan stays unsigned at AWDA and is never disbursed"

// awaitLoanStatus is how loans from before changeBoundedWaits waited for
// AWDA (review, disbursement): until the loan's status satisfies done (or is
// final), pushed by AWDA, or found by asking AWDA every PollInterval, with no
// deadline. Kept for their replay; awaitAWDA replaced it.
func (w *loanWorkflow) awaitLoanStatus(ctx workflow.Context, done func(awda.LoanStatus) bool) error {
	reached := func() bool { return done(w.state.LoanStatus) || w.state.LoanStatus.Terminal() }
	for !reached() {
		ok, err := w.awaitFor(ctx, w.cfg.PollInterval, func() bool { return reached() || w.cancelReq != nil })
		switch {
		case err != nil:
			return err
		case ok && !reached():
			return w.end(ctx, StageCancelled, "cancelled by the borrower")
		case !ok:
			if err := w.pollLoan(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *loanWorkflow) pollLoan(ctx workflow.Context) error {
	return w.do(ctx, "poll loan status", func(ctx workflow.Context) error {
		var info awda.LoanInfoResponse
		if err := firstErr(w.reads(ctx, callOf(&info, a.LoanInfo, awda.LoanInfoRequest{LoanNo: w.state.LoanNo}))); err != nil {
			return err
		}
		w.applyLoanInfo(ctx, &info, "poll")
		return nil
	})
}

// ---- 8. agreement ----

func (w *loanWorkflow) signedAtAWDA() bool {
	return w.state.LoanStatus.Rank() >= awda.LoanSigned.Rank() && !w.state.LoanStatus.Terminal() ||
		w.state.LoanStatus == awda.LoanSettled
}

// fetchAgreement asks AWDA for the agreement on offer and the page to sign
// it on.
func (w *loanWorkflow) fetchAgreement(ctx workflow.Context) error {
	return w.do(ctx, "fetch agreement", func(ctx workflow.Context) error {
		var ag awda.LoanAgreementResponse
		var page awda.RedirectURLResponse
		if err := firstErr(w.reads(ctx,
			callOf(&ag, a.LoanAgreement, awda.LoanAgreementRequest{LoanNo: w.state.LoanNo}),
			callOf(&page, a.RedirectURL, awda.RedirectURLRequest{UserID: w.state.UserID, LoanNo: w.state.LoanNo, PageType: awda.PageSignature, ReturnURL: w.in.ReturnURL}),
		)); err != nil {
			return err
		}
		if ag.AgreementID == "" {
			return unexpected("agreement answered without an agreementId")
		}
		w.state.Agreement = &Agreement{ID: ag.AgreementID, Title: ag.Title, ContentURL: ag.ContentURL, Fees: ag.Fees, SignURL: page.URL}
		return nil
	})
}

// signAtAWDA signs the agreement at AWDA, one attempt of the "sign agreement"
// step.
func (w *loanWorkflow) signAtAWDA(ctx workflow.Context, sign *signRequest) error {
	if w.signedAtAWDA() {
		return nil
	}
	var res awda.LoanSignResponse
	if err := w.call(ctx, callOf(&res, a.LoanSign, awda.LoanSignRequest{
		LoanNo: w.state.LoanNo, AgreementID: sign.in.AgreementID, SignedAt: sign.at.UnixMilli(), ClientIP: sign.in.ClientIP,
	})); err != nil {
		if w.bounded && IsErrorType(err, activities.ErrTypeValidation) {
			// An attempt whose answer was lost may have signed: AWDA
			// then refuses the retry (1007). Ask before calling it a
			// failure.
			var info awda.LoanInfoResponse
			if firstErr(w.reads(ctx, callOf(&info, a.LoanInfo, awda.LoanInfoRequest{LoanNo: w.state.LoanNo}))) == nil {
				w.applyLoanInfo(ctx, &info, "asked after AWDA refused the signature")
				if w.signedAtAWDA() {
					return nil
				}
			}
		}
		return err
	}
	status := res.Status
	if !status.Valid() {
		status = awda.LoanSigned
	}
	w.advance(ctx, status, "", "signed")
	return nil
}

func (w *loanWorkflow) awaitSignature(ctx workflow.Context) error {
	if w.signedAtAWDA() {
		return nil
	}
	if w.state.Agreement == nil {
		if err := w.fetchAgreement(ctx); err != nil {
			return err
		}
	}

	w.startDeadline(ctx, w.cfg.AgreementDeadline)
	w.acceptingSignature = true
	ok, err := w.awaitUntil(ctx, w.state.Deadline, func() bool {
		return w.pendingSign != nil || w.cancelReq != nil || w.signedAtAWDA() || w.state.LoanStatus.Terminal()
	})
	w.acceptingSignature = false
	switch {
	case err != nil:
		return err
	case w.pendingSign == nil && w.signedAtAWDA():
		w.state.Deadline = time.Time{}
		return nil // signed on AWDA's H5 page
	case w.state.LoanStatus == awda.LoanCancelled:
		return w.end(ctx, StageCancelled, "cancelled by AWDA")
	case w.state.LoanStatus.Terminal() && !w.signedAtAWDA():
		return w.end(ctx, StageRejected, "rejected by AWDA")
	case w.pendingSign == nil && w.cancelReq != nil && w.bounded:
		return w.end(ctx, StageCancelled, ReasonWithdrawnAfterSubmission)
	case w.pendingSign == nil && w.cancelReq != nil:
		return w.end(ctx, StageCancelled, "cancelled by the borrower")
	case !ok:
		return w.end(ctx, StageExpired, "agreement not signed before the deadline")
	}

	sign := w.pendingSign
	if err := w.do(ctx, "sign agreement", func(ctx workflow.Context) error { return w.signAtAWDA(ctx, sign) }); err != nil {
		return err
	}
	w.state.Agreement.SignedAt = sign.at
	w.state.Deadline = time.Time{}
	w.signed = true
	return nil
}

// ---- 9. disbursement ----

func (w *loanWorkflow) awaitDisbursement(ctx workflow.Context) error {
	disbursed := func() bool {
		s := w.state.LoanStatus
		return s == awda.LoanDisbursed || s.Rank() > awda.LoanDisbursed.Rank()
	}
	for {
		news := func() bool { return disbursed() || w.state.DisburseFailures > w.state.DisburseFailuresSeen }
		var err error
		if w.bounded {
			err = w.awaitAWDA(ctx, waitDisbursement, w.cfg.DisbursementDeadline, news, w.pollLoan)
		} else {
			err = w.awaitLoanStatus(ctx, func(awda.LoanStatus) bool { return news() })
		}
		if err != nil {
			return err
		}
		switch {
		case w.state.LoanStatus == awda.LoanCancelled:
			return w.end(ctx, StageCancelled, "cancelled by AWDA")
		case w.state.LoanStatus == awda.LoanDisburseFailed && w.state.DisburseFailures > w.state.DisburseFailuresSeen:
			w.state.DisburseFailuresSeen = w.state.DisburseFailures
			var resumeWhen func() bool
			if w.bounded {
				resumeWhen = disbursed // AWDA disbursed after all: nothing for ops to do
			}
			if err := w.parkAwaiting(ctx, "disbursement", "AWDA reported DISBURSE_FAILED", waitDisbursement, resumeWhen); err != nil {
				return err
			}
			if err := w.pollLoan(ctx); err != nil {
				return err
			}
		case w.state.LoanStatus == awda.LoanDisburseFailed:
			// a failure ops have seen: keep waiting for AWDA to disburse again
		default:
			return nil
		}
	}
}

// ---- 10. repayment ----

func (w *loanWorkflow) repay(ctx workflow.Context) error {
	if w.has(ctx, changeDueJitter) {
		w.dueJitter = jitterOf(w.workflowID, w.cfg.DueCheckJitter)
	}
	if len(w.state.Schedule) == 0 || w.state.RepaymentVA == nil {
		if err := w.do(ctx, "fetch schedule", w.refreshSchedule); err != nil {
			return err
		}
	}
	var (
		timer       workflow.Future
		timerAt     time.Time
		cancelTimer workflow.CancelFunc
	)
	for {
		if w.confirmDue(workflow.Now(ctx)) {
			w.confirmFinal(ctx)
			continue
		}
		if w.state.RefreshPending {
			w.state.RefreshPending = false
			if err := w.do(ctx, "refresh schedule", w.refreshSchedule); err != nil {
				return err
			}
			continue
		}
		switch w.state.LoanStatus {
		case awda.LoanSettled:
			return w.end(ctx, StageSettled, "")
		case awda.LoanCancelled:
			return w.end(ctx, StageCancelled, "cancelled by AWDA")
		}
		if w.continueAsNewDue(ctx) {
			if err := w.continueAsNew(ctx, func() bool {
				return w.state.RefreshPending || w.state.LoanStatus.Terminal() || w.confirmNow()
			}); err != nil {
				return err
			}
			continue
		}

		now := workflow.Now(ctx)
		pending := time.Time{}
		if timer != nil && !timer.IsReady() {
			pending = timerAt
		}
		at := w.nextCheck(now, pending)
		if retry := w.confirmRetry(); !retry.IsZero() && retry.Before(at) {
			at = retry // a failed confirmation read, asked again
		}
		if timer == nil || timer.IsReady() || !at.Equal(timerAt) {
			if cancelTimer != nil {
				cancelTimer()
			}
			var tctx workflow.Context
			tctx, cancelTimer = workflow.WithCancel(ctx)
			timer, timerAt = workflow.NewTimer(tctx, at.Sub(now)), at
		}
		w.rest(ctx)
		if err := workflow.Await(ctx, func() bool {
			return w.state.RefreshPending || w.state.LoanStatus == awda.LoanSettled || timer.IsReady() ||
				w.continueAsNewDue(ctx) || w.bounded && w.state.LoanStatus.Terminal() || w.confirmNow()
		}); err != nil {
			return err
		}
		if timer.IsReady() && !w.state.LoanStatus.Terminal() && w.state.Confirm == nil {
			w.state.RefreshPending = true // no news by the due date: ask AWDA
		}
	}
}

// refreshSchedule fetches the loan (status and schedule) and, when it has
// expired and the loan is not settled, the repayment VA.
func (w *loanWorkflow) refreshSchedule(ctx workflow.Context) error {
	var info awda.LoanInfoResponse
	var va awda.RepaymentVAResponse
	rs := []awdaCall{callOf(&info, a.LoanInfo, awda.LoanInfoRequest{LoanNo: w.state.LoanNo})}
	vaExpired := w.state.RepaymentVA == nil || w.state.RepaymentVA.ExpireAt <= workflow.Now(ctx).UnixMilli()
	if vaExpired && w.state.LoanStatus != awda.LoanSettled {
		rs = append(rs, callOf(&va, a.RepaymentVA, awda.RepaymentVARequest{LoanNo: w.state.LoanNo}))
	}
	errs := w.reads(ctx, rs...)
	if errs[0] != nil {
		return errs[0]
	}
	w.applyLoanInfo(ctx, &info, "schedule refresh")
	if len(rs) == 2 {
		if errs[1] != nil && w.state.LoanStatus != awda.LoanSettled {
			return errs[1] // a settled loan needs no VA
		}
		if errs[1] == nil {
			w.state.RepaymentVA = &va
		}
	}
	return nil
}

// nextCheck is when the repayment stage looks at AWDA if no notification
// comes: an hour after the earliest future due date of an unpaid
// installment; for an overdue loan every OverduePollInterval; while waiting
// for SETTLED (or for a schedule) every PollInterval. pending is the
// current timer's time (zero if none), kept when it is still good.
func (w *loanWorkflow) nextCheck(now, pending time.Time) time.Time {
	var next time.Time
	unpaid := false
	for _, in := range w.state.Schedule {
		if in.Status == awda.InstallmentPaid {
			continue
		}
		unpaid = true
		at, ok := dueCheck(in.DueDate)
		at = at.Add(w.dueJitter)
		if ok && at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if !next.IsZero() {
		return next
	}
	every := w.cfg.PollInterval
	if unpaid {
		every = w.cfg.OverduePollInterval
	}
	if !pending.IsZero() && pending.After(now) && !pending.After(now.Add(every)) {
		return pending
	}
	return now.Add(every)
}

// continueAsNew hands the loan to a fresh run when the history grows long:
// after every update handler has answered and every signal still in its
// channel is applied, with the state (and with it the seen eventIds, the
// unwritten trail and the wait in progress). Nothing can take a signal
// between the drain and the hand-over: no coroutine blocks in Receive (see
// listen) and nothing yields after the drain. When what the drain applied
// ends the wait (cond; in runs with bounded waits), the loan stays in this
// run and nil is returned: the caller acts on it, and hands over at its next
// wait. The applicant's profile travels only while the loan still needs it
// (until submission); the payload codec encrypts it like the first input.
func (w *loanWorkflow) continueAsNew(ctx workflow.Context, cond func() bool) error {
	w.rest(ctx)
	stay := func() bool { return w.bounded && cond != nil && cond() }
	// An update that arrives meanwhile may itself be what the wait waits
	// for (a bank card, a signature): its handler then waits for run(), so
	// the wait ends instead of waiting for the handler.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || stay() }); err != nil {
		return err
	}
	w.drainSignals(ctx)
	if stay() {
		return nil
	}
	st := w.state
	next := LoanApplicationInput{
		ApplicantRef: w.in.ApplicantRef,
		UploadMethod: w.in.UploadMethod,
		ReturnURL:    w.in.ReturnURL,
		Config:       w.cfg,
		Resume:       &st,
	}
	if w.bounded && st.LoanNo == "" {
		next.Applicant, next.Loan = w.in.Applicant, w.in.Loan
		next.EmergencyContacts, next.Documents = w.in.EmergencyContacts, w.in.Documents
	}
	w.logger.Info("Continuing as new", "Stage", string(st.Stage), "Runs", st.Runs+1, "HistoryLength", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	return workflow.NewContinueAsNewError(ctx, LoanApplication, next)
}

// ---- input ----

// validate checks what the workflow relies on. Messages name fields, never
// values. AWDA's own validation runs at the call (it needs the clock).
func (in LoanApplicationInput) validate() error {
	if strings.TrimSpace(in.ApplicantRef) == "" {
		return errors.New("applicantRef is required")
	}
	if in.ReturnURL != "" {
		u, err := url.Parse(in.ReturnURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("returnUrl must be an absolute http(s) URL")
		}
	}
	if in.UploadMethod != "" && in.UploadMethod != activities.UploadStream && in.UploadMethod != activities.UploadBase64 {
		return errors.New("uploadMethod must be STREAM or BASE64")
	}
	if in.Resume != nil {
		if in.Resume.OrderNo == "" || in.Resume.Stage.index() < 0 {
			return errors.New("resume state has no orderNo or no working stage")
		}
		return nil
	}
	ap, ln := in.Applicant, in.Loan
	for _, f := range []struct{ name, v string }{
		{"applicant.name", ap.Name}, {"applicant.nik", ap.NIK}, {"applicant.mobile", ap.Mobile},
		{"applicant.birthDate", ap.BirthDate}, {"loan.purpose", ln.Purpose},
	} {
		if strings.TrimSpace(f.v) == "" {
			return errors.New(f.name + " is required")
		}
	}
	switch {
	case ln.Amount <= 0:
		return errors.New("loan.amount must be positive")
	case ln.Tenor <= 0:
		return errors.New("loan.tenor must be positive")
	case ln.TenorUnit != awda.TenorDay && ln.TenorUnit != awda.TenorMonth:
		return errors.New("loan.tenorUnit must be DAY or MONTH")
	case len(in.EmergencyContacts) == 0:
		return errors.New("emergencyContacts is required")
	}
	for _, t := range []awda.ImageType{awda.ImageKTP, awda.ImageSelfie} {
		found := false
		for _, d := range in.Documents {
			found = found || d.Type == t && d.DocumentID != ""
		}
		if !found {
			return fmt.Errorf("documents must include a %s document", t)
		}
	}
	return nil
}
