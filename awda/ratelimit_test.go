package awda_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/awdaflow/awdaflow/awda"
)

// The classes of the lead's design (issue 13): every interface path has
// exactly the class listed here.
func TestRateClassOfEveryPath(t *testing.T) {
	want := map[string]awda.RateClass{
		awda.PathLoanInfo:          awda.RateRead,
		awda.PathAuthList:          awda.RateRead,
		awda.PathAuthPage:          awda.RateRead,
		awda.PathBankList:          awda.RateRead,
		awda.PathBankCardQuery:     awda.RateRead,
		awda.PathLoanAgreement:     awda.RateRead,
		awda.PathUserRegister:      awda.RateWrite,
		awda.PathEligibleCheck:     awda.RateWrite,
		awda.PathBankCardVerify:    awda.RateWrite,
		awda.PathLoanSubmit:        awda.RateWrite,
		awda.PathLoanSign:          awda.RateWrite,
		awda.PathRepaymentVA:       awda.RateWrite,
		awda.PathRedirectURL:       awda.RateWrite,
		awda.PathImageToken:        awda.RateUpload,
		awda.PathImageUpload:       awda.RateUpload,
		awda.PathImageUploadBase64: awda.RateUpload,
	}
	if len(want) != len(awda.Paths) {
		t.Fatalf("the table has %d paths, the contract %d", len(want), len(awda.Paths))
	}
	for _, p := range awda.Paths {
		w, ok := want[p]
		if !ok {
			t.Errorf("path %s has no class in the test's table", p)
			continue
		}
		if got := awda.RateClassOf(p); got != w {
			t.Errorf("RateClassOf(%s) = %q, want %q", p, got, w)
		}
	}
	if got := awda.RateClassOf(awda.PathPrefix + "something/new"); got != awda.RateWrite {
		t.Errorf("unknown path: %q, want the strictest class %q", got, awda.RateWrite)
	}
}

// recordingLimiter records the calls the client makes to its limiter.
type recordingLimiter struct {
	mu     sync.Mutex
	waits  []awda.RateClass
	busies []awda.RateClass
	refuse error
}

func (l *recordingLimiter) Wait(_ context.Context, c awda.RateClass) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits = append(l.waits, c)
	return l.refuse
}

func (l *recordingLimiter) Busy(_ context.Context, c awda.RateClass) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busies = append(l.busies, c)
}

func (l *recordingLimiter) take() (waits, busies []awda.RateClass) {
	l.mu.Lock()
	defer l.mu.Unlock()
	waits, busies, l.waits, l.busies = l.waits, l.busies, nil, nil
	return waits, busies
}

// Every method waits once per attempt, with its path's class, and reports a
// busy answer once; other answers are not reported.
func TestLimiterOncePerAttemptWithItsClass(t *testing.T) {
	f := newFakeAWDAFunc(t, nil)
	lim := &recordingLimiter{}
	c := newTestClient(t, f.URL, func(cfg *awda.Config) { cfg.Limiter = lim })
	for _, mc := range methodCases() {
		for _, busy := range []bool{false, true} {
			answer := envelope(0, "success", mc.data)
			if busy {
				answer = envelope(awda.CodeSystemBusy, "busy", "")
			}
			f.setHandler(func(w http.ResponseWriter, _ *http.Request, _ []byte) { io.WriteString(w, answer) })
			before := f.hits()
			_, err := mc.call(context.Background(), c)
			if (err != nil) != busy {
				t.Fatalf("%s (busy %v): %v", mc.name, busy, err)
			}
			waits, busies := lim.take()
			want := awda.RateClassOf(mc.path)
			if f.hits() != before+1 || len(waits) != 1 || waits[0] != want {
				t.Errorf("%s: %d attempts, waits %v, want one of %q", mc.name, f.hits()-before, waits, want)
			}
			if wantBusy := map[bool]int{false: 0, true: 1}[busy]; len(busies) != wantBusy || (busy && busies[0] != want) {
				t.Errorf("%s (busy %v): busy reports %v", mc.name, busy, busies)
			}
		}
	}
	// HTTP 429 is busy too; a 503 is not.
	for status, wantBusy := range map[int]int{http.StatusTooManyRequests: 1, http.StatusServiceUnavailable: 0} {
		f.setHandler(func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(status) })
		_, _ = c.BankList(context.Background())
		if _, busies := lim.take(); len(busies) != wantBusy {
			t.Errorf("HTTP %d: busy reports %v, want %d", status, busies, wantBusy)
		}
	}
}

// A refusal sends nothing, is seen by no observer, and is a retryable busy
// error that says why; a context that ended is a timeout, as in the
// transport.
func TestLimiterRefusalSendsNothing(t *testing.T) {
	f := newFakeAWDA(t, http.StatusOK, envelope(0, "success", `{"banks":[]}`))
	var observed int
	lim := &recordingLimiter{refuse: awda.ErrRateLimited}
	c := newTestClient(t, f.URL, func(cfg *awda.Config) {
		cfg.Limiter = lim
		cfg.Observers = []awda.Observer{func(context.Context, awda.CallInfo) { observed++ }}
	})
	_, err := c.BankList(context.Background())
	if !awda.IsBusy(err) || !awda.IsRetryable(err) || !errors.Is(err, awda.ErrRateLimited) {
		t.Fatalf("refused call: %v, want a retryable busy error wrapping ErrRateLimited", err)
	}
	if e := mustAWDAError(t, err); e.Endpoint != awda.PathBankList || e.Code != 0 {
		t.Errorf("error %+v", e)
	}
	lim.refuse = context.Canceled
	if _, err := c.BankList(context.Background()); !awda.IsTimeout(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v, want a timeout wrapping context.Canceled", err)
	}
	if f.hits() != 0 || observed != 0 {
		t.Errorf("%d requests sent and %d observed for refused calls", f.hits(), observed)
	}
	if _, busies := lim.take(); len(busies) != 0 {
		t.Errorf("a refusal was reported busy: %v", busies)
	}
}
