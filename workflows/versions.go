package workflows

import "go.temporal.io/sdk/workflow"

// Change IDs for workflow.GetVersion. A change to what a running loan does
// (the commands it sends) is made behind one of these, so that histories
// recorded before it replay as they ran; the replay tests over
// testdata/*.json hold it. Each is asked only where the new behaviour would
// differ from the old, so a loan that never meets the case records no
// marker.
const (
	// revEveryChange is the version of changeBoundedWaits that a run begun by
	// this code records when it starts: such a run has every change below,
	// and asks no other GetVersion (has). Each GetVersion costs a marker
	// event and a search-attribute upsert (TemporalChangeVersion, a
	// visibility write), so a loan that asked one per change paid five of
	// each on its happy path. Runs begun before it (version 1 or none) ask
	// each change where it applies, as they always did.
	revEveryChange workflow.Version = 2

	// changeAuthCallbackWins: an authorization callback that arrives while
	// the pages are being read stands against the page's result (a FAILED or
	// EXPIRED one gets a fresh page) instead of being overwritten by PENDING.
	changeAuthCallbackWins = "auth-callback-wins"
	// changeFinalStatusWins: a step that fails once the loan has a final
	// AWDA status (SETTLED, CANCELLED, REJECTED; asked of AWDA after a
	// validation refusal, or pushed) ends the loan with it, and a parked
	// loan ends when such a status is pushed, instead of waiting for
	// operations.
	changeFinalStatusWins = "final-status-wins"
	// changePublishAtRest: a stage change is made visible (search
	// attributes and the read model) when the loan comes to rest in it —
	// waits for the borrower, AWDA, a timer or operations, is stuck, or
	// ends — instead of at every stage it passes through on the way, and a
	// search-attribute upsert carries only the attributes that changed.
	changePublishAtRest = "publish-at-rest"
	// changeBoundedWaits: asked once when a run starts. Runs begun with it
	// wait through one primitive that can continue as new from any stage
	// (waits for AWDA back off, have deadlines that park the loan, and
	// honour the borrower's cancel), keep a bounded trail in the state with
	// the full one in the read model, and write the final projection with a
	// regular activity. Runs from before it keep the old waits; their next
	// continue-as-new (repayment only) starts a run with the new ones.
	changeBoundedWaits = "bounded-waits"
	// changePushBeforeSubmit: a LOAN_STATUS push for this loan's orderNo
	// that arrives before the loan was submitted (no loanNo, a stage before
	// SUBMIT) is ignored and recorded, instead of moving the loan. AWDA
	// learns an orderNo only from our submit; if AWDA does hold the loan
	// (a run reset to before its submit), the submit's duplicate answer
	// and the loan-info read that follows it take its status.
	changePushBeforeSubmit = "push-before-submit"
	// changeConfirmFinal: a LOAN_STATUS push that would end the loan
	// (SETTLED, CANCELLED, REJECTED) is confirmed with AWDA's loan info
	// before it is applied, instead of being trusted as it comes: anyone who
	// can signal the workflow could otherwise end a loan. Asked only when
	// such a push arrives.
	changeConfirmFinal = "confirm-final"
	// changeDueJitter: the repayment stage's due-date checks (01:00 WIB the
	// day after a due date, when no news came) are shifted by an offset in
	// [0, Config.DueCheckJitter) drawn from the workflow ID, so that the
	// loans due on one date do not all call AWDA in the same minute. Asked
	// once per run, when it enters the repayment stage.
	changeDueJitter = "due-jitter"
	// changePublishUserID: AWDA's user ID is published (the read model,
	// through which the inbox routes AWDA's authorization callbacks) as soon
	// as register returns it, instead of when the loan first rests, in
	// AUTHORIZATIONS. AWDA may call back before the loan gets there (an
	// eligibility check retried while AWDA is busy or Temporal restarts),
	// and a callback with no application for its user is orphaned after
	// STARTER_ORPHAN_GRACE. Found by make chaos STACK=server.
	changePublishUserID = "publish-user-id"
)

// has reports whether this run has the change: every run begun with
// revEveryChange does; an older run asks GetVersion where the change applies,
// which records the marker the first time in a live run and reads it back
// on replay. When a change is added: list it above, and bump revEveryChange
// (older runs then ask for the new change by itself).
func (w *loanWorkflow) has(ctx workflow.Context, change string) bool {
	if w.rev >= revEveryChange {
		return true
	}
	return workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) >= 1
}
