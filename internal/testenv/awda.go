package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

// AWDA is the AWDA sandbox (package awda/sandbox, the one simulation of
// AWDA's contract) in this process, behind the real awda client: what the
// activities' and the loan workflow's tests and the simulator
// (tools/loansim) run against. Requests go from the client to the
// sandbox's handler in memory: signed, encoded and checked exactly as over
// a network, with no socket and no goroutine.
//
// Between the two sits a script, the way a flaky network and a busy AWDA
// would sit there: queued answer codes, outages, answers lost after the
// call was applied, transport failures and delays, per interface. It also
// counts the calls. AWDA's own moves (approving, disbursing, collecting,
// authorizations, card verdicts) are the sandbox's methods, promoted from
// the embedded Server; the sandbox is never started, so nothing moves
// unless the caller moves it.
type AWDA struct {
	*sandbox.Server
	// Client is the real client, wired to the sandbox in memory.
	Client *awda.Client

	clock func() time.Time

	mu        sync.Mutex
	onCall    func(path string, at time.Time)
	calls     map[string]int
	queued    map[string][]scripted
	authPages map[string][]scripted // auth/page, by authType
	outages   map[string]awda.Code
	delays    map[string]time.Duration
	afterInfo []func()
	last      map[string][]byte // the last request body, per path
}

// scripted is one scripted answer: an AWDA code, a transport failure, an
// answer lost after the call was applied, or (the zero value) the sandbox's
// own answer.
type scripted struct {
	code awda.Code
	err  error
	lost bool
}

// AWDAAppID and AWDASecret are what the in-process client signs with.
const (
	AWDAAppID  = "awdaflow-test"
	AWDASecret = "testenv-awda-hmac-secret-0123456789"
	awdaBase   = "http://awda.sandbox.test"
)

// ErrAnswerLost is the transport failure of a call whose answer LoseNext
// dropped after the sandbox had applied it.
var ErrAnswerLost = errors.New("testenv: connection reset after AWDA applied the call")

// NewAWDA returns the sandbox configured by cfg behind the real client, on
// cfg.Clock (default time.Now) for both. Left empty, AppID and HMACSecret
// are AWDAAppID and AWDASecret, and AuthPageTTL is 30 days: a test decides
// when a borrower completes an authorization, and a page does not expire
// under it (the sandbox's own tests cover expiry).
func NewAWDA(cfg sandbox.Config) (*AWDA, error) {
	if cfg.AppID == "" {
		cfg.AppID = AWDAAppID
	}
	if len(cfg.HMACSecret) == 0 && cfg.PartnerPublicKey == nil {
		cfg.HMACSecret = []byte(AWDASecret)
	}
	if cfg.AuthPageTTL == 0 {
		cfg.AuthPageTTL = 30 * 24 * time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	srv, err := sandbox.New(cfg)
	if err != nil {
		return nil, err
	}
	signer, err := awda.NewHMACSigner(cfg.HMACSecret)
	if err != nil {
		return nil, err
	}
	a := &AWDA{
		Server: srv, clock: cfg.Clock,
		calls: map[string]int{}, queued: map[string][]scripted{}, authPages: map[string][]scripted{},
		outages: map[string]awda.Code{}, delays: map[string]time.Duration{}, last: map[string][]byte{},
	}
	a.Client, err = awda.NewClient(awda.Config{
		BaseURL: awdaBase, AppID: cfg.AppID, Signer: signer, Clock: cfg.Clock,
		HTTPClient: &http.Client{Transport: inMemory{a}},
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// OnCall makes a report every call it receives (path and the clock's
// time), failed ones included. fn runs under the script's lock: it must not
// call a.
func (a *AWDA) OnCall(fn func(path string, at time.Time)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onCall = fn
}

// FailCodes queues AWDA codes that the next calls to path are answered
// with, in order, before the sandbox answers again; a 0 lets that call
// through.
func (a *AWDA) FailCodes(path string, codes ...awda.Code) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range codes {
		a.queued[path] = append(a.queued[path], scripted{code: c})
	}
}

// FailTransport makes the next call to path fail with err before it reaches
// AWDA (the client reports a transport failure).
func (a *AWDA) FailTransport(path string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queued[path] = append(a.queued[path], scripted{err: err})
}

// LoseNext makes the next call to path reach AWDA and take effect, and then
// lose its answer (ErrAnswerLost): a timeout or a dropped connection, the
// case idempotency keys exist for.
func (a *AWDA) LoseNext(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queued[path] = append(a.queued[path], scripted{lost: true})
}

// FailAuthPage queues codes for the next auth/page calls for authType
// (after those of FailCodes), so that one of the pages fetched in parallel
// fails and not another.
func (a *AWDA) FailAuthPage(authType string, codes ...awda.Code) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range codes {
		a.authPages[authType] = append(a.authPages[authType], scripted{code: c})
	}
}

// Outage answers every call to path with code until Restore.
func (a *AWDA) Outage(path string, code awda.Code) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.outages[path] = code
}

// Restore ends an Outage of path.
func (a *AWDA) Restore(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.outages, path)
}

