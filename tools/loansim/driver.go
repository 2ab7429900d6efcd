package loansim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/workflows"
)

// applicantRef is every generated scenario's applicant (one loan per
// scenario; a storm's loans have their own, Scenario.ApplicantRef). An
// ineligible applicant's partnerUserId carries the sandbox's marker.
const (
	applicantRef = "sim-applicant"
	ineligible   = "-ineligible"
)

// ref is the scenario's applicant.
func (s *Scenario) ref() string {
	if s.ApplicantRef != "" {
		return s.ApplicantRef
	}
	return applicantRef
}

// orderNo is the scenario's orderNo at AWDA.
func (s *Scenario) orderNo() string { return workflows.OrderNo(workflows.LoanWorkflowID(s.ref())) }

// maxRuns bounds the runs of one loan (a loop of continue-as-new is a
// finding, not a hang).
const maxRuns = 400

// abortEvents ends a run whose estimate passes it (twice the server's
// warning threshold): the finding is made, the rest would only cost time.
const abortEvents = 2 * MaxRunEvents

// ring is the simulator's payload key (random: ciphertexts differ between
// processes, outcomes do not).
var ring = sync.OnceValue(func() *codec.KeyRing {
	spec, err := codec.GenerateKeySpec("sim")
	if err != nil {
		panic(err)
	}
	k, err := codec.ParseKeyRing(spec)
	if err != nil {
		panic(err)
	}
	return k
})

// Run is what became of one scenario.
type Run struct {
	Start, End time.Duration
	Events     int // estimated history events
	CAN        bool
}

// Result is everything observed while a scenario ran.
type Result struct {
	Scenario   *Scenario
	Prediction Prediction

	Outcome workflows.Stage
	Reason  string
	EndAt   time.Duration
	Err     string // the workflow failed, or never ended

	Runs []Run
	// Delivered are the pushes whose signal reached a run, by eventId
	// (forged ones too).
	Delivered []string
	// Forged are the forged pushes delivered, by eventId.
	Forged []string
	// Schedule is AWDA's repayment schedule when the scenario ended.
	Schedule []awda.Installment
	// Unrouted lists the authorization callbacks AWDA made while the read
	// model held no row with the loan's AWDA user ID, by time: the inbox
	// routes callbacks by it, and would have orphaned them.
	Unrouted []time.Duration
	// BadUpdatesAccepted lists invalid updates the workflow accepted.
	BadUpdatesAccepted []string
	Transitions        []workflows.Transition // union over every run, in order seen
	Ignored            []workflows.Ignored
	Writes             []activities.ApplicationProjection
	Calls              []Call
	History            []Mark // estimated events, when they happened
	AppliedSubmits     int
	Loans              int
	// Refused lists the scripted AWDA moves the sandbox refused (the loan
	// had already ended, say): each changed nothing, as at AWDA.
	Refused         []Refusal
	Payloads, Plain int
	Leaks           []string
	LogLeaks        int

	Violations []Violation
}

// Call is one AWDA call.
type Call struct {
	At   time.Duration
	Path string
}

// Mark is n estimated history events at At.
type Mark struct {
	At time.Duration
	N  int
}

