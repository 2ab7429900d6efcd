package workflows

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/awda"
)

// This file holds the loan's message handlers: the status query, the two
// updates with their validators, and the signals. Handlers only read and
// change the state; every AWDA call happens in run(), which they wake.

// signalDef is one signal channel and what applying a value means.
type signalDef struct {
	channel func(workflow.Context) workflow.ReceiveChannel
	// takeOne applies the next value buffered in ch, if there is one, and
	// reports whether there was.
	takeOne func(ctx workflow.Context, ch workflow.ReceiveChannel) bool
}

func onSignal[T any](s Signal[T], apply func(workflow.Context, T)) signalDef {
	return signalDef{channel: s.channel, takeOne: func(ctx workflow.Context, ch workflow.ReceiveChannel) bool {
		var v T
		if !ch.ReceiveAsync(&v) {
			return false
		}
		apply(ctx, v)
		return true
	}}
}

func (w *loanWorkflow) signalDefs() []signalDef {
	return []signalDef{
		onSignal(LoanStatusSignal, w.onLoanStatus),
		onSignal(AuthorizationSignal, w.onAuthorization),
		onSignal(CancelSignal, w.onCancel),
		onSignal(RetrySignal, w.onRetry),
		onSignal(AbandonSignal, w.onAbandon),
	}
}

// listen applies signals as they arrive, in a workflow coroutine. It never
// blocks in Receive: a coroutine blocked there is handed a signal when the
// signal's event is applied, before any coroutine runs, and would apply it
// only after the main coroutine had its turn in the same workflow task —
// after a continue-as-new that main built from a state without it (the push
// would be lost with the run). Waiting until a channel holds something and
// taking it with ReceiveAsync leaves every signal in its channel until
// someone applies it: this coroutine, or drainSignals before a hand-over.
func (w *loanWorkflow) listen(ctx workflow.Context) {
	defs := w.signalDefs()
	chans := make([]workflow.ReceiveChannel, len(defs))
	for i, s := range defs {
		chans[i] = s.channel(ctx)
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			if err := workflow.Await(ctx, func() bool {
				for _, ch := range chans {
					if ch.Len() > 0 {
						return true
					}
				}
				return false
			}); err != nil {
				return // the workflow was cancelled through Temporal
			}
			for i, s := range defs {
				if s.takeOne(ctx, chans[i]) {
					break // one at a time, in the order of signalDefs
				}
			}
		}
	})
}

// drainSignals applies every signal still buffered (before continue-as-new).
func (w *loanWorkflow) drainSignals(ctx workflow.Context) {
	for _, s := range w.signalDefs() {
		ch := s.channel(ctx)
		for s.takeOne(ctx, ch) {
		}
	}
}

// seenBefore reports whether eventID was applied or ignored before, and
// remembers it.
func (w *loanWorkflow) seenBefore(eventID string) bool {
	if w.seen[eventID] {
		return true
	}
	w.seen[eventID] = true
	w.state.SeenEventIDs = append(w.state.SeenEventIDs, eventID)
	if n := len(w.state.SeenEventIDs); n > maxSeenEvents {
		for _, old := range w.state.SeenEventIDs[:n-maxSeenEvents] {
			delete(w.seen, old)
		}
		w.state.SeenEventIDs = append([]string(nil), w.state.SeenEventIDs[n-maxSeenEvents:]...)
	}
	return false
}

