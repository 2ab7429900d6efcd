package sandbox_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

// TestClientEveryInterface walks one loan through all sixteen interfaces
// with the real client, the admin methods standing in for AWDA's back office.
func TestClientEveryInterface(t *testing.T) {
	h := newHook(t)
	e := newEnv(t, sandbox.Config{LoanStatusWebhookURL: h.ts.URL + "/loan", AuthWebhookURL: h.ts.URL + "/auth", Seed: 1})
	c, cl := ctx(t), e.client
	called := map[string]bool{}
	mark := func(p string) { called[p] = true }

	reg, err := cl.Register(c, registration("partner-42", 42))
	if err != nil || !strings.HasPrefix(reg.UserID, "usr_") {
		t.Fatalf("register: %v %+v", err, reg)
	}
	mark(awda.PathUserRegister)
	uid := reg.UserID

	el, err := cl.EligibleCheck(c, &awda.EligibleCheckRequest{UserID: uid})
	if err != nil || !el.Eligible || el.MaxAmount != 10_000_000 || len(el.Tenors) == 0 {
		t.Fatalf("eligible: %v %+v", err, el)
	}
	mark(awda.PathEligibleCheck)

	al, err := cl.AuthList(c, &awda.AuthListRequest{UserID: uid})
	if err != nil || len(al.Items) != 3 {
		t.Fatalf("auth list: %v %+v", err, al)
	}
	for _, it := range al.Items {
		if it.Status != awda.AuthNone || it.Required != (it.AuthType != "BPJS") {
			t.Errorf("auth item %+v", it)
		}
	}
	mark(awda.PathAuthList)

	for _, at := range []string{"EKYC", "TELCO"} {
		pg, err := cl.AuthPage(c, &awda.AuthPageRequest{UserID: uid, AuthType: at, ReturnURL: "https://lender.example/back"})
		if err != nil || !strings.HasPrefix(pg.URL, e.ts.URL+"/h5/auth/") || pg.ExpireAt <= time.Now().UnixMilli() {
			t.Fatalf("auth page: %v %+v", err, pg)
		}
		// The borrower completes it on the page the URL points at.
		res, err := http.Get(pg.URL + "&result=success")
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("completing the auth page: %v %v", err, res)
		}
		res.Body.Close()
	}
	mark(awda.PathAuthPage)
	al, _ = cl.AuthList(c, &awda.AuthListRequest{UserID: uid})
	for _, it := range al.Items {
		want := awda.AuthSuccess
		if it.AuthType == "BPJS" {
			want = awda.AuthNone
		}
		if it.Status != want {
			t.Errorf("after the pages: %s is %s", it.AuthType, it.Status)
		}
	}

	bl, err := cl.BankList(c)
	if err != nil || len(bl.Banks) < 5 {
		t.Fatalf("bank list: %v %+v", err, bl)
	}
	mark(awda.PathBankList)

	bq, err := cl.BankCardQuery(c, &awda.BankCardQueryRequest{UserID: uid})
	if err != nil || len(bq.Cards) != 0 {
		t.Fatalf("bankcard query before binding: %v %+v", err, bq)
	}
	v, err := cl.BankCardVerify(c, &awda.BankCardVerifyRequest{UserID: uid, BankCode: "BCA", AccountNo: "1234500000", AccountName: "Budi Santoso"})
	if err != nil || v.Status != awda.CardFailed || v.FailReason != "name mismatch" {
		t.Fatalf("bankcard verify (failing rule): %v %+v", err, v)
	}
	v, err = cl.BankCardVerify(c, &awda.BankCardVerifyRequest{UserID: uid, BankCode: "MANDIRI", AccountNo: "1234567890123", AccountName: "Budi Santoso"})
	if err != nil || v.Status != awda.CardBound {
		t.Fatalf("bankcard verify: %v %+v", err, v)
	}
	mark(awda.PathBankCardVerify)
	bq, err = cl.BankCardQuery(c, &awda.BankCardQueryRequest{UserID: uid})
	if err != nil || len(bq.Cards) != 2 || bq.Cards[1] != (awda.BankCard{BankCode: "MANDIRI", AccountNoMasked: "*********0123", Status: awda.CardBound}) || bq.Cards[0].Status != awda.CardFailed {
		t.Fatalf("bankcard query: %v %+v", err, bq)
	}
	mark(awda.PathBankCardQuery)

	tok, err := cl.ImageToken(c, &awda.ImageTokenRequest{UserID: uid})
	if err != nil || tok.Token == "" || tok.ExpireAt <= time.Now().UnixMilli() {
		t.Fatalf("image token: %v %+v", err, tok)
	}
	mark(awda.PathImageToken)
	ktp, err := cl.ImageUpload(c, &awda.ImageUploadRequest{Token: tok.Token, ImageType: awda.ImageKTP, File: []byte("\xff\xd8\xffktp")})
	if err != nil || ktp.ImageID == "" {
		t.Fatalf("image upload: %v %+v", err, ktp)
	}
	mark(awda.PathImageUpload)
	selfie, err := cl.ImageUploadBase64(c, &awda.ImageUploadBase64Request{UserID: uid, ImageType: awda.ImageSelfie, Base64: base64.StdEncoding.EncodeToString([]byte("\xff\xd8\xffselfie"))})
	if err != nil || selfie.ImageID == "" || selfie.ImageID == ktp.ImageID {
		t.Fatalf("image upload base64: %v %+v", err, selfie)
	}
	other, err := cl.ImageUploadBase64(c, &awda.ImageUploadBase64Request{UserID: uid, ImageType: awda.ImageOther, URL: "https://cdn.example/doc.jpg"})
	if err != nil || other.ImageID == "" {
		t.Fatalf("image upload by URL: %v %+v", err, other)
	}
	mark(awda.PathImageUploadBase64)

	sub, err := cl.LoanSubmit(c, submission(uid, "order-42", nik(42), ktp.ImageID, selfie.ImageID))
	if err != nil || sub.Status != awda.LoanSubmitted || !strings.HasPrefix(sub.LoanNo, "LN") {
		t.Fatalf("submit: %v %+v", err, sub)
	}
	mark(awda.PathLoanSubmit)
	loanNo := sub.LoanNo

	if _, err := cl.LoanAgreement(c, &awda.LoanAgreementRequest{LoanNo: loanNo}); awda.ClassOf(err) != awda.ClassValidation {
		t.Fatalf("agreement before approval: %v, want validation", err)
	}
	if path, err := e.srv.Advance(loanNo, awda.LoanApproved); err != nil || len(path) != 2 {
		t.Fatalf("advance to APPROVED: %v %v", path, err)
	}
	ag, err := cl.LoanAgreement(c, &awda.LoanAgreementRequest{LoanNo: loanNo})
	if err != nil || ag.AgreementID == "" || ag.Fees.AdminFee != 150_000 || ag.Fees.DisbursedAmount != 2_850_000 ||
		ag.Fees.TotalInterest != 270_000 || ag.Fees.TotalRepayment != 3_270_000 || !strings.HasPrefix(ag.ContentURL, e.ts.URL+"/h5/agreement/") {
		t.Fatalf("agreement: %v %+v", err, ag)
	}
	mark(awda.PathLoanAgreement)

	ru, err := cl.RedirectURL(c, &awda.RedirectURLRequest{UserID: uid, LoanNo: loanNo, PageType: awda.PageSignature, ReturnURL: "https://lender.example/signed"})
	if err != nil || !strings.HasPrefix(ru.URL, e.ts.URL+"/h5/page/") {
		t.Fatalf("redirect url: %v %+v", err, ru)
	}
	if res, err := http.Get(ru.URL); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("opening the redirect page: %v %v", err, res)
	}
	mark(awda.PathRedirectURL)

	if _, err := cl.LoanSign(c, &awda.LoanSignRequest{LoanNo: loanNo, AgreementID: "agr_wrong", SignedAt: time.Now().UnixMilli(), ClientIP: "10.0.0.1"}); awda.ClassOf(err) != awda.ClassValidation {
		t.Fatalf("sign with a wrong agreementId: %v", err)
	}
	sg, err := cl.LoanSign(c, &awda.LoanSignRequest{LoanNo: loanNo, AgreementID: ag.AgreementID, SignedAt: time.Now().UnixMilli(), ClientIP: "10.0.0.1"})
	if err != nil || sg.Status != awda.LoanSigned {
		t.Fatalf("sign: %v %+v", err, sg)
	}
	sg, err = cl.LoanSign(c, &awda.LoanSignRequest{LoanNo: loanNo, AgreementID: ag.AgreementID, SignedAt: time.Now().UnixMilli(), ClientIP: "10.0.0.1"})
	if err != nil || sg.Status != awda.LoanSigned {
		t.Fatalf("signing again is idempotent: %v %+v", err, sg)
	}
	mark(awda.PathLoanSign)

	if _, err := cl.RepaymentVA(c, &awda.RepaymentVARequest{LoanNo: loanNo}); awda.ClassOf(err) != awda.ClassValidation {
		t.Fatalf("VA before disbursement: %v", err)
	}
	if _, err := e.srv.Advance(loanNo, awda.LoanDisbursed); err != nil {
		t.Fatal(err)
	}
	info, err := cl.LoanInfo(c, &awda.LoanInfoRequest{LoanNo: loanNo})
	if err != nil || info.Status != awda.LoanDisbursed || info.DisbursedAmount != 2_850_000 || info.DisbursedAt == 0 || len(info.Schedule) != 3 {
		t.Fatalf("loan info: %v %+v", err, info)
	}
	var principal int64
	for i, in := range info.Schedule {
		principal += in.Principal
		if in.Period != i+1 || in.Interest != 90_000 || in.Status != awda.InstallmentUnpaid {
			t.Errorf("installment %+v", in)
		}
		if _, err := awda.ParseDate(in.DueDate); err != nil {
			t.Errorf("due date %q", in.DueDate)
		}
	}
	if principal != 3_000_000 {
		t.Errorf("principal sums to %d", principal)
	}
	mark(awda.PathLoanInfo)

	va, err := cl.RepaymentVA(c, &awda.RepaymentVARequest{LoanNo: loanNo})
	if err != nil || va.BankCode != "MANDIRI" || len(va.VANumber) != 16 || va.Amount != 1_090_000 || va.ExpireAt <= time.Now().UnixMilli() {
		t.Fatalf("repayment VA: %v %+v", err, va)
	}
	va2, _ := cl.RepaymentVA(c, &awda.RepaymentVARequest{LoanNo: loanNo})
	if va2.VANumber != va.VANumber {
		t.Errorf("an unexpired VA for the same amount is reused")
	}
	mark(awda.PathRepaymentVA)

	if _, err := e.srv.Advance(loanNo, awda.LoanRepaying); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Advance(loanNo, awda.LoanSettled); err != nil {
		t.Fatal(err)
	}
	info, err = cl.LoanInfo(c, &awda.LoanInfoRequest{OrderNo: "order-42"})
	if err != nil || info.LoanNo != loanNo || info.Status != awda.LoanSettled {
		t.Fatalf("loan info by orderNo: %v %+v", err, info)
	}
	for _, in := range info.Schedule {
		if in.Status != awda.InstallmentPaid || in.PaidAmount != in.Principal+in.Interest {
			t.Errorf("after settling: %+v", in)
		}
	}

	for _, p := range awda.Paths {
		if !called[p] {
			t.Errorf("interface %s not exercised", p)
		}
		if e.srv.CallCount(p, awda.CodeSuccess) == 0 {
			t.Errorf("stats show no success for %s", p)
		}
	}

	waitIdle(t, e.srv)
	want := []awda.LoanStatus{awda.LoanSubmitted, awda.LoanUnderReview, awda.LoanApproved, awda.LoanSigned,
		awda.LoanDisbursing, awda.LoanDisbursed, awda.LoanRepaying, awda.LoanSettled}
	if got := statuses(h.loanEvents()); !equal(got, want) {
		t.Errorf("pushed %v, want %v", got, want)
	}
	if n := len(h.authEvents()); n != 2 {
		t.Errorf("%d authorization callbacks, want 2", n)
	}
	if p := h.problems(); len(p) > 0 {
		t.Errorf("webhook problems: %v", p)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantClass(t *testing.T, what string, err error, class awda.ErrorClass, codes ...awda.Code) *awda.Error {
	t.Helper()
	ae, ok := awda.AsError(err)
	if !ok {
		t.Fatalf("%s: %v, want an *awda.Error of class %s", what, err, class)
	}
	if ae.Class != class {
		t.Fatalf("%s: class %s (code %d, %q), want %s", what, ae.Class, ae.Code, ae.Message, class)
	}
	if len(codes) > 0 {
		found := false
		for _, c := range codes {
			found = found || ae.Code == c
		}
		if !found {
			t.Fatalf("%s: code %d, want one of %v", what, ae.Code, codes)
		}
	}
	return ae
}

func TestClientErrorClasses(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, sandbox.Config{Clock: clock.Now, Seed: 7})
	c, cl := ctx(t), e.client

	t.Run("busy", func(t *testing.T) {
		if err := e.srv.SetFaults(map[string]sandbox.Fault{"bank/list": {BusyRate: 1}}); err != nil {
			t.Fatal(err)
		}
		defer e.srv.ClearFaults()
		seen := map[awda.Code]bool{}
		for range 30 {
			_, err := cl.BankList(c)
			ae := wantClass(t, "busy fault", err, awda.ClassBusy, awda.CodeBusy, awda.CodeSystemBusy, awda.CodeSystemBusy2)
			seen[ae.Code] = true
			if !awda.IsRetryable(err) {
				t.Fatal("busy must be retryable")
			}
		}
		if len(seen) != 3 {
			t.Errorf("busy codes drawn: %v, want all three", seen)
		}
		if _, err := cl.AuthList(c, &awda.AuthListRequest{UserID: "usr_none"}); awda.IsBusy(err) {
			t.Error("a rule for bank/list must not touch auth/list")
		}
	})

	t.Run("timeout", func(t *testing.T) {
		if err := e.srv.SetFaults(map[string]sandbox.Fault{"*": {TimeoutRate: 1, TimeoutHold: 10 * time.Second}}); err != nil {
			t.Fatal(err)
		}
		defer e.srv.ClearFaults()
		short := e.newClient(awda.Config{Clock: clock.Now, HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}})
		start := time.Now()
		_, err := short.BankList(c)
		wantClass(t, "held request", err, awda.ClassTimeout)
		if time.Since(start) > 5*time.Second {
			t.Fatal("the hold did not end when the client went away")
		}
		deadline := time.Now().Add(5 * time.Second)
		for e.srv.CallCount(awda.PathBankList, -1) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if e.srv.Stats().Calls[awda.PathBankList]["gone"] != 1 || e.srv.Stats().Faults.Timeouts != 1 {
			t.Errorf("timeout not counted: %+v %+v", e.srv.Stats().Calls[awda.PathBankList], e.srv.Stats().Faults)
		}
	})

	t.Run("timeout answers 300 when the client waits", func(t *testing.T) {
		if err := e.srv.SetFaults(map[string]sandbox.Fault{"bank/list": {TimeoutRate: 1, TimeoutHold: 50 * time.Millisecond}}); err != nil {
			t.Fatal(err)
		}
		defer e.srv.ClearFaults()
		_, err := cl.BankList(c)
		wantClass(t, "held then answered", err, awda.ClassTimeout, awda.CodeRequestTimeout)
	})

	t.Run("stale timestamp", func(t *testing.T) {
		e.srv.SetClockSkew(-90 * time.Second)
		defer e.srv.SetClockSkew(0)
		_, err := cl.BankList(c)
		wantClass(t, "clock skew", err, awda.ClassStaleTimestamp, awda.CodeTimestampExpired)
	})

	uid := e.prepareUserOnly("p-classes", 11)

	t.Run("invalid token", func(t *testing.T) {
		tok, err := cl.ImageToken(c, &awda.ImageTokenRequest{UserID: uid})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.ImageUpload(c, &awda.ImageUploadRequest{Token: tok.Token, ImageType: awda.ImageKTP, File: []byte("x")}); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
		clock.Advance(11 * time.Minute) // the client's clock moves too
		_, err = cl.ImageUpload(c, &awda.ImageUploadRequest{Token: tok.Token, ImageType: awda.ImageKTP, File: []byte("x")})
		wantClass(t, "expired token", err, awda.ClassInvalidToken, awda.CodeInvalidToken)
		_, err = cl.ImageUpload(c, &awda.ImageUploadRequest{Token: "tok_never_issued", ImageType: awda.ImageKTP, File: []byte("x")})
		wantClass(t, "unknown token", err, awda.ClassInvalidToken, awda.CodeInvalidToken)
	})

	t.Run("user exists", func(t *testing.T) {
		res, err := cl.Register(c, registration("p-classes", 11))
		wantClass(t, "same partnerUserId", err, awda.ClassUserExists, awda.CodeUserExists)
		if res == nil || res.UserID != uid {
			t.Fatalf("existing userId not returned: %+v", res)
		}
		res, err = cl.Register(c, registration("p-classes-other-id", 11))
		wantClass(t, "same NIK", err, awda.ClassUserExists, awda.CodeUserExists)
		if res == nil || res.UserID != uid {
			t.Fatalf("existing userId not returned for the same NIK: %+v", res)
		}
	})

	t.Run("validation", func(t *testing.T) {
		_, err := cl.BankCardVerify(c, &awda.BankCardVerifyRequest{UserID: uid, BankCode: "NOBANK", AccountNo: "1234567890", AccountName: "Budi"})
		ae := wantClass(t, "unknown bank", err, awda.ClassValidation, awda.CodeParamInvalid)
		if ae.HTTPStatus != http.StatusOK {
			t.Errorf("server-side validation must come from the sandbox, got %+v", ae)
		}
		_, err = cl.BankCardVerify(c, &awda.BankCardVerifyRequest{UserID: uid, BankCode: "BRI", AccountNo: "1234567890", AccountName: "Budi"})
		wantClass(t, "account length outside the bank's range", err, awda.ClassValidation, awda.CodeParamInvalid)
		_, err = cl.RedirectURL(c, &awda.RedirectURLRequest{UserID: uid, LoanNo: "LN_none", PageType: awda.PageLoanDetail})
		wantClass(t, "redirect for an unknown loan", err, awda.ClassNotFound, awda.CodeOrderNotExist)

		// 1006 and 400 cannot come through the client, which checks first:
		// send them signed by hand and classify the answer.
		for _, tc := range []struct {
			path, body string
			code       awda.Code
		}{
			{awda.PathEligibleCheck, `{"userId":""}`, awda.CodeParamEmpty},
			{awda.PathLoanSign, `{"loanNo":"LN1","agreementId":"a","clientIp":"1.2.3.4"}`, awda.CodeParamEmpty},
			{awda.PathLoanInfo, `{"loanNo":`, awda.CodeParamError},
		} {
			r := newRaw(tc.path, tc.body)
			r.ts = clock.Now().UnixMilli()
			if got := e.code(r.sign(t)); got != tc.code || awda.ClassOfCode(got) != awda.ClassValidation {
				t.Errorf("%s %s: code %d, want %d", tc.path, tc.body, got, tc.code)
			}
		}
	})

	t.Run("configuration", func(t *testing.T) {
		_, err := e.newClient(awda.Config{Clock: clock.Now, Signer: hmacSigner(t, "wrong-secret")}).BankList(c)
		wantClass(t, "wrong secret", err, awda.ClassConfiguration, awda.CodeSignatureFailed)
		_, err = e.newClient(awda.Config{Clock: clock.Now, AppID: "wrong-app"}).BankList(c)
		wantClass(t, "wrong appId", err, awda.ClassConfiguration, awda.CodeMerchantInvalid)
	})

	t.Run("not found", func(t *testing.T) {
		_, err := cl.EligibleCheck(c, &awda.EligibleCheckRequest{UserID: "usr_nobody"})
		wantClass(t, "unknown user", err, awda.ClassNotFound, awda.CodeUserNotExist)
		_, err = cl.LoanInfo(c, &awda.LoanInfoRequest{LoanNo: "LN00000000000000"})
		wantClass(t, "unknown loanNo", err, awda.ClassNotFound, awda.CodeOrderNotExist)
		_, err = cl.LoanInfo(c, &awda.LoanInfoRequest{OrderNo: "order-nobody"})
		wantClass(t, "unknown orderNo", err, awda.ClassNotFound, awda.CodeOrderNotExist)
		_, err = cl.RepaymentVA(c, &awda.RepaymentVARequest{LoanNo: "LN00000000000000"})
		wantClass(t, "VA of an unknown loan", err, awda.ClassNotFound, awda.CodeOrderNotExist)
	})

	t.Run("authorization", func(t *testing.T) {
		_, err := cl.AuthPage(c, &awda.AuthPageRequest{UserID: uid, AuthType: "PASSPORT"})
		wantClass(t, "unknown authType", err, awda.ClassAuthorization, awda.CodeAuthInfoFailed)
	})

	t.Run("unknown", func(t *testing.T) {
		if err := e.srv.SetFaults(map[string]sandbox.Fault{"*": {ForceCode: awda.CodeUnknown}}); err != nil {
			t.Fatal(err)
		}
		defer e.srv.ClearFaults()
		_, err := cl.EligibleCheck(c, &awda.EligibleCheckRequest{UserID: uid})
		wantClass(t, "forced 999", err, awda.ClassUnknown, awda.CodeUnknown)
	})
}

