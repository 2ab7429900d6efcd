package sandbox_test

import (
	"errors"
	"testing"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

func TestQueuedCardVerdictsAndSetCardStatus(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	c, cl := ctx(t), e.client
	b := e.prepare("p-cards", 301) // binds BCA …7890
	if err := e.srv.QueueCardVerdicts(awda.CardFailed, "closed account", 1); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.QueueCardVerdicts(awda.CardVerifying, "", 1); err != nil {
		t.Fatal(err)
	}
	verify := func(acct string) *awda.BankCardVerifyResponse {
		t.Helper()
		v, err := cl.BankCardVerify(c, &awda.BankCardVerifyRequest{UserID: b.userID, BankCode: "BRI", AccountNo: acct, AccountName: "Budi Santoso"})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := verify("111111111111111"); v.Status != awda.CardFailed || v.FailReason != "closed account" {
		t.Fatalf("first scripted verdict: %+v", v)
	}
	if v := verify("222222222222222"); v.Status != awda.CardVerifying {
		t.Fatalf("second scripted verdict: %+v", v)
	}
	if v := verify("333333333333333"); v.Status != awda.CardBound {
		t.Fatalf("after the script, the usual rule: %+v", v)
	}
	n, err := e.srv.SetCardStatus(b.userID, "BRI", "2222", awda.CardBound)
	if err != nil || n != 1 {
		t.Fatalf("SetCardStatus: %d %v", n, err)
	}
	q, err := cl.BankCardQuery(c, &awda.BankCardQueryRequest{UserID: b.userID})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]awda.CardStatus{}
	for _, cd := range q.Cards {
		got[cd.BankCode+cd.AccountNoMasked[len(cd.AccountNoMasked)-4:]] = cd.Status
	}
	want := map[string]awda.CardStatus{"BCA7890": awda.CardBound, "BRI1111": awda.CardFailed, "BRI2222": awda.CardBound, "BRI3333": awda.CardBound}
	for k, s := range want {
		if got[k] != s {
			t.Errorf("card %s: %s, want %s (all: %v)", k, got[k], s, got)
		}
	}
	if err := e.srv.QueueCardVerdicts("MAYBE", "", 1); err == nil {
		t.Error("an unknown verdict is refused")
	}
	if _, err := e.srv.SetCardStatus("usr_nobody", "BRI", "", awda.CardBound); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestLookupsTenorsAndCancelAfterDisbursement(t *testing.T) {
	long := []awda.TenorOption{{Tenor: 24, TenorUnit: awda.TenorMonth}}
	e := newEnv(t, sandbox.Config{Tenors: long})
	c, cl := ctx(t), e.client
	b := e.prepare("p-lookups", 302)
	if got := e.srv.UserID("p-lookups"); got != b.userID {
		t.Fatalf("UserID: %q, want %q", got, b.userID)
	}
	if e.srv.ImagesStored(awda.ImageKTP) != 1 || e.srv.ImagesStored(awda.ImageSelfie) != 1 {
		t.Fatalf("images stored: KTP %d, selfie %d", e.srv.ImagesStored(awda.ImageKTP), e.srv.ImagesStored(awda.ImageSelfie))
	}
	el, err := cl.EligibleCheck(c, &awda.EligibleCheckRequest{UserID: b.userID})
	if err != nil || len(el.Tenors) != 1 || el.Tenors[0] != long[0] {
		t.Fatalf("the configured tenors are offered: %v %+v", err, el)
	}
	sub := submission(b.userID, "AF-lookups-1", b.nik, b.ktp, b.selfie)
	if _, err := cl.LoanSubmit(c, sub); err == nil {
		t.Fatal("a tenor not offered (3 months) is refused")
	}
	sub.Tenor = 24
	res, err := cl.LoanSubmit(c, sub)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.srv.LoanNo("AF-lookups-1"); got != res.LoanNo {
		t.Fatalf("LoanNo: %q, want %q", got, res.LoanNo)
	}
	if _, err := e.srv.Advance(res.LoanNo, awda.LoanRepaying); err != nil {
		t.Fatal(err)
	}
	path, err := e.srv.Advance(res.LoanNo, awda.LoanCancelled)
	if err != nil || len(path) != 1 {
		t.Fatalf("REPAYING → CANCELLED in one step: %v %v", path, err)
	}
}
