package demo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/workflows"
)

// Options configure a Run. Only APIURL and Token are required.
type Options struct {
	// APIURL is the starter's base URL (http://127.0.0.1:8080) and Token a
	// bearer token it accepts.
	APIURL string
	Token  string
	// SandboxAdminURL is where the AWDA sandbox's admin API answers
	// (http://127.0.0.1:8089). Without it the scenarios that need it
	// (DisburseFail) are left out of the mix, and a Plan naming them is
	// refused.
	SandboxAdminURL string

	// N applicants, Concurrency of them in flight at once (default 10).
	N           int
	Concurrency int
	// Mix weighs the scenarios (DefaultMix when nil). Plan, when set, gives
	// every applicant its scenario instead, and N is len(Plan).
	Mix  Mix
	Plan []Scenario
	// Seed makes the plan and the people reproducible. RunID tells this run
	// from others against the same API and sandbox (applicant refs, workflow
	// IDs and NIKs must be new each time); default: from the clock.
	// RefPrefix starts every applicant ref (default "demo-" + RunID).
	Seed      uint64
	RunID     string
	RefPrefix string
	// Tenors to draw loan tenors from (DefaultTenors when empty).
	Tenors []Tenor

	// PollInterval is how often an applicant's status is read (500 ms,
	// ±20 % jitter).
	PollInterval time.Duration
	// Timeout bounds each applicant from its first request to its terminal
	// state (10 minutes); past it the applicant ends TIMEOUT.
	Timeout time.Duration
	// StuckGrace is how long a loan may stay stuck, when its scenario does
	// not expect it, before the demo reports it STUCK and lets it be (0: at
	// once). Set it when someone else (a test, an operator) handles stuck
	// loans during the run.
	StuckGrace time.Duration
	// WaitReady waits this long for the starter's /readyz before starting
	// (0: do not wait).
	WaitReady time.Duration
	// Operator names the demo in the ops requests it sends ("demo").
	Operator string

	// HTTPClient is used for the API and the sandbox (default: one with a
	// 2-minute timeout, above the API's update timeout).
	HTTPClient *http.Client
	// OnProgress is called after every change (a stage reached, an action
	// taken, an applicant done), one call at a time, with a snapshot it may
	// keep. Keep it quick: applicants wait for it.
	OnProgress func(Progress)
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Outcomes the demo reports besides the workflow's terminal stages.
const (
	OutcomeStuck   = "STUCK"   // stuck where the scenario does not expect it (after StuckGrace)
	OutcomeTimeout = "TIMEOUT" // not terminal within Options.Timeout
	OutcomeError   = "ERROR"   // the application could not be created
	OutcomeAborted = "ABORTED" // the run's context ended first
)

// Display stages of applicants the workflow does not report on yet.
const (
	StageWaiting   = "WAITING"   // not started (bounded concurrency)
	StageUploading = "UPLOADING" // documents being uploaded, application being created
)

// StageOrder lists every stage an applicant can be shown in, in lifecycle
// order: the demo's own, the workflow's working stages, its outcomes, then
// the demo's failures.
func StageOrder() []string {
	out := []string{StageWaiting, StageUploading, api.StageNew}
	for _, s := range workflows.Stages {
		out = append(out, string(s))
	}
	for _, s := range []workflows.Stage{workflows.StageSettled, workflows.StageRejected, workflows.StageIneligible,
		workflows.StageCancelled, workflows.StageExpired, workflows.StageFailed} {
		out = append(out, string(s))
	}
	return append(out, OutcomeStuck, OutcomeTimeout, OutcomeError, OutcomeAborted)
}

// Event is one thing that happened to an applicant.
type Event struct {
	At       time.Time
	Ref      string
	Scenario Scenario
	Kind     EventKind
	// Stage is the applicant's stage after the event.
	Stage  string
	Detail string
}

// EventKind says what an Event is.
type EventKind string

// Event kinds.
const (
	EventStarted EventKind = "started" // documents being uploaded
	EventStage   EventKind = "stage"   // a new stage
	EventAction  EventKind = "action"  // the borrower or ops did something
	EventStuck   EventKind = "stuck"   // the loan is parked for operations
	EventProblem EventKind = "problem" // a refused or failed request (retried)
	EventDone    EventKind = "done"    // terminal (Detail: expected vs actual)
)

// Progress is a snapshot of the run.
type Progress struct {
	Total   int
	Done    int // terminal, or given up
	Matched int // done with the expected outcome
	Stuck   int // currently stuck
	// Stages counts applicants by current stage (see StageOrder).
	Stages  map[string]int
	Elapsed time.Duration
	// Event is what caused this snapshot.
	Event Event
}

// Result is how one applicant went.
type Result struct {
	Index    int
	Ref      string
	Scenario Scenario
	Expected workflows.Stage
	// Actual is the terminal stage reached, or one of the Outcome*.
	Actual string
	// Reason is the loan's reason for its outcome, or why the demo gave up.
	Reason    string
	LoanNo    string
	OrderNo   string
	Tenor     int
	TenorUnit awda.TenorUnit
	// Duration runs from the first request to the terminal state.
	Duration time.Duration
	// Stages lists the stages seen, in order.
	Stages []string
	// CardAttempts counts bank cards submitted, Signatures agreements
	// signed, Retries the ops retries sent.
	CardAttempts int
	Signatures   int
	Retries      int
	// Problems are refused or failed requests (the API's details, which
	// never quote personal data), the first maxProblems of them.
	Problems []string
}

// OK reports whether the applicant ended as expected.
func (r *Result) OK() bool { return r.Actual == string(r.Expected) }

const maxProblems = 20

func (r *Result) problem(err error) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, err.Error())
	}
}

