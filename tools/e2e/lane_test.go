//go:build integration

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

// laneSuggestAt is the history length at which the lane's dev server
// suggests continue-as-new (the server's default is 4,096): low enough that
// a loan hands over to a fresh run in every stage it waits in, within
// seconds.
const laneSuggestAt = 60

// laneWaits are the waiting stages, in the order a loan passes them.
var laneWaits = []workflows.Stage{
	workflows.StageAuthorizations, workflows.StageBankCard, workflows.StageReview,
	workflows.StageAgreement, workflows.StageDisbursement, workflows.StageRepayment,
}

// laneNoiseAuth is the optional authorization AWDA pushes about while a
// loan waits: a FAILED BPJS is applied (recorded in the trail) at any stage
// and changes nothing else, so it adds history at the pace the test sets.
const laneNoiseAuth = "BPJS"

// The dev-server lane (issue 10): a dev server that suggests continue-as-new
// at 60 events, the real worker and starter binaries, the sandbox pushing
// through the real webhook inbox. Eight loans wait in every waiting stage
// (authorizations, bank card, review, agreement, disbursement, repayment)
// until they have continued as new there at least once, then the borrower or
// AWDA acts when the fresh run's history is near its own next boundary, so
// that pushes land just before, in and just after the task in which the
// server suggests continue-as-new.
//
// The borrower-facing waits (authorizations, bank card, agreement) do not
// poll, and review and disbursement poll every PollInterval (10 minutes by
// default): history grows there only with messages. The sandbox's users are
// manual (nothing moves unless the test says so) and AWDA pushes an optional
// authorization (BPJS FAILED) while a loan waits, in bursts, until the loan
// has handed over in that stage; every such push is a real notification
// through the inbox, applied by the workflow as a trail entry.
//
// Asserted: every loan ends as its plan says; every loan continued as new
// in every waiting stage it passed (read from the runs' inputs,
// Resume.Stage, following the chain of runs backwards); no webhook_inbox
// row of a loan is pending or orphaned, and every delivered row's eventId
// was applied (loan_trail, the durable trail) or ignored with a reason
// (the status query's Ignored), none applied twice; and some pushes landed
// in or after the workflow task that carried the suggestion.
func TestDevServerLane(t *testing.T) {
	if os.Getenv(testenv.TemporalAddressEnv) != "" {
		t.Skipf("%s is set: the lane needs a dev server of its own (dynamic config)", testenv.TemporalAddressEnv)
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		BinDir:      binDir,
		LogDir:      t.TempDir(),
		DatabaseURL: testenv.PostgresURL(t),
		// A dev server of the lane's own: the shared one keeps the
		// server's default threshold for every other test.
		TemporalArgs: []string{"--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", laneSuggestAt)},
		Sandbox: sandbox.Config{
			Seed:     21,
			Delivery: sandbox.Delivery{RetryBase: 100 * time.Millisecond, RetryMax: time.Second},
		},
		StarterEnv: []string{
			"STARTER_FORWARD_INTERVAL=100ms",
			"STARTER_RETRY_MAX_BACKOFF=1s",
			"STARTER_UPDATE_TIMEOUT=20s",
		},
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = st.TerminateOpen(cctx, "", "lane test over")
		ccancel()
		if t.Failed() {
			t.Logf("starter log (tail):\n%s", stack.Tail(st.Starter.LogPath, 40))
			t.Logf("worker log (tail):\n%s", stack.Tail(st.Worker.LogPath, 40))
			if dir := os.Getenv("E2E_LOG_DIR"); dir != "" {
				kept, err := st.CopyLogs(dir, "TestDevServerLane-")
				t.Logf("kept %v (%v)", kept, err)
			}
		}
		if err := st.Close(); err != nil {
			t.Errorf("close the stack: %v", err)
		}
	})
	ring, err := codec.ParseKeyRing(st.Keys)
	if err != nil {
		t.Fatal(err)
	}
	ln := &lane{Stack: st, t: t, dc: codec.NewDataConverterWithKeys(ring, st.DataKeys)}
	t.Logf("stack up in %s", time.Since(began).Round(time.Millisecond))

	// The plan: six settle (one after a refused card), one is rejected at
	// review, one is withdrawn by the borrower at the agreement.
	gen := demo.NewGenerator(21, time.Now(), []demo.Tenor{{Tenor: 3, Unit: awda.TenorMonth}})
	var loans []*laneLoan
	for i := range 8 {
		l := &laneLoan{i: i, ref: fmt.Sprintf("lane-manual-%d-%d", time.Now().UnixMilli()%1_000_000, i), person: gen.Person(), expect: workflows.StageSettled}
		switch i {
		case 5:
			l.expect = workflows.StageRejected
		case 6:
			l.expect = workflows.StageCancelled
		case 7:
			l.refuseFirstCard = true
		}
		l.wfID = workflows.LoanWorkflowID(l.ref)
		loans = append(loans, l)
	}

	var wg sync.WaitGroup
	errs := make([]error, len(loans))
	for k, l := range loans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = ln.drive(ctx, l)
		}()
	}
	wg.Wait()
	t.Logf("%d loans driven in %s", len(loans), time.Since(began).Round(time.Millisecond))
	for k, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", loans[k].ref, err)
		}
	}
	if t.Failed() {
		return
	}

	boundary := 0
	for _, l := range loans {
		boundary += ln.check(ctx, l)
	}
	if boundary == 0 {
		t.Errorf("no push landed in or after a workflow task that suggested continue-as-new: the lane did not test the boundary")
	}
	t.Logf("pushes in or after the task that suggested continue-as-new, before the hand-over: %d; lane took %s",
		boundary, time.Since(began).Round(time.Millisecond))
}

