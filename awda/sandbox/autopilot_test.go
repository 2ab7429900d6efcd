package sandbox_test

import (
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

func fastAutopilot() sandbox.Autopilot {
	return sandbox.Autopilot{Enabled: true, MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) loanStatus(loanNo string) awda.LoanStatus {
	e.t.Helper()
	info, err := e.client.LoanInfo(ctx(e.t), &awda.LoanInfoRequest{LoanNo: loanNo})
	if err != nil {
		e.t.Fatal(err)
	}
	return info.Status
}

// autopilotBorrower does what a lending backend does, leaving the
// authorizations to the autopilot: register, open the pages, wait for
// SUCCESS, bind a card, upload documents.
func (e *env) autopilotBorrower(partnerUserID string, n int) borrower {
	e.t.Helper()
	c, cl := ctx(e.t), e.client
	reg := registration(partnerUserID, n)
	r, err := cl.Register(c, reg)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, at := range []string{"EKYC", "TELCO"} {
		if _, err := cl.AuthPage(c, &awda.AuthPageRequest{UserID: r.UserID, AuthType: at}); err != nil {
			e.t.Fatal(err)
		}
	}
	waitFor(e.t, "authorizations", func() bool {
		al, err := cl.AuthList(c, &awda.AuthListRequest{UserID: r.UserID})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, it := range al.Items {
			if it.Required && it.Status != awda.AuthSuccess {
				if it.Status == awda.AuthFailed {
					if _, err := cl.AuthPage(c, &awda.AuthPageRequest{UserID: r.UserID, AuthType: it.AuthType}); err != nil {
						e.t.Fatal(err)
					}
				}
				return false
			}
		}
		return true
	})
	if _, err := cl.BankCardVerify(c, &awda.BankCardVerifyRequest{UserID: r.UserID, BankCode: "BNI", AccountNo: "9876543210", AccountName: "Budi"}); err != nil {
		e.t.Fatal(err)
	}
	tok, err := cl.ImageToken(c, &awda.ImageTokenRequest{UserID: r.UserID})
	if err != nil {
		e.t.Fatal(err)
	}
	ktp, err := cl.ImageUpload(c, &awda.ImageUploadRequest{Token: tok.Token, ImageType: awda.ImageKTP, File: []byte("k")})
	if err != nil {
		e.t.Fatal(err)
	}
	selfie, err := cl.ImageUpload(c, &awda.ImageUploadRequest{Token: tok.Token, ImageType: awda.ImageSelfie, File: []byte("s")})
	if err != nil {
		e.t.Fatal(err)
	}
	return borrower{userID: r.UserID, nik: reg.NIK, ktp: ktp.ImageID, selfie: selfie.ImageID}
}

// signWhenApproved waits for APPROVED and signs.
func (e *env) signWhenApproved(loanNo string) {
	e.t.Helper()
	waitFor(e.t, "APPROVED", func() bool { return e.loanStatus(loanNo) == awda.LoanApproved })
	ag, err := e.client.LoanAgreement(ctx(e.t), &awda.LoanAgreementRequest{LoanNo: loanNo})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.client.LoanSign(ctx(e.t), &awda.LoanSignRequest{LoanNo: loanNo, AgreementID: ag.AgreementID, SignedAt: time.Now().UnixMilli(), ClientIP: "10.1.2.3"}); err != nil {
		e.t.Fatal(err)
	}
}

func TestAutopilotSettlesWithPushesInOrder(t *testing.T) {
	h := newHook(t)
	e := newEnv(t, sandbox.Config{Autopilot: fastAutopilot(), LoanStatusWebhookURL: h.ts.URL + "/loan", AuthWebhookURL: h.ts.URL + "/auth"})
	b := e.autopilotBorrower("auto-happy", 71)
	loanNo := e.submit(b, "order-auto-happy")
	e.signWhenApproved(loanNo)
	waitFor(t, "SETTLED", func() bool { return e.loanStatus(loanNo) == awda.LoanSettled })
	waitIdle(t, e.srv)

	got := h.loanEvents()
	if !equal(statuses(got), fullWalk) {
		t.Fatalf("pushed %v, want %v", statuses(got), fullWalk)
	}
	for i, ev := range got[6:] {
		if ev.Period != i+1 {
			t.Errorf("%s carries period %d, want %d", ev.Status, ev.Period, i+1)
		}
	}
	if a := h.authEvents(); len(a) != 2 || a[0].Status != awda.AuthSuccess || a[1].Status != awda.AuthSuccess {
		t.Fatalf("auth callbacks %+v", a)
	}
	tr, _ := e.srv.LoanTransitions(loanNo)
	for _, x := range tr {
		want := "autopilot"
		if x.To == awda.LoanSubmitted || x.To == awda.LoanSigned {
			want = "api"
		}
		if x.By != want {
			t.Errorf("%s by %s, want %s", x.To, x.By, want)
		}
	}
	if p := h.problems(); len(p) > 0 {
		t.Fatal(p)
	}
}

func TestAutopilotRules(t *testing.T) {
	h := newHook(t)
	e := newEnv(t, sandbox.Config{Autopilot: fastAutopilot(), LoanStatusWebhookURL: h.ts.URL + "/loan", MaxAmount: 5_000_000})

	t.Run("reject marker", func(t *testing.T) {
		loanNo := e.submit(e.autopilotBorrower("demo-reject-1", 81), "order-reject")
		waitFor(t, "REJECTED", func() bool { return e.loanStatus(loanNo) == awda.LoanRejected })
	})
	t.Run("amount above maxAmount", func(t *testing.T) {
		b := e.autopilotBorrower("demo-big-1", 82)
		req := submission(b.userID, "order-big", b.nik, b.ktp, b.selfie)
		req.Amount = 5_000_001
		res, err := e.client.LoanSubmit(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "REJECTED", func() bool { return e.loanStatus(res.LoanNo) == awda.LoanRejected })
	})
	t.Run("amount at maxAmount", func(t *testing.T) {
		b := e.autopilotBorrower("demo-max-1", 83)
		req := submission(b.userID, "order-max", b.nik, b.ktp, b.selfie)
		req.Amount = 5_000_000
		res, err := e.client.LoanSubmit(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "APPROVED", func() bool { return e.loanStatus(res.LoanNo) == awda.LoanApproved })
	})
	t.Run("authfail fails the first page only", func(t *testing.T) {
		uid := e.prepareUserOnly("demo-authfail-1", 84)
		if _, err := e.client.AuthPage(ctx(t), &awda.AuthPageRequest{UserID: uid, AuthType: "EKYC"}); err != nil {
			t.Fatal(err)
		}
		status := func() awda.AuthStatus {
			al, err := e.client.AuthList(ctx(t), &awda.AuthListRequest{UserID: uid})
			if err != nil {
				t.Fatal(err)
			}
			return al.Items[0].Status
		}
		waitFor(t, "FAILED", func() bool { return status() == awda.AuthFailed })
		if _, err := e.client.AuthPage(ctx(t), &awda.AuthPageRequest{UserID: uid, AuthType: "EKYC"}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "SUCCESS", func() bool { return status() == awda.AuthSuccess })
	})
	t.Run("disbursefail stops until the admin moves the loan on", func(t *testing.T) {
		loanNo := e.submit(e.autopilotBorrower("demo-disbursefail-1", 85), "order-df")
		e.signWhenApproved(loanNo)
		waitFor(t, "DISBURSE_FAILED", func() bool { return e.loanStatus(loanNo) == awda.LoanDisburseFailed })
		waitIdle(t, e.srv)
		if st := e.loanStatus(loanNo); st != awda.LoanDisburseFailed {
			t.Fatalf("autopilot moved a failed disbursement to %s", st)
		}
		if _, err := e.srv.Advance(loanNo, awda.LoanDisbursing); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "SETTLED", func() bool { return e.loanStatus(loanNo) == awda.LoanSettled })
	})
	t.Run("overdue marker", func(t *testing.T) {
		loanNo := e.submit(e.autopilotBorrower("demo-overdue-1", 86), "order-od")
		e.signWhenApproved(loanNo)
		waitFor(t, "SETTLED", func() bool { return e.loanStatus(loanNo) == awda.LoanSettled })
		tr, _ := e.srv.LoanTransitions(loanNo)
		var tail []awda.LoanStatus
		for _, x := range tr[5:] {
			tail = append(tail, x.To)
		}
		want := []awda.LoanStatus{awda.LoanDisbursed, awda.LoanOverdue, awda.LoanRepaying, awda.LoanRepaying, awda.LoanSettled}
		if !equal(tail, want) {
			t.Fatalf("repayment %v, want %v", tail, want)
		}
		info, _ := e.srv.Loan(loanNo)
		if f := info.Schedule[0].Fee; f != 10_000 {
			t.Errorf("overdue fee %d, want 1 %% of 1,000,000", f)
		}
	})
	t.Run("manual marker", func(t *testing.T) {
		b := e.prepare("demo-manual-1", 87)
		loanNo := e.submit(b, "order-manual")
		// The submission schedules the autopilot's step, if any, before it
		// answers, and WaitIdle returns only once every scheduled step has
		// run: a step for this loan would have been taken by now.
		waitIdle(t, e.srv)
		if st := e.loanStatus(loanNo); st != awda.LoanSubmitted {
			t.Fatalf("autopilot moved a manual loan to %s", st)
		}
		tr, _ := e.srv.LoanTransitions(loanNo)
		for _, x := range tr {
			if x.By == "autopilot" {
				t.Fatalf("autopilot moved a manual loan: %+v", tr)
			}
		}
	})
	t.Run("DAY tenor has one installment", func(t *testing.T) {
		b := e.autopilotBorrower("demo-day-1", 88)
		req := submission(b.userID, "order-day", b.nik, b.ktp, b.selfie)
		req.Tenor, req.TenorUnit = 14, awda.TenorDay
		res, err := e.client.LoanSubmit(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		e.signWhenApproved(res.LoanNo)
		waitFor(t, "SETTLED", func() bool { return e.loanStatus(res.LoanNo) == awda.LoanSettled })
		info, _ := e.srv.Loan(res.LoanNo)
		if len(info.Schedule) != 1 || info.Schedule[0].Interest != 42_000 {
			t.Fatalf("schedule %+v", info.Schedule)
		}
	})
}

// scenario runs the same calls against a fresh sandbox and returns every id
// it handed out, in order.
func scenario(t *testing.T, seed uint64) []string {
	h := newHook(t)
	e := newEnv(t, sandbox.Config{Seed: seed, Autopilot: sandbox.Autopilot{Enabled: true, NoDelay: true}, LoanStatusWebhookURL: h.ts.URL + "/loan"})
	var out []string
	for i, p := range []string{"det-a", "det-b"} {
		b := e.autopilotBorrower(p, 90+i)
		loanNo := e.submit(b, "order-"+p)
		e.signWhenApproved(loanNo)
		waitFor(t, "SETTLED", func() bool { return e.loanStatus(loanNo) == awda.LoanSettled })
		waitIdle(t, e.srv)
		ag, _ := e.client.LoanAgreement(ctx(t), &awda.LoanAgreementRequest{LoanNo: loanNo})
		out = append(out, b.userID, b.ktp, b.selfie, loanNo, ag.AgreementID)
	}
	for _, ev := range e.srv.Events() {
		out = append(out, ev.EventID)
	}
	for _, ev := range h.loanEvents() {
		out = append(out, ev.EventID)
	}
	return out
}

func TestDeterministicGivenSeed(t *testing.T) {
	a, b, c := scenario(t, 42), scenario(t, 42), scenario(t, 43)
	if len(a) < 20 || !equal(a, b) {
		t.Fatalf("same seed, different ids:\n%v\n%v", a, b)
	}
	same := 0
	for i := range min(len(a), len(c)) {
		if a[i] == c[i] {
			same++
		}
	}
	if same > 0 {
		t.Fatalf("another seed repeated %d ids", same)
	}
}

func TestResetReplaysTheSameIDs(t *testing.T) {
	e := newEnv(t, sandbox.Config{Seed: 9})
	first := e.prepareUserOnly("p-reset", 95)
	e.srv.Reset()
	if st := e.srv.Stats(); st.Users != 0 || len(st.Calls) != 0 {
		t.Fatalf("stats after reset: %+v", st)
	}
	if again := e.prepareUserOnly("p-reset", 95); again != first {
		t.Fatalf("after reset: %s, want %s", again, first)
	}
}

// HoldRepayments: the autopilot disburses and stops there; the back office
// moves the loan on, and the autopilot still does not.
func TestAutopilotHoldsRepayments(t *testing.T) {
	e := newEnv(t, sandbox.Config{Seed: 7, Autopilot: sandbox.Autopilot{Enabled: true, NoDelay: true, HoldRepayments: true}})
	b := e.autopilotBorrower("hold-1", 90)
	loanNo := e.submit(b, "order-hold-1")
	e.signWhenApproved(loanNo)
	waitFor(t, "DISBURSED", func() bool { return e.loanStatus(loanNo) == awda.LoanDisbursed })
	waitIdle(t, e.srv)
	if st := e.loanStatus(loanNo); st != awda.LoanDisbursed {
		t.Fatalf("after the autopilot went idle: %s, want DISBURSED", st)
	}
	if _, err := e.srv.Advance(loanNo, awda.LoanRepaying); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e.srv)
	if st := e.loanStatus(loanNo); st != awda.LoanRepaying {
		t.Fatalf("after the back office's REPAYING: %s", st)
	}
	if _, err := e.srv.Advance(loanNo, awda.LoanSettled); err != nil {
		t.Fatal(err)
	}
	if st := e.loanStatus(loanNo); st != awda.LoanSettled {
		t.Fatalf("after the back office's SETTLED: %s", st)
	}
}
