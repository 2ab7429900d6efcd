package sandbox_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

const registerBody = `{"partnerUserId":"p-1","mobile":"081234567890","name":"Budi","nik":"3174011508900001","birthDate":"1990-08-15"}`

func TestStrictness(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	reg := awda.PathUserRegister

	cases := []struct {
		name  string
		req   func() *rawReq
		http  int
		code  awda.Code
		check func(t *testing.T, env awda.Envelope)
	}{
		{name: "GET is 405", http: http.StatusMethodNotAllowed, req: func() *rawReq {
			r := newRaw(reg, registerBody).sign(t)
			r.method = http.MethodGet
			return r
		}},
		{name: "PUT is 405", http: http.StatusMethodNotAllowed, req: func() *rawReq {
			r := newRaw(reg, registerBody).sign(t)
			r.method = http.MethodPut
			return r
		}},
		{name: "unknown path is 404", http: http.StatusNotFound, req: func() *rawReq {
			return newRaw(awda.PathPrefix+"user/delete", registerBody).sign(t)
		}},
		{name: "no headers at all", code: awda.CodeSignatureFailed, req: func() *rawReq {
			return newRaw(reg, registerBody)
		}},
		{name: "signed but no appId", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody).sign(t)
			r.header.Del(awda.HeaderAppID)
			return r
		}},
		{name: "unknown appId", code: awda.CodeMerchantInvalid, req: func() *rawReq {
			r := newRaw(reg, registerBody)
			r.appID = "someone-else"
			return r.sign(t)
		}},
		{name: "unsigned", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody).sign(t)
			r.header.Del(awda.HeaderSign)
			return r
		}},
		{name: "missing nonce", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody).sign(t)
			r.header.Del(awda.HeaderNonce)
			return r
		}},
		{name: "missing timestamp", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody).sign(t)
			r.header.Del(awda.HeaderTimestamp)
			return r
		}},
		{name: "missing sign type", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody).sign(t)
			r.header.Del(awda.HeaderSignType)
			return r
		}},
		{name: "timestamp in seconds text", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody).sign(t)
			r.header.Set(awda.HeaderTimestamp, "yesterday")
			return r
		}},
		{name: "uppercase nonce", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody)
			r.nonce = "ABCDEF0123456789ABCDEF0123456789"
			return r.sign(t)
		}},
		{name: "RSA sign type without a partner key", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody)
			r.signType = awda.SignTypeRSA
			return r.sign(t)
		}},
		{name: "wrong secret", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody)
			r.secret = "not-the-secret"
			return r.sign(t)
		}},
		{name: "body changed after signing", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody).sign(t)
			r.body = []byte(`{"partnerUserId":"p-2","mobile":"081234567890","name":"Budi","nik":"3174011508900001","birthDate":"1990-08-15"}`)
			return r
		}},
		{name: "signed for another path", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(awda.PathAuthList, registerBody).sign(t)
			r.path = reg
			return r
		}},
		{name: "stale and badly signed: signature first", code: awda.CodeSignatureFailed, req: func() *rawReq {
			r := newRaw(reg, registerBody)
			r.ts -= 5 * 60_000
			r.secret = "wrong"
			return r.sign(t)
		}},
		{name: "timestamp 61 s old", code: awda.CodeTimestampExpired, req: func() *rawReq {
			r := newRaw(reg, registerBody)
			r.ts -= 61_000
			return r.sign(t)
		}},
		{name: "timestamp 61 s ahead", code: awda.CodeTimestampExpired, req: func() *rawReq {
			r := newRaw(reg, registerBody)
			r.ts += 61_000
			return r.sign(t)
		}},
		{name: "timestamp 50 s old is fine", code: awda.CodeSuccess, req: func() *rawReq {
			r := newRaw(reg, registerBody)
			r.ts -= 50_000
			return r.sign(t)
		}},
		{name: "body not JSON", code: awda.CodeParamError, req: func() *rawReq {
			return newRaw(reg, `partnerUserId=p-1`).sign(t)
		}},
		{name: "empty body", code: awda.CodeParamError, req: func() *rawReq {
			return newRaw(reg, ``).sign(t)
		}},
		{name: "JSON null", code: awda.CodeParamError, req: func() *rawReq {
			return newRaw(reg, `null`).sign(t)
		}},
		{name: "form content type", code: awda.CodeParamError, req: func() *rawReq {
			r := newRaw(awda.PathBankList, `{}`)
			r.contentType = "application/x-www-form-urlencoded"
			return r.sign(t)
		}},
		{name: "JSON with charset is fine", code: awda.CodeSuccess, req: func() *rawReq {
			r := newRaw(awda.PathBankList, `{}`)
			r.contentType = "application/json; charset=utf-8"
			return r.sign(t)
		}},
		{name: "JSON array", code: awda.CodeParamError, req: func() *rawReq {
			return newRaw(reg, `[1,2]`).sign(t)
		}},
		{name: "unknown field", code: awda.CodeParamError, req: func() *rawReq {
			return newRaw(awda.PathBankList, `{"country":"ID"}`).sign(t)
		}},
		{name: "wrong type", code: awda.CodeParamError, req: func() *rawReq {
			return newRaw(awda.PathLoanInfo, `{"loanNo":42}`).sign(t)
		}},
		{name: "trailing data", code: awda.CodeParamError, req: func() *rawReq {
			return newRaw(awda.PathBankList, `{} {}`).sign(t)
		}},
		{name: "missing field", code: awda.CodeParamEmpty, req: func() *rawReq {
			return newRaw(reg, `{"partnerUserId":"p-3","mobile":"081234567890","nik":"3174011508900003","birthDate":"1990-08-15"}`).sign(t)
		}, check: func(t *testing.T, env awda.Envelope) {
			if !bytes.Contains([]byte(env.Message), []byte("name")) {
				t.Errorf("message %q does not name the field", env.Message)
			}
		}},
		{name: "missing userId", code: awda.CodeParamEmpty, req: func() *rawReq {
			return newRaw(awda.PathEligibleCheck, `{}`).sign(t)
		}},
		{name: "invalid mobile", code: awda.CodeParamInvalid, req: func() *rawReq {
			return newRaw(reg, `{"partnerUserId":"p-4","mobile":"12345","name":"Budi","nik":"3174011508900004","birthDate":"1990-08-15"}`).sign(t)
		}},
		{name: "NIK not matching birth date", code: awda.CodeParamInvalid, req: func() *rawReq {
			return newRaw(reg, `{"partnerUserId":"p-5","mobile":"081234567890","name":"Budi","nik":"3174011508900005","birthDate":"1991-08-15"}`).sign(t)
		}, check: func(t *testing.T, env awda.Envelope) {
			if bytes.Contains([]byte(env.Message), []byte("3174011508900005")) {
				t.Errorf("message %q quotes the NIK", env.Message)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, env := e.do(tc.req())
			want := tc.http
			if want == 0 {
				want = http.StatusOK
			}
			if status != want {
				t.Fatalf("HTTP %d, want %d", status, want)
			}
			if want == http.StatusOK && env.Code != tc.code {
				t.Fatalf("code %d (%s), want %d", env.Code, env.Message, tc.code)
			}
			if tc.check != nil {
				tc.check(t, env)
			}
		})
	}

	st := e.srv.Stats()
	if st.Calls["other"]["http404"] != 1 || st.Calls[reg]["http405"] != 2 {
		t.Errorf("HTTP refusals not counted: %+v", st.Calls)
	}
	if st.Calls[reg]["1004"] < 5 {
		t.Errorf("1004 not counted: %+v", st.Calls[reg])
	}
}