// Violation is one invariant broken by a scenario.
type Violation struct {
	Invariant string
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// driver runs one scenario.
type driver struct {
	s    *Scenario
	r    *Result
	awda *testenv.AWDA
	docs *testenv.Documents
	proj *testenv.Projections
	insp *inspector
	dc   converter.DataConverter

	mu       sync.Mutex
	env      *testsuite.TestWorkflowEnvironment
	runIdx   int
	events   atomic.Int64 // this run's estimate
	executed []bool
	// deferred marks the events whose run ended before they played: they
	// play in the next run, without a continue-as-new suggestion of their
	// own (the suggestion belonged to the run that ended; a fresh run's
	// history is short, and the server would not suggest it there).
	deferred []bool

	aborted   bool
	agreement string // the agreement on offer, as the last run handed it over
	transKeys map[string]bool
	ignKeys   map[string]bool
}

func (d *driver) now() time.Time {
	d.mu.Lock()
	env := d.env
	d.mu.Unlock()
	if env == nil {
		return Start
	}
	return env.Now()
}

func (d *driver) at() time.Duration { return d.now().Sub(Start) }

// count adds n estimated events to the run's history, and tells the
// workflow (GetCurrentHistoryLength) when it is safe to: from callbacks that
// run while the workflow is not running.
func (d *driver) count(n int, tell bool) {
	total := d.events.Add(int64(n))
	d.mu.Lock()
	d.r.History = append(d.r.History, Mark{At: d.at0(), N: n})
	env := d.env
	abort := tell && total > abortEvents && !d.aborted
	if abort {
		d.aborted = true
	}
	d.mu.Unlock()
	if tell && env != nil {
		env.SetCurrentHistoryLength(int(total))
	}
	if abort {
		env.CancelWorkflow() // the run is a finding already; save the time
	}
}

// at0 is at() for callers holding mu.
func (d *driver) at0() time.Duration {
	if d.env == nil {
		return 0
	}
	return d.env.Now().Sub(Start)
}

// tenors are the tenors the simulator's AWDA offers: every month up to two
// years (the sandbox's default list stops at 12).
var tenors = func() []awda.TenorOption {
	var out []awda.TenorOption
	for m := 1; m <= 24; m++ {
		out = append(out, awda.TenorOption{Tenor: m, TenorUnit: awda.TenorMonth})
	}
	return out
}()

// Simulate runs scenario s against the real workflow and activities, over
// the real client and the AWDA sandbox in process, on simulated time.
func Simulate(s *Scenario) *Result {
	d := &driver{s: s, r: &Result{Scenario: s, Prediction: Predict(s)}, transKeys: map[string]bool{}, ignKeys: map[string]bool{}}
	d.insp = newInspector(codec.NewDataConverter(ring()), s.PII())
	d.dc = d.insp
	a, err := testenv.NewAWDA(sandbox.Config{Clock: d.now, Seed: s.Seed, Tenors: tenors})
	if err != nil {
		d.r.Err = "AWDA sandbox: " + err.Error()
		return d.r
	}
	a.OnCall(func(path string, at time.Time) {
		d.r.Calls = append(d.r.Calls, Call{At: at.Sub(Start), Path: path})
	})
	d.awda = a
	d.docs = testenv.NewDocuments(
		activities.Document{ID: "doc-ktp", ContentType: "image/jpeg", FileName: "ktp.jpg", Bytes: []byte("ktp-image")},
		activities.Document{ID: "doc-selfie", ContentType: "image/jpeg", FileName: "selfie.jpg", Bytes: []byte("selfie-image")},
	)
	d.proj = testenv.NewProjections()
	d.executed = make([]bool, len(s.Events))
	d.deferred = make([]bool, len(s.Events))
	d.run()
	d.r.Writes = d.proj.Writes()
	// The durable trail: transitions the workflow state no longer keeps.
	for _, w := range d.r.Writes {
		var ts []workflows.Transition
		for _, e := range w.Trail {
			ts = append(ts, workflows.Transition{Seq: e.Seq, At: e.At, Kind: e.Kind, From: e.From, To: e.To, EventID: e.EventID, Note: e.Note, Operator: e.Operator})
		}
		d.merge(ts, nil)
	}
	d.r.AppliedSubmits = d.awda.AppliedSubmissions(s.orderNo())
	if loanNo := d.awda.LoanNo(s.orderNo()); loanNo != "" {
		d.r.Schedule = d.awda.Schedule(loanNo)
	}
	d.r.Loans = d.awda.Loans()
	d.r.Payloads, d.r.Plain, d.r.Leaks, d.r.LogLeaks = d.insp.findings()
	check(d.r)
	return d.r
}

func (d *driver) input() workflows.LoanApplicationInput {
	a := d.s.Applicant
	ref := d.s.ref()
	if d.s.Ineligible {
		ref += ineligible
	}
	return workflows.LoanApplicationInput{
		ApplicantRef: ref,
		Applicant: workflows.Applicant{
			Name: a.Name, NIK: a.NIK, Mobile: a.Mobile, BirthDate: "1990-01-05", BirthPlace: "Jakarta",
			Personal: awda.PersonalInfo{Gender: "FEMALE", MaritalStatus: "SINGLE", Province: "DKI Jakarta", City: "Jakarta Selatan", Address: "Jl. Contoh 1"},
			Work:     awda.WorkInfo{Occupation: "EMPLOYEE", MonthlyIncome: 8_000_000},
		},
		Loan:              workflows.LoanRequest{Amount: 3_000_000, Tenor: d.s.Tenor, TenorUnit: awda.TenorMonth, Purpose: "WORKING_CAPITAL"},
		EmergencyContacts: []awda.EmergencyContact{{Name: a.ContactName, Mobile: a.Contact, Relation: "SIBLING"}},
		Documents:         []activities.DocumentRef{{Type: awda.ImageKTP, DocumentID: "doc-ktp"}, {Type: awda.ImageSelfie, DocumentID: "doc-selfie"}},
		ReturnURL:         "https://lender.example/return",
		Config:            d.s.Config,
	}
}

// newEnv is a fresh test environment for one run, starting at offset.
func (d *driver) newEnv(offset time.Duration) *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(logger{d.insp})
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(Start.Add(offset))
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.LoanWorkflowID(d.s.ref()), TaskQueue: workflows.TaskQueue})
	env.SetDataConverter(d.dc)
	env.SetTestTimeout(2 * time.Minute)
	// The SDK's deadlock detector (1 s of a workflow task without a yield)
	// measures wall time: on two busy cores a long loan's replay-free task
	// can exceed it with no deadlock at all (seed 274 under make test's
	// load). Determinism is what the simulator checks, not wall time.
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 30 * time.Second})
	env.SetWorkflowRunTimeout(d.s.Span() - offset + 200*day)
	env.RegisterWorkflow(workflows.LoanApplication)
	acts := activities.New(d.awda.Client, d.docs, d.proj)
	acts.Now = d.now
	env.RegisterActivity(acts)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(mock.Arguments) { d.count(1, false) }).Return(nil).Maybe()

	// The history estimate (see the package doc).
	env.SetOnTimerScheduledListener(func(string, time.Duration) { d.count(1, true) })
	env.SetOnTimerFiredListener(func(string) { d.count(1+3, true) })
	env.SetOnTimerCanceledListener(func(string) { d.count(1, true) })
	env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) { d.count(2, false) })
	env.SetOnActivityCompletedListener(func(*activity.Info, converter.EncodedValue, error) { d.count(1+3, false) })
	env.SetOnActivityCanceledListener(func(*activity.Info) { d.count(2+3, false) })
	env.SetOnLocalActivityCompletedListener(func(*activity.Info, converter.EncodedValue, error) { d.count(1, true) })
	env.SetOnLocalActivityCanceledListener(func(*activity.Info) { d.count(1, true) })
	return env
}