// onLoanStatus applies AWDA's LOAN_STATUS push: once per eventId, never
// backwards, only for this loan.
func (w *loanWorkflow) onLoanStatus(ctx workflow.Context, ev awda.LoanStatusEvent) {
	ig := Ignored{Signal: LoanStatusSignal.Name, EventID: ev.EventID, Status: string(ev.Status)}
	switch {
	case ev.EventID == "":
		ig.Reason = "no eventId"
	case w.seenBefore(ev.EventID):
		ig.Reason = "duplicate eventId"
	case w.state.Stage.Terminal():
		// The loan has its outcome; its last projection (a regular
		// activity, which may take a moment) is being written. What AWDA
		// says now changes nothing.
		ig.Reason = "the loan has ended"
	case ev.EventType != "" && ev.EventType != awda.EventTypeLoanStatus:
		ig.Reason = "not a LOAN_STATUS event"
	case ev.OrderNo != "" && ev.OrderNo != w.state.OrderNo:
		ig.Reason = "another orderNo"
	case ev.LoanNo != "" && w.state.LoanNo != "" && ev.LoanNo != w.state.LoanNo:
		ig.Reason = "another loanNo"
	case ev.OrderNo == "" && (ev.LoanNo == "" || w.state.LoanNo == ""):
		ig.Reason = "cannot tell whose loan this is"
	case w.beforeSubmit() && w.has(ctx, changePushBeforeSubmit):
		ig.Reason = "the loan has not been submitted to AWDA"
	case !ev.Status.Valid():
		ig.Reason = "unknown status"
	}
	if ig.Reason != "" {
		w.ignore(ctx, ig)
		return
	}
	if w.state.LoanNo == "" && ev.LoanNo != "" {
		w.state.LoanNo = ev.LoanNo // pushed before our submit call returned
	}
	note := "push"
	if ev.Period > 0 {
		note = fmt.Sprintf("push, installment %d", ev.Period)
	}
	if ev.Status.Terminal() && !w.state.LoanStatus.Terminal() &&
		w.has(ctx, changeConfirmFinal) {
		// Ended only once AWDA's loan info says so: see confirmFinal.
		c := Confirm{EventID: ev.EventID, Status: ev.Status, Note: note}
		if w.state.Confirm != nil && w.has(ctx, changeConfirmEach) {
			w.state.ConfirmMore = append(w.state.ConfirmMore, c)
			w.state.ConfirmRetryAt = time.Time{} // news: ask at once
		} else {
			w.state.Confirm = &c
		}
		return
	}
	if w.advance(ctx, ev.Status, ev.EventID, note) {
		switch ev.Status {
		case awda.LoanRepaying, awda.LoanOverdue, awda.LoanSettled:
			w.state.RefreshPending = true
		}
	}
}

// confirmFinal asks AWDA's loan info about the final statuses held in
// State.Confirm (and ConfirmMore), and applies the one AWDA says; the
// others are recorded as ignored, and when AWDA confirms none its answer is
// applied instead (through advance, so a stale answer moves nothing). When
// the read fails (its retry budget spent), the pushes stay held and the
// read is tried again after PollInterval (changeConfirmEach): a stage that
// does not poll (AGREEMENT) would otherwise never learn AWDA's final
// status. Runs from before it ignore them, and the stage's own polls or
// AWDA's next push bring a true final status later. Called from the
// waits, never from a signal handler.
func (w *loanWorkflow) confirmFinal(ctx workflow.Context) {
	held := w.held()
	w.state.Confirm, w.state.ConfirmMore, w.state.ConfirmRetryAt = nil, nil, time.Time{}
	req := awda.LoanInfoRequest{LoanNo: w.state.LoanNo}
	if req.LoanNo == "" {
		req = awda.LoanInfoRequest{OrderNo: w.state.OrderNo}
	}
	var info awda.LoanInfoResponse
	if err := firstErr(w.reads(ctx, callOf(&info, a.LoanInfo, req))); err != nil {
		if w.has(ctx, changeConfirmEach) {
			// Held again, with any that came during the read.
			w.logger.Warn("AWDA's loan info could not confirm a final push; asking again later", "Reason", describe(err))
			all := append(held, w.held()...)
			w.state.Confirm, w.state.ConfirmMore = &all[0], all[1:]
			w.state.ConfirmRetryAt = workflow.Now(ctx).Add(w.cfg.PollInterval)
			return
		}
		for _, c := range held {
			w.ignore(ctx, Ignored{Signal: LoanStatusSignal.Name, EventID: c.EventID, Status: string(c.Status),
				Reason: "AWDA's loan info could not confirm it: " + describe(err)})
		}
		return
	}
	confirmed := false
	for _, c := range held {
		if info.Status != c.Status {
			w.ignore(ctx, Ignored{Signal: LoanStatusSignal.Name, EventID: c.EventID, Status: string(c.Status),
				Reason: "AWDA's loan info says " + string(info.Status)})
			continue
		}
		if len(info.Schedule) > 0 {
			w.state.Schedule = info.Schedule
		}
		w.advance(ctx, c.Status, c.EventID, c.Note+", confirmed by loan info")
		confirmed = true
	}
	if !confirmed {
		w.applyLoanInfo(ctx, &info, "loan info, read to confirm a push")
	}
}

// confirmDue reports whether held pushes are to be confirmed at now;
// confirmNow whether at once (no retry of a failed read pending), which a
// wait wakes for.
func (w *loanWorkflow) confirmDue(now time.Time) bool {
	return w.state.Confirm != nil && !now.Before(w.state.ConfirmRetryAt)
}

func (w *loanWorkflow) confirmNow() bool {
	return w.state.Confirm != nil && w.state.ConfirmRetryAt.IsZero()
}

