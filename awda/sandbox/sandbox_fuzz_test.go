package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

// fuzzInterface is what the contract says an interface takes and answers.
type fuzzInterface struct {
	path string
	req  func() any // nil: multipart (image/upload)
	resp func() any
}

var fuzzInterfaces = []fuzzInterface{
	{awda.PathUserRegister, func() any { return &awda.RegisterRequest{} }, func() any { return &awda.RegisterResponse{} }},
	{awda.PathEligibleCheck, func() any { return &awda.EligibleCheckRequest{} }, func() any { return &awda.EligibleCheckResponse{} }},
	{awda.PathAuthList, func() any { return &awda.AuthListRequest{} }, func() any { return &awda.AuthListResponse{} }},
	{awda.PathAuthPage, func() any { return &awda.AuthPageRequest{} }, func() any { return &awda.AuthPageResponse{} }},
	{awda.PathBankCardQuery, func() any { return &awda.BankCardQueryRequest{} }, func() any { return &awda.BankCardQueryResponse{} }},
	{awda.PathBankList, func() any { return &awda.BankListRequest{} }, func() any { return &awda.BankListResponse{} }},
	{awda.PathBankCardVerify, func() any { return &awda.BankCardVerifyRequest{} }, func() any { return &awda.BankCardVerifyResponse{} }},
	{awda.PathImageToken, func() any { return &awda.ImageTokenRequest{} }, func() any { return &awda.ImageTokenResponse{} }},
	{awda.PathImageUpload, nil, func() any { return &awda.ImageUploadResponse{} }},
	{awda.PathImageUploadBase64, func() any { return &awda.ImageUploadBase64Request{} }, func() any { return &awda.ImageUploadResponse{} }},
	{awda.PathLoanSubmit, func() any { return &awda.LoanSubmitRequest{} }, func() any { return &awda.LoanSubmitResponse{} }},
	{awda.PathLoanAgreement, func() any { return &awda.LoanAgreementRequest{} }, func() any { return &awda.LoanAgreementResponse{} }},
	{awda.PathLoanSign, func() any { return &awda.LoanSignRequest{} }, func() any { return &awda.LoanSignResponse{} }},
	{awda.PathLoanInfo, func() any { return &awda.LoanInfoRequest{} }, func() any { return &awda.LoanInfoResponse{} }},
	{awda.PathRepaymentVA, func() any { return &awda.RepaymentVARequest{} }, func() any { return &awda.RepaymentVAResponse{} }},
	{awda.PathRedirectURL, func() any { return &awda.RedirectURLRequest{} }, func() any { return &awda.RedirectURLResponse{} }},
}

var knownCodes = map[awda.Code]bool{
	awda.CodeSuccess: true, awda.CodeBusy: true, awda.CodeRequestTimeout: true, awda.CodeParamError: true,
	awda.CodeNetworkError: true, awda.CodeDataNotExist: true, awda.CodeUnknown: true, awda.CodeSystemBusy: true,
	awda.CodeRepeatRequest: true, awda.CodeInvalidToken: true, awda.CodeTimestampExpired: true,
	awda.CodeSignatureFailed: true, awda.CodeMerchantInvalid: true, awda.CodeParamEmpty: true,
	awda.CodeParamInvalid: true, awda.CodeUserExists: true, awda.CodeUserNotExist: true, awda.CodeOrderNotExist: true,
	awda.CodeSystemBusy2: true, awda.CodeAuthInfoFailed: true,
}

// Fixture state each fuzz input starts from (after a reset every so
// often): one registered user and one upload token. The sandbox is seeded,
// so their IDs are the same every time and seeds can name them.
const (
	fuzzUserID = "usr_60bb2a3a813868a5" // checked in FuzzSignedRequest
	fuzzSeed   = 6
)

type fuzzSandbox struct {
	srv    *sandbox.Server
	mu     sync.Mutex
	served int
	userID string
	token  string
}