// run plays the scenario over as many runs as the workflow continues as
// new into (at most maxRuns).
func (d *driver) run() {
	in := d.input()
	offset := time.Duration(0)
	for run := 0; run < maxRuns; run++ {
		env := d.newEnv(offset)
		d.mu.Lock()
		d.env, d.runIdx = env, run
		d.mu.Unlock()
		d.events.Store(0)
		d.aborted = false
		d.count(4, true) // started, first workflow task
		d.schedule(env, run, offset)
		start := offset
		env.ExecuteWorkflow(workflows.LoanApplication, in)
		d.count(1, false) // completed or continued-as-new
		offset = env.Now().Sub(Start)
		next, ok := d.ended(env, Run{Start: start, End: offset, Events: int(d.events.Load())})
		if !ok {
			return
		}
		in = next
	}
	d.r.Err = fmt.Sprintf("more than %d runs", maxRuns)
}

// schedule registers the events not yet played with run's environment,
// which starts at offset.
func (d *driver) schedule(env *testsuite.TestWorkflowEnvironment, run int, offset time.Duration) {
	for i, e := range d.s.Events {
		if d.executed[i] {
			continue
		}
		if run == 0 && e.At == 0 && e.Kind == KFault {
			d.executed[i] = true
			d.apply(env, e)
			continue
		}
		if run > 0 && e.At <= offset {
			d.deferred[i] = true // due in a run that ended first
		}
		i, e := i, e
		// The delayed callback's own timer starts a workflow task right
		// after it; the action runs in a callback queued behind that
		// task, so that a signal it sends and a suggestion it sets are
		// seen together in the next task, and an action whose run has
		// ended meanwhile is left for the next run (as the server hands
		// a signal arriving after a continue-as-new to the new run).
		env.RegisterDelayedCallback(func() {
			env.RegisterDelayedCallback(func() {
				if env.IsWorkflowCompleted() {
					return // for the next run
				}
				d.executed[i] = true
				if e.CAN && !d.deferred[i] {
					env.SetContinueAsNewSuggested(true)
				}
				d.apply(env, e)
			}, 0)
		}, max(0, e.At-offset))
	}
}

