package api

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/internal/store"
)

// call serves one request on h and decodes a JSON answer into out (if not
// nil).
func call(t *testing.T, h http.Handler, method, path, token, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != ContentTypeProblem {
		t.Fatalf("Content-Type = %q, want %s (status %d, body %s)", ct, ContentTypeProblem, rec.Code, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem does not decode: %v: %s", err, rec.Body)
	}
	if p.Status != rec.Code {
		t.Errorf("problem status %d, HTTP status %d", p.Status, rec.Code)
	}
	if p.Type == "" || p.Title == "" || p.RequestID == "" {
		t.Errorf("problem lacks type, title or requestId: %+v", p)
	}
	return p
}

func fields(p Problem) map[string]string {
	m := map[string]string{}
	for _, e := range p.Errors {
		m[e.Field] = e.Detail
	}
	return m
}

// Every /v1 route refuses a request without a token, with a wrong one and
// with another scheme: 401 problem with WWW-Authenticate, before anything
// else is looked at (the bare server would panic past auth).
func TestV1RoutesRequireBearerToken(t *testing.T) {
	s := bareServer(t)
	n := 0
	for _, route := range s.Routes() {
		method, path, _ := strings.Cut(route, " ")
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		n++
		path = strings.ReplaceAll(path, "{ref}", "app-1")
		for name, auth := range map[string]string{
			"none":         "",
			"wrong token":  "Bearer wrong-token-0123456789",
			"basic scheme": "Basic " + testToken,
			"empty bearer": "Bearer ",
			"token prefix": "Bearer " + testToken[:len(testToken)-1],
		} {
			req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s (%s): %d, want 401", route, name, rec.Code)
				continue
			}
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s (%s): no WWW-Authenticate", route, name)
			}
			if p := decodeProblem(t, rec); p.Type != TypeUnauthorized {
				t.Errorf("%s (%s): type %s", route, name, p.Type)
			}
		}
	}
	if n != 11 {
		t.Errorf("checked %d /v1 routes, want 11", n)
	}
}

// An invalid application is refused with every problem at once, each named
// by its JSON path, and without quoting any submitted value.
func TestCreateApplicationValidation(t *testing.T) {
	s := bareServer(t)
	app := validApplication("app-1")
	app.ApplicantRef = "bad ref!"
	app.Applicant.NIK = "3171014505900001" // encodes 5 May, not 15 May
	app.Applicant.Mobile = "0212345678"    // a landline
	app.Applicant.Personal.Gender = "X"
	app.Applicant.Work.MonthlyIncome = 0
	app.Loan.TenorUnit = "WEEK"
	app.EmergencyContacts[0].Mobile = "12345"
	app.Documents = app.Documents[:1]
	app.Documents[0].DocumentID = "not-a-uuid"
	app.ReturnURL = "ftp://x"
	rec := call(t, s, "POST", "/v1/applications", testToken, "application/json", mustJSON(t, app))
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", rec.Code, rec.Body)
	}
	p := decodeProblem(t, rec)
	if p.Type != TypeValidation {
		t.Errorf("type %s", p.Type)
	}
	got := fields(p)
	for _, f := range []string{
		"applicantRef", "applicant.nik", "applicant.mobile", "applicant.personal.gender",
		"applicant.work.monthlyIncome", "loan.tenorUnit", "emergencyContacts[0].mobile",
		"documents[0].documentId", "documents", "returnUrl",
	} {
		if _, ok := got[f]; !ok {
			t.Errorf("no error for %s; got %v", f, got)
		}
	}
	body := rec.Body.String()
	for _, pii := range []string{"3171014505900001", "0212345678", fixtureName, "12345\""} {
		if strings.Contains(body, pii) {
			t.Errorf("the answer quotes a submitted value %q: %s", pii, body)
		}
	}
}

// What AWDA's own validators would refuse is refused here too (the
// backstop), with the field mapped to this API's path.
func TestCreateApplicationAWDABackstop(t *testing.T) {
	s := bareServer(t)
	app := validApplication("app-1")
	app.EmergencyContacts[0].Relation = "NEIGHBOUR" // only AWDA's list knows
	rec := call(t, s, "POST", "/v1/applications", testToken, "application/json", mustJSON(t, app))
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", rec.Code, rec.Body)
	}
	if got := fields(decodeProblem(t, rec)); got["emergencyContacts[0].relation"] == "" {
		t.Errorf("errors %v: want emergencyContacts[0].relation", got)
	}
}