type lane struct {
	*stack.Stack
	t  *testing.T
	dc converter.DataConverter
}

type laneLoan struct {
	i               int
	ref, wfID       string
	person          demo.Person
	expect          workflows.Stage
	refuseFirstCard bool

	userID, loanNo string
	authPushes     int                        // authorization pushes asked of AWDA
	runs           map[string]workflows.Stage // run ID → the stage it resumed at ("" for the first)
	result         workflows.LoanResult
}

// passes lists the waiting stages l goes through, given its outcome.
func (l *laneLoan) passes() []workflows.Stage {
	switch l.expect {
	case workflows.StageRejected:
		return laneWaits[:3]
	case workflows.StageCancelled:
		return laneWaits[:4]
	}
	return laneWaits
}

// drive takes one loan through its stages as a manual AWDA and a late
// borrower would.
func (ln *lane) drive(ctx context.Context, l *laneLoan) error {
	if err := ln.create(ctx, l); err != nil {
		return err
	}
	for si, stage := range l.passes() {
		if err := ln.dwell(ctx, l, si, stage); err != nil {
			return fmt.Errorf("%s: %w", stage, err)
		}
		if err := ln.act(ctx, l, stage); err != nil {
			return fmt.Errorf("%s: %w", stage, err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := ln.Client.GetWorkflow(rctx, l.wfID, "").Get(rctx, &l.result); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	return nil
}

// create uploads the documents and creates the application.
func (ln *lane) create(ctx context.Context, l *laneLoan) error {
	seed := uint64(l.i) + 100
	ktp, err := ln.API.UploadDocument(ctx, awda.ImageKTP, l.ref, "ktp.png", demo.KTPImage(seed), false)
	if err != nil {
		return err
	}
	selfie, err := ln.API.UploadDocument(ctx, awda.ImageSelfie, l.ref, "selfie.jpg", demo.SelfieImage(seed), true)
	if err != nil {
		return err
	}
	_, err = ln.API.CreateApplication(ctx, &api.ApplicationRequest{
		ApplicantRef: l.ref, Applicant: l.person.Applicant, Loan: l.person.Loan, EmergencyContacts: l.person.EmergencyContacts,
		Documents: []activities.DocumentRef{{Type: awda.ImageKTP, DocumentID: ktp.DocumentID}, {Type: awda.ImageSelfie, DocumentID: selfie.DocumentID}},
	})
	return err
}

// dwell keeps the loan waiting in stage until it has continued as new there
// and its current run's history has reached a length near the next
// boundary (40…58, by loan and stage), AWDA pushing meanwhile.
func (ln *lane) dwell(ctx context.Context, l *laneLoan, si int, stage workflows.Stage) error {
	s, err := ln.waitStage(ctx, l, stage)
	if err != nil {
		return err
	}
	l.userID, l.loanNo = s.UserID, s.LoanNo
	if l.loanNo != "" && l.runs == nil {
		l.runs = map[string]workflows.Stage{}
	}
	switch stage {
	case workflows.StageBankCard:
		if l.refuseFirstCard {
			if err := ln.submitCard(ctx, l, 0, true); err != nil {
				return err
			}
		}
	case workflows.StageReview:
		if _, err := ln.Sandbox.Advance(l.loanNo, awda.LoanUnderReview); err != nil {
			return err
		}
	case workflows.StageDisbursement:
		if _, err := ln.Sandbox.Advance(l.loanNo, awda.LoanDisbursing); err != nil {
			return err
		}
	case workflows.StageRepayment:
		// Every installment but the last paid while the loan waits.
		info, err := ln.Sandbox.Loan(l.loanNo)
		if err != nil {
			return err
		}
		for range len(info.Schedule) - 1 {
			if _, err := ln.Sandbox.Advance(l.loanNo, awda.LoanRepaying); err != nil {
				return err
			}
		}
	}
	// Below the threshold: a run hands over at about 60 events.
	target := 40 + (l.i*7+si*5)%19
	deadline := time.Now().Add(90 * time.Second)
	for {
		resumed, length, err := ln.currentRun(ctx, l)
		if err != nil {
			return err
		}
		if resumed == stage && length >= target {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no continue-as-new in %s within 90 s (current run resumed at %q, %d events)", stage, resumed, length)
		}
		if err := ln.push(ctx, l, 2); err != nil {
			return err
		}
	}
}

// act is what moves the loan out of stage: the borrower or AWDA.
func (ln *lane) act(ctx context.Context, l *laneLoan, stage workflows.Stage) error {
	switch stage {
	case workflows.StageAuthorizations:
		for _, at := range []string{"EKYC", "TELCO"} {
			if err := ln.Sandbox.SetAuthorization(l.userID, at, awda.AuthSuccess); err != nil {
				return err
			}
			l.authPushes++
		}
		return nil
	case workflows.StageBankCard:
		return ln.submitCard(ctx, l, 1, false)
	case workflows.StageReview:
		to := awda.LoanApproved
		if l.expect == workflows.StageRejected {
			to = awda.LoanRejected
		}
		_, err := ln.Sandbox.Advance(l.loanNo, to)
		return err
	case workflows.StageAgreement:
		if l.expect == workflows.StageCancelled {
			return ln.API.Cancel(ctx, l.ref, "the borrower changed their mind")
		}
		s, err := ln.waitNext(ctx, l, workflows.ActionSignAgreement)
		if err != nil {
			return err
		}
		_, err = ln.API.Sign(ctx, l.ref, l.ref+".sign", api.SignatureRequest{AgreementID: s.Next.Agreement.ID, Consent: true, ClientIP: "198.51.100.7"})
		return err
	case workflows.StageDisbursement:
		_, err := ln.Sandbox.Advance(l.loanNo, awda.LoanDisbursed)
		return err
	case workflows.StageRepayment:
		_, err := ln.Sandbox.Advance(l.loanNo, awda.LoanSettled)
		return err
	}
	return fmt.Errorf("no action for %s", stage)
}

func (ln *lane) submitCard(ctx context.Context, l *laneLoan, attempt int, refuse bool) error {
	s, err := ln.waitNext(ctx, l, workflows.ActionSubmitBankCard)
	if err != nil {
		return err
	}
	card, ok := l.person.BankCard(s.Next.Banks, attempt, refuse)
	if !ok {
		return errors.New("no banks offered")
	}
	v, err := ln.API.SubmitBankCard(ctx, l.ref, fmt.Sprintf("%s.card.%d", l.ref, attempt), card)
	switch {
	case refuse && demo.IsStatus(err, 422):
		return nil
	case err != nil:
		return err
	case refuse:
		return fmt.Errorf("a refused card answered %s", v.Status)
	}
	return nil
}

// push has AWDA push n optional-authorization results about the loan's
// user, then waits until the inbox has delivered every authorization push
// of that user so far (so that the pace follows the system's).
func (ln *lane) push(ctx context.Context, l *laneLoan, n int) error {
	for range n {
		if err := ln.Sandbox.SetAuthorization(l.userID, laneNoiseAuth, awda.AuthFailed); err != nil {
			return err
		}
		l.authPushes++
	}
	return ln.eventually(ctx, 30*time.Second, func() (bool, error) {
		var delivered int
		err := ln.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_inbox WHERE source = 'authorization' AND user_id = $1 AND status = 'delivered'`, l.userID).Scan(&delivered)
		if err != nil || delivered >= l.authPushes {
			return err == nil, err
		}
		if s, err := ln.status(ctx, l); err == nil && s.Terminal {
			return false, fmt.Errorf("ended %s (%s) while AWDA pushed", s.Stage, s.Reason)
		}
		return false, nil
	})
}

// currentRun reads the loan's current run: the stage it resumed at (from its
// input) and its history length.
func (ln *lane) currentRun(ctx context.Context, l *laneLoan) (workflows.Stage, int, error) {
	desc, err := ln.Client.DescribeWorkflow(ctx, l.wfID, "")
	if err != nil {
		return "", 0, err
	}
	info := desc.RawResponse.GetWorkflowExecutionInfo()
	runID := info.GetExecution().GetRunId()
	if l.runs == nil {
		l.runs = map[string]workflows.Stage{}
	}
	stage, ok := l.runs[runID]
	if !ok {
		first, err := ln.firstEvent(ctx, l.wfID, runID)
		if err != nil {
			return "", 0, err
		}
		if stage, err = ln.resumedAt(first); err != nil {
			return "", 0, err
		}
		l.runs[runID] = stage
	}
	return stage, int(info.GetHistoryLength()), nil
}

func (ln *lane) firstEvent(ctx context.Context, wfID, runID string) (*historypb.HistoryEvent, error) {
	it := ln.Client.GetWorkflowHistory(ctx, wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return nil, fmt.Errorf("run %s has no history", runID)
	}
	return it.Next()
}

// resumedAt decodes a run's input (WorkflowExecutionStarted) and returns the
// stage it resumed at, "" for the first run.
func (ln *lane) resumedAt(ev *historypb.HistoryEvent) (workflows.Stage, error) {
	a := ev.GetWorkflowExecutionStartedEventAttributes()
	if a == nil {
		return "", fmt.Errorf("first event is %v", ev.GetEventType())
	}
	var in workflows.LoanApplicationInput
	if err := ln.dc.FromPayloads(a.GetInput(), &in); err != nil {
		return "", fmt.Errorf("decode the run's input: %w", err)
	}
	if in.Resume == nil {
		return "", nil
	}
	return in.Resume.Stage, nil
}

func (ln *lane) status(ctx context.Context, l *laneLoan) (workflows.Status, error) {
	return workflows.StatusQuery.Get(ctx, ln.Client, l.wfID, "")
}

// waitStage waits until the loan's status shows stage.
func (ln *lane) waitStage(ctx context.Context, l *laneLoan, stage workflows.Stage) (workflows.Status, error) {
	var s workflows.Status
	err := ln.eventually(ctx, time.Minute, func() (bool, error) {
		var err error
		if s, err = ln.status(ctx, l); err != nil {
			return false, nil // a query can fail while a run hands over
		}
		if s.Stage.Terminal() && s.Stage != stage {
			return false, fmt.Errorf("ended %s (%s) while waiting for %s", s.Stage, s.Reason, stage)
		}
		return s.Stage == stage && s.UserID != "", nil
	})
	return s, err
}

// waitNext waits until the loan asks the borrower for action.
func (ln *lane) waitNext(ctx context.Context, l *laneLoan, action string) (workflows.Status, error) {
	var s workflows.Status
	err := ln.eventually(ctx, time.Minute, func() (bool, error) {
		var err error
		if s, err = ln.status(ctx, l); err != nil {
			return false, nil
		}
		return s.Next != nil && s.Next.Action == action, nil
	})
	return s, err
}

// eventually polls cond every 50 ms until it holds, fails, or d passes.
func (ln *lane) eventually(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// laneRun is one run of a loan, read back from its history.
type laneRun struct {
	resumedAt workflows.Stage
	events    int
	// boundary counts the signals that arrived in or after the first
	// workflow task that carried the server's suggestion.
	boundary int
	// signals maps the eventId of every push signalled to the run to where
	// it landed: "before" or "after" the suggestion.
	signals map[string]string
	last    enumspb.EventType
	// carried: what the run's input carried about each eventId ("seen",
	// "seen+transition").
	carried map[string]string
}

// runs walks the loan's runs from the last back to the first (each run's
// start names the run it continues).
func (ln *lane) runs(ctx context.Context, l *laneLoan) ([]laneRun, error) {
	var out []laneRun
	runID := ""
	for {
		it := ln.Client.GetWorkflowHistory(ctx, l.wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		r := laneRun{signals: map[string]string{}, carried: map[string]string{}}
		var prev string
		suggested := false
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return nil, err
			}
			r.events++
			if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
				if r.resumedAt, err = ln.resumedAt(ev); err != nil {
					return nil, err
				}
				var in workflows.LoanApplicationInput
				if ln.dc.FromPayloads(a.GetInput(), &in) == nil && in.Resume != nil {
					for _, id := range in.Resume.SeenEventIDs {
						r.carried[id] = "seen"
					}
					for _, tr := range in.Resume.Transitions {
						if tr.EventID != "" {
							r.carried[tr.EventID] += fmt.Sprintf("+transition seq %d", tr.Seq)
						}
					}
				}
				prev = a.GetContinuedExecutionRunId()
			}
			if a := ev.GetWorkflowTaskStartedEventAttributes(); a != nil && a.GetSuggestContinueAsNew() {
				suggested = true
			}
			// A signal after the suggested task was scheduled lands in it
			// or in a later one of the same run: drained at the hand-over
			// or applied in the last tasks.
			if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
				where := "before"
				if suggested {
					r.boundary++
					where = "after"
				}
				var push struct {
					EventID string `json:"eventId"`
				}
				if ln.dc.FromPayloads(a.GetInput(), &push) == nil && push.EventID != "" {
					r.signals[push.EventID] = fmt.Sprintf("%s %s the suggestion (event %d)", a.GetSignalName(), where, ev.GetEventId())
				}
			}
			r.last = ev.GetEventType()
		}
		out = append(out, r)
		if prev == "" {
			break
		}
		runID = prev
	}
	slices.Reverse(out)
	return out, nil
}

// check asserts what the lane is for about one finished loan and logs its
// figures; it returns the pushes that landed at a boundary.
func (ln *lane) check(ctx context.Context, l *laneLoan) int {
	t := ln.t
	if l.result.Outcome != l.expect {
		t.Errorf("%s: ended %s (%s), want %s", l.ref, l.result.Outcome, l.result.Reason, l.expect)
	}
	runs, err := ln.runs(ctx, l)
	if err != nil {
		t.Errorf("%s: runs: %v", l.ref, err)
		return 0
	}
	perStage := map[workflows.Stage]int{}
	boundary, maxEvents := 0, 0
	for _, r := range runs {
		if r.resumedAt != "" {
			perStage[r.resumedAt]++
		}
		boundary += r.boundary
		maxEvents = max(maxEvents, r.events)
	}
	for _, stage := range l.passes() {
		if perStage[stage] == 0 {
			t.Errorf("%s: never continued as new in %s (continue-as-new per stage: %v)", l.ref, stage, perStage)
		}
	}
	var parts []string
	for _, stage := range laneWaits {
		if n := perStage[stage]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", stage, n))
		}
	}
	t.Logf("%s: %s after %d runs (max %d events per run); continued as new: %s; %d pushes at a boundary",
		l.ref, l.result.Outcome, len(runs), maxEvents, strings.Join(parts, ", "), boundary)

	// The inbox: every row about the loan delivered, and every delivered
	// eventId applied (the durable trail) or ignored with a reason.
	rows, err := ln.Pool.Query(ctx, `SELECT event_id, status FROM webhook_inbox WHERE workflow_id = $1 OR user_id = $2 OR loan_no = $3`, l.wfID, l.userID, l.loanNo)
	if err != nil {
		t.Errorf("%s: inbox: %v", l.ref, err)
		return boundary
	}
	delivered := map[string]bool{}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Errorf("%s: inbox: %v", l.ref, err)
			break
		}
		if status != "delivered" {
			t.Errorf("%s: inbox row %s is %s", l.ref, id, status)
			continue
		}
		delivered[id] = true
	}
	rows.Close()
	applied := map[string]int{}
	trows, err := ln.Pool.Query(ctx, `SELECT event_id FROM loan_trail WHERE workflow_id = $1 AND event_id <> ''`, l.wfID)
	if err != nil {
		t.Errorf("%s: loan_trail: %v", l.ref, err)
		return boundary
	}
	for trows.Next() {
		var id string
		if err := trows.Scan(&id); err != nil {
			t.Errorf("%s: loan_trail: %v", l.ref, err)
			break
		}
		applied[id]++
	}
	trows.Close()
	s, err := ln.status(ctx, l)
	if err != nil {
		t.Errorf("%s: status of the closed loan: %v", l.ref, err)
		return boundary
	}
	ignored := map[string]string{}
	for _, ig := range s.Ignored {
		if ig.EventID != "" {
			ignored[ig.EventID] = ig.Reason
		}
	}
	lost := 0
	for id := range delivered {
		if applied[id] == 0 && ignored[id] == "" {
			lost++
			where := "never signalled to any run"
			for k, r := range runs {
				if w, ok := r.signals[id]; ok {
					where = fmt.Sprintf("signalled to run %d of %d (resumed at %q, %d events, ended %v): %s", k+1, len(runs), r.resumedAt, r.events, r.last, w)
					if k+1 < len(runs) {
						where += fmt.Sprintf("; the next run's input carries it as %q", runs[k+1].carried[id])
					}
				}
			}
			t.Errorf("%s: push %s delivered by the inbox but neither applied nor ignored: %s", l.ref, id, where)
		}
	}
	for id, n := range applied {
		if n > 1 {
			t.Errorf("%s: push %s applied %d times", l.ref, id, n)
		}
	}
	if len(delivered) < l.authPushes {
		t.Errorf("%s: %d pushes delivered, fewer than the %d authorization pushes alone", l.ref, len(delivered), l.authPushes)
	}
	t.Logf("%s: %d pushes delivered: %d applied, %d ignored (%v), %d lost", l.ref, len(delivered), len(applied), len(ignored), ignoredReasons(ignored), lost)
	return boundary
}

func ignoredReasons(m map[string]string) map[string]int {
	out := map[string]int{}
	for _, r := range m {
		out[r]++
	}
	return out
}