// ended records how run rn ended: a continue-as-new returns the next run's
// input and true; anything else (the loan's end, a failure) the loan's
// result and false.
func (d *driver) ended(env *testsuite.TestWorkflowEnvironment, rn Run) (workflows.LoanApplicationInput, bool) {
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	switch {
	case !env.IsWorkflowCompleted():
		d.r.Err = "the workflow did not complete"
	case errors.As(err, &can):
		rn.CAN = true
		d.r.Runs = append(d.r.Runs, rn)
		return d.continued(can)
	case err != nil && d.aborted:
		d.r.Err = fmt.Sprintf("run aborted at about %d events", abortEvents)
	case err != nil:
		var to *temporal.TimeoutError
		if errors.As(err, &to) {
			d.r.Err = "the loan never ended (run timeout)"
		} else {
			d.r.Err = "workflow failed: " + err.Error()
		}
	default:
		var res workflows.LoanResult
		if err := env.GetWorkflowResult(&res); err != nil {
			d.r.Err = "decode result: " + err.Error()
		}
		d.r.Outcome, d.r.Reason, d.r.EndAt = res.Outcome, res.Reason, res.ClosedAt.Sub(Start)
	}
	d.r.Runs = append(d.r.Runs, rn)
	if st, qerr := status(env); qerr == nil {
		d.merge(st.Transitions, st.Ignored)
	}
	return workflows.LoanApplicationInput{}, false
}

// continued decodes the next run's input from a continue-as-new and keeps
// the state its run handed over.
func (d *driver) continued(can *workflow.ContinueAsNewError) (workflows.LoanApplicationInput, bool) {
	var next workflows.LoanApplicationInput
	if err := d.dc.FromPayloads(can.Input, &next); err != nil {
		d.r.Err = "decode continue-as-new input: " + err.Error()
		return next, false
	}
	if next.Resume != nil {
		d.merge(next.Resume.Transitions, next.Resume.Ignored)
		if next.Resume.Agreement != nil {
			d.agreement = next.Resume.Agreement.ID
		}
	}
	return next, true
}

