package workflows

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
)

// a is the typed nil receiver the workflow calls activities through, so the
// compiler checks activity names and arguments.
var a *activities.Activities

func unexpected(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeUnexpected, nil)
}

// ended unwinds run() when the loan reaches an outcome.
type ended struct {
	outcome Stage
	reason  string
}

func (e *ended) Error() string { return "loan ended " + string(e.outcome) + ": " + e.reason }

func isEnded(err error) bool {
	var e *ended
	return errors.As(err, &e)
}

func isContinueAsNew(err error) bool {
	var can *workflow.ContinueAsNewError
	return errors.As(err, &can)
}

// interruptible runs one try of a step. Before submission (in runs with
// bounded waits) the borrower's cancel interrupts it: the AWDA calls in
// flight are abandoned (cancelled) rather than awaited through a busy
// storm's retries, so the loan ends within the workflow task that applies
// the cancel. From submission on a call always runs to its end: AWDA must
// not be left holding a loan we do not know of.
func (w *loanWorkflow) interruptible(ctx workflow.Context, fn func(workflow.Context) error) error {
	if !w.bounded || w.state.LoanNo != "" || w.state.Stage.index() >= StageSubmit.index() {
		return fn(ctx)
	}
	sctx, cancel := workflow.WithCancel(ctx)
	w.stepCancel = cancel
	defer func() { w.stepCancel = nil; cancel() }()
	return fn(sctx)
}

// do runs one step of the loan — one AWDA call, or a few in parallel —
// until it succeeds. A failure that retrying cannot fix (the step's retry
// budget spent, a configuration error, a refusal, an answer the contract
// does not allow) never fails the workflow: it parks the loan as stuck until
// operations send Retry (the step runs again) or Abandon (the loan ends
// FAILED). Every AWDA step goes through here.
func (w *loanWorkflow) do(ctx workflow.Context, step string, fn func(workflow.Context) error) error {
	for {
		err := w.interruptible(ctx, fn)
		if w.cancelReq != nil && w.bounded && w.state.LoanNo == "" && (err == nil || temporal.IsCanceledError(err)) {
			// The borrower withdrew while the step ran: before submission
			// the loan ends at once, whatever the step did.
			return w.end(ctx, StageCancelled, "cancelled by the borrower")
		}
		if err == nil || isEnded(err) || temporal.IsCanceledError(err) || isContinueAsNew(err) {
			return err
		}
		if err := w.finalStatusWins(ctx, err); err != nil {
			return err
		}
		reason := describe(err)
		w.logger.Warn("Step failed; parking the loan for operations", "Step", step, "Reason", reason)
		if w.bounded && w.pollNews != nil {
			news := w.pollNews
			if err := w.parkAwaiting(ctx, step, reason, w.pollKind, news); err != nil {
				return err
			}
			if news() {
				return nil // AWDA's push answered what the poll asked
			}
			continue
		}
		if err := w.park(ctx, step, reason); err != nil {
			return err
		}
	}
}

// finalStatusWins ends the loan when a step failed because the loan has
// reached a final AWDA status (SETTLED, CANCELLED, REJECTED) meanwhile:
// AWDA refuses a VA, an agreement or a signature for such a loan with a
// validation error (1007), and its push may come later than the refusal, or
// never. On a refusal it asks AWDA for the loan's status; a final status,
// asked or pushed, ends the loan with it instead of parking it for
// operations. It returns nil when the loan goes on to park.
func (w *loanWorkflow) finalStatusWins(ctx workflow.Context, err error) error {
	if w.state.LoanNo == "" {
		return nil
	}
	refused := IsErrorType(err, activities.ErrTypeValidation)
	if !refused && !w.state.LoanStatus.Terminal() {
		return nil
	}
	if !w.has(ctx, changeFinalStatusWins) {
		return nil
	}
	if !w.state.LoanStatus.Terminal() {
		var info awda.LoanInfoResponse
		if firstErr(w.reads(ctx, callOf(&info, a.LoanInfo, awda.LoanInfoRequest{LoanNo: w.state.LoanNo}))) == nil {
			w.applyLoanInfo(ctx, &info, "asked after AWDA refused a step")
		}
	}
	if !w.state.LoanStatus.Terminal() {
		return nil
	}
	return w.endAtFinalStatus(ctx)
}