// confirmRetry is when a failed confirmation read is tried again (zero:
// none pending).
func (w *loanWorkflow) confirmRetry() time.Time {
	if w.state.Confirm == nil {
		return time.Time{}
	}
	return w.state.ConfirmRetryAt
}

// held returns the final pushes held for confirmation, in arrival order.
func (w *loanWorkflow) held() []Confirm {
	if w.state.Confirm == nil {
		return nil
	}
	return append([]Confirm{*w.state.Confirm}, w.state.ConfirmMore...)
}

// settleHeld records the final pushes still held when the loan ends by
// another path (a poll read the status, the borrower cancelled) as
// ignored, so that every push is applied or recorded (changeConfirmEach).
func (w *loanWorkflow) settleHeld(ctx workflow.Context, outcome Stage) {
	if w.state.Confirm == nil || !w.has(ctx, changeConfirmEach) {
		return
	}
	for _, c := range w.held() {
		w.ignore(ctx, Ignored{Signal: LoanStatusSignal.Name, EventID: c.EventID, Status: string(c.Status),
			Reason: "the loan ended " + string(outcome) + " before AWDA's loan info was read to confirm it"})
	}
	w.state.Confirm, w.state.ConfirmMore, w.state.ConfirmRetryAt = nil, nil, time.Time{}
}

// beforeSubmit reports whether the loan has not reached AWDA yet: no
// loanNo, and a stage before SUBMIT (a push during the submit call, whose
// answer may be lost, is still taken).
func (w *loanWorkflow) beforeSubmit() bool {
	return w.state.LoanNo == "" && w.state.Stage.index() < StageSubmit.index()
}

// advance moves the loan's AWDA status to s if that is forward (or a legal
// alternation at one step: DISBURSE_FAILED→DISBURSED, REPAYING↔OVERDUE),
// records the transition, and reports whether it was applied. A repeat of
// the current status from a new event is applied (it may carry news, such as
// another installment paid) but moves nothing.
func (w *loanWorkflow) advance(ctx workflow.Context, s awda.LoanStatus, eventID, note string) bool {
	cur := w.state.LoanStatus
	var why string
	switch {
	case cur == "" || s == cur && eventID != "":
	case s == cur:
		return false // a poll that found nothing new
	case cur.Terminal():
		why = "status " + string(cur) + " is final"
	case s.Rank() > cur.Rank():
	case s.Rank() == cur.Rank() && sameStepMove(cur, s):
	default:
		why = "would move the status back from " + string(cur)
	}
	if why != "" {
		w.ignore(ctx, Ignored{Signal: LoanStatusSignal.Name, EventID: eventID, Status: string(s), Reason: why})
		return false
	}
	if s == cur {
		note = "repeat, " + note
	}
	w.record(ctx, Transition{Kind: KindLoanStatus, From: string(cur), To: string(s), EventID: eventID, Note: note})
	w.state.LoanStatus = s
	if s == awda.LoanDisburseFailed {
		w.state.DisburseFailures++
	}
	return true
}

func sameStepMove(from, to awda.LoanStatus) bool {
	switch {
	case from == awda.LoanDisburseFailed && to == awda.LoanDisbursed:
		return true
	case from == awda.LoanRepaying && to == awda.LoanOverdue, from == awda.LoanOverdue && to == awda.LoanRepaying:
		return true
	}
	return false
}

// applyLoanInfo takes what LoanInfo answered: the status (through advance,
// so a stale answer moves nothing) and the schedule.
func (w *loanWorkflow) applyLoanInfo(ctx workflow.Context, info *awda.LoanInfoResponse, note string) {
	w.advance(ctx, info.Status, "", note)
	if len(info.Schedule) > 0 {
		w.state.Schedule = info.Schedule
	}
}

// onAuthorization applies AWDA's authorization callback.
func (w *loanWorkflow) onAuthorization(ctx workflow.Context, ev awda.AuthorizationEvent) {
	ig := Ignored{Signal: AuthorizationSignal.Name, EventID: ev.EventID, Status: string(ev.Status)}
	switch {
	case ev.EventID == "":
		ig.Reason = "no eventId"
	case w.seenBefore(ev.EventID):
		ig.Reason = "duplicate eventId"
	case w.state.Stage.Terminal():
		// The loan has its outcome; its last projection (a regular
		// activity, which may take a moment) is being written. What AWDA
		// says now changes nothing.
		ig.Reason = "the loan has ended"
	case ev.UserID != "" && w.state.UserID != "" && ev.UserID != w.state.UserID:
		ig.Reason = "another userId"
	case ev.AuthType == "":
		ig.Reason = "no authType"
	case ev.Status != awda.AuthSuccess && ev.Status != awda.AuthFailed && ev.Status != awda.AuthExpired:
		ig.Reason = "unknown status"
	}
	if ig.Reason != "" {
		w.ignore(ctx, ig)
		return
	}
	au := w.authorization(ev.AuthType)
	if au.Status == awda.AuthSuccess {
		ig.Reason = "already succeeded"
		w.ignore(ctx, ig)
		return
	}
	w.record(ctx, Transition{Kind: KindAuth, From: string(au.Status), To: string(ev.Status), EventID: ev.EventID, Note: ev.AuthType})
	au.Status = ev.Status
	au.NeedsPage = ev.Status != awda.AuthSuccess
	w.authCallbacks[ev.AuthType]++
}

