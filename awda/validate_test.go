package awda_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

func TestNIKBirthDate(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	valid := []struct {
		nik    string
		date   string
		female bool
	}{
		{"3171011205900001", "1990-05-12", false},
		{"3171015205900001", "1990-05-12", true}, // day 12 + 40
		{"3171010101000001", "2000-01-01", false},
		{"3171014101050001", "2005-01-01", true},
		{"3171012902000001", "2000-02-29", false}, // leap year
		{"3171016902960001", "1996-02-29", true},
		{"3171013112990001", "1999-12-31", false},
		{"3171017112990001", "1999-12-31", true},  // 31 + 40 = 71
		{"3171010101260001", "2026-01-01", false}, // this year
		{"3171010101270001", "1927-01-01", false}, // a future year is the last century
		{"3171010106260001", "2026-06-01", false}, // born today
		{"3171013112260001", "1926-12-31", false}, // later this year is the future too
		{"9271010101800999", "1980-01-01", false},
	}
	for _, v := range valid {
		got, female, err := awda.NIKBirthDate(v.nik, now)
		if err != nil {
			t.Errorf("NIKBirthDate(%s) = %v", v.nik, err)
			continue
		}
		if got.Format("2006-01-02") != v.date || female != v.female {
			t.Errorf("NIKBirthDate(%s) = %s female=%v, want %s female=%v", v.nik, got.Format("2006-01-02"), female, v.date, v.female)
		}
	}
	invalid := map[string]string{
		"3171012902010001":  "29 Feb of a non-leap year",
		"3171013102900001":  "31 Feb",
		"3171010005900001":  "day 0",
		"3171014005900001":  "day 40 (neither sex)",
		"3171013205900001":  "day 32",
		"3171017205900001":  "day 72 = 32 for a woman",
		"3171011213900001":  "month 13",
		"3171011200900001":  "month 0",
		"3171011205900000":  "serial 0000",
		"0171011205900001":  "province 0",
		"317101120590001":   "15 digits",
		"31710112059000011": "17 digits",
		"31710112059000O1":  "a letter O",
		"3171 11205900001":  "a space",
		"":                  "empty",
	}
	for nik, why := range invalid {
		if _, _, err := awda.NIKBirthDate(nik, now); err == nil {
			t.Errorf("NIKBirthDate accepted %s (%s)", nik, why)
		} else if strings.Contains(err.Error(), nik) && nik != "" {
			t.Errorf("error quotes the NIK: %v", err)
		}
	}
}

func TestValidateNIKAgainstBirthDate(t *testing.T) {
	cases := []struct {
		nik, birth string
		ok         bool
	}{
		{"3171011205900001", "1990-05-12", true},
		{"3171015205900001", "1990-05-12", true}, // woman: day+40 still matches
		{"3171011205900001", "", true},
		{"3171011205900001", "1990-05-13", false},
		{"3171011205900001", "1990-06-12", false},
		{"3171011205900001", "1991-05-12", false},
		{"3171011205900001", "12-05-1990", false},
		{"3171011205900001", "1990-02-30", false},
		{"3171013102900001", "1990-02-31", false},
	}
	for _, c := range cases {
		err := awda.ValidateNIK(c.nik, c.birth)
		if (err == nil) != c.ok {
			t.Errorf("ValidateNIK(%s, %q) = %v, want ok=%v", c.nik, c.birth, err, c.ok)
		}
		if err != nil && strings.Contains(err.Error(), c.nik) {
			t.Errorf("error quotes the NIK: %v", err)
		}
	}
}