func TestNonceReplay(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	r := newRaw(awda.PathBankList, `{}`).sign(t)
	if c := e.code(r); c != awda.CodeSuccess {
		t.Fatalf("first use: code %d", c)
	}
	if c := e.code(r); c != awda.CodeRepeatRequest {
		t.Fatalf("replay: code %d, want 1001", c)
	}

	// A request refused for its signature or timestamp does not burn the
	// nonce: the properly signed request with that nonce still passes.
	nonce := awda.NewNonce()
	bad := newRaw(awda.PathBankList, `{}`)
	bad.nonce, bad.secret = nonce, "wrong"
	if c := e.code(bad.sign(t)); c != awda.CodeSignatureFailed {
		t.Fatalf("bad signature: code %d", c)
	}
	stale := newRaw(awda.PathBankList, `{}`)
	stale.nonce, stale.ts = nonce, stale.ts-120_000
	if c := e.code(stale.sign(t)); c != awda.CodeTimestampExpired {
		t.Fatalf("stale: code %d", c)
	}
	good := newRaw(awda.PathBankList, `{}`)
	good.nonce = nonce
	if c := e.code(good.sign(t)); c != awda.CodeSuccess {
		t.Fatalf("good after refused ones: code %d", c)
	}
	// The same nonce on another interface is a replay too.
	other := newRaw(awda.PathAuthList, `{"userId":"usr_x"}`)
	other.nonce = nonce
	if c := e.code(other.sign(t)); c != awda.CodeRepeatRequest {
		t.Fatalf("nonce reused on another path: code %d, want 1001", c)
	}
}