func TestSubmitIdempotencyAndPrerequisites(t *testing.T) {
	e := newEnv(t, sandbox.Config{Seed: 3})
	c, cl := ctx(t), e.client

	// Without the authorizations and a bound card, submit is refused.
	uid := e.prepareUserOnly("p-early", 21)
	tok, _ := cl.ImageToken(c, &awda.ImageTokenRequest{UserID: uid})
	ktp, _ := cl.ImageUpload(c, &awda.ImageUploadRequest{Token: tok.Token, ImageType: awda.ImageKTP, File: []byte("k")})
	selfie, _ := cl.ImageUpload(c, &awda.ImageUploadRequest{Token: tok.Token, ImageType: awda.ImageSelfie, File: []byte("s")})
	_, err := cl.LoanSubmit(c, submission(uid, "order-early", nik(21), ktp.ImageID, selfie.ImageID))
	wantClass(t, "submit without authorizations", err, awda.ClassAuthorization, awda.CodeAuthInfoFailed)
	for _, at := range []string{"EKYC", "TELCO"} {
		if err := e.srv.SetAuthorization(uid, at, awda.AuthSuccess); err != nil {
			t.Fatal(err)
		}
	}
	_, err = cl.LoanSubmit(c, submission(uid, "order-early", nik(21), ktp.ImageID, selfie.ImageID))
	wantClass(t, "submit without a bound card", err, awda.ClassValidation, awda.CodeParamInvalid)
	// Swapped image types and a foreign NIK are refused too.
	_, err = cl.LoanSubmit(c, submission(uid, "order-early", nik(21), selfie.ImageID, ktp.ImageID))
	wantClass(t, "swapped images", err, awda.ClassValidation, awda.CodeParamInvalid)
	_, err = cl.LoanSubmit(c, submission(uid, "order-early", nik(22), ktp.ImageID, selfie.ImageID))
	wantClass(t, "NIK of someone else", err, awda.ClassValidation, awda.CodeParamInvalid)
	bad := submission(uid, "order-early", nik(21), ktp.ImageID, selfie.ImageID)
	bad.Tenor = 5
	_, err = cl.LoanSubmit(c, bad)
	wantClass(t, "tenor not offered", err, awda.ClassValidation, awda.CodeParamInvalid)
	if n := e.srv.Stats().Loans; n != 0 {
		t.Fatalf("%d loans after refused submissions", n)
	}

	b := e.prepare("p-dup", 23)
	first, err := cl.LoanSubmit(c, submission(b.userID, "order-dup", b.nik, b.ktp, b.selfie))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := cl.LoanSubmit(c, submission(b.userID, "order-dup", b.nik, b.ktp, b.selfie))
		wantClass(t, "same orderNo", err, awda.ClassDuplicate, awda.CodeRepeatRequest)
		if again == nil || again.LoanNo != first.LoanNo {
			t.Fatalf("duplicate did not return the existing loanNo: %+v", again)
		}
	}
	st := e.srv.Stats()
	if st.LoansByOrderNo["order-dup"] != 1 || st.SubmitCallsByOrderNo["order-dup"] != 4 || st.LoansByUserID[b.userID] != 1 {
		t.Fatalf("duplicate-loan detector: loans %v submits %v", st.LoansByOrderNo, st.SubmitCallsByOrderNo)
	}
	if len(st.DuplicateOrderNos) != 0 || len(st.UsersWithSeveralLoans) != 0 {
		t.Fatalf("duplicates reported: %+v", st)
	}

	// A second orderNo for the same user is a second loan, and the
	// detector says so.
	if _, err := cl.LoanSubmit(c, submission(b.userID, "order-dup-2", b.nik, b.ktp, b.selfie)); err != nil {
		t.Fatal(err)
	}
	if st := e.srv.Stats(); !equal(st.UsersWithSeveralLoans, []string{b.userID}) || st.LoansByUserID[b.userID] != 2 {
		t.Fatalf("per-user detector: %+v", st.LoansByUserID)
	}
}