// endAtFinalStatus ends the loan at its final AWDA status.
func (w *loanWorkflow) endAtFinalStatus(ctx workflow.Context) error {
	switch w.state.LoanStatus {
	case awda.LoanSettled:
		return w.end(ctx, StageSettled, "")
	case awda.LoanCancelled:
		return w.end(ctx, StageCancelled, "cancelled by AWDA")
	}
	return w.end(ctx, StageRejected, "rejected by AWDA")
}

// park marks the loan stuck and waits for operations. It returns nil after
// Retry, and an ended error after Abandon (FAILED), a borrower's Cancel
// (CANCELLED, only before signing) or a final AWDA status pushed meanwhile
// (nothing is left for operations to do). The time spent parked does not
// count against the borrower's deadline.
func (w *loanWorkflow) park(ctx workflow.Context, step, reason string) error {
	return w.parkAwaiting(ctx, step, reason, "", nil)
}

// parkAwaiting parks the loan like park, for a wait whose deadline passed
// (awaiting names it, in runs with bounded waits): the awaited news
// (resumeWhen) arriving while parked resumes the loan without operations.
func (w *loanWorkflow) parkAwaiting(ctx workflow.Context, step, reason, awaiting string, resumeWhen func() bool) error {
	w.state.Stuck = &Stuck{Step: step, Reason: reason, Since: workflow.Now(ctx)}
	if w.bounded {
		w.state.Stuck.Awaiting = awaiting
	}
	w.record(ctx, Transition{Kind: KindStuck, To: step, Note: reason})
	w.publish(ctx)
	w.retryReq, w.abandonReq = nil, nil
	return w.parkedUntil(ctx, resumeWhen)
}

// parked goes on waiting for operations in a run that a parked loan was
// handed to (continue-as-new), with the news its wait awaited.
func (w *loanWorkflow) parked(ctx workflow.Context) error {
	var resumeWhen func() bool
	switch w.state.Stuck.Awaiting {
	case waitReview:
		resumeWhen = func() bool { return w.state.LoanStatus.Rank() >= awda.LoanApproved.Rank() }
	case waitDisbursement:
		resumeWhen = func() bool {
			return w.state.LoanStatus == awda.LoanDisbursed || w.state.LoanStatus.Rank() > awda.LoanDisbursed.Rank()
		}
	}
	if err := w.parkedUntil(ctx, resumeWhen); err != nil {
		return err
	}
	w.state.Wait = nil // the stage waits again from a fresh deadline
	return nil
}

func (w *loanWorkflow) parkedUntil(ctx workflow.Context, resumeWhen func() bool) error {
	step, since := w.state.Stuck.Step, w.state.Stuck.Since
	watchFinal := !w.state.LoanStatus.Terminal()
	for {
		if _, err := w.wait(ctx, time.Time{}, func() bool {
			return w.retryReq != nil || w.abandonReq != nil || w.cancelReq != nil ||
				watchFinal && w.state.LoanStatus.Terminal() || resumeWhen != nil && resumeWhen()
		}); err != nil {
			return err
		}
		if w.retryReq != nil || w.abandonReq != nil || w.cancelReq != nil {
			break
		}
		if watchFinal && w.state.LoanStatus.Terminal() {
			// A final status was pushed. Histories from before the rule waited on.
			watchFinal = false
			if w.has(ctx, changeFinalStatusWins) {
				w.record(ctx, Transition{Kind: KindResumed, From: step, To: string(w.state.LoanStatus), Note: "final status from AWDA"})
				return w.endAtFinalStatus(ctx)
			}
			continue
		}
		if resumeWhen != nil && resumeWhen() {
			w.record(ctx, Transition{Kind: KindResumed, From: step, To: string(w.state.LoanStatus), Note: "AWDA answered"})
			w.unpark(ctx, since)
			return nil
		}
	}
	switch {
	case w.abandonReq != nil:
		w.record(ctx, Transition{Kind: KindResumed, From: step, To: "abandon", Note: w.abandonReq.Reason, Operator: w.abandonReq.Operator})
		w.abandonedBy = w.abandonReq.Operator
		reason := "abandoned by operations while stuck at " + step
		if w.bounded && w.abandonReq.Reason != "" {
			reason += ": " + w.abandonReq.Reason
		}
		return w.end(ctx, StageFailed, reason)
	case w.retryReq == nil:
		return w.end(ctx, StageCancelled, "cancelled by the borrower")
	}
	w.record(ctx, Transition{Kind: KindResumed, From: step, To: "retry", Note: w.retryReq.Reason, Operator: w.retryReq.Operator})
	w.retryReq = nil
	w.unpark(ctx, since)
	return nil
}