func TestNormalizeMobile(t *testing.T) {
	ok := map[string]string{
		"081234567890":       "+6281234567890",
		"6281234567890":      "+6281234567890",
		"+6281234567890":     "+6281234567890",
		"0812-3456-7890":     "+6281234567890",
		"+62 812 3456 7890":  "+6281234567890",
		" 081234567890 ":     "+6281234567890",
		"0811234567":         "+62811234567",    // 8 digits after the 8
		"0812345678901":      "+62812345678901", // 11 digits after the 8
		"628571111222":       "+628571111222",
		"+62 857-1111-2222 ": "+6285711112222",
	}
	for in, want := range ok {
		got, err := awda.NormalizeMobile(in)
		if err != nil || got != want {
			t.Errorf("NormalizeMobile(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "0", "08", "081234567", // too short (7 after the 8)
		"08123456789012",              // 12 after the 8
		"071234567890",                // not a mobile (landline prefix)
		"+6221234567",                 // Jakarta landline
		"6221234567",                  // ditto
		"8123456789",                  // no prefix
		"+0812345678",                 // + without country code
		"+6581234567",                 // Singapore
		"08123456789a", "０８１２３４５６７８９", // letters, full-width digits
		"+62+81234567890", "62-0812345678",
	}
	for _, in := range bad {
		got, err := awda.NormalizeMobile(in)
		if err == nil {
			t.Errorf("NormalizeMobile(%q) = %q, want an error", in, got)
			continue
		}
		if len(in) > 4 && strings.Contains(err.Error(), strings.TrimSpace(in)) {
			t.Errorf("error quotes the number: %v", err)
		}
	}
}

// localCase is a request the client must refuse before any network call.
type localCase struct {
	name  string
	path  string
	field string
	empty bool // missing (1006) rather than invalid (1007)
	call  func(ctx context.Context, c *awda.Client) error
}

func reg(mut func(r *awda.RegisterRequest)) func(context.Context, *awda.Client) error {
	return func(ctx context.Context, c *awda.Client) error {
		r := validRegister()
		mut(r)
		_, err := c.Register(ctx, r)
		return err
	}
}

func sub(mut func(r *awda.LoanSubmitRequest)) func(context.Context, *awda.Client) error {
	return func(ctx context.Context, c *awda.Client) error {
		r := validLoanSubmit()
		mut(r)
		_, err := c.LoanSubmit(ctx, r)
		return err
	}
}

func localCases() []localCase {
	pR, pS := awda.PathUserRegister, awda.PathLoanSubmit
	return []localCase{
		{"register nil", pR, "body", true, func(ctx context.Context, c *awda.Client) error { _, err := c.Register(ctx, nil); return err }},
		{"nik 15 digits", pR, "nik", false, reg(func(r *awda.RegisterRequest) { r.NIK = piiNIK[:15] })},
		{"nik letters", pR, "nik", false, reg(func(r *awda.RegisterRequest) { r.NIK = "31710152059A0001" })},
		{"nik 31 February", pR, "nik", false, reg(func(r *awda.RegisterRequest) { r.NIK = "3171017102900001"; r.BirthDate = "1990-02-28" })},
		{"nik vs birthDate", pR, "nik", false, reg(func(r *awda.RegisterRequest) { r.BirthDate = "1990-05-13" })},
		{"nik male day for woman's date", pR, "nik", false, reg(func(r *awda.RegisterRequest) { r.NIK = "3171015305900001" })},
		{"nik empty", pR, "nik", true, reg(func(r *awda.RegisterRequest) { r.NIK = "" })},
		{"mobile landline", pR, "mobile", false, reg(func(r *awda.RegisterRequest) { r.Mobile = "0215551234" })},
		{"mobile short", pR, "mobile", false, reg(func(r *awda.RegisterRequest) { r.Mobile = "08123" })},
		{"mobile empty", pR, "mobile", true, reg(func(r *awda.RegisterRequest) { r.Mobile = " " })},
		{"name empty", pR, "name", true, reg(func(r *awda.RegisterRequest) { r.Name = "" })},
		{"partnerUserId empty", pR, "partnerUserId", true, reg(func(r *awda.RegisterRequest) { r.PartnerUserID = "" })},
		{"birthDate format", pR, "birthDate", false, reg(func(r *awda.RegisterRequest) { r.BirthDate = "12-05-1990" })},
		{"birthDate empty", pR, "birthDate", true, reg(func(r *awda.RegisterRequest) { r.BirthDate = "" })},
		{"email", pR, "email", false, reg(func(r *awda.RegisterRequest) { r.Email = "siti.rahma" })},

		{"submit nil", pS, "body", true, func(ctx context.Context, c *awda.Client) error { _, err := c.LoanSubmit(ctx, nil); return err }},
		{"amount zero", pS, "amount", false, sub(func(r *awda.LoanSubmitRequest) { r.Amount = 0 })},
		{"amount negative", pS, "amount", false, sub(func(r *awda.LoanSubmitRequest) { r.Amount = -3_000_000 })},
		{"tenor zero", pS, "tenor", false, sub(func(r *awda.LoanSubmitRequest) { r.Tenor = 0 })},
		{"tenorUnit", pS, "tenorUnit", false, sub(func(r *awda.LoanSubmitRequest) { r.TenorUnit = "YEAR" })},
		{"orderNo empty", pS, "orderNo", true, sub(func(r *awda.LoanSubmitRequest) { r.OrderNo = "" })},
		{"orderNo long", pS, "orderNo", false, sub(func(r *awda.LoanSubmitRequest) { r.OrderNo = strings.Repeat("o", 65) })},
		{"userId empty", pS, "userId", true, sub(func(r *awda.LoanSubmitRequest) { r.UserID = "" })},
		{"purpose empty", pS, "purpose", true, sub(func(r *awda.LoanSubmitRequest) { r.Purpose = "" })},
		{"gender", pS, "personal.gender", false, sub(func(r *awda.LoanSubmitRequest) { r.Personal.Gender = "F" })},
		{"address empty", pS, "personal.address", true, sub(func(r *awda.LoanSubmitRequest) { r.Personal.Address = "" })},
		{"dependents negative", pS, "personal.dependents", false, sub(func(r *awda.LoanSubmitRequest) { r.Personal.Dependents = -1 })},
		{"identity nik mismatch", pS, "identity.nik", false, sub(func(r *awda.LoanSubmitRequest) { r.Identity.BirthDate = "1991-05-12" })},
		{"identity name empty", pS, "identity.name", true, sub(func(r *awda.LoanSubmitRequest) { r.Identity.Name = "" })},
		{"identity ktp empty", pS, "identity.ktpImageId", true, sub(func(r *awda.LoanSubmitRequest) { r.Identity.KTPImageID = "" })},
		{"identity selfie empty", pS, "identity.selfieImageId", true, sub(func(r *awda.LoanSubmitRequest) { r.Identity.SelfieImageID = "" })},
		{"income zero", pS, "work.monthlyIncome", false, sub(func(r *awda.LoanSubmitRequest) { r.Work.MonthlyIncome = 0 })},
		{"occupation empty", pS, "work.occupation", true, sub(func(r *awda.LoanSubmitRequest) { r.Work.Occupation = "" })},
		{"employer phone", pS, "work.employerPhone", false, sub(func(r *awda.LoanSubmitRequest) { r.Work.EmployerPhone = "call " + piiName })},
		{"no contacts", pS, "emergencyContacts", true, sub(func(r *awda.LoanSubmitRequest) { r.EmergencyContacts = nil })},
		{"contact mobile", pS, "emergencyContacts[1].mobile", false, sub(func(r *awda.LoanSubmitRequest) { r.EmergencyContacts[1].Mobile = "021555" })},
		{"contact name", pS, "emergencyContacts[0].name", true, sub(func(r *awda.LoanSubmitRequest) { r.EmergencyContacts[0].Name = "" })},
		{"contact relation", pS, "emergencyContacts[0].relation", false, sub(func(r *awda.LoanSubmitRequest) { r.EmergencyContacts[0].Relation = "BOSS" })},

		{"eligible userId", awda.PathEligibleCheck, "userId", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.EligibleCheck(ctx, &awda.EligibleCheckRequest{})
			return err
		}},
		{"authlist nil", awda.PathAuthList, "userId", true, func(ctx context.Context, c *awda.Client) error { _, err := c.AuthList(ctx, nil); return err }},
		{"authpage authType", awda.PathAuthPage, "authType", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.AuthPage(ctx, &awda.AuthPageRequest{UserID: "U100"})
			return err
		}},
		{"authpage returnUrl", awda.PathAuthPage, "returnUrl", false, func(ctx context.Context, c *awda.Client) error {
			_, err := c.AuthPage(ctx, &awda.AuthPageRequest{UserID: "U100", AuthType: "EKYC", ReturnURL: "javascript:alert(1)"})
			return err
		}},
		{"cardquery userId", awda.PathBankCardQuery, "userId", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.BankCardQuery(ctx, &awda.BankCardQueryRequest{})
			return err
		}},
		{"cardverify accountNo letters", awda.PathBankCardVerify, "accountNo", false, func(ctx context.Context, c *awda.Client) error {
			_, err := c.BankCardVerify(ctx, &awda.BankCardVerifyRequest{UserID: "U100", BankCode: "BCA", AccountNo: piiAccountNo + "X", AccountName: piiName})
			return err
		}},
		{"cardverify accountNo short", awda.PathBankCardVerify, "accountNo", false, func(ctx context.Context, c *awda.Client) error {
			_, err := c.BankCardVerify(ctx, &awda.BankCardVerifyRequest{UserID: "U100", BankCode: "BCA", AccountNo: "1234", AccountName: piiName})
			return err
		}},
		{"cardverify accountName", awda.PathBankCardVerify, "accountName", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.BankCardVerify(ctx, &awda.BankCardVerifyRequest{UserID: "U100", BankCode: "BCA", AccountNo: piiAccountNo})
			return err
		}},
		{"imagetoken userId", awda.PathImageToken, "userId", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.ImageToken(ctx, &awda.ImageTokenRequest{})
			return err
		}},
		{"upload no file", awda.PathImageUpload, "file", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.ImageUpload(ctx, &awda.ImageUploadRequest{Token: "tok", ImageType: awda.ImageKTP})
			return err
		}},
		{"upload image type", awda.PathImageUpload, "imageType", false, func(ctx context.Context, c *awda.Client) error {
			_, err := c.ImageUpload(ctx, &awda.ImageUploadRequest{Token: "tok", ImageType: "PASSPORT", File: ktpBytes})
			return err
		}},
		{"upload token", awda.PathImageUpload, "token", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.ImageUpload(ctx, &awda.ImageUploadRequest{ImageType: awda.ImageKTP, File: ktpBytes})
			return err
		}},
		{"upload too large", awda.PathImageUpload, "file", false, func(ctx context.Context, c *awda.Client) error {
			_, err := c.ImageUpload(ctx, &awda.ImageUploadRequest{Token: "tok", ImageType: awda.ImageKTP, File: make([]byte, awda.MaxImageBytes+1)})
			return err
		}},
		{"base64 both", awda.PathImageUploadBase64, "base64", false, func(ctx context.Context, c *awda.Client) error {
			_, err := c.ImageUploadBase64(ctx, &awda.ImageUploadBase64Request{UserID: "U100", ImageType: awda.ImageKTP, Base64: "aGk=", URL: "https://x.example/a.jpg"})
			return err
		}},
		{"base64 neither", awda.PathImageUploadBase64, "base64", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.ImageUploadBase64(ctx, &awda.ImageUploadBase64Request{UserID: "U100", ImageType: awda.ImageKTP})
			return err
		}},
		{"base64 url scheme", awda.PathImageUploadBase64, "url", false, func(ctx context.Context, c *awda.Client) error {
			_, err := c.ImageUploadBase64(ctx, &awda.ImageUploadBase64Request{UserID: "U100", ImageType: awda.ImageKTP, URL: "file:///etc/passwd"})
			return err
		}},
		{"agreement loanNo", awda.PathLoanAgreement, "loanNo", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.LoanAgreement(ctx, &awda.LoanAgreementRequest{})
			return err
		}},
		{"sign signedAt", awda.PathLoanSign, "signedAt", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.LoanSign(ctx, &awda.LoanSignRequest{LoanNo: "L1", AgreementID: "AG", ClientIP: "203.0.113.7"})
			return err
		}},
		{"sign clientIp", awda.PathLoanSign, "clientIp", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.LoanSign(ctx, &awda.LoanSignRequest{LoanNo: "L1", AgreementID: "AG", SignedAt: 1})
			return err
		}},
		{"loaninfo neither", awda.PathLoanInfo, "loanNo", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.LoanInfo(ctx, &awda.LoanInfoRequest{})
			return err
		}},
		{"va loanNo", awda.PathRepaymentVA, "loanNo", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.RepaymentVA(ctx, &awda.RepaymentVARequest{})
			return err
		}},
		{"redirect pageType", awda.PathRedirectURL, "pageType", true, func(ctx context.Context, c *awda.Client) error {
			_, err := c.RedirectURL(ctx, &awda.RedirectURLRequest{UserID: "U100", LoanNo: "L1"})
			return err
		}},
		{"redirect pageType unknown", awda.PathRedirectURL, "pageType", false, func(ctx context.Context, c *awda.Client) error {
			_, err := c.RedirectURL(ctx, &awda.RedirectURLRequest{UserID: "U100", LoanNo: "L1", PageType: "HOME"})
			return err
		}},
	}
}

