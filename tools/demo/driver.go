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
		o.RunID = strconv.FormatUint(uint64(o.Now().UnixNano()/int64(time.Millisecond))%(36*36*36*36*36*36*36), 36)
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
	res := r.newResult(i, sc, p)
	defer r.done(&res)
	began := r.o.Now()
	deadline := time.Now().Add(r.o.Timeout)
	ev := func(kind EventKind, stage, detail string) Event {
		return Event{At: r.o.Now(), Ref: res.Ref, Scenario: sc, Kind: kind, Stage: stage, Detail: detail}
	}
	r.emit(i, ev(EventStarted, StageUploading, ""), 0)

	var (
		stage      string
		cardTry    int  // cards refused so far: the next one's number
		cardDone   bool // the last card submitted was accepted
		signTry    int
		cancelled  bool
		opsDone    bool
		opsAt      time.Time
		stuckSince time.Time // zero when not stuck
	)
	finish := func(actual, reason string) Result {
		if !stuckSince.IsZero() {
			r.emit(i, ev(EventStage, "", "no longer stuck"), -1)
		}
		res.Actual, res.Reason = actual, reason
		res.Duration = r.o.Now().Sub(began)
		return res
	}
	giveUp := func(err error) Result {
		if ctx.Err() != nil {
			return finish(OutcomeAborted, "the run ended")
		}
		return finish(OutcomeError, err.Error())
	}

	// Documents first, as a backend does: the KTP as a file upload, the
	// selfie as base64 JSON (both forms of POST /v1/documents).
	docSeed := uint64(i)<<1 ^ r.o.Seed
	var ktp, selfie api.DocumentResponse
	err := retry(ctx, deadline, &res, func(ctx context.Context) (err error) {
		ktp, err = r.client.UploadDocument(ctx, awda.ImageKTP, res.Ref, "ktp.png", KTPImage(docSeed), false)
		return err
	})
	if err == nil {
		err = retry(ctx, deadline, &res, func(ctx context.Context) (err error) {
			selfie, err = r.client.UploadDocument(ctx, awda.ImageSelfie, res.Ref, "selfie.jpg", SelfieImage(docSeed), true)
			return err
		})
	}
	if err != nil {
		return giveUp(err)
	}
	app := &api.ApplicationRequest{
		ApplicantRef:      res.Ref,
		Applicant:         p.Applicant,
		Loan:              p.Loan,
		EmergencyContacts: p.EmergencyContacts,
		Documents: []activities.DocumentRef{
			{Type: awda.ImageKTP, DocumentID: ktp.DocumentID},
			{Type: awda.ImageSelfie, DocumentID: selfie.DocumentID},
		},
	}
	if i%2 == 1 {
		app.UploadMethod = activities.UploadBase64 // both ways to AWDA, too
	}
	if err := retry(ctx, deadline, &res, func(ctx context.Context) error {
		_, err := r.client.CreateApplication(ctx, app)
		return err
	}); err != nil {
		return giveUp(err)
	}

	for {
		if ctx.Err() != nil {
			return finish(OutcomeAborted, "the run ended at "+stage)
		}
		if time.Now().After(deadline) {
			return finish(OutcomeTimeout, fmt.Sprintf("not terminal after %s, at %s", r.o.Timeout, stage))
		}
		v, err := r.client.Application(ctx, res.Ref)
		if err != nil {
			if ctx.Err() == nil {
				res.problem(err)
				r.emit(i, ev(EventProblem, "", err.Error()), 0)
			}
			sleep(ctx, r.o.PollInterval, true)
			continue
		}
		if v.Stage != stage {
			stage = v.Stage
			res.Stages = append(res.Stages, stage)
			if !v.Terminal {
				r.emit(i, ev(EventStage, stage, ""), 0)
			}
		}
		res.LoanNo, res.OrderNo = v.AwdaLoanNo, v.OrderNo
		if v.Terminal {
			return finish(v.Stage, v.Reason)
		}

		if v.Stuck {
			if stuckSince.IsZero() {
				stuckSince = time.Now()
				r.emit(i, ev(EventStuck, "", stuckText(v)), +1)
			}
			if sc == DisburseFail && v.Stage == string(workflows.StageDisbursement) && !opsDone && v.AwdaLoanNo != "" {
				// Operations: have AWDA disburse again, then re-run the step.
				if err := r.redisburse(ctx, v.AwdaLoanNo); err != nil {
					res.problem(err)
					r.emit(i, ev(EventProblem, "", err.Error()), 0)
				} else if err := r.client.Retry(ctx, res.Ref, r.o.Operator, "AWDA disbursed again"); err != nil {
					res.problem(err)
					r.emit(i, ev(EventProblem, "", err.Error()), 0)
				} else {
					opsDone, opsAt = true, time.Now()
					res.Retries++
					r.emit(i, ev(EventAction, "", "ops: AWDA disbursed again, retried"), 0)
				}
			} else if (!opsDone || time.Since(opsAt) > 15*time.Second) && time.Since(stuckSince) >= r.o.StuckGrace {
				return finish(OutcomeStuck, "stuck at "+stage+": "+stuckText(v))
			}
			sleep(ctx, r.o.PollInterval, true)
			continue
		}
		if !stuckSince.IsZero() {
			stuckSince = time.Time{}
			r.emit(i, ev(EventStage, "", "resumed"), -1)
		}

		if v.Next != nil {
			switch v.Next.Action {
			case workflows.ActionAuthorize:
				// The sandbox completes the pages; a withdrawing borrower
				// cancels instead.
				if sc == Cancel && !cancelled {
					if err := r.client.Cancel(ctx, res.Ref, "the borrower changed their mind"); err != nil {
						res.problem(err)
					} else {
						cancelled = true
						r.emit(i, ev(EventAction, "", "borrower cancelled"), 0)
					}
				}
			case workflows.ActionSubmitBankCard:
				if cardDone {
					if v.Next.Reason == "" {
						break // the accepted card is still being processed
					}
					// Accepted, then refused after all: the next card.
					cardDone = false
					cardTry++
				}
				refuse := sc == CardRetry && cardTry == 0
				card, ok := p.BankCard(v.Next.Banks, cardTry, refuse)
				if !ok {
					break
				}
				verdict, err := r.client.SubmitBankCard(ctx, res.Ref, res.Ref+".card."+strconv.Itoa(cardTry), card)
				switch {
				case err == nil:
					cardDone = true
					res.CardAttempts = cardTry + 1
					r.emit(i, ev(EventAction, "", "bank card "+verdict.Status), 0)
				case IsStatus(err, http.StatusUnprocessableEntity):
					// Refused: by AWDA (name mismatch) or by the workflow.
					cardTry++
					res.CardAttempts = cardTry
					if !refuse {
						res.problem(err)
					}
					r.emit(i, ev(EventAction, "", "bank card refused: "+verdict.Reason), 0)
				default:
					// 409 (the view was stale), 503/504 (try again with the
					// same key: the first submission's verdict comes back).
					res.problem(err)
					r.emit(i, ev(EventProblem, "", err.Error()), 0)
				}
			case workflows.ActionSignAgreement:
				ag := v.Next.Agreement
				if ag == nil || ag.ID == "" {
					break
				}
				in := api.SignatureRequest{AgreementID: ag.ID, Consent: true, ClientIP: fmt.Sprintf("198.51.100.%d", 1+i%254)}
				_, err := r.client.Sign(ctx, res.Ref, res.Ref+".sign."+strconv.Itoa(signTry), in)
				switch {
				case err == nil:
					res.Signatures++
					r.emit(i, ev(EventAction, "", "agreement signed"), 0)
				case IsStatus(err, http.StatusUnprocessableEntity):
					signTry++
					res.problem(err)
				default:
					res.problem(err)
					r.emit(i, ev(EventProblem, "", err.Error()), 0)
				}
			}
		}
		sleep(ctx, r.o.PollInterval, true)
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