// unpark takes the loan out of stuck: the borrower's deadline moves on by
// the time spent parked.
func (w *loanWorkflow) unpark(ctx workflow.Context, since time.Time) {
	w.state.Stuck = nil
	if w.bounded {
		// Operations (or AWDA's news) answered every DISBURSE_FAILED
		// reported before now: a late push of one already handled is not a
		// second failure to park for.
		w.state.DisburseFailuresSeen = w.state.DisburseFailures
	}
	if !w.state.Deadline.IsZero() {
		w.state.Deadline = w.state.Deadline.Add(workflow.Now(ctx).Sub(since))
	}
	w.publish(ctx)
}

// describe turns a step's failure into a stuck reason: the error type and
// message of the last attempt (AWDA's error texts carry no personal data),
// prefixed when the retry budget ran out. A retryable error that reaches the
// workflow means Temporal stopped retrying it (the server also says so in
// the retry state; the test environment does not).
func describe(err error) string {
	var last string
	exhausted := false
	var appErr *temporal.ApplicationError
	var toErr *temporal.TimeoutError
	switch {
	case errors.As(err, &appErr):
		last = appErr.Type() + ": " + appErr.Error()
		exhausted = !nonRetryable(err)
	case errors.As(err, &toErr):
		last = "timeout (" + toErr.TimeoutType().String() + ")"
		exhausted = true
	default:
		last = err.Error()
	}
	var actErr *temporal.ActivityError
	if errors.As(err, &actErr) {
		switch actErr.RetryState() {
		case enumspb.RETRY_STATE_TIMEOUT, enumspb.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED:
			exhausted = true
		}
	}
	if exhausted {
		return "retry budget spent; last error " + last
	}
	return last
}

// awdaOptions are the options of every AWDA call: a short StartToClose per
// attempt, and a ScheduleToClose that bounds all retries of the call.
func (w *loanWorkflow) awdaOptions(startToClose time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout:    startToClose,
		ScheduleToCloseTimeout: w.cfg.RetryBudget,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        w.cfg.MaxRetryInterval,
			NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
		},
	}
}

// awdaCall is one AWDA call: an activity method of a, its request, and
// where its answer goes. callOf and callOfNoReq make it from typed values,
// so the compiler checks that the request and the answer fit the activity;
// the SDK takes them as any.
type awdaCall struct {
	fn   any
	args []any
	out  any
}

// callOf is the call fn(req), its answer decoded into *out.
func callOf[Req, Res any](out *Res, fn func(context.Context, Req) (*Res, error), req Req) awdaCall {
	return awdaCall{fn: fn, args: []any{req}, out: out}
}

// callOfNoReq is the call fn() of an activity that takes no request
// (BankList), its answer decoded into *out.
func callOfNoReq[Res any](out *Res, fn func(context.Context) (*Res, error)) awdaCall {
	return awdaCall{fn: fn, out: out}
}

// exec schedules one AWDA call as an activity.
func (w *loanWorkflow) exec(ctx workflow.Context, c awdaCall) workflow.Future {
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, w.awdaOptions(w.cfg.CallTimeout)), c.fn, c.args...)
}

// call runs one AWDA call that changes something at AWDA (register, verify,
// submit, sign) as an activity and decodes its answer.
func (w *loanWorkflow) call(ctx workflow.Context, c awdaCall) error {
	return w.exec(ctx, c).Get(ctx, c.out)
}

