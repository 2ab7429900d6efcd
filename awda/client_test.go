package awda_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// methodCase drives one of the client's sixteen methods.
type methodCase struct {
	name string
	path string
	call func(ctx context.Context, c *awda.Client) (any, error)
	// data is the hand-written "data" of AWDA's answer; want is what the
	// method must decode it into.
	data string
	want any
	// wantBody is the exact JSON the client must send (compared as values);
	// bodyPaths, when set instead, are dotted paths checked one by one.
	wantBody  string
	bodyPaths map[string]any
	multipart bool
}

var ktpBytes = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00 fake KTP image \x00\x01\x02\xff\xd9")

func methodCases() []methodCase {
	return []methodCase{
		{
			name: "Register", path: "/api/partner/v1/user/register",
			call: func(ctx context.Context, c *awda.Client) (any, error) { return c.Register(ctx, validRegister()) },
			data: `{"userId":"U100"}`, want: &awda.RegisterResponse{UserID: "U100"},
			wantBody: `{"partnerUserId":"p-1001","mobile":"+6281234567890","name":"Siti Nurhaliza Rahmawati","nik":"3171015205900001","email":"siti.rahma@example.id","birthDate":"1990-05-12"}`,
		},
		{
			name: "EligibleCheck", path: "/api/partner/v1/user/eligible-check",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.EligibleCheck(ctx, &awda.EligibleCheckRequest{UserID: "U100"})
			},
			data:     `{"eligible":true,"maxAmount":5000000,"tenors":[{"tenor":3,"tenorUnit":"MONTH"},{"tenor":14,"tenorUnit":"DAY"}]}`,
			want:     &awda.EligibleCheckResponse{Eligible: true, MaxAmount: 5_000_000, Tenors: []awda.TenorOption{{Tenor: 3, TenorUnit: awda.TenorMonth}, {Tenor: 14, TenorUnit: awda.TenorDay}}},
			wantBody: `{"userId":"U100"}`,
		},
		{
			name: "AuthList", path: "/api/partner/v1/auth/list",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.AuthList(ctx, &awda.AuthListRequest{UserID: "U100"})
			},
			data: `{"items":[{"authType":"OJK_CONSENT","name":"Consent","required":true,"status":"PENDING"},{"authType":"EKYC","name":"e-KYC","required":false,"status":"SUCCESS"}]}`,
			want: &awda.AuthListResponse{Items: []awda.AuthItem{
				{AuthType: "OJK_CONSENT", Name: "Consent", Required: true, Status: awda.AuthPending},
				{AuthType: "EKYC", Name: "e-KYC", Status: awda.AuthSuccess},
			}},
			wantBody: `{"userId":"U100"}`,
		},
		{
			name: "AuthPage", path: "/api/partner/v1/auth/page",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.AuthPage(ctx, &awda.AuthPageRequest{UserID: "U100", AuthType: "EKYC", ReturnURL: "https://partner.example/back"})
			},
			data:     `{"url":"https://awda.example/auth/xyz","expireAt":1767229200000}`,
			want:     &awda.AuthPageResponse{URL: "https://awda.example/auth/xyz", ExpireAt: 1767229200000},
			wantBody: `{"userId":"U100","authType":"EKYC","returnUrl":"https://partner.example/back"}`,
		},
		{
			name: "BankCardQuery", path: "/api/partner/v1/bankcard/query",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.BankCardQuery(ctx, &awda.BankCardQueryRequest{UserID: "U100"})
			},
			data:     `{"cards":[{"bankCode":"BCA","accountNoMasked":"******0123","status":"BOUND"}]}`,
			want:     &awda.BankCardQueryResponse{Cards: []awda.BankCard{{BankCode: "BCA", AccountNoMasked: "******0123", Status: awda.CardBound}}},
			wantBody: `{"userId":"U100"}`,
		},
		{
			name: "BankList", path: "/api/partner/v1/bank/list",
			call: func(ctx context.Context, c *awda.Client) (any, error) { return c.BankList(ctx) },
			data: `{"banks":[{"bankCode":"BCA","bankName":"Bank Central Asia","accountNoMinLen":10,"accountNoMaxLen":10},{"bankCode":"BRI","bankName":"Bank Rakyat Indonesia","accountNoMinLen":15,"accountNoMaxLen":15}]}`,
			want: &awda.BankListResponse{Banks: []awda.Bank{
				{BankCode: "BCA", BankName: "Bank Central Asia", AccountNoMinLen: 10, AccountNoMaxLen: 10},
				{BankCode: "BRI", BankName: "Bank Rakyat Indonesia", AccountNoMinLen: 15, AccountNoMaxLen: 15},
			}},
			wantBody: `{}`,
		},
		{
			name: "BankCardVerify", path: "/api/partner/v1/bankcard/verify",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.BankCardVerify(ctx, &awda.BankCardVerifyRequest{UserID: "U100", BankCode: "BCA", AccountNo: piiAccountNo, AccountName: piiName})
			},
			data:     `{"status":"FAILED","failReason":"NAME_MISMATCH"}`,
			want:     &awda.BankCardVerifyResponse{Status: awda.CardFailed, FailReason: "NAME_MISMATCH"},
			wantBody: `{"userId":"U100","bankCode":"BCA","accountNo":"1234567890123","accountName":"Siti Nurhaliza Rahmawati"}`,
		},
		{
			name: "ImageToken", path: "/api/partner/v1/image/token",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.ImageToken(ctx, &awda.ImageTokenRequest{UserID: "U100"})
			},
			data:     `{"token":"tok-abc","expireAt":1767226200000}`,
			want:     &awda.ImageTokenResponse{Token: "tok-abc", ExpireAt: 1767226200000},
			wantBody: `{"userId":"U100"}`,
		},
		{
			name: "ImageUpload", path: "/api/partner/v1/image/upload",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.ImageUpload(ctx, &awda.ImageUploadRequest{Token: "tok-abc", ImageType: awda.ImageKTP, FileName: "ktp.jpg", File: ktpBytes})
			},
			data: `{"imageId":"IMG-KTP-1"}`, want: &awda.ImageUploadResponse{ImageID: "IMG-KTP-1"},
			multipart: true,
		},
		{
			name: "ImageUploadBase64", path: "/api/partner/v1/image/upload-base64",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.ImageUploadBase64(ctx, &awda.ImageUploadBase64Request{UserID: "U100", ImageType: awda.ImageSelfie, Base64: "aGVsbG8="})
			},
			data: `{"imageId":"IMG-SELFIE-1"}`, want: &awda.ImageUploadResponse{ImageID: "IMG-SELFIE-1"},
			wantBody: `{"userId":"U100","imageType":"SELFIE","base64":"aGVsbG8="}`,
		},
		{
			name: "LoanSubmit", path: "/api/partner/v1/loan/submit",
			call: func(ctx context.Context, c *awda.Client) (any, error) { return c.LoanSubmit(ctx, validLoanSubmit()) },
			data: `{"loanNo":"L0001","status":"SUBMITTED"}`, want: &awda.LoanSubmitResponse{LoanNo: "L0001", Status: awda.LoanSubmitted},
			bodyPaths: map[string]any{
				"userId": "U100", "orderNo": "ord-20260101-0001", "amount": 3000000.0, "tenor": 3.0, "tenorUnit": "MONTH", "purpose": "EDUCATION",
				"personal.gender": "FEMALE", "personal.maritalStatus": "MARRIED", "personal.province": "DKI JAKARTA",
				"personal.city": "JAKARTA SELATAN", "personal.address": piiAddress, "personal.dependents": 2.0,
				"identity.nik": piiNIK, "identity.name": piiName, "identity.birthDate": piiBirthDate,
				"identity.ktpImageId": "IMG-KTP-1", "identity.selfieImageId": "IMG-SELFIE-1",
				"work.occupation": "EMPLOYEE", "work.monthlyIncome": 8500000.0,
				"emergencyContacts.0.name": piiContactName, "emergencyContacts.0.mobile": piiContactE164,
				"emergencyContacts.0.relation": "SPOUSE", "emergencyContacts.1.mobile": "+6281399998888",
			},
		},
		{
			name: "LoanAgreement", path: "/api/partner/v1/loan/agreement",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.LoanAgreement(ctx, &awda.LoanAgreementRequest{LoanNo: "L0001"})
			},
			data: `{"agreementId":"AG-1","title":"Perjanjian Pinjaman","contentUrl":"https://awda.example/ag/1","fees":{"adminFee":150000,"interestRate":0.03,"totalInterest":270000,"totalRepayment":3270000,"disbursedAmount":2850000}}`,
			want: &awda.LoanAgreementResponse{AgreementID: "AG-1", Title: "Perjanjian Pinjaman", ContentURL: "https://awda.example/ag/1",
				Fees: awda.AgreementFees{AdminFee: 150000, InterestRate: 0.03, TotalInterest: 270000, TotalRepayment: 3270000, DisbursedAmount: 2850000}},
			wantBody: `{"loanNo":"L0001"}`,
		},
		{
			name: "LoanSign", path: "/api/partner/v1/loan/sign",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.LoanSign(ctx, &awda.LoanSignRequest{LoanNo: "L0001", AgreementID: "AG-1", SignedAt: 1767225600000, ClientIP: "203.0.113.7"})
			},
			data: `{"status":"SIGNED"}`, want: &awda.LoanSignResponse{Status: awda.LoanSigned},
			wantBody: `{"loanNo":"L0001","agreementId":"AG-1","signedAt":1767225600000,"clientIp":"203.0.113.7"}`,
		},
		{
			name: "LoanInfo", path: "/api/partner/v1/loan/info",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.LoanInfo(ctx, &awda.LoanInfoRequest{OrderNo: "ord-20260101-0001"})
			},
			data: `{"loanNo":"L0001","orderNo":"ord-20260101-0001","status":"REPAYING","amount":3000000,"disbursedAmount":2850000,"disbursedAt":1767312000000,"schedule":[{"period":1,"dueDate":"2026-02-02","principal":1000000,"interest":90000,"fee":0,"paidAmount":1090000,"status":"PAID"},{"period":2,"dueDate":"2026-03-02","principal":1000000,"interest":90000,"fee":0,"paidAmount":0,"status":"UNPAID"}]}`,
			want: &awda.LoanInfoResponse{LoanNo: "L0001", OrderNo: "ord-20260101-0001", Status: awda.LoanRepaying, Amount: 3_000_000, DisbursedAmount: 2_850_000, DisbursedAt: 1767312000000,
				Schedule: []awda.Installment{
					{Period: 1, DueDate: "2026-02-02", Principal: 1_000_000, Interest: 90_000, PaidAmount: 1_090_000, Status: awda.InstallmentPaid},
					{Period: 2, DueDate: "2026-03-02", Principal: 1_000_000, Interest: 90_000, Status: awda.InstallmentUnpaid},
				}},
			wantBody: `{"orderNo":"ord-20260101-0001"}`,
		},
		{
			name: "RepaymentVA", path: "/api/partner/v1/repayment/va",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.RepaymentVA(ctx, &awda.RepaymentVARequest{LoanNo: "L0001"})
			},
			data:     `{"bankCode":"BCA","vaNumber":"8800123456789","amount":1090000,"expireAt":1767398400000}`,
			want:     &awda.RepaymentVAResponse{BankCode: "BCA", VANumber: "8800123456789", Amount: 1_090_000, ExpireAt: 1767398400000},
			wantBody: `{"loanNo":"L0001"}`,
		},
		{
			name: "RedirectURL", path: "/api/partner/v1/redirect-url",
			call: func(ctx context.Context, c *awda.Client) (any, error) {
				return c.RedirectURL(ctx, &awda.RedirectURLRequest{UserID: "U100", LoanNo: "L0001", PageType: awda.PageSignature, ReturnURL: "https://partner.example/done"})
			},
			data:     `{"url":"https://awda.example/h5/sign/L0001"}`,
			want:     &awda.RedirectURLResponse{URL: "https://awda.example/h5/sign/L0001"},
			wantBody: `{"userId":"U100","loanNo":"L0001","pageType":"SIGNATURE","returnUrl":"https://partner.example/done"}`,
		},
	}
}