func TestMalformedBodies(t *testing.T) {
	s := bareServer(t)
	for _, tc := range []struct {
		name, ct, body string
		status         int
		field          string
	}{
		{"not json", "application/json", `{"applicantRef":`, 400, "body"},
		{"array", "application/json", `[1,2]`, 400, "body"},
		{"empty", "application/json", ``, 400, ""},
		{"unknown field", "application/json", `{"applicantRef":"a","nikk":"1"}`, 400, "nikk"},
		{"wrong type", "application/json", `{"loan":{"amount":"many"}}`, 400, "loan.amount"},
		{"trailing data", "application/json", `{} {}`, 400, "body"},
		{"form", "application/x-www-form-urlencoded", `a=b`, 415, ""},
		{"too large", "application/json", `{"applicantRef":"` + strings.Repeat("a", MaxJSONBytes) + `"}`, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := call(t, s, "POST", "/v1/applications", testToken, tc.ct, []byte(tc.body))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			p := decodeProblem(t, rec)
			if tc.field != "" {
				if _, ok := fields(p)[tc.field]; !ok {
					t.Errorf("errors %v: want %s", p.Errors, tc.field)
				}
			}
			if strings.Contains(rec.Body.String(), "many") {
				t.Errorf("the answer quotes the value: %s", rec.Body)
			}
		})
	}
}

func TestActionValidation(t *testing.T) {
	s := bareServer(t)
	rec := call(t, s, "POST", "/v1/applications/app-1/bank-card", testToken, "application/json",
		[]byte(`{"bankCode":"","accountNo":"12ab","accountName":" "}`))
	if rec.Code != 422 {
		t.Fatalf("bank card: %d %s", rec.Code, rec.Body)
	}
	got := fields(decodeProblem(t, rec))
	for _, f := range []string{"bankCode", "accountNo", "accountName"} {
		if got[f] == "" {
			t.Errorf("bank card: no error for %s: %v", f, got)
		}
	}
	if strings.Contains(rec.Body.String(), "12ab") {
		t.Errorf("quotes the account number: %s", rec.Body)
	}

	rec = call(t, s, "POST", "/v1/applications/app-1/signature", testToken, "application/json",
		[]byte(`{"agreementId":"","consent":false,"clientIp":"300.1.1.1"}`))
	if rec.Code != 422 {
		t.Fatalf("signature: %d %s", rec.Code, rec.Body)
	}
	got = fields(decodeProblem(t, rec))
	for _, f := range []string{"agreementId", "consent", "clientIp"} {
		if got[f] == "" {
			t.Errorf("signature: no error for %s: %v", f, got)
		}
	}

	rec = call(t, s, "POST", "/v1/applications/app-1/retry", testToken, "application/json",
		mustJSON(t, map[string]string{"reason": strings.Repeat("x", 501)}))
	if rec.Code != 422 || fields(decodeProblem(t, rec))["reason"] == "" {
		t.Errorf("retry with a long reason: %d %s", rec.Code, rec.Body)
	}

	// An impossible ref is unknown without asking anyone.
	rec = call(t, s, "GET", "/v1/applications/bad%20ref", testToken, "", nil)
	if rec.Code != 404 {
		t.Errorf("GET bad ref: %d", rec.Code)
	}
}

func TestListQueryValidation(t *testing.T) {
	s := bareServer(t)
	rec := call(t, s, "GET", "/v1/applications?stage=NOPE&stuck=maybe&limit=0", testToken, "", nil)
	if rec.Code != 400 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	got := fields(decodeProblem(t, rec))
	for _, f := range []string{"stage", "stuck", "limit"} {
		if got[f] == "" {
			t.Errorf("no error for %s: %v", f, got)
		}
	}
}