// reads runs idempotent AWDA reads (lists, pages, loan info) together as
// local activities: they ride on the current workflow task and cost one
// marker event each instead of an activity's three plus a workflow task's
// three. Retries stay in the worker for at most ReadBudget; a read that is
// still failing with a retryable error then runs again as a regular
// activity with the step's full retry budget. It returns one error per read.
func (w *loanWorkflow) reads(ctx workflow.Context, rs ...awdaCall) []error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    min(w.cfg.CallTimeout, w.cfg.ReadBudget),
		ScheduleToCloseTimeout: w.cfg.ReadBudget,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        2 * time.Second, // a few quick tries inside ReadBudget, then a regular activity
			NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
		},
	})
	futs := make([]workflow.Future, len(rs))
	for i, r := range rs {
		futs[i] = workflow.ExecuteLocalActivity(lctx, r.fn, r.args...)
	}
	errs := make([]error, len(rs))
	for i, r := range rs {
		err := futs[i].Get(ctx, r.out)
		if err != nil && !temporal.IsCanceledError(err) && !nonRetryable(err) {
			err = w.exec(ctx, r).Get(ctx, r.out)
		}
		errs[i] = err
	}
	return errs
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// nonRetryable reports whether err is an application error that no retry
// can fix.
func nonRetryable(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && (appErr.NonRetryable() || IsErrorType(err, activities.NonRetryableErrorTypes...))
}

// record appends a transition at the current workflow time, numbered.
func (w *loanWorkflow) record(ctx workflow.Context, t Transition) {
	t.At = workflow.Now(ctx)
	w.state.TrailSeq++
	t.Seq = w.state.TrailSeq
	w.state.Transitions = append(w.state.Transitions, t)
}

// numberTransitions numbers the transitions of a state from before the
// trail (Seq zero), so that they reach the durable trail too.
func (w *loanWorkflow) numberTransitions() {
	for i := range w.state.Transitions {
		if w.state.Transitions[i].Seq == 0 {
			w.state.TrailSeq++
			w.state.Transitions[i].Seq = w.state.TrailSeq
		}
	}
}

// trailWritten notes that the read model holds the trail up to seq, and
// keeps in the state only the last maxTrail transitions written (and every
// one not written yet): a loan living for years carries a bounded state
// through continue-as-new, and the full trail lives in PostgreSQL.
func (w *loanWorkflow) trailWritten(seq int64) {
	w.state.TrailWritten = max(w.state.TrailWritten, seq)
	if !w.bounded {
		return
	}
	tr := w.state.Transitions
	written := 0
	for _, t := range tr {
		if t.Seq <= w.state.TrailWritten {
			written++
		}
	}
	if drop := written - maxTrail; drop > 0 {
		w.state.Transitions = append([]Transition(nil), tr[drop:]...)
	}
}

// unwrittenTrail is the trail the read model does not hold yet.
func (w *loanWorkflow) unwrittenTrail() []activities.TrailEntry {
	var out []activities.TrailEntry
	for _, t := range w.state.Transitions {
		if t.Seq > w.state.TrailWritten {
			out = append(out, activities.TrailEntry{
				Seq: t.Seq, At: t.At, Kind: t.Kind, From: t.From, To: t.To, EventID: t.EventID, Note: t.Note, Operator: t.Operator,
			})
		}
	}
	return out
}

// startDeadline starts the borrower's deadline of a stage. A run that was
// handed the loan in the middle of the stage keeps the deadline it had.
func (w *loanWorkflow) startDeadline(ctx workflow.Context, d time.Duration) {
	if w.bounded && !w.state.Deadline.IsZero() && w.state.DeadlineStage == w.state.Stage {
		return
	}
	w.state.Deadline = workflow.Now(ctx).Add(d)
	w.state.DeadlineStage = w.state.Stage
}

// ignore records a notification or request that is not applied.
func (w *loanWorkflow) ignore(ctx workflow.Context, ig Ignored) {
	ig.At = workflow.Now(ctx)
	w.state.Ignored = append(w.state.Ignored, ig)
	if n := len(w.state.Ignored); n > maxIgnored {
		w.state.Ignored = append([]Ignored(nil), w.state.Ignored[n-maxIgnored:]...)
	}
	w.logger.Info("Ignored", "Signal", ig.Signal, "EventID", ig.EventID, "Status", ig.Status, "Reason", ig.Reason)
}

const maxIgnored = 200

// moveTo records a stage change and publishes it: an outcome at once, any
// other stage when the loan comes to rest in it (rest), so that a loan
// passing through stages in one go (a call, the next call) makes one
// search-attribute upsert and one read-model write instead of one per stage.
// The transition itself is recorded now, with its time, either way.
func (w *loanWorkflow) moveTo(ctx workflow.Context, stage Stage, note string) {
	if w.state.Stage == stage {
		return
	}
	w.record(ctx, Transition{Kind: KindStage, From: string(w.state.Stage), To: string(stage), Note: note})
	w.state.Stage = stage
	w.logger.Info("Stage", "Stage", string(stage))
	if !stage.Terminal() && w.publishAtRest(ctx) {
		w.unpublished = true
		return
	}
	w.publish(ctx)
}