func TestNonceCacheIsBounded(t *testing.T) {
	e := newEnv(t, sandbox.Config{NonceCacheSize: 2})
	first := newRaw(awda.PathBankList, `{}`).sign(t)
	if c := e.code(first); c != awda.CodeSuccess {
		t.Fatal(c)
	}
	for range 2 {
		if c := e.code(newRaw(awda.PathBankList, `{}`).sign(t)); c != awda.CodeSuccess {
			t.Fatal(c)
		}
	}
	// The oldest nonce was forgotten to keep the cache at two entries.
	if c := e.code(first); c != awda.CodeSuccess {
		t.Fatalf("evicted nonce: code %d, want 0 (documented trade-off)", c)
	}
}

func TestClockSkewProduces1003(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	e.srv.SetClockSkew(2 * time.Minute)
	if c := e.code(newRaw(awda.PathBankList, `{}`).sign(t)); c != awda.CodeTimestampExpired {
		t.Fatalf("code %d, want 1003", c)
	}
	e.srv.SetClockSkew(30 * time.Second)
	if c := e.code(newRaw(awda.PathBankList, `{}`).sign(t)); c != awda.CodeSuccess {
		t.Fatalf("code %d with a skew inside the window", c)
	}
}

func multipartBody(t *testing.T, fields map[string]string, file []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile(awda.FormFieldFile, "ktp.jpg")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

func TestMultipartUploadIsSignedOverTheFile(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	b := e.prepareUserOnly("p-mp", 7)
	tok, err := e.client.ImageToken(ctx(t), &awda.ImageTokenRequest{UserID: b})
	if err != nil {
		t.Fatal(err)
	}
	file := []byte("\xff\xd8\xff image bytes")
	body, ct := multipartBody(t, map[string]string{"token": tok.Token, "imageType": "KTP"}, file)

	// Signed over the whole multipart body instead of the file: refused.
	r := newRaw(awda.PathImageUpload, "")
	r.body, r.contentType = body, ct
	if c := e.code(r.sign(t)); c != awda.CodeSignatureFailed {
		t.Fatalf("signed over the body: code %d, want 1004", c)
	}
	// Signed over the file bytes: accepted.
	r = newRaw(awda.PathImageUpload, "")
	r.body, r.contentType, r.hashOver = body, ct, file
	status, env := e.do(r.sign(t))
	if status != 200 || env.Code != awda.CodeSuccess || !bytes.Contains(env.Data, []byte("imageId")) {
		t.Fatalf("signed over the file: %d %+v", status, env)
	}
	// JSON instead of multipart, signed over its body: 400.
	if c := e.code(newRaw(awda.PathImageUpload, `{"token":"x"}`).sign(t)); c != awda.CodeParamError {
		t.Fatalf("JSON upload: code %d, want 400", c)
	}
	// Multipart without the file part: 1006.
	body, ct = multipartBody(t, map[string]string{"token": tok.Token, "imageType": "KTP"}, nil)
	r = newRaw(awda.PathImageUpload, "")
	r.body, r.contentType, r.hashOver = body, ct, []byte{}
	if c := e.code(r.sign(t)); c != awda.CodeParamEmpty {
		t.Fatalf("no file: code %d, want 1006", c)
	}
	// Unknown image type: 1007.
	body, ct = multipartBody(t, map[string]string{"token": tok.Token, "imageType": "PASSPORT"}, file)
	r = newRaw(awda.PathImageUpload, "")
	r.body, r.contentType, r.hashOver = body, ct, file
	if c := e.code(r.sign(t)); c != awda.CodeParamInvalid {
		t.Fatalf("bad image type: code %d, want 1007", c)
	}
}

// prepareUserOnly registers a user and returns the userId.
func (e *env) prepareUserOnly(partnerUserID string, n int) string {
	e.t.Helper()
	r, err := e.client.Register(ctx(e.t), registration(partnerUserID, n))
	if err != nil {
		e.t.Fatal(err)
	}
	return r.UserID
}

func TestRSASignedRequests(t *testing.T) {
	partner := rsaKey(t)
	e := newEnv(t, sandbox.Config{PartnerPublicKey: &partner.PublicKey})
	signer, err := awda.NewRSASigner(partner)
	if err != nil {
		t.Fatal(err)
	}
	cl := e.newClient(awda.Config{Signer: signer})
	if _, err := cl.BankList(ctx(t)); err != nil {
		t.Fatalf("RSA-signed call: %v", err)
	}
	// HMAC is not accepted when only an RSA key is configured.
	if _, err := e.client.BankList(ctx(t)); awda.ClassOf(err) != awda.ClassConfiguration {
		t.Fatalf("HMAC call against an RSA-only sandbox: %v", err)
	}
	other, err := awda.NewRSASigner(rsaKey(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.newClient(awda.Config{Signer: other}).BankList(ctx(t))
	if e, ok := awda.AsError(err); !ok || e.Code != awda.CodeSignatureFailed {
		t.Fatalf("call signed with another RSA key: %v", err)
	}
}