// TestMethodsCoverContract makes sure the table above covers every path of
// the contract exactly once, so a seventeenth interface cannot go untested.
func TestMethodsCoverContract(t *testing.T) {
	seen := map[string]int{}
	for _, mc := range methodCases() {
		seen[mc.path]++
	}
	if len(awda.Paths) != 16 {
		t.Errorf("contract lists %d paths, want 16", len(awda.Paths))
	}
	for _, p := range awda.Paths {
		if seen[p] != 1 {
			t.Errorf("path %s covered %d times", p, seen[p])
		}
		delete(seen, p)
	}
	for p := range seen {
		t.Errorf("test path %s is not in the contract", p)
	}
}

// jsonPath walks a decoded JSON value along a dotted path (numbers index
// arrays).
func jsonPath(v any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// signedPayload returns what the request's signature covers: the raw body,
// or for a multipart upload the file bytes, checking the form on the way.
func signedPayload(t *testing.T, rec recorded, mc methodCase) []byte {
	t.Helper()
	if !mc.multipart {
		if ct := rec.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		return rec.Body
	}
	mt, params, err := mime.ParseMediaType(rec.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type = %q, want multipart/form-data", rec.Header.Get("Content-Type"))
	}
	form, err := multipart.NewReader(bytes.NewReader(rec.Body), params["boundary"]).ReadForm(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if got := form.Value["token"]; len(got) != 1 || got[0] != "tok-abc" {
		t.Errorf("token field = %q", got)
	}
	if got := form.Value["imageType"]; len(got) != 1 || got[0] != "KTP" {
		t.Errorf("imageType field = %q", got)
	}
	fhs := form.File["file"]
	if len(fhs) != 1 {
		t.Fatalf("want one file part, got %d", len(fhs))
	}
	if fhs[0].Filename != "ktp.jpg" {
		t.Errorf("file name = %q", fhs[0].Filename)
	}
	f, _ := fhs[0].Open()
	file, _ := io.ReadAll(f)
	if !bytes.Equal(file, ktpBytes) {
		t.Errorf("file bytes differ")
	}
	return file
}

func TestEveryMethodSendsSignedRequestAndDecodes(t *testing.T) {
	for _, mc := range methodCases() {
		t.Run(mc.name, func(t *testing.T) {
			f := newFakeAWDA(t, http.StatusOK, envelope(0, "success", mc.data))
			clock, lastReading := tickingClock()
			c := newTestClient(t, f.URL, func(cfg *awda.Config) { cfg.Clock = clock })

			nonces := map[string]bool{}
			for i := 0; i < 3; i++ {
				got, err := mc.call(context.Background(), c)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if !reflect.DeepEqual(got, mc.want) {
					t.Errorf("decoded %#v\nwant    %#v", got, mc.want)
				}
				rec := f.last(t)
				if rec.Method != http.MethodPost || rec.Path != mc.path {
					t.Errorf("sent %s %s, want POST %s", rec.Method, rec.Path, mc.path)
				}
				h := rec.Header
				if h.Get("X-Awda-App-Id") != testAppID {
					t.Errorf("app id header = %q", h.Get("X-Awda-App-Id"))
				}
				if want := strconv.FormatInt(lastReading().UnixMilli(), 10); h.Get("X-Awda-Timestamp") != want {
					t.Errorf("timestamp = %q, want the clock's %s", h.Get("X-Awda-Timestamp"), want)
				}
				nonce := h.Get("X-Awda-Nonce")
				if !awda.ValidNonce(nonce) || nonces[nonce] {
					t.Errorf("nonce %q invalid or repeated", nonce)
				}
				nonces[nonce] = true
				if h.Get("X-Awda-Sign-Type") != "HMAC-SHA256" {
					t.Errorf("sign type = %q", h.Get("X-Awda-Sign-Type"))
				}
				payload := signedPayload(t, rec, mc)
				sts := stringToSign(mc.path, testAppID, h.Get("X-Awda-Timestamp"), nonce, payload)
				if got, want := h.Get("X-Awda-Sign"), hmacHex(testSecret, sts); got != want {
					t.Errorf("signature = %q, want %q", got, want)
				}
				if mc.multipart {
					// The signature must cover the file, not the multipart body.
					bodySTS := stringToSign(mc.path, testAppID, h.Get("X-Awda-Timestamp"), nonce, rec.Body)
					if h.Get("X-Awda-Sign") == hmacHex(testSecret, bodySTS) {
						t.Error("multipart upload signed the body hash instead of the file hash")
					}
					continue
				}
				var body any
				if err := json.Unmarshal(rec.Body, &body); err != nil {
					t.Fatalf("body is not JSON: %v", err)
				}
				if mc.wantBody != "" {
					var want any
					if err := json.Unmarshal([]byte(mc.wantBody), &want); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(body, want) {
						t.Errorf("body = %s\nwant   %s", rec.Body, mc.wantBody)
					}
				}
				for p, want := range mc.bodyPaths {
					if got, ok := jsonPath(body, p); !ok || !reflect.DeepEqual(got, want) {
						t.Errorf("body %s = %#v, want %#v", p, got, want)
					}
				}
			}
			if f.hits() != 3 {
				t.Errorf("server saw %d requests for 3 calls", f.hits())
			}
		})
	}
}

func TestRSASignedRequests(t *testing.T) {
	f := newFakeAWDA(t, http.StatusOK, envelope(0, "success", `{"userId":"U100"}`))
	c := newTestClient(t, f.URL, func(cfg *awda.Config) { cfg.Signer = rsaSigner(t, "rsa_test_key.pem") })
	if _, err := c.Register(context.Background(), validRegister()); err != nil {
		t.Fatal(err)
	}
	rec := f.last(t)
	if rec.Header.Get("X-Awda-Sign-Type") != "RSA-SHA256" {
		t.Errorf("sign type = %q", rec.Header.Get("X-Awda-Sign-Type"))
	}
	sig, err := base64.StdEncoding.DecodeString(rec.Header.Get("X-Awda-Sign"))
	if err != nil {
		t.Fatalf("signature is not standard base64: %v", err)
	}
	sts := stringToSign(awda.PathUserRegister, testAppID, rec.Header.Get("X-Awda-Timestamp"), rec.Header.Get("X-Awda-Nonce"), rec.Body)
	sum := sha256.Sum256(sts)
	pub := &testRSAKey(t, "rsa_test_key.pem").PublicKey
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("RSA signature does not verify: %v", err)
	}
}

// codeClasses is the classification, written out independently of
// awda.ClassOfCode.
var codeClasses = []struct {
	code  awda.Code
	class awda.ErrorClass
	is    func(error) bool
	retry bool
}{
	{100, awda.ClassBusy, awda.IsBusy, true},
	{300, awda.ClassTimeout, awda.IsTimeout, true},
	{400, awda.ClassValidation, awda.IsValidation, false},
	{404, awda.ClassTimeout, awda.IsTimeout, true},
	{600, awda.ClassNotFound, awda.IsNotFound, false},
	{999, awda.ClassUnknown, nil, false},
	{1000, awda.ClassBusy, awda.IsBusy, true},
	{1001, awda.ClassDuplicate, awda.IsDuplicate, false},
	{1002, awda.ClassInvalidToken, awda.IsInvalidToken, false},
	{1003, awda.ClassStaleTimestamp, awda.IsStaleTimestamp, true},
	{1004, awda.ClassConfiguration, awda.IsConfiguration, false},
	{1005, awda.ClassConfiguration, awda.IsConfiguration, false},
	{1006, awda.ClassValidation, awda.IsValidation, false},
	{1007, awda.ClassValidation, awda.IsValidation, false},
	{1008, awda.ClassUserExists, awda.IsUserExists, false},
	{1009, awda.ClassNotFound, awda.IsNotFound, false},
	{1010, awda.ClassNotFound, awda.IsNotFound, false},
	{1011, awda.ClassBusy, awda.IsBusy, true},
	{1012, awda.ClassAuthorization, awda.IsAuthorization, false},
	{4242, awda.ClassUnknown, nil, false}, // not in the contract
}

func TestContractCodesAllClassified(t *testing.T) {
	// Every Code constant of contract.go, by value.
	contract := []awda.Code{awda.CodeBusy, awda.CodeRequestTimeout, awda.CodeParamError, awda.CodeNetworkError,
		awda.CodeDataNotExist, awda.CodeUnknown, awda.CodeSystemBusy, awda.CodeRepeatRequest, awda.CodeInvalidToken,
		awda.CodeTimestampExpired, awda.CodeSignatureFailed, awda.CodeMerchantInvalid, awda.CodeParamEmpty,
		awda.CodeParamInvalid, awda.CodeUserExists, awda.CodeUserNotExist, awda.CodeOrderNotExist,
		awda.CodeSystemBusy2, awda.CodeAuthInfoFailed}
	inTable := map[awda.Code]bool{}
	for _, cc := range codeClasses {
		inTable[cc.code] = true
	}
	for _, c := range contract {
		if !inTable[c] {
			t.Errorf("code %d has no row in codeClasses", c)
		}
	}
}

func TestEveryCodeMapsToItsClass(t *testing.T) {
	for _, cc := range codeClasses {
		t.Run(strconv.Itoa(int(cc.code)), func(t *testing.T) {
			msg := "gagal: " + piiName + " NIK " + piiNIK + " hp " + piiMobile + " " + piiEmail
			f := newFakeAWDA(t, http.StatusOK, envelope(cc.code, msg, ""))
			c := newTestClient(t, f.URL)
			res, err := c.BankCardQuery(context.Background(), &awda.BankCardQueryRequest{UserID: "U100"})
			if res != nil {
				t.Errorf("got a response %+v with code %d", res, cc.code)
			}
			e := mustAWDAError(t, err)
			if e.Class != cc.class || awda.ClassOf(err) != cc.class || awda.ClassOfCode(cc.code) != cc.class {
				t.Errorf("class = %v, want %v", e.Class, cc.class)
			}
			if cc.is != nil && !cc.is(err) {
				t.Errorf("Is-helper false for code %d", cc.code)
			}
			if awda.IsRetryable(err) != cc.retry || e.Retryable() != cc.retry {
				t.Errorf("retryable = %v, want %v", awda.IsRetryable(err), cc.retry)
			}
			if e.Code != cc.code || e.Endpoint != awda.PathBankCardQuery || e.HTTPStatus != 200 {
				t.Errorf("error fields: code %d endpoint %q http %d", e.Code, e.Endpoint, e.HTTPStatus)
			}
			if e.Nonce != f.last(t).Header.Get("X-Awda-Nonce") {
				t.Errorf("error nonce %q is not the request's", e.Nonce)
			}
			if !strings.Contains(err.Error(), e.Nonce) || !strings.Contains(err.Error(), strconv.Itoa(int(cc.code))) {
				t.Errorf("error text lacks nonce or code: %s", err)
			}
			assertNoPII(t, "error text", err.Error())
			assertNoPII(t, "redacted message", strings.ReplaceAll(e.Message, piiName, "")) // names cannot be redacted from the field
			if f.hits() != 1 {
				t.Errorf("%d HTTP attempts, want exactly 1", f.hits())
			}
		})
	}
}

func TestHTTPStatusClasses(t *testing.T) {
	cases := []struct {
		status int
		class  awda.ErrorClass
	}{
		{500, awda.ClassTimeout}, {502, awda.ClassTimeout}, {503, awda.ClassTimeout}, {504, awda.ClassTimeout},
		{408, awda.ClassTimeout}, {429, awda.ClassBusy},
		{400, awda.ClassConfiguration}, {401, awda.ClassConfiguration}, {403, awda.ClassConfiguration},
		{404, awda.ClassConfiguration}, {405, awda.ClassConfiguration}, {413, awda.ClassConfiguration},
		{302, awda.ClassConfiguration}, {307, awda.ClassConfiguration},
		{201, awda.ClassUnknown}, {204, awda.ClassUnknown},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			// A success envelope in the body must not rescue a non-200 status.
			f := newFakeAWDAFunc(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if r.URL.Path != awda.PathImageToken {
					t.Errorf("followed a redirect to %s", r.URL.Path)
				}
				w.Header().Set("Location", "/elsewhere")
				w.WriteHeader(tc.status)
				io.WriteString(w, envelope(0, "success", `{"token":"t","expireAt":1}`))
			})
			// HTTPClient nil: the client's default, which must not follow redirects.
			c := newTestClient(t, f.URL)
			res, err := c.ImageToken(context.Background(), &awda.ImageTokenRequest{UserID: "U100"})
			if res != nil {
				t.Errorf("got a response for HTTP %d", tc.status)
			}
			e := mustAWDAError(t, err)
			if e.Class != tc.class || e.HTTPStatus != tc.status || e.Code != 0 {
				t.Errorf("class %v http %d code %d; want %v %d 0", e.Class, e.HTTPStatus, e.Code, tc.class, tc.status)
			}
			if f.hits() != 1 {
				t.Errorf("%d HTTP attempts, want exactly 1", f.hits())
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("connection dropped", func(t *testing.T) {
		f := newFakeAWDAFunc(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
		})
		c := newTestClient(t, f.URL)
		_, err := c.LoanInfo(context.Background(), &awda.LoanInfoRequest{LoanNo: "L0001"})
		e := mustAWDAError(t, err)
		if e.Class != awda.ClassTimeout || e.HTTPStatus != 0 || e.Code != 0 || e.Err == nil || !e.Retryable() {
			t.Errorf("got %+v", e)
		}
		if f.hits() != 1 {
			t.Errorf("%d HTTP attempts, want exactly 1 (no retry on a dropped connection)", f.hits())
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := newTestClient(t, "http://"+addr)
		_, err = c.LoanInfo(context.Background(), &awda.LoanInfoRequest{LoanNo: "L0001"})
		if e := mustAWDAError(t, err); e.Class != awda.ClassTimeout || e.Nonce == "" || e.Endpoint != awda.PathLoanInfo {
			t.Errorf("got %+v", e)
		}
		if strings.Contains(err.Error(), "http://") {
			t.Errorf("transport error carries the URL: %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		release := make(chan struct{})
		f := newFakeAWDAFunc(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		c := newTestClient(t, f.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.LoanInfo(ctx, &awda.LoanInfoRequest{LoanNo: "L0001"})
		if !awda.IsTimeout(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want a timeout wrapping context.DeadlineExceeded", err)
		}
		if f.hits() != 1 {
			t.Errorf("%d HTTP attempts, want 1", f.hits())
		}
	})
}

func TestMalformedAnswers(t *testing.T) {
	cases := map[string]string{
		"not json":        `<html>gateway</html>`,
		"empty":           ``,
		"null":            `null`,
		"no code":         `{"message":"success","data":{"userId":"U1"}}`,
		"null code":       `{"code":null,"message":"success"}`,
		"string code":     `{"code":"0","message":"success"}`,
		"float code":      `{"code":0.5,"message":"success"}`,
		"array":           `[{"code":0}]`,
		"trailing":        `{"code":0,"message":"success","data":{"userId":"U1"}}{"code":0}`,
		"trailing brace":  `{"code":0,"message":"success","data":{"userId":"U1"}}}`,
		"wrong data type": `{"code":0,"message":"success","data":{"userId":123}}`,
		"data not object": `{"code":0,"message":"success","data":"U1"}`,
		"success no id":   `{"code":0,"message":"success","data":{}}`,
		"success no data": `{"code":0,"message":"success"}`,
		"truncated":       `{"code":0,"message":"succ`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFakeAWDA(t, http.StatusOK, body)
			c := newTestClient(t, f.URL)
			res, err := c.Register(context.Background(), validRegister())
			if res != nil {
				t.Errorf("got response %+v", res)
			}
			e := mustAWDAError(t, err)
			if e.Class != awda.ClassUnknown || e.HTTPStatus != 200 || e.Retryable() {
				t.Errorf("got class %v http %d", e.Class, e.HTTPStatus)
			}
			assertNoPII(t, "error", err.Error())
			if f.hits() != 1 {
				t.Errorf("%d attempts", f.hits())
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	var out awda.RegisterResponse
	code, msg, err := awda.DecodeResponse([]byte(` {"code":1008,"message":"user exists","data":{"userId":"U9"}} `), &out)
	if err != nil || code != awda.CodeUserExists || msg != "user exists" || out.UserID != "U9" {
		t.Errorf("DecodeResponse = %d %q %v %+v", code, msg, err, out)
	}
	code, _, err = awda.DecodeResponse([]byte(`{"code":0,"data":null}`), &out)
	if err != nil || code != 0 {
		t.Errorf("null data: %d %v", code, err)
	}
	if _, _, err := awda.DecodeResponse([]byte(`{"code":0,"data":{"userId":1}}`), nil); err != nil {
		t.Errorf("nil out must skip data: %v", err)
	}
}

func TestUserExistsReturnsExistingUser(t *testing.T) {
	f := newFakeAWDA(t, http.StatusOK, envelope(awda.CodeUserExists, "user already exists", `{"userId":"U-EXIST"}`))
	c := newTestClient(t, f.URL)
	res, err := c.Register(context.Background(), validRegister())
	if !awda.IsUserExists(err) {
		t.Fatalf("err = %v, want IsUserExists", err)
	}
	if res == nil || res.UserID != "U-EXIST" {
		t.Fatalf("res = %+v, want the existing userId", res)
	}
	if awda.IsRetryable(err) {
		t.Error("user exists must not be retryable")
	}

	// Without the userId in the data there is nothing to return.
	f.setHandler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		io.WriteString(w, envelope(awda.CodeUserExists, "user already exists", ""))
	})
	res, err = c.Register(context.Background(), validRegister())
	if !awda.IsUserExists(err) || res != nil {
		t.Errorf("without data: res %+v err %v", res, err)
	}
	if f.hits() != 2 {
		t.Errorf("%d attempts for 2 calls", f.hits())
	}
}

func TestDuplicateSubmitReturnsExistingLoan(t *testing.T) {
	f := newFakeAWDA(t, http.StatusOK, envelope(awda.CodeRepeatRequest, "repeat request", `{"loanNo":"L-EXIST","status":"UNDER_REVIEW"}`))
	c := newTestClient(t, f.URL)
	res, err := c.LoanSubmit(context.Background(), validLoanSubmit())
	if !awda.IsDuplicate(err) {
		t.Fatalf("err = %v, want IsDuplicate", err)
	}
	if res == nil || res.LoanNo != "L-EXIST" || res.Status != awda.LoanUnderReview {
		t.Fatalf("res = %+v, want the existing loan", res)
	}
	// A 1001 on another endpoint (a reused nonce) carries nothing to return.
	_, err = c.LoanAgreement(context.Background(), &awda.LoanAgreementRequest{LoanNo: "L-EXIST"})
	if !awda.IsDuplicate(err) {
		t.Errorf("LoanAgreement 1001: %v", err)
	}
	f.setHandler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		io.WriteString(w, envelope(awda.CodeRepeatRequest, "repeat request", ""))
	})
	res, err = c.LoanSubmit(context.Background(), validLoanSubmit())
	if !awda.IsDuplicate(err) || res != nil {
		t.Errorf("1001 without loanNo: res %+v err %v", res, err)
	}
}

func TestExactlyOneAttemptWhenBusy(t *testing.T) {
	answers := []struct {
		name   string
		status int
		body   string
	}{
		{"code 100", 200, envelope(awda.CodeBusy, "busy", "")},
		{"code 1000", 200, envelope(awda.CodeSystemBusy, "busy", "")},
		{"code 1011", 200, envelope(awda.CodeSystemBusy2, "busy", "")},
		{"code 1003", 200, envelope(awda.CodeTimestampExpired, "expired", "")},
		{"http 429", 429, ""},
		{"http 503", 503, ""},
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			f := newFakeAWDA(t, a.status, a.body)
			c := newTestClient(t, f.URL)
			for i, mc := range methodCases() {
				if _, err := mc.call(context.Background(), c); !awda.IsRetryable(err) {
					t.Errorf("%s: err %v is not retryable", mc.name, err)
				}
				if f.hits() != i+1 {
					t.Fatalf("%s: %d HTTP attempts after %d calls", mc.name, f.hits(), i+1)
				}
			}
		})
	}
}

func TestNewClientConfig(t *testing.T) {
	s := hmacSigner(t, testSecret)
	bad := []awda.Config{
		{AppID: "a", Signer: s},
		{BaseURL: "ftp://x", AppID: "a", Signer: s},
		{BaseURL: "http://x", Signer: s},
		{BaseURL: "http://x", AppID: "a"},
	}
	for i, cfg := range bad {
		if _, err := awda.NewClient(cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	c, err := awda.NewClient(awda.Config{BaseURL: awda.BaseURLStaging + "/", AppID: "a", Signer: s})
	if err != nil || c.AppID() != "a" {
		t.Fatalf("NewClient: %v", err)
	}
	req, err := c.BuildRequest(context.Background(), awda.PathBankList, []byte("{}"), "application/json", awda.BodyHash([]byte("{}")), "0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.String() != "https://sea-staging.wolaidai.com/api/partner/v1/bank/list" {
		t.Errorf("URL = %s", req.URL)
	}
}

func TestObserverSeesEveryAttempt(t *testing.T) {
	f := newFakeAWDA(t, http.StatusOK, envelope(0, "success", `{"userId":"U100"}`))
	var infos []awda.CallInfo
	c := newTestClient(t, f.URL, func(cfg *awda.Config) {
		cfg.Observers = []awda.Observer{func(_ context.Context, ci awda.CallInfo) { infos = append(infos, ci) }}
	})
	if _, err := c.Register(context.Background(), validRegister()); err != nil {
		t.Fatal(err)
	}
	f.setHandler(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		io.WriteString(w, envelope(awda.CodeSystemBusy, "busy", ""))
	})
	_, _ = c.Register(context.Background(), validRegister())
	// Refused locally: no attempt, no observation.
	_, _ = c.EligibleCheck(context.Background(), &awda.EligibleCheckRequest{})
	if len(infos) != 2 {
		t.Fatalf("observed %d attempts, want 2", len(infos))
	}
	if infos[0].Outcome() != "ok" || infos[0].Err != nil || infos[0].HTTPStatus != 200 || infos[0].Endpoint != awda.PathUserRegister {
		t.Errorf("first: %+v", infos[0])
	}
	if infos[1].Outcome() != "busy" || infos[1].Code != awda.CodeSystemBusy || infos[1].Err == nil {
		t.Errorf("second: %+v", infos[1])
	}
	if infos[0].Nonce == infos[1].Nonce || !awda.ValidNonce(infos[1].Nonce) {
		t.Errorf("nonces %q %q", infos[0].Nonce, infos[1].Nonce)
	}
}