func multipartBody(t *testing.T, fieldsKV map[string]string, file []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fieldsKV {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", "ktp.png")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(file)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

func TestDocumentUploadRefusals(t *testing.T) {
	s := bareServer(t)
	png := testPNG(t, 8)

	body, ct := multipartBody(t, map[string]string{}, png)
	rec := call(t, s, "POST", "/v1/documents", testToken, ct, body)
	if rec.Code != 422 || fields(decodeProblem(t, rec))["imageType"] == "" {
		t.Errorf("no imageType: %d %s", rec.Code, rec.Body)
	}

	body, ct = multipartBody(t, map[string]string{"imageType": "KTP"}, nil)
	rec = call(t, s, "POST", "/v1/documents", testToken, ct, body)
	if rec.Code != 422 || fields(decodeProblem(t, rec))["file"] == "" {
		t.Errorf("no file: %d %s", rec.Code, rec.Body)
	}

	body, ct = multipartBody(t, map[string]string{"imageType": "KTP"}, []byte("%PDF-1.4 not an image"))
	rec = call(t, s, "POST", "/v1/documents", testToken, ct, body)
	if rec.Code != 415 || fields(decodeProblem(t, rec))["file"] == "" {
		t.Errorf("a PDF: %d %s", rec.Code, rec.Body)
	}

	big := append(append([]byte(nil), png...), make([]byte, DefaultMaxDocumentBytes)...)
	body, ct = multipartBody(t, map[string]string{"imageType": "KTP"}, big)
	rec = call(t, s, "POST", "/v1/documents", testToken, ct, body)
	if rec.Code != 413 {
		t.Errorf("too large: %d %s", rec.Code, rec.Body)
	}

	rec = call(t, s, "POST", "/v1/documents", testToken, "application/json", []byte(`{"imageType":"KTP","base64":"***"}`))
	if rec.Code != 422 || fields(decodeProblem(t, rec))["base64"] == "" {
		t.Errorf("bad base64: %d %s", rec.Code, rec.Body)
	}

	rec = call(t, s, "POST", "/v1/documents", testToken, "text/plain", []byte(`x`))
	if rec.Code != 415 {
		t.Errorf("text/plain: %d", rec.Code)
	}
}

func TestUnknownRoutesAndRequestIDs(t *testing.T) {
	s := bareServer(t)
	rec := call(t, s, "GET", "/v2/nothing", "", "", nil)
	if rec.Code != 404 || decodeProblem(t, rec).Type != TypeNotFound {
		t.Errorf("unknown path: %d %s", rec.Code, rec.Body)
	}
	rec = call(t, s, "DELETE", "/v1/applications", testToken, "", nil)
	if rec.Code != 405 || !strings.Contains(rec.Header().Get("Allow"), "POST") {
		t.Errorf("DELETE /v1/applications: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
	decodeProblem(t, rec)

	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set(HeaderRequestID, "trace-42.a")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != 200 || w.Header().Get(HeaderRequestID) != "trace-42.a" {
		t.Errorf("healthz: %d, request id %q", w.Code, w.Header().Get(HeaderRequestID))
	}
	req = httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set(HeaderRequestID, "evil\nid")
	w = httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if id := w.Header().Get(HeaderRequestID); id == "" || strings.Contains(id, "evil") {
		t.Errorf("an insane request id was kept: %q", id)
	}
}

func TestValidRef(t *testing.T) {
	for ref, want := range map[string]bool{
		"app-1": true, "A.b_c:d-9": true, strings.Repeat("a", 64): true,
		"": false, "-app": false, "a b": false, "a/b": false, strings.Repeat("a", 65): false, "ä": false,
	} {
		if got := ValidRef(ref); got != want {
			t.Errorf("ValidRef(%q) = %v", ref, got)
		}
	}
}

// The canonical hash ignores the mobile number's spelling and the JSON's
// layout, and changes with any field.
func TestRequestHash(t *testing.T) {
	a, b := validApplication("app-1"), validApplication("app-1")
	b.Applicant.Mobile = "+62 812-3456-7890"
	if errs := a.validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if errs := b.validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if requestHash(&a) != requestHash(&b) {
		t.Error("the same application spelled differently hashes differently")
	}
	b.Loan.Amount++
	if requestHash(&a) == requestHash(&b) {
		t.Error("a different amount hashes the same")
	}
}

// Acknowledged AWDA notifications are logged at debug (they come by the
// thousand and each has its inbox row); a refused one, and API calls, at
// info.
func TestAccessLogLevels(t *testing.T) {
	var buf bytes.Buffer
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	status := http.StatusOK
	s, err := New(Options{Store: store.New(nil, nil), Temporal: c, Tokens: []string{testToken},
		Logger:   zerolog.New(&buf).Level(zerolog.DebugLevel),
		Webhooks: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) })})
	if err != nil {
		t.Fatal(err)
	}
	levels := func() []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var e struct {
				Level string `json:"level"`
				Route string `json:"route"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Route != "" {
				out = append(out, e.Level)
			}
		}
		buf.Reset()
		return out
	}
	call(t, s, "POST", "/webhooks/awda/loan-status", "", "application/json", []byte(`{}`))
	if got := levels(); len(got) != 1 || got[0] != "debug" {
		t.Errorf("acknowledged notification logged at %v, want debug", got)
	}
	status = http.StatusUnauthorized
	call(t, s, "POST", "/webhooks/awda/loan-status", "", "application/json", []byte(`{}`))
	if got := levels(); len(got) != 1 || got[0] != "info" {
		t.Errorf("refused notification logged at %v, want info", got)
	}
	call(t, s, "GET", "/v1/applications?limit=abc", testToken, "", nil)
	if got := levels(); len(got) != 1 || got[0] != "info" {
		t.Errorf("API call logged at %v, want info", got)
	}
}