// authorization returns the state entry of authType, adding it when a
// callback arrives before the list.
func (w *loanWorkflow) authorization(authType string) *Authorization {
	for i := range w.state.Authorizations {
		if w.state.Authorizations[i].AuthType == authType {
			return &w.state.Authorizations[i]
		}
	}
	w.state.Authorizations = append(w.state.Authorizations, Authorization{AuthType: authType, Status: awda.AuthNone})
	return &w.state.Authorizations[len(w.state.Authorizations)-1]
}

// cancellable reports whether the borrower may still withdraw: not once the
// agreement is signed or being signed.
func (w *loanWorkflow) cancellable() bool {
	return !w.state.Stage.Terminal() && w.pendingSign == nil && w.state.LoanStatus.Rank() < awda.LoanSigned.Rank()
}

func (w *loanWorkflow) onCancel(ctx workflow.Context, req CancelRequest) {
	if !w.cancellable() {
		w.ignore(ctx, Ignored{Signal: CancelSignal.Name, Reason: "too late to cancel at " + string(w.state.Stage)})
		return
	}
	w.cancelReq = &req
	if w.stepCancel != nil {
		w.stepCancel()
	}
}

func (w *loanWorkflow) onRetry(ctx workflow.Context, req RetryRequest) {
	if w.state.Stuck == nil {
		w.ignore(ctx, Ignored{Signal: RetrySignal.Name, Reason: "not stuck"})
		return
	}
	w.retryReq = &req
}

func (w *loanWorkflow) onAbandon(ctx workflow.Context, req AbandonRequest) {
	if w.state.Stuck == nil {
		w.ignore(ctx, Ignored{Signal: AbandonSignal.Name, Reason: "not stuck"})
		return
	}
	w.abandonReq = &req
}

// ---- updates ----

type cardSubmission struct {
	n  int
	in BankCardInput
}

type cardVerdict struct {
	n   int
	res BankCardResult
}

func (w *loanWorkflow) waitingForCard() bool {
	return w.state.Stage == StageBankCard && len(w.state.Banks) > 0 && w.state.Stuck == nil &&
		w.state.BankCard != nil && w.state.BankCard.Status != awda.CardBound && w.state.BankCard.Status != awda.CardVerifying
}

// wrongStage refuses an update that does not belong to the loan's current
// step; invalidInput one whose input is wrong for it. A refusal is not
// recorded in the history, so its wording and type can change freely.
func wrongStage(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeWrongStage, nil)
}

func invalidInput(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidInput, nil)
}

