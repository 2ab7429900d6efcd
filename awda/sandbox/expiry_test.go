package sandbox_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

func TestExpiriesFollowTheSandboxClock(t *testing.T) {
	clock := newFakeClock()
	h := newHook(t)
	h.now = clock.Now // pushes are dated by the sandbox clock
	e := newEnv(t, sandbox.Config{Clock: clock.Now, AuthWebhookURL: h.ts.URL + "/auth", AuthPageTTL: 5 * time.Minute})
	c, cl := ctx(t), e.client

	b := e.prepare("p-expiry", 111) // EKYC and TELCO granted
	pg, err := cl.AuthPage(c, &awda.AuthPageRequest{UserID: b.userID, AuthType: "BPJS"})
	if err != nil {
		t.Fatal(err)
	}
	if pg.ExpireAt != clock.Now().Add(5*time.Minute).UnixMilli() {
		t.Errorf("expireAt %d", pg.ExpireAt)
	}
	clock.Advance(6 * time.Minute)
	al, err := cl.AuthList(c, &awda.AuthListRequest{UserID: b.userID})
	if err != nil || al.Items[2].AuthType != "BPJS" || al.Items[2].Status != awda.AuthExpired {
		t.Fatalf("after the page's TTL: %v %+v", err, al)
	}
	// The expired page can no longer be completed.
	pg2, err := cl.AuthPage(c, &awda.AuthPageRequest{UserID: b.userID, AuthType: "BPJS"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(6 * time.Minute)
	res, err := http.Get(pg2.URL + "?result=success")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusGone {
		t.Fatalf("completing an expired page: HTTP %d, want 410", res.StatusCode)
	}
	waitIdle(t, e.srv)
	var got []awda.AuthStatus
	for _, ev := range h.authEvents() {
		got = append(got, ev.Status)
	}
	if want := []awda.AuthStatus{awda.AuthSuccess, awda.AuthSuccess, awda.AuthExpired, awda.AuthExpired}; !equal(got, want) {
		t.Fatalf("callbacks %v, want %v", got, want)
	}

	loanNo := e.submit(b, "order-expiry")
	if _, err := e.srv.Advance(loanNo, awda.LoanDisbursed); err != nil {
		t.Fatal(err)
	}
	va, err := cl.RepaymentVA(c, &awda.RepaymentVARequest{LoanNo: loanNo})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(25 * time.Hour)
	va2, err := cl.RepaymentVA(c, &awda.RepaymentVARequest{LoanNo: loanNo})
	if err != nil || va2.VANumber == va.VANumber || va2.ExpireAt <= va.ExpireAt {
		t.Fatalf("after the VA expired: %v %+v %+v", err, va, va2)
	}
	// Paying an installment changes the amount due, and so the VA.
	if _, err := e.srv.Advance(loanNo, awda.LoanOverdue); err != nil {
		t.Fatal(err)
	}
	va3, err := cl.RepaymentVA(c, &awda.RepaymentVARequest{LoanNo: loanNo})
	if err != nil || va3.Amount != va2.Amount+10_000 || va3.VANumber == va2.VANumber {
		t.Fatalf("overdue VA: %v %+v", err, va3)
	}
	if _, err := e.srv.Advance(loanNo, awda.LoanSettled); err != nil {
		t.Fatal(err)
	}
	_, err = cl.RepaymentVA(c, &awda.RepaymentVARequest{LoanNo: loanNo})
	wantClass(t, "VA of a settled loan", err, awda.ClassValidation, awda.CodeParamInvalid)
}
