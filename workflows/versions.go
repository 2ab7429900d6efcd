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
	// each change where it applies, as they always did; a run begun at 2
	// has every change listed before confirm-each and asks for the later
	// ones (changeRev).
	revEveryChange workflow.Version = 3

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
	// changeConfirmEach (revision 3): every final push held for
	// confirmation is accounted for. A second one that arrives while one is
	// held (in the same workflow task, or while the first waits for a read)
	// is held too, instead of replacing the first, and the one loan/info
	// read answers them all: the push AWDA confirms is applied, the others
	// are recorded as ignored. Pushes still held when the loan ends by
	// another path (a poll found the status, the borrower cancelled) are
	// recorded as ignored. A read that fails (its retry budget spent) keeps
	// the pushes held and is tried again after PollInterval. Before, the
	// replaced push and the pushes held at the end were neither applied nor
	// recorded, and a failed read dropped them: a stage that does not poll
	// (AGREEMENT) then never learnt AWDA's CANCELLED and expired (found by
	// the simulator's forged pushes: a real CANCELLED and a forged SETTLED
	// in one task, seed 89; a CANCELLED pushed while a poll rode out a
	// loan/info outage, seed 6903). Asked only in those cases.
	changeConfirmEach = "confirm-each"
)

// changeRev is the revision (the version of changeBoundedWaits a run
// records when it starts) from which a run has change without asking.
func changeRev(change string) workflow.Version {
	switch change {
	case changeConfirmEach:
		return 3
	}
	return 2
}

// has reports whether this run has the change: every run begun at the
// change's revision (changeRev) or later does; an older run asks GetVersion
// where the change applies, which records the marker the first time in a
// live run and reads it back on replay. When a change is added: list it
// above, bump revEveryChange and give the change that revision in changeRev
// (runs begun at an older revision then ask for the new change by itself,
// and keep the changes they had without a marker).
func (w *loanWorkflow) has(ctx workflow.Context, change string) bool {
	if w.rev >= changeRev(change) {
		return true
	}
	return workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) >= 1
}