// validateBankCard refuses, before anything is written to history, a card
// the loan cannot use. Its messages never echo the account number or name.
func (w *loanWorkflow) validateBankCard(in BankCardInput) error {
	if !w.waitingForCard() {
		return wrongStage("the application is not waiting for a bank card")
	}
	if w.pendingCard != nil {
		return wrongStage("a bank card is being verified")
	}
	if w.cancelReq != nil {
		return wrongStage("the application is being cancelled")
	}
	if strings.TrimSpace(in.AccountName) == "" {
		return invalidInput("accountName is required")
	}
	var bank *awda.Bank
	for i := range w.state.Banks {
		if w.state.Banks[i].BankCode == in.BankCode {
			bank = &w.state.Banks[i]
		}
	}
	if bank == nil {
		return invalidInput("bankCode is not one of the banks offered")
	}
	if !digits(in.AccountNo) {
		return invalidInput("accountNo must be digits only")
	}
	if n := len(in.AccountNo); (bank.AccountNoMinLen > 0 && n < bank.AccountNoMinLen) || (bank.AccountNoMaxLen > 0 && n > bank.AccountNoMaxLen) {
		if bank.AccountNoMinLen == bank.AccountNoMaxLen {
			return invalidInput(fmt.Sprintf("accountNo must be %d digits for %s", bank.AccountNoMinLen, bank.BankCode))
		}
		return invalidInput(fmt.Sprintf("accountNo must be %d to %d digits for %s", bank.AccountNoMinLen, bank.AccountNoMaxLen, bank.BankCode))
	}
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// submitBankCard hands the card to run(), which verifies it at AWDA, and
// answers with AWDA's verdict.
func (w *loanWorkflow) submitBankCard(ctx workflow.Context, in BankCardInput) (BankCardResult, error) {
	w.cardSeq++
	n := w.cardSeq
	w.pendingCard = &cardSubmission{n: n, in: in}
	if err := workflow.Await(ctx, func() bool {
		return w.cardVerdict != nil && w.cardVerdict.n == n || w.state.Stuck != nil || w.state.Stage.Terminal()
	}); err != nil {
		return BankCardResult{}, err
	}
	switch {
	case w.cardVerdict != nil && w.cardVerdict.n == n:
		return w.cardVerdict.res, nil
	case w.state.Stuck != nil:
		return BankCardResult{Accepted: true, Status: CardPending, Reason: "AWDA could not verify the card yet; operations are on it"}, nil
	}
	return BankCardResult{Accepted: false, Reason: "the application has ended"}, nil
}

type signRequest struct {
	in SignAgreementInput
	at time.Time
}

// validateSignature refuses a signature the loan cannot use.
func (w *loanWorkflow) validateSignature(in SignAgreementInput) error {
	if !w.acceptingSignature || w.state.Agreement == nil || w.state.Stuck != nil {
		return wrongStage("the application is not waiting for a signature")
	}
	if w.pendingSign != nil {
		return wrongStage("the agreement is being signed")
	}
	if w.cancelReq != nil {
		return wrongStage("the application is being cancelled")
	}
	if in.AgreementID != w.state.Agreement.ID {
		return invalidInput("agreementId does not match the agreement on offer")
	}
	if !in.Consent {
		return invalidInput("explicit consent is required")
	}
	if _, err := netip.ParseAddr(strings.TrimSpace(in.ClientIP)); err != nil {
		return invalidInput("clientIp must be an IP address")
	}
	return nil
}

// signAgreement hands the consent to run(), which signs at AWDA, and answers
// once AWDA has the signature (or operations must step in).
func (w *loanWorkflow) signAgreement(ctx workflow.Context, in SignAgreementInput) (SignAgreementResult, error) {
	in.ClientIP = strings.TrimSpace(in.ClientIP)
	w.pendingSign = &signRequest{in: in, at: workflow.Now(ctx)}
	if err := workflow.Await(ctx, func() bool {
		return w.signed || w.state.Stuck != nil || w.state.Stage.Terminal()
	}); err != nil {
		return SignAgreementResult{}, err
	}
	switch {
	case w.signed:
		return SignAgreementResult{Accepted: true, Status: string(w.state.LoanStatus)}, nil
	case w.state.Stuck != nil:
		return SignAgreementResult{Accepted: true, Status: SignPending, Reason: "AWDA could not record the signature yet; operations are on it"}, nil
	}
	return SignAgreementResult{Accepted: false, Reason: "the application has ended"}, nil
}

// ---- query ----

func (w *loanWorkflow) status(workflowID string) Status {
	st := w.state
	st.SeenEventIDs = nil
	s := Status{ApplicantRef: w.in.ApplicantRef, WorkflowID: workflowID, Terminal: st.Stage.Terminal(), State: st}
	if s.Terminal || st.Stuck != nil {
		return s
	}
	switch st.Stage {
	case StageAuthorizations:
		var pages []Authorization
		for _, au := range st.Authorizations {
			if au.Required && au.Status != awda.AuthSuccess && au.URL != "" && !au.NeedsPage {
				pages = append(pages, au)
			}
		}
		if len(pages) > 0 {
			s.Next = &NextAction{Action: ActionAuthorize, Deadline: st.Deadline, Authorizations: pages}
		}
	case StageBankCard:
		if w.waitingForCard() && w.pendingCard == nil {
			s.Next = &NextAction{Action: ActionSubmitBankCard, Deadline: st.Deadline, Banks: st.Banks, Reason: st.BankCard.Reason}
		}
	case StageAgreement:
		if w.acceptingSignature && w.pendingSign == nil {
			s.Next = &NextAction{Action: ActionSignAgreement, Deadline: st.Deadline, Agreement: st.Agreement}
		}
	case StageRepayment:
		for i := range st.Schedule {
			if st.Schedule[i].Status != awda.InstallmentPaid {
				in := st.Schedule[i]
				s.Next = &NextAction{Action: ActionRepay, Installment: &in, RepaymentVA: st.RepaymentVA}
				break
			}
		}
	}
	return s
}