// A submission whose answer is lost still created the loan; the retry gets
// 1001 with that loanNo and no second loan exists.
func TestTimeoutAppliedThenRetry(t *testing.T) {
	e := newEnv(t, sandbox.Config{Seed: 5})
	c := ctx(t)
	b := e.prepare("p-lost", 31)
	if err := e.srv.SetFaults(map[string]sandbox.Fault{"loan/submit": {TimeoutRate: 1, TimeoutApplied: 1, TimeoutHold: 10 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	short := e.newClient(awda.Config{HTTPClient: &http.Client{Timeout: 150 * time.Millisecond}})
	_, err := short.LoanSubmit(c, submission(b.userID, "order-lost", b.nik, b.ktp, b.selfie))
	wantClass(t, "lost answer", err, awda.ClassTimeout)
	e.srv.ClearFaults()
	res, err := e.client.LoanSubmit(c, submission(b.userID, "order-lost", b.nik, b.ktp, b.selfie))
	wantClass(t, "retry", err, awda.ClassDuplicate, awda.CodeRepeatRequest)
	info, err := e.client.LoanInfo(c, &awda.LoanInfoRequest{OrderNo: "order-lost"})
	if err != nil || res.LoanNo != info.LoanNo {
		t.Fatalf("reconcile by orderNo: %v %+v %+v", err, res, info)
	}
	st := e.srv.Stats()
	if st.LoansByOrderNo["order-lost"] != 1 || st.Faults.TimeoutsApplied != 1 {
		t.Fatalf("stats: %+v %+v", st.LoansByOrderNo, st.Faults)
	}
}

func TestIneligibleUser(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	uid := e.prepareUserOnly("demo-ineligible-1", 41)
	el, err := e.client.EligibleCheck(ctx(t), &awda.EligibleCheckRequest{UserID: uid})
	if err != nil || el.Eligible || el.Reason == "" || el.MaxAmount != 0 {
		t.Fatalf("eligible check: %v %+v", err, el)
	}
}

func TestLoanSignWrongState(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	b := e.prepare("p-state", 51)
	loanNo := e.submit(b, "order-state")
	if _, err := e.srv.Advance(loanNo, awda.LoanRejected); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.LoanSign(ctx(t), &awda.LoanSignRequest{LoanNo: loanNo, AgreementID: "agr_x", SignedAt: 1, ClientIP: "1.1.1.1"})
	wantClass(t, "sign a rejected loan", err, awda.ClassValidation, awda.CodeParamInvalid)
	if _, err := e.srv.Advance(loanNo, awda.LoanApproved); err == nil || errors.Is(err, sandbox.ErrNotFound) {
		t.Fatalf("REJECTED → APPROVED must be refused: %v", err)
	}
}