func newFuzzSandbox(f *testing.F) *fuzzSandbox {
	f.Helper()
	srv, err := sandbox.New(sandbox.Config{AppID: testAppID, HMACSecret: []byte(testSecret), Seed: fuzzSeed, DisableAdmin: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	fs := &fuzzSandbox{srv: srv}
	if err := fs.prime(); err != nil {
		f.Fatal(err)
	}
	return fs
}

// prime resets the sandbox and makes the fixture user and token again.
func (fs *fuzzSandbox) prime() error {
	fs.srv.Reset()
	reg := `{"partnerUserId":"fuzz-1","mobile":"081234567890","name":"Dewi Lestari","nik":"3171015505900001","birthDate":"1990-05-15"}`
	_, _, env := fs.call(awda.PathUserRegister, "application/json", []byte(reg), nil, 0)
	var r awda.RegisterResponse
	if env.Code != awda.CodeSuccess || json.Unmarshal(env.Data, &r) != nil {
		return fmt.Errorf("register fixture: %+v", env)
	}
	_, _, env = fs.call(awda.PathImageToken, "application/json", []byte(`{"userId":"`+r.UserID+`"}`), nil, 0)
	var tok awda.ImageTokenResponse
	if env.Code != awda.CodeSuccess || json.Unmarshal(env.Data, &tok) != nil {
		return fmt.Errorf("image token fixture: %+v", env)
	}
	fs.userID, fs.token = r.UserID, tok.Token
	return nil
}

// call signs body as the partner does (over signedOver when not nil, as
// for a multipart upload's file) and serves it. mode bit 0 signs with a
// wrong secret, bit 1 stamps it two minutes old, bit 3 names another app.
func (fs *fuzzSandbox) call(path, contentType string, body, signedOver []byte, mode uint8) (*http.Request, *httptest.ResponseRecorder, awda.Envelope) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	secret, appID, at := testSecret, testAppID, time.Now()
	if mode&1 != 0 {
		secret = "not-the-secret"
	}
	if mode&2 != 0 {
		at = at.Add(-2 * time.Minute)
	}
	if mode&8 != 0 {
		appID = "someone-else"
	}
	if signedOver == nil {
		signedOver = body
	}
	nonce := awda.NewNonce()
	signer, _ := awda.NewHMACSigner([]byte(secret))
	sig, _ := signer.Sign(awda.StringToSign(path, appID, at.UnixMilli(), nonce, awda.BodyHash(signedOver)))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(awda.HeaderAppID, appID)
	req.Header.Set(awda.HeaderTimestamp, strconv.FormatInt(at.UnixMilli(), 10))
	req.Header.Set(awda.HeaderNonce, nonce)
	req.Header.Set(awda.HeaderSignType, awda.SignTypeHMAC)
	req.Header.Set(awda.HeaderSign, sig)
	rec := httptest.NewRecorder()
	fs.srv.ServeHTTP(rec, req)
	var env awda.Envelope
	_ = json.Unmarshal(rec.Body.Bytes(), &env)
	return req, rec, env
}

// replay sends the last request's exact bytes and headers again.
func (fs *fuzzSandbox) replay(req *http.Request, body []byte) awda.Envelope {
	again := httptest.NewRequest(http.MethodPost, req.URL.Path, bytes.NewReader(body))
	again.Header = req.Header.Clone()
	rec := httptest.NewRecorder()
	fs.srv.ServeHTTP(rec, again)
	var env awda.Envelope
	_ = json.Unmarshal(rec.Body.Bytes(), &env)
	return env
}

// FuzzSignedRequest sends arbitrary bodies, signed, to every partner
// interface of the sandbox (and, for image/upload, arbitrary multipart
// forms signed over their file). Properties:
//
//   - every answer is HTTP 200 with AWDA's envelope and a code of the
//     contract: never a 5xx, a panic or another body;
//   - authentication comes first and is exact: a wrong secret is 1004, a
//     wrong app 1005, a stale timestamp 1003, whatever the body; an honest
//     signature is never refused as one; the same signed request again is
//     1001;
//   - the sandbox is at least as strict as the contract: a success means
//     the body was one JSON object of the interface's request type with no
//     unknown fields and passed the request's own Validate, and the data
//     answered decodes strictly into the interface's response type;
//   - an error message never quotes a value of the body.
//
// mode: bit 0 wrong secret, bit 1 stale, bit 2 send twice, bit 3 wrong app;
// bit 4 on image/upload: build the multipart form as the client does
// (awda.EncodeImageUpload: imageType = contentType, file = body, token =
// text or the fixture's), bit 5 with text as the file name instead.
func FuzzSignedRequest(f *testing.F) {
	fs := newFuzzSandbox(f)
	if fs.userID != fuzzUserID {
		f.Fatalf("the fixture user is %q now; update fuzzUserID and the seeds that name it", fs.userID)
	}
	f.Add(uint8(1), "application/json", []byte(`{"userId":"`+fuzzUserID+`"}`), uint8(0), "")
	f.Add(uint8(8), "KTP", []byte("\xff\xd8\xff\xe0 jpeg"), uint8(16), "")
	f.Fuzz(func(t *testing.T, which uint8, contentType string, body []byte, mode uint8, text string) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if fs.served++; fs.served%500 == 0 {
			// Bound the state random registrations and orders pile up.
			if err := fs.prime(); err != nil {
				t.Fatal(err)
			}
		}
		it := fuzzInterfaces[int(which)%len(fuzzInterfaces)]
		wire, signedOver := body, []byte(nil)
		multipartForm := it.req == nil && mode&16 != 0
		if multipartForm {
			form := awda.ImageUploadRequest{Token: fs.token, ImageType: awda.ImageType(contentType), File: body}
			if mode&32 != 0 {
				form.FileName = text // a borrower's own file name
			} else if text != "" {
				form.Token = text
			}
			b, ct, err := awda.EncodeImageUpload(&form)
			if err != nil {
				t.Fatal(err)
			}
			wire, signedOver, contentType = b, body, ct
		}

		req, rec, _ := fs.call(it.path, contentType, wire, signedOver, mode&11)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: HTTP %d: %s", it.path, rec.Code, rec.Body)
		}
		code, msg, err := awda.DecodeResponse(rec.Body.Bytes(), new(json.RawMessage))
		if err != nil || !knownCodes[code] {
			t.Fatalf("%s: not an envelope of the contract (%v): %s", it.path, err, rec.Body)
		}

		// Authentication, before anything about the body. A raw body sent
		// to image/upload may parse as a form, whose file hash the sandbox
		// then checks instead: only there may an honest signature fail.
		hashedAsSigned := it.req != nil || multipartForm
		switch {
		case mode&8 != 0:
			if code != awda.CodeMerchantInvalid {
				t.Fatalf("%s: another app's request answered %d", it.path, code)
			}
			return
		case mode&1 != 0:
			if code != awda.CodeSignatureFailed {
				t.Fatalf("%s: a wrong signature answered %d", it.path, code)
			}
			return
		case mode&2 != 0:
			if code != awda.CodeTimestampExpired && (hashedAsSigned || code != awda.CodeSignatureFailed) {
				t.Fatalf("%s: a stale request answered %d", it.path, code)
			}
			return
		case hashedAsSigned && (code == awda.CodeSignatureFailed || code == awda.CodeTimestampExpired || code == awda.CodeRepeatRequest && it.path != awda.PathLoanSubmit):
			t.Fatalf("%s: an honest request answered %d %q", it.path, code, msg)
		}
		if mode&4 != 0 && code != awda.CodeSignatureFailed {
			if again := fs.replay(req, wire); again.Code != awda.CodeRepeatRequest {
				t.Fatalf("%s: the same signed request again answered %d", it.path, again.Code)
			}
		}

		checkNoEcho(t, it.path, msg, body)
		var data json.RawMessage
		_, _, _ = awda.DecodeResponse(rec.Body.Bytes(), &data)
		if code == awda.CodeSuccess || len(data) > 0 && string(data) != "null" {
			out := it.resp()
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(out); err != nil {
				t.Fatalf("%s: code %d with data that is not the contract's response (%v): %s", it.path, code, err, data)
			}
		}
		if code != awda.CodeSuccess || it.req == nil {
			return
		}
		in := it.req()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(in); err != nil || dec.More() {
			t.Fatalf("%s: success for a body that is not the request type (%v): %q", it.path, err, body)
		}
		if v, ok := in.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				t.Fatalf("%s: success for a request its Validate refuses (%v): %q", it.path, err, body)
			}
		}
	})
}

// checkNoEcho fails when msg quotes a string value of the body that is not
// also a member name (unknown members are named, by design) and is long
// enough not to be part of a fixed message by chance.
func checkNoEcho(t *testing.T, path, msg string, body []byte) {
	t.Helper()
	var v any
	if json.Unmarshal(body, &v) != nil {
		return
	}
	keys, values := map[string]bool{}, []string{}
	var walk func(any)
	walk = func(x any) {
		switch y := x.(type) {
		case string:
			values = append(values, y)
		case map[string]any:
			for k, e := range y {
				keys[k] = true
				walk(e)
			}
		case []any:
			for _, e := range y {
				walk(e)
			}
		}
	}
	walk(v)
	for _, s := range values {
		if len(s) < 8 || !strings.Contains(msg, s) {
			continue
		}
		named := false
		for k := range keys {
			named = named || strings.Contains(k, s)
		}
		if !named {
			t.Fatalf("%s: message quotes a value of the body %q: %q", path, s, msg)
		}
	}
}