// Summary is the outcome of a Run.
type Summary struct {
	RunID     string
	RefPrefix string
	Seed      uint64
	Started   time.Time
	Elapsed   time.Duration
	Results   []Result
}

// OK reports whether every applicant ended as expected.
func (s *Summary) OK() bool { return len(s.Mismatches()) == 0 }

// Mismatches are the applicants that did not end as expected.
func (s *Summary) Mismatches() []Result {
	var out []Result
	for _, r := range s.Results {
		if !r.OK() {
			out = append(out, r)
		}
	}
	return out
}

// ByOutcome counts applicants by actual outcome.
func (s *Summary) ByOutcome() map[string]int {
	m := map[string]int{}
	for _, r := range s.Results {
		m[r.Actual]++
	}
	return m
}

// validate fills in defaults and returns the plan.
func (o *Options) validate() ([]Scenario, error) {
	if o.APIURL == "" || o.Token == "" {
		return nil, errors.New("demo: the API URL and a token are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 10
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Operator == "" {
		o.Operator = "demo"
	}
	if o.RunID == "" {
		o.RunID = NewRunID(o.Now())
	}
	if o.RefPrefix == "" {
		o.RefPrefix = "demo-" + o.RunID
	}
	if len(o.RefPrefix) > 40 || !api.ValidRef(o.RefPrefix) {
		return nil, fmt.Errorf("demo: ref prefix %q: 1 to 40 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit", o.RefPrefix)
	}
	if m := markerIn(o.RefPrefix); m != "" {
		return nil, fmt.Errorf("demo: ref prefix %q contains the sandbox marker %q", o.RefPrefix, m)
	}
	plan := o.Plan
	if plan == nil {
		if o.N <= 0 {
			return nil, errors.New("demo: N must be positive")
		}
		mix := o.Mix
		if mix == nil {
			mix = DefaultMix
		}
		if o.SandboxAdminURL == "" {
			mix = mix.Without(Scenario.NeedsSandboxAdmin)
		}
		if mix.total() == 0 {
			return nil, errors.New("demo: the mix leaves no scenario (DisburseFail needs the sandbox admin URL)")
		}
		plan = Plan(o.N, mix, o.Seed)
	}
	for _, s := range plan {
		if !s.Valid() {
			return nil, fmt.Errorf("demo: unknown scenario %q", s)
		}
		if s.NeedsSandboxAdmin() && o.SandboxAdminURL == "" {
			return nil, fmt.Errorf("demo: scenario %s needs the sandbox admin URL", s)
		}
	}
	o.N = len(plan)
	return plan, nil
}

// Run walks every applicant of the plan to a terminal state (or gives up on
// it, see the Outcome* values) and returns the summary. Its error is for
// invalid options, a starter that never became ready, or ctx ending (the
// summary is returned too, with the unfinished applicants ABORTED).
func Run(ctx context.Context, o Options) (*Summary, error) {
	plan, err := o.validate()
	if err != nil {
		return nil, err
	}
	r := &runner{
		o:      o,
		client: NewClient(o.APIURL, o.Token, o.HTTPClient),
		plan:   plan,
		stages: make([]string, len(plan)),
		start:  o.Now(),
	}
	if o.SandboxAdminURL != "" {
		r.admin = NewSandboxAdmin(o.SandboxAdminURL, o.HTTPClient)
	}
	for i := range r.stages {
		r.stages[i] = StageWaiting
	}
	if o.WaitReady > 0 {
		if err := r.waitReady(ctx); err != nil {
			return nil, err
		}
		r.start = o.Now()
	}

	h := fnv.New64a()
	_, _ = h.Write([]byte(o.RunID))
	gen := NewGenerator(o.Seed^h.Sum64(), o.Now(), o.Tenors)
	people := make([]Person, len(plan))
	for i := range plan {
		people[i] = gen.Person()
	}

	sum := &Summary{RunID: o.RunID, RefPrefix: o.RefPrefix, Seed: o.Seed, Started: r.start, Results: make([]Result, len(plan))}
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for i, sc := range plan {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			res := r.newResult(i, sc, &people[i])
			res.Actual, res.Reason = OutcomeAborted, "not started"
			sum.Results[i] = res
			r.done(&sum.Results[i])
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sum.Results[i] = r.applicant(ctx, i, sc, &people[i])
		}()
	}
	wg.Wait()
	sum.Elapsed = o.Now().Sub(r.start)
	return sum, ctx.Err()
}

type runner struct {
	o      Options
	client *Client
	admin  *SandboxAdmin
	plan   []Scenario
	start  time.Time

	mu       sync.Mutex
	stages   []string
	stuck    int
	finished int
	matched  int
}

func (r *runner) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.WaitReady)
	defer cancel()
	for {
		err := r.client.Ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: the starter at %s is not ready: %w", r.client.BaseURL(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// emit records ev (and the applicant's stage) and reports progress.
func (r *runner) emit(i int, ev Event, stuckDelta int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Stage != "" {
		r.stages[i] = ev.Stage
	}
	r.stuck += stuckDelta
	if r.o.OnProgress == nil {
		return
	}
	p := Progress{Total: len(r.plan), Done: r.finished, Matched: r.matched, Stuck: r.stuck,
		Stages: map[string]int{}, Elapsed: r.o.Now().Sub(r.start), Event: ev}
	for _, s := range r.stages {
		p.Stages[s]++
	}
	r.o.OnProgress(p)
}

func (r *runner) done(res *Result) {
	r.mu.Lock()
	r.finished++
	if res.OK() {
		r.matched++
	}
	r.mu.Unlock()
	r.emit(res.Index, Event{At: r.o.Now(), Ref: res.Ref, Scenario: res.Scenario, Kind: EventDone, Stage: res.Actual,
		Detail: fmt.Sprintf("expected %s, got %s", res.Expected, res.Actual)}, 0)
}

func (r *runner) newResult(i int, sc Scenario, p *Person) Result {
	return Result{
		Index: i, Ref: RefFor(r.o.RefPrefix, i, sc), Scenario: sc, Expected: sc.Expected(),
		Tenor: p.Loan.Tenor, TenorUnit: p.Loan.TenorUnit,
	}
}

// sleep waits d (with ±20 % jitter when jitter) or until ctx ends.
func sleep(ctx context.Context, d time.Duration, jitter bool) bool {
	if jitter && d > 0 {
		d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retry runs op until it succeeds, fails for good, or the deadline comes.
func retry(ctx context.Context, deadline time.Time, res *Result, op func(context.Context) error) error {
	backoff := 200 * time.Millisecond
	for {
		err := op(ctx)
		if err == nil || !Temporary(err) || ctx.Err() != nil {
			return err
		}
		res.problem(err)
		if time.Now().Add(backoff).After(deadline) {
			return err
		}
		if !sleep(ctx, backoff, true) {
			return ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// applicant is one borrower, from documents to a terminal state.
func (r *runner) applicant(ctx context.Context, i int, sc Scenario, p *Person) Result {
	b := &borrower{r: r, ctx: ctx, i: i, sc: sc, p: p, res: r.newResult(i, sc, p)}
	defer func() { r.done(&b.res) }()
	b.began = r.o.Now()
	b.deadline = time.Now().Add(r.o.Timeout)
	r.emit(i, b.ev(EventStarted, StageUploading, ""), 0)
	if err := b.apply(); err != nil {
		return b.giveUp(err)
	}
	for {
		if ctx.Err() != nil {
			return b.finish(OutcomeAborted, "the run ended at "+b.stage)
		}
		if time.Now().After(b.deadline) {
			return b.finish(OutcomeTimeout, fmt.Sprintf("not terminal after %s, at %s", r.o.Timeout, b.stage))
		}
		v, err := r.client.Application(ctx, b.res.Ref)
		if err != nil {
			if ctx.Err() == nil {
				b.problem(err)
			}
			sleep(ctx, r.o.PollInterval, true)
			continue
		}
		if res, ended := b.look(&v); ended {
			return res
		}
		sleep(ctx, r.o.PollInterval, true)
	}
}

// borrower is one applicant's run: what it has seen and done so far.
type borrower struct {
	r        *runner
	ctx      context.Context
	i        int
	sc       Scenario
	p        *Person
	res      Result
	began    time.Time
	deadline time.Time

	stage      string
	cardTry    int  // cards refused so far: the next one's number
	cardDone   bool // the last card submitted was accepted
	signTry    int
	cancelled  bool
	opsDone    bool
	opsAt      time.Time
	stuckSince time.Time // zero when not stuck
}

func (b *borrower) ev(kind EventKind, stage, detail string) Event {
	return Event{At: b.r.o.Now(), Ref: b.res.Ref, Scenario: b.sc, Kind: kind, Stage: stage, Detail: detail}
}

// action reports what the borrower (or operations) did.
func (b *borrower) action(detail string) { b.r.emit(b.i, b.ev(EventAction, "", detail), 0) }

// problem records a failed call and reports it.
func (b *borrower) problem(err error) {
	b.res.problem(err)
	b.r.emit(b.i, b.ev(EventProblem, "", err.Error()), 0)
}

func (b *borrower) finish(actual, reason string) Result {
	if !b.stuckSince.IsZero() {
		b.r.emit(b.i, b.ev(EventStage, "", "no longer stuck"), -1)
	}
	b.res.Actual, b.res.Reason = actual, reason
	b.res.Duration = b.r.o.Now().Sub(b.began)
	return b.res
}

func (b *borrower) giveUp(err error) Result {
	if b.ctx.Err() != nil {
		return b.finish(OutcomeAborted, "the run ended")
	}
	return b.finish(OutcomeError, err.Error())
}

// apply uploads the documents first, as a backend does: the KTP as a file
// upload, the selfie as base64 JSON (both forms of POST /v1/documents);
// then it creates the application.
func (b *borrower) apply() error {
	r, ctx, res := b.r, b.ctx, &b.res
	docSeed := uint64(b.i)<<1 ^ r.o.Seed
	var ktp, selfie api.DocumentResponse
	err := retry(ctx, b.deadline, res, func(ctx context.Context) (err error) {
		ktp, err = r.client.UploadDocument(ctx, awda.ImageKTP, res.Ref, "ktp.png", KTPImage(docSeed), false)
		return err
	})
	if err == nil {
		err = retry(ctx, b.deadline, res, func(ctx context.Context) (err error) {
			selfie, err = r.client.UploadDocument(ctx, awda.ImageSelfie, res.Ref, "selfie.jpg", SelfieImage(docSeed), true)
			return err
		})
	}
	if err != nil {
		return err
	}
	app := &api.ApplicationRequest{
		ApplicantRef:      res.Ref,
		Applicant:         b.p.Applicant,
		Loan:              b.p.Loan,
		EmergencyContacts: b.p.EmergencyContacts,
		Documents: []activities.DocumentRef{
			{Type: awda.ImageKTP, DocumentID: ktp.DocumentID},
			{Type: awda.ImageSelfie, DocumentID: selfie.DocumentID},
		},
	}
	if b.i%2 == 1 {
		app.UploadMethod = activities.UploadBase64 // both ways to AWDA, too
	}
	return retry(ctx, b.deadline, res, func(ctx context.Context) error {
		_, err := r.client.CreateApplication(ctx, app)
		return err
	})
}

// look takes in one view of the application and acts on it; ended when the
// applicant's run is over, with its result.
func (b *borrower) look(v *api.ApplicationView) (Result, bool) {
	if v.Stage != b.stage {
		b.stage = v.Stage
		b.res.Stages = append(b.res.Stages, b.stage)
		if !v.Terminal {
			b.r.emit(b.i, b.ev(EventStage, b.stage, ""), 0)
		}
	}
	b.res.LoanNo, b.res.OrderNo = v.AwdaLoanNo, v.OrderNo
	if v.Terminal {
		return b.finish(v.Stage, v.Reason), true
	}
	if v.Stuck {
		return b.stuck(v)
	}
	if !b.stuckSince.IsZero() {
		b.stuckSince = time.Time{}
		b.r.emit(b.i, b.ev(EventStage, "", "resumed"), -1)
	}
	if v.Next == nil {
		return Result{}, false
	}
	switch v.Next.Action {
	case workflows.ActionAuthorize:
		// The sandbox completes the pages; a withdrawing borrower
		// cancels instead.
		if b.sc == Cancel && !b.cancelled {
			if err := b.r.client.Cancel(b.ctx, b.res.Ref, "the borrower changed their mind"); err != nil {
				b.res.problem(err)
			} else {
				b.cancelled = true
				b.action("borrower cancelled")
			}
		}
	case workflows.ActionSubmitBankCard:
		b.submitCard(v)
	case workflows.ActionSignAgreement:
		b.sign(v)
	}
	return Result{}, false
}

// stuck handles a loan parked for operations: the disbursement scenario's
// operator has AWDA disburse again and re-runs the step; any other loan
// stuck past the grace period ends the run as stuck.
func (b *borrower) stuck(v *api.ApplicationView) (Result, bool) {
	r, ctx := b.r, b.ctx
	if b.stuckSince.IsZero() {
		b.stuckSince = time.Now()
		r.emit(b.i, b.ev(EventStuck, "", stuckText(*v)), +1)
	}
	if b.sc == DisburseFail && v.Stage == string(workflows.StageDisbursement) && !b.opsDone && v.AwdaLoanNo != "" {
		// Operations: have AWDA disburse again, then re-run the step.
		if err := r.redisburse(ctx, v.AwdaLoanNo); err != nil {
			b.problem(err)
		} else if err := r.client.Retry(ctx, b.res.Ref, r.o.Operator, "AWDA disbursed again"); err != nil {
			b.problem(err)
		} else {
			b.opsDone, b.opsAt = true, time.Now()
			b.res.Retries++
			b.action("ops: AWDA disbursed again, retried")
		}
	} else if (!b.opsDone || time.Since(b.opsAt) > 15*time.Second) && time.Since(b.stuckSince) >= r.o.StuckGrace {
		return b.finish(OutcomeStuck, "stuck at "+b.stage+": "+stuckText(*v)), true
	}
	return Result{}, false
}

// submitCard submits the next bank card, unless the accepted one is still
// being processed.
func (b *borrower) submitCard(v *api.ApplicationView) {
	if b.cardDone {
		if v.Next.Reason == "" {
			return // the accepted card is still being processed
		}
		// Accepted, then refused after all: the next card.
		b.cardDone = false
		b.cardTry++
	}
	refuse := b.sc == CardRetry && b.cardTry == 0
	card, ok := b.p.BankCard(v.Next.Banks, b.cardTry, refuse)
	if !ok {
		return
	}
	verdict, err := b.r.client.SubmitBankCard(b.ctx, b.res.Ref, b.res.Ref+".card."+strconv.Itoa(b.cardTry), card)
	switch {
	case err == nil:
		b.cardDone = true
		b.res.CardAttempts = b.cardTry + 1
		b.action("bank card " + verdict.Status)
	case IsStatus(err, http.StatusUnprocessableEntity):
		// Refused: by AWDA (name mismatch) or by the workflow.
		b.cardTry++
		b.res.CardAttempts = b.cardTry
		if !refuse {
			b.res.problem(err)
		}
		b.action("bank card refused: " + verdict.Reason)
	default:
		// 409 (the view was stale), 503/504 (try again with the
		// same key: the first submission's verdict comes back).
		b.problem(err)
	}
}

// sign signs the agreement on offer.
func (b *borrower) sign(v *api.ApplicationView) {
	ag := v.Next.Agreement
	if ag == nil || ag.ID == "" {
		return
	}
	in := api.SignatureRequest{AgreementID: ag.ID, Consent: true, ClientIP: fmt.Sprintf("198.51.100.%d", 1+b.i%254)}
	_, err := b.r.client.Sign(b.ctx, b.res.Ref, b.res.Ref+".sign."+strconv.Itoa(b.signTry), in)
	switch {
	case err == nil:
		b.res.Signatures++
		b.action("agreement signed")
	case IsStatus(err, http.StatusUnprocessableEntity):
		b.signTry++
		b.res.problem(err)
	default:
		b.problem(err)
	}
}

// redisburse has the sandbox disburse a loan whose disbursement failed
// again. A loan already past DISBURSE_FAILED needs nothing.
func (r *runner) redisburse(ctx context.Context, loanNo string) error {
	st, err := r.admin.LoanStatus(ctx, loanNo)
	if err != nil {
		return err
	}
	if st != awda.LoanDisburseFailed {
		return nil
	}
	return r.admin.Advance(ctx, loanNo, awda.LoanDisbursing)
}

// stuckText says where a stuck loan is parked and why: "<step>: <reason>".
func stuckText(v api.ApplicationView) string {
	if v.StuckAt == nil {
		return ""
	}
	return v.StuckAt.Step + ": " + v.StuckAt.Reason
}

// NewRunID is a run's ID made from the time: the milliseconds, in base 36,
// modulo 36^7 (about 2.5 years before it repeats). Put in applicant refs
// (and so in workflow IDs), it lets the same seed run again and again
// against one persistent server without meeting the closed loans of the
// runs before.
func NewRunID(now time.Time) string {
	return strconv.FormatUint(uint64(now.UnixNano()/int64(time.Millisecond))%(36*36*36*36*36*36*36), 36)
}