// status asks the workflow for its status.
func status(env *testsuite.TestWorkflowEnvironment) (workflows.Status, error) {
	var st workflows.Status
	v, err := env.QueryWorkflow(workflows.StatusQuery.Name)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// merge adds transitions and ignored records not seen before (a run's state
// carries its predecessors').
func (d *driver) merge(ts []workflows.Transition, igs []workflows.Ignored) {
	for _, t := range ts {
		k := fmt.Sprintf("%d|%d|%s|%s|%s|%s|%s", t.Seq, t.At.UnixNano(), t.Kind, t.From, t.To, t.EventID, t.Note)
		if t.Seq > 0 {
			k = fmt.Sprint(t.Seq)
		}
		if !d.transKeys[k] {
			d.transKeys[k] = true
			d.r.Transitions = append(d.r.Transitions, t)
		}
	}
	for _, ig := range igs {
		k := fmt.Sprintf("%d|%s|%s|%s|%s", ig.At.UnixNano(), ig.Signal, ig.EventID, ig.Status, ig.Reason)
		if !d.ignKeys[k] {
			d.ignKeys[k] = true
			d.r.Ignored = append(d.r.Ignored, ig)
		}
	}
}

// signal sends a signal and counts its events (signaled + a workflow task).
func signal[T any](d *driver, env *testsuite.TestWorkflowEnvironment, s workflows.Signal[T], v T) {
	d.count(1+3, true)
	env.SignalWorkflow(s.Name, v)
}

// update sends an update; bad updates must be refused.
func update[In, Out any](d *driver, env *testsuite.TestWorkflowEnvironment, u workflows.Update[In, Out], v In, bad string) {
	d.count(2+3, true)
	id := fmt.Sprintf("upd-%d", d.events.Load())
	env.UpdateWorkflow(u.Name, id, &testsuite.TestUpdateCallback{
		OnReject: func(error) {},
		OnAccept: func() {
			if bad != "" {
				d.r.BadUpdatesAccepted = append(d.r.BadUpdatesAccepted, fmt.Sprintf("%s at %s", bad, fmtDur(d.at())))
			}
		},
		OnComplete: func(any, error) {},
	}, v)
}

func (d *driver) apply(env *testsuite.TestWorkflowEnvironment, e Event) {
	if d.applyAWDA(e) {
		return
	}
	uid := d.awda.UserID(d.s.ref())
	switch e.Kind {
	case KForceCAN:
		env.SetContinueAsNewSuggested(true)
	case KAuthorize:
		if row, ok := d.proj.Row(workflows.LoanWorkflowID(d.s.ref())); uid != "" && (!ok || row.AwdaUserID != uid) {
			d.r.Unrouted = append(d.r.Unrouted, e.At)
		}
		for _, t := range sandbox.DefaultAuthTypes {
			if !t.Required {
				continue
			}
			d.refused(e, d.awda.SetAuthorization(uid, t.AuthType, awda.AuthSuccess))
			signal(d, env, workflows.AuthorizationSignal, awda.AuthorizationEvent{EventID: fmt.Sprintf("auth-%s-%s", t.AuthType, fmtDur(e.At)), UserID: uid, AuthType: t.AuthType, Status: awda.AuthSuccess})
		}
	case KCard:
		c := e.Card
		if c.Verdict != awda.CardBound {
			d.refused(e, d.awda.QueueCardVerdicts(c.Verdict, "account name does not match", 1))
		}
		update(d, env, workflows.SubmitBankCardUpdate, workflows.BankCardInput{BankCode: c.Bank, AccountNo: c.AccountNo, AccountName: d.s.Applicant.Name}, "")
	case KBadCard:
		update(d, env, workflows.SubmitBankCardUpdate, badCard(e.Variant, d.s.Applicant.Name), fmt.Sprintf("bad card #%d", e.Variant))
	case KPush:
		// A forged push in the same task: the first of the two signals
		// is buffered without a workflow task of its own.
		f := e.Forge
		if f != nil && f.First {
			d.forge(env, e.At, f.EventID, f.Status, true)
		}
		d.push(env, e.At, e.EventID, e.Status, e.Period, f != nil && !f.First)
		if f != nil && !f.First {
			d.forge(env, e.At, f.EventID, f.Status, false)
		}
	case KForge:
		d.forge(env, e.At, e.EventID, e.Status, false)
	case KSign, KBadSign:
		d.sign(env, e)
	case KCancel:
		signal(d, env, workflows.CancelSignal, workflows.CancelRequest{Reason: "changed my mind"})
	case KRetry:
		signal(d, env, workflows.RetrySignal, workflows.RetryRequest{Operator: "ops-sim", Reason: "simulated"})
	case KAbandon:
		signal(d, env, workflows.AbandonSignal, workflows.AbandonRequest{Operator: "ops-sim", Reason: "simulated"})
	}
}

// applyAWDA plays AWDA's side of e, if e is AWDA's: faults, and the
// sandbox's back office moving the card or the loan (no push: pushes are
// KPush events). A move the sandbox refuses is recorded in Result.Refused;
// one on a loan not yet submitted is no move at all.
func (d *driver) applyAWDA(e Event) bool {
	switch e.Kind {
	case KFault:
		f := e.Fault
		switch {
		case f.Outage:
			d.awda.Outage(f.Path, awda.CodeSystemBusy)
		case f.Lost:
			d.awda.LoseNext(f.Path)
		default:
			d.awda.FailCodes(f.Path, f.Codes...)
		}
		return true
	case KRestore:
		d.awda.Restore(e.Fault.Path)
		return true
	case KCardResolve:
		c := e.Card
		_, err := d.awda.SetCardStatus(d.awda.UserID(d.s.ref()), c.Bank, c.AccountNo[len(c.AccountNo)-4:], c.Final)
		d.refused(e, err)
		return true
	case KStatus, KOverdue, KSettleAll, KPay:
	default:
		return false
	}
	loanNo := d.awda.LoanNo(d.s.orderNo())
	if loanNo == "" {
		return true // not submitted yet: nothing to move
	}
	var err error
	switch e.Kind {
	case KPay:
		err = d.awda.Pay(loanNo, e.Period)
	case KOverdue:
		_, err = d.awda.Advance(loanNo, awda.LoanOverdue)
	default: // KStatus, KSettleAll
		_, err = d.awda.Advance(loanNo, e.Status)
	}
	d.refused(e, err)
	return true
}

// push delivers AWDA's LOAN_STATUS push of eventID. buffered leaves it in
// its channel without a workflow task: the next signal's task takes both.
func (d *driver) push(env *testsuite.TestWorkflowEnvironment, at time.Duration, eventID string, s awda.LoanStatus, period int, buffered bool) {
	d.r.Delivered = append(d.r.Delivered, eventID)
	ev := awda.LoanStatusEvent{
		EventID: eventID, EventType: awda.EventTypeLoanStatus, LoanNo: d.awda.LoanNo(d.s.orderNo()), OrderNo: d.s.orderNo(),
		UserID: d.awda.UserID(d.s.ref()), Status: s, Period: period, OccurredAt: Start.Add(at).UnixMilli(),
	}
	if buffered {
		d.count(1, true) // signaled; the task is the next signal's
		env.SignalWorkflowSkippingWorkflowTask(workflows.LoanStatusSignal.Name, ev)
		return
	}
	signal(d, env, workflows.LoanStatusSignal, ev)
}

// forge delivers a forged push: as well formed as AWDA's, for this loan,
// with a status AWDA does not hold.
func (d *driver) forge(env *testsuite.TestWorkflowEnvironment, at time.Duration, eventID string, s awda.LoanStatus, buffered bool) {
	d.r.Forged = append(d.r.Forged, eventID)
	d.push(env, at, eventID, s, 0, buffered)
}

// Refusal is a scripted AWDA move the sandbox refused.
type Refusal struct {
	Kind  Kind
	Event string
	Err   string
}

func (d *driver) refused(e Event, err error) {
	if err != nil {
		d.r.Refused = append(d.r.Refused, Refusal{Kind: e.Kind, Event: e.String(), Err: err.Error()})
	}
}

// badCard is invalid card input number variant.
func badCard(variant int, name string) workflows.BankCardInput {
	in := workflows.BankCardInput{BankCode: "BCA", AccountNo: "1234567890", AccountName: name}
	switch variant {
	case 0:
		in.BankCode = "NOSUCHBANK"
	case 1:
		in.AccountNo = "12AB567890"
	case 2:
		in.AccountNo = "123"
	default:
		in.AccountName = " "
	}
	return in
}

// sign sends the signature update of KSign, or the invalid one of KBadSign.
func (d *driver) sign(env *testsuite.TestWorkflowEnvironment, e Event) {
	// The borrower's app knows the agreement on offer: from the status
	// query, or, when the run has not answered one yet (a run just started
	// by a continue-as-new), from the state its predecessor handed over.
	agreement := d.agreement
	if st, err := status(env); err == nil && st.Agreement != nil {
		agreement = st.Agreement.ID
	}
	in := workflows.SignAgreementInput{AgreementID: agreement, Consent: true, ClientIP: "203.0.113.7"}
	bad := ""
	if e.Kind == KBadSign {
		bad = fmt.Sprintf("bad signature #%d", e.Variant)
		switch e.Variant {
		case 0:
			in.AgreementID = "AGR-not-this-one"
		case 1:
			in.Consent = false
		default:
			in.ClientIP = "not-an-ip"
		}
	}
	update(d, env, workflows.SignAgreementUpdate, in, bad)
}