// publishAtRest reports whether this loan publishes at rest
// (changePublishAtRest); histories from before it published every stage.
func (w *loanWorkflow) publishAtRest(ctx workflow.Context) bool {
	if w.atRest == nil {
		v := w.has(ctx, changePublishAtRest)
		w.atRest = &v
	}
	return *w.atRest
}

// rest publishes a stage change not yet made visible. It is called where
// the loan may wait for long: for the borrower, AWDA's push or a timer
// (awaitFor, the repayment loop), and before continue-as-new. A loan that
// is stuck or ends is published by park and end. While a loan works
// through AWDA calls (retrying a busy AWDA included), its search attributes
// and read-model row show the stage it last rested in; the status query
// and the Temporal UI's pending activities show where it is.
func (w *loanWorkflow) rest(ctx workflow.Context) {
	if w.unpublished {
		w.publish(ctx)
	}
}

// end moves the loan to an outcome and returns the error that unwinds run().
func (w *loanWorkflow) end(ctx workflow.Context, outcome Stage, reason string) error {
	w.settleHeld(ctx, outcome)
	w.state.Stuck = nil
	w.state.Deadline = time.Time{}
	w.state.Reason = reason
	w.moveTo(ctx, outcome, reason)
	return &ended{outcome: outcome, reason: reason}
}

// publish makes the current stage visible: search attributes for ops, and
// the read model through a local activity (one marker event instead of an
// activity's six). A failed write is logged and left to the next one, which
// carries a higher Seq; only the final write gets the full retry budget.
func (w *loanWorkflow) publish(ctx workflow.Context) {
	w.state.Seq++
	w.unpublished = false
	w.upsertSearchAttributes(ctx, &w.state)
	w.writeRow(ctx)
}

// publishRow writes the read model's row as the loan stands, without the
// search attributes and leaving the stage unpublished: for what the inbox
// needs before the loan rests (AWDA's user ID, changePublishUserID).
func (w *loanWorkflow) publishRow(ctx workflow.Context) {
	w.state.Seq++
	w.writeRow(ctx)
}

// writeRow writes the read model's row at the current Seq with the trail
// not written yet: the last one with a regular activity that must land,
// the others with a local activity whose failure leaves the job to the
// next write.
func (w *loanWorkflow) writeRow(ctx workflow.Context) {
	st := &w.state
	p := w.projection(ctx, st)
	// The trail is written up to what this write carries: transitions that
	// signals record while it runs go with the next one.
	upTo := st.TrailSeq
	if w.bounded {
		p.Trail = w.unwrittenTrail()
		if p.Terminal {
			// The last write must land, or the read model shows a closed
			// loan at a working stage for good: a regular activity that
			// retries until it does, however long PostgreSQL is away.
			actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
				StartToCloseTimeout: 30 * time.Second,
				RetryPolicy: &temporal.RetryPolicy{
					InitialInterval:    time.Second,
					BackoffCoefficient: 2,
					MaximumInterval:    5 * time.Minute,
				},
			})
			if err := workflow.ExecuteActivity(actx, a.UpsertProjection, p).Get(ctx, nil); err != nil {
				w.logger.Error("Final read-model write failed", "Seq", p.Seq, "Error", err)
				return
			}
			w.trailWritten(upTo)
			return
		}
	}
	// A write the read model does not take soon is left to the next one,
	// which carries a higher Seq and the unwritten trail: the local
	// activity runs inside the workflow task, which must stay short (the
	// SDK warns past 5 s). Runs from before bounded-waits kept a minute
	// (and RetryBudget for the last write).
	budget, startToClose, maxInterval := 4*time.Second, 4*time.Second, 2*time.Second
	if !w.bounded {
		budget, startToClose, maxInterval = time.Minute, 10*time.Second, 30*time.Second
		if p.Terminal {
			budget = w.cfg.RetryBudget
		}
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    startToClose,
		ScheduleToCloseTimeout: budget,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        maxInterval,
			NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
		},
	})
	if err := workflow.ExecuteLocalActivity(lctx, a.UpsertProjection, p).Get(ctx, nil); err != nil {
		w.logger.Warn("Read-model write failed; the next transition writes a newer row", "Seq", p.Seq, "Error", err)
		return
	}
	w.trailWritten(upTo)
}