// Delay makes every call to path take d of real time (less if its context
// ends first), like a slow network.
func (a *AWDA) Delay(path string, d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delays[path] = d
}

// AfterNextLoanInfo runs fn once, right after the sandbox answered the next
// loan/info call and before the client reads the answer: the way to move
// the loan at AWDA between two reads that run in parallel.
func (a *AWDA) AfterNextLoanInfo(fn func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.afterInfo = append(a.afterInfo, fn)
}

// Calls returns how many calls path received, failed ones included.
func (a *AWDA) Calls(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[path]
}

// LastRequest decodes the body of the last JSON call to path into v.
func (a *AWDA) LastRequest(path string, v any) error {
	a.mu.Lock()
	b := a.last[path]
	a.mu.Unlock()
	if b == nil {
		return fmt.Errorf("testenv: no call to %s", path)
	}
	return json.Unmarshal(b, v)
}

// Submissions returns how many loan/submit calls carried orderNo and got
// past authentication and the script, duplicates included.
func (a *AWDA) Submissions(orderNo string) int { return a.Stats().SubmitCallsByOrderNo[orderNo] }

// AppliedSubmissions returns how many loans orderNo created (at most one,
// unless the sandbox is broken).
func (a *AWDA) AppliedSubmissions(orderNo string) int { return a.Stats().LoansByOrderNo[orderNo] }

// Loans returns how many loans exist.
func (a *AWDA) Loans() int { return a.Stats().Loans }

// LoanStatus returns a loan's status, or "" for an unknown loan.
func (a *AWDA) LoanStatus(loanNo string) awda.LoanStatus {
	info, err := a.Loan(loanNo)
	if err != nil {
		return ""
	}
	return info.Status
}

// Schedule returns a loan's repayment schedule (nil before DISBURSED).
func (a *AWDA) Schedule(loanNo string) []awda.Installment {
	info, err := a.Loan(loanNo)
	if err != nil {
		return nil
	}
	return info.Schedule
}

// Pay has the borrower pay the loan's next unpaid installment, which must
// be period: REPAYING, or SETTLED when it was the last.
func (a *AWDA) Pay(loanNo string, period int) error {
	info, err := a.Loan(loanNo)
	if err != nil {
		return err
	}
	next, unpaid := 0, 0
	for _, in := range info.Schedule {
		if in.Status != awda.InstallmentPaid {
			unpaid++
			if next == 0 {
				next = in.Period
			}
		}
	}
	if next != period {
		return fmt.Errorf("testenv: loan %s: the next installment due is %d, not %d", loanNo, next, period)
	}
	to := awda.LoanRepaying
	if unpaid == 1 {
		to = awda.LoanSettled
	}
	_, err = a.Advance(loanNo, to)
	return err
}

// enter counts a call and takes what the script says of it.
func (a *AWDA) enter(path string, body []byte) (scripted, time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[path]++
	if a.onCall != nil {
		a.onCall(path, a.clock())
	}
	if path != awda.PathImageUpload {
		a.last[path] = body
	}
	d := a.delays[path]
	if code, down := a.outages[path]; down {
		return scripted{code: code}, d
	}
	if q := a.queued[path]; len(q) > 0 {
		a.queued[path] = q[1:]
		return q[0], d
	}
	if path == awda.PathAuthPage {
		var req awda.AuthPageRequest
		if json.Unmarshal(body, &req) == nil {
			if q := a.authPages[req.AuthType]; len(q) > 0 {
				a.authPages[req.AuthType] = q[1:]
				return q[0], d
			}
		}
	}
	return scripted{}, d
}

func (a *AWDA) takeAfterInfo() func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.afterInfo) == 0 {
		return nil
	}
	fn := a.afterInfo[0]
	a.afterInfo = a.afterInfo[1:]
	return fn
}

// inMemory is the client's transport: the script, then the sandbox's
// handler, in the caller's goroutine.
type inMemory struct{ a *AWDA }

func (t inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	path := r.URL.Path
	s, delay := t.a.enter(path, body)
	if delay > 0 && !sleep(r.Context(), delay) {
		return nil, r.Context().Err()
	}
	switch {
	case s.err != nil:
		return nil, s.err
	case s.code != 0:
		return envelope(r, s.code), nil
	}
	in := r.Clone(r.Context())
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	t.a.ServeHTTP(rec, in)
	if path == awda.PathLoanInfo {
		if fn := t.a.takeAfterInfo(); fn != nil {
			fn()
		}
	}
	if s.lost {
		return nil, ErrAnswerLost
	}
	res := rec.Result()
	res.Request = r
	return res, nil
}

// envelope is AWDA's answer with code and no data.
func envelope(r *http.Request, code awda.Code) *http.Response {
	b, _ := json.Marshal(awda.Envelope{Code: code, Message: fmt.Sprintf("scripted code %d", int(code))})
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{awda.HeaderContentType: {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)), Request: r,
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