func TestLocalValidationMakesNoNetworkCall(t *testing.T) {
	f := newFakeAWDA(t, http.StatusOK, envelope(0, "success", `{}`))
	observed := 0
	c := newTestClient(t, f.URL, func(cfg *awda.Config) {
		cfg.Observers = []awda.Observer{func(context.Context, awda.CallInfo) { observed++ }}
	})
	for _, lc := range localCases() {
		t.Run(lc.name, func(t *testing.T) {
			err := lc.call(context.Background(), c)
			e := mustAWDAError(t, err)
			if e.Class != awda.ClassValidation || !awda.IsValidation(err) || awda.IsRetryable(err) {
				t.Errorf("class = %v, want validation", e.Class)
			}
			if e.Field != lc.field {
				t.Errorf("field = %q, want %q (%v)", e.Field, lc.field, err)
			}
			if e.Endpoint != lc.path || e.Code != 0 || e.HTTPStatus != 0 || e.Nonce != "" {
				t.Errorf("endpoint %q code %d http %d nonce %q", e.Endpoint, e.Code, e.HTTPStatus, e.Nonce)
			}
			if !strings.Contains(err.Error(), lc.field) {
				t.Errorf("error text %q lacks the field name", err)
			}
			if e.Message != "" && strings.Count(err.Error(), e.Message) != 1 {
				t.Errorf("error text repeats itself: %q", err)
			}
			if fe, ok := awda.AsFieldError(err); !ok || fe.Empty != lc.empty {
				t.Errorf("FieldError %+v, want Empty=%v", fe, lc.empty)
			} else if want := map[bool]awda.Code{true: awda.CodeParamEmpty, false: awda.CodeParamInvalid}[lc.empty]; fe.Code() != want {
				t.Errorf("FieldError.Code() = %d, want %d", fe.Code(), want)
			}
			assertNoPII(t, "error text", err.Error())
			assertNoPII(t, "error message", e.Message)
		})
	}
	if f.hits() != 0 || observed != 0 {
		t.Errorf("local validation reached the network: %d requests, %d observed", f.hits(), observed)
	}
}

func TestNormalisationDoesNotMutateCallerRequest(t *testing.T) {
	f := newFakeAWDA(t, http.StatusOK, envelope(0, "success", `{"userId":"U1","loanNo":"L1"}`))
	c := newTestClient(t, f.URL)
	r := validRegister()
	if _, err := c.Register(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if r.Mobile != piiMobile {
		t.Errorf("Register rewrote the caller's mobile to %q", r.Mobile)
	}
	s := validLoanSubmit()
	if _, err := c.LoanSubmit(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if s.EmergencyContacts[0].Mobile != piiContactTel {
		t.Errorf("LoanSubmit rewrote the caller's contact mobile to %q", s.EmergencyContacts[0].Mobile)
	}
	// Validate, by contrast, normalises in place (documented).
	if err := r.Validate(); err != nil || r.Mobile != piiMobileE164 {
		t.Errorf("Validate: %v, mobile %q", err, r.Mobile)
	}
}