// upsertSearchAttributes brings the search attributes to the loan's state.
func (w *loanWorkflow) upsertSearchAttributes(ctx workflow.Context, st *State) {
	var sa []temporal.SearchAttributeUpdate
	if w.publishAtRest(ctx) {
		sa = changedSearchAttributes(workflow.GetTypedSearchAttributes(ctx), st, w.in.ApplicantRef)
	} else {
		// Histories from before publish-at-rest upserted every attribute.
		sa = []temporal.SearchAttributeUpdate{
			LoanStageKey.ValueSet(string(st.Stage)),
			LoanStuckKey.ValueSet(st.Stuck != nil),
			ApplicantRefKey.ValueSet(w.in.ApplicantRef),
		}
		if st.LoanNo != "" {
			sa = append(sa, AwdaLoanNoKey.ValueSet(st.LoanNo))
		}
	}
	if len(sa) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, sa...); err != nil {
			w.logger.Warn("Upserting search attributes failed", "Error", err)
		}
	}
}

// projection is the read model's row for the loan's state.
func (w *loanWorkflow) projection(ctx workflow.Context, st *State) activities.ApplicationProjection {
	p := activities.ApplicationProjection{
		WorkflowID:   workflow.GetInfo(ctx).WorkflowExecution.ID,
		ApplicantRef: w.in.ApplicantRef,
		Seq:          st.Seq,
		Stage:        string(st.Stage),
		Stuck:        st.Stuck != nil,
		AwdaUserID:   st.UserID,
		AwdaLoanNo:   st.LoanNo,
		OrderNo:      st.OrderNo,
		LoanStatus:   string(st.LoanStatus),
		Amount:       st.Amount,
		Tenor:        st.Tenor,
		TenorUnit:    string(st.TenorUnit),
		Terminal:     st.Stage.Terminal(),
		Reason:       st.Reason,
		UpdatedAt:    workflow.Now(ctx),
	}
	if st.Stuck != nil {
		p.StuckStep, p.StuckReason = st.Stuck.Step, st.Stuck.Reason
		if !w.bounded {
			p.StuckReason = st.Stuck.Step + ": " + st.Stuck.Reason
		}
	}
	if p.Terminal {
		p.Operator = w.abandonedBy
	}
	return p
}

// changedSearchAttributes returns the updates that bring the workflow's
// search attributes (cur) to the loan's state: only those that differ.
func changedSearchAttributes(cur temporal.SearchAttributes, st *State, applicantRef string) []temporal.SearchAttributeUpdate {
	var sa []temporal.SearchAttributeUpdate
	keyword := func(k temporal.SearchAttributeKeyKeyword, v string) {
		if got, ok := cur.GetKeyword(k); !ok || got != v {
			sa = append(sa, k.ValueSet(v))
		}
	}
	keyword(LoanStageKey, string(st.Stage))
	if got, ok := cur.GetBool(LoanStuckKey); !ok || got != (st.Stuck != nil) {
		sa = append(sa, LoanStuckKey.ValueSet(st.Stuck != nil))
	}
	keyword(ApplicantRefKey, applicantRef)
	if st.LoanNo != "" {
		keyword(AwdaLoanNoKey, st.LoanNo)
	}
	return sa
}

// wib is Indonesia's western time zone, in which AWDA's due dates fall.
var wib = time.FixedZone("WIB", 7*3600)

// dueCheck is when the workflow looks at an installment if no notification
// came: one hour after the end of its due date in WIB.
func dueCheck(date string) (time.Time, bool) {
	d, err := awda.ParseDate(date)
	if err != nil {
		return time.Time{}, false
	}
	return time.Date(d.Year(), d.Month(), d.Day()+1, 1, 0, 0, 0, wib), true
}

// jitterOf is an offset in [0, max) drawn from the workflow ID: the same on
// replay and in every run of one loan, different across loans.
func jitterOf(workflowID string, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(workflowID))
	return time.Duration(h.Sum64() % uint64(max/time.Second) * uint64(time.Second))
}
