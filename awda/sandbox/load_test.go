package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

// retry repeats a call while its error is retryable, as a Temporal activity
// would, and returns the last error.
func retry(ctx context.Context, call func() error) error {
	for {
		err := call()
		if err == nil || !awda.IsRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// lifecycle takes one applicant from registration to SETTLED through a
// flaky sandbox, reconciling lost answers the way the workflow must.
func lifecycle(ctx context.Context, cl *awda.Client, srv *sandbox.Server, i int) (string, error) {
	var uid string
	reg := registration(fmt.Sprintf("load-%03d", i), 1000+i)
	if err := retry(ctx, func() error {
		r, err := cl.Register(ctx, reg)
		if err != nil && !awda.IsUserExists(err) {
			return err
		}
		uid = r.UserID
		return nil
	}); err != nil {
		return "", fmt.Errorf("register: %w", err)
	}
	for _, at := range []string{"EKYC", "TELCO"} {
		if err := retry(ctx, func() error {
			_, err := cl.AuthPage(ctx, &awda.AuthPageRequest{UserID: uid, AuthType: at})
			return err
		}); err != nil {
			return "", fmt.Errorf("auth page: %w", err)
		}
	}
	for {
		var al *awda.AuthListResponse
		if err := retry(ctx, func() (err error) {
			al, err = cl.AuthList(ctx, &awda.AuthListRequest{UserID: uid})
			return err
		}); err != nil {
			return "", fmt.Errorf("auth list: %w", err)
		}
		if al.Items[0].Status == awda.AuthSuccess && al.Items[1].Status == awda.AuthSuccess {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := retry(ctx, func() error {
		_, err := cl.BankCardVerify(ctx, &awda.BankCardVerifyRequest{UserID: uid, BankCode: "BRI", AccountNo: fmt.Sprintf("1234567890%05d", i+1), AccountName: "Budi"})
		return err
	}); err != nil {
		return "", fmt.Errorf("bank card: %w", err)
	}
	var ktp, selfie string
	for _, im := range []struct {
		t   awda.ImageType
		out *string
	}{{awda.ImageKTP, &ktp}, {awda.ImageSelfie, &selfie}} {
		if err := retry(ctx, func() error {
			r, err := cl.ImageUploadBase64(ctx, &awda.ImageUploadBase64Request{UserID: uid, ImageType: im.t, Base64: "/9j/4AAQ"})
			if err == nil {
				*im.out = r.ImageID
			}
			return err
		}); err != nil {
			return "", fmt.Errorf("upload: %w", err)
		}
	}
	orderNo := fmt.Sprintf("order-load-%03d", i)
	var loanNo string
	if err := retry(ctx, func() error {
		r, err := cl.LoanSubmit(ctx, submission(uid, orderNo, reg.NIK, ktp, selfie))
		if err != nil && !awda.IsDuplicate(err) {
			return err
		}
		loanNo = r.LoanNo
		return nil
	}); err != nil {
		return "", fmt.Errorf("submit: %w", err)
	}
	status := func() awda.LoanStatus {
		var st awda.LoanStatus
		_ = retry(ctx, func() error {
			info, err := cl.LoanInfo(ctx, &awda.LoanInfoRequest{OrderNo: orderNo})
			if err == nil {
				st = info.Status
			}
			return err
		})
		return st
	}
	for status() != awda.LoanApproved {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		time.Sleep(2 * time.Millisecond)
	}
	var ag *awda.LoanAgreementResponse
	if err := retry(ctx, func() (err error) {
		ag, err = cl.LoanAgreement(ctx, &awda.LoanAgreementRequest{LoanNo: loanNo})
		return err
	}); err != nil {
		return "", fmt.Errorf("agreement: %w", err)
	}
	if err := retry(ctx, func() error {
		_, err := cl.LoanSign(ctx, &awda.LoanSignRequest{LoanNo: loanNo, AgreementID: ag.AgreementID, SignedAt: time.Now().UnixMilli(), ClientIP: "10.0.0.1"})
		return err
	}); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	for status() != awda.LoanSettled {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		time.Sleep(2 * time.Millisecond)
	}
	return loanNo, nil
}

// TestConcurrentLoansUnderFaults runs applicants concurrently against busy
// codes, lost answers (some of which took effect) and duplicated pushes, and
// checks that nothing is lost or doubled.
func TestConcurrentLoansUnderFaults(t *testing.T) {
	n := 30
	if testing.Short() {
		n = 8
	}
	h := newHook(t)
	e := newEnv(t, sandbox.Config{
		Seed:                 2024,
		Autopilot:            sandbox.Autopilot{Enabled: true, MinDelay: 0, MaxDelay: 3 * time.Millisecond},
		LoanStatusWebhookURL: h.ts.URL + "/loan",
		AuthWebhookURL:       h.ts.URL + "/auth",
		Delivery:             sandbox.Delivery{Duplicates: 1, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond},
		Faults: map[string]sandbox.Fault{
			"*": {BusyRate: 0.15, TimeoutRate: 0.05, TimeoutApplied: 0.5, TimeoutHold: 2 * time.Second, LatencyMax: 2 * time.Millisecond},
		},
	})
	h.answer = func(k int) (int, string) {
		if k%7 == 0 {
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusOK, `{"code":0,"message":"success"}`
	}
	cl := e.newClient(awda.Config{HTTPClient: &http.Client{Timeout: 250 * time.Millisecond}})
	c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = lifecycle(c, cl, e.srv, i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("applicant %d: %v", i, err)
		}
	}
	e.srv.ClearFaults()
	waitIdle(t, e.srv)

	st := e.srv.Stats()
	if st.Loans != n || st.LoansByStatus[awda.LoanSettled] != n || len(st.LoansByOrderNo) != n {
		t.Fatalf("loans %d, settled %d, orderNos %d; want %d", st.Loans, st.LoansByStatus[awda.LoanSettled], len(st.LoansByOrderNo), n)
	}
	for o, k := range st.LoansByOrderNo {
		if k != 1 {
			t.Errorf("orderNo %s has %d loans", o, k)
		}
	}
	if len(st.DuplicateOrderNos) != 0 || len(st.UsersWithSeveralLoans) != 0 {
		t.Errorf("duplicates: %v %v", st.DuplicateOrderNos, st.UsersWithSeveralLoans)
	}
	if st.Faults.Busy == 0 || st.Faults.Timeouts == 0 {
		t.Errorf("faults never fired: %+v", st.Faults)
	}
	if st.Pushes.Pending != 0 || st.Pushes.Acknowledged != st.Pushes.Deliveries || st.Pushes.Deliveries != 2*st.Pushes.Events || st.Pushes.Failed == 0 {
		t.Errorf("pushes %+v", st.Pushes)
	}
	// Every loan's events arrived twice each, in order.
	byLoan := map[string][]awda.LoanStatus{}
	for _, ev := range h.loanEvents() {
		byLoan[ev.LoanNo] = append(byLoan[ev.LoanNo], ev.Status)
	}
	for loanNo, got := range byLoan {
		var want []awda.LoanStatus
		for _, s := range fullWalk {
			want = append(want, s, s)
		}
		if !equal(got, want) {
			t.Errorf("loan %s pushes %v", loanNo, got)
		}
	}
	if len(byLoan) != n {
		t.Errorf("pushes for %d loans, want %d", len(byLoan), n)
	}
	if p := h.problems(); len(p) > 0 {
		t.Errorf("webhook problems: %v", p[:min(5, len(p))])
	}
}

// BenchmarkLoanToSettled measures the sandbox taking one applicant from
// registration to SETTLED on autopilot without delays, over HTTP.
func BenchmarkLoanToSettled(b *testing.B) {
	srv, err := sandbox.New(sandbox.Config{AppID: testAppID, HMACSecret: []byte(testSecret), Autopilot: sandbox.Autopilot{Enabled: true, NoDelay: true}})
	if err != nil {
		b.Fatal(err)
	}
	srv.Start()
	defer srv.Close()
	e := &env{t: b, srv: srv, ts: httptest.NewServer(srv)}
	defer e.ts.Close()
	cl := e.newClient(awda.Config{})
	b.ResetTimer()
	for i := range b.N {
		if _, err := lifecycle(context.Background(), cl, srv, i); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loans/s")
}
