package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// Fuzz targets of the HTTP API's request parsing: every body, query and
// header a lending backend can send goes through the real Server (routing,
// auth, strict JSON, multipart, validation, problem answers). The server's
// dependencies are down on purpose: PostgreSQL is a pool that cannot connect
// and Temporal is downTemporal, which records what reached it and answers
// Unavailable. So a request that passes every check ends in a 503, and the
// targets can tell "refused as invalid" (400/413/415/422, nothing sent on)
// from "accepted" (503, and what was sent on is a valid, normalised input).
// Neither PostgreSQL nor Temporal is needed, and TestMain starts nothing
// unless a test asks testenv for it.
//
// The committed seed corpora live in testdata/fuzz/<FuzzName>/.

// downTemporal is a Temporal client whose server is away. It records the
// calls that reach it; a call to a method the API is not expected to make
// hits the nil embedded interface and panics, which the server turns into a
// 500 that the targets refuse.
type downTemporal struct {
	client.Client
	mu    sync.Mutex
	calls []temporalCall
}

type temporalCall struct {
	method, workflowID, name, updateID string
	arg                                any
}

var errTemporalDown = serviceerror.NewUnavailable("fuzz: temporal is down")

func (d *downTemporal) record(c temporalCall) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, c)
}

func (d *downTemporal) take() []temporalCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.calls
	d.calls = nil
	return c
}

func (d *downTemporal) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	var arg any
	if len(args) > 0 {
		arg = args[0]
	}
	name, _ := wf.(string)
	d.record(temporalCall{method: "ExecuteWorkflow", workflowID: o.ID, name: name, arg: arg})
	return nil, errTemporalDown
}

func (d *downTemporal) SignalWorkflow(_ context.Context, workflowID, _, signalName string, arg any) error {
	d.record(temporalCall{method: "SignalWorkflow", workflowID: workflowID, name: signalName, arg: arg})
	return errTemporalDown
}

func (d *downTemporal) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	var arg any
	if len(o.Args) > 0 {
		arg = o.Args[0]
	}
	d.record(temporalCall{method: "UpdateWorkflow", workflowID: o.WorkflowID, name: o.UpdateName, updateID: o.UpdateID, arg: arg})
	return nil, errTemporalDown
}

func (d *downTemporal) QueryWorkflowWithOptions(_ context.Context, req *client.QueryWorkflowWithOptionsRequest) (*client.QueryWorkflowWithOptionsResponse, error) {
	d.record(temporalCall{method: "QueryWorkflowWithOptions", workflowID: req.WorkflowID, name: req.QueryType})
	return nil, errTemporalDown
}

func (d *downTemporal) Close() {}

// fuzzServer is a Server whose dependencies are down, and what it logged.
type fuzzServer struct {
	*Server
	temporal *downTemporal
	mu       sync.Mutex
	logs     bytes.Buffer
}

func (fs *fuzzServer) Write(p []byte) (int, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.logs.Write(p)
}

func (fs *fuzzServer) takeLogs() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.logs.String()
	fs.logs.Reset()
	return s
}

func newFuzzServer(f *testing.F) *fuzzServer {
	f.Helper()
	// Port 1 refuses at once: every query fails fast with a connect error.
	pool, err := pgxpool.New(context.Background(), "postgres://fuzz@127.0.0.1:1/fuzz?sslmode=disable&connect_timeout=2")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pool.Close)
	spec, err := codec.GenerateKeySpec("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	ring, err := codec.ParseKeyRing(spec)
	if err != nil {
		f.Fatal(err)
	}
	fs := &fuzzServer{temporal: &downTemporal{}}
	s, err := New(Options{Store: store.New(pool, ring), Temporal: fs.temporal, Tokens: []string{testToken},
		Logger: zerolog.New(fs)})
	if err != nil {
		f.Fatal(err)
	}
	fs.Server = s
	return fs
}

// serve runs one request through the whole server.
func (fs *fuzzServer) serve(req *http.Request) *httptest.ResponseRecorder {
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	fs.ServeHTTP(rec, req)
	return rec
}

// ---- what an answer may say ----

// detailVocabulary is every text a field error's detail can have. Details
// are fixed texts: none may quote a submitted value (it may be a NIK, a
// phone or an account number).
var detailVocabulary = regexp.MustCompile(`^(` + strings.Join([]string{
	`required`, `unknown field`, `unknown form field`, `not a JSON object`, `not valid JSON`,
	`trailing data after the JSON object`, `wrong JSON type: want [a-z ]+`,
	`longer than \d+ characters`,
	`must be 1 to 64 characters of A-Z a-z 0-9 \. _ : - starting with a letter or digit`,
	`not a date \(YYYY-MM-DD\)`, `NIK must be 16 digits`, `NIK has an invalid province code`,
	`NIK does not encode a valid birth date`, `NIK has an invalid serial number`, `NIK does not match the birth date`,
	`not an Indonesian mobile number \(08…, 628… or \+628…\)`, `not an Indonesian mobile number: wrong length or not digits`,
	`not an e-mail address`, `must be MALE or FEMALE`, `must be SINGLE, MARRIED, DIVORCED or WIDOWED`,
	`must not be negative`, `must be a positive integer \(IDR\)`, `must be a day of the month \(1 to 31\)`,
	`not a phone number`, `too large`, `must be positive`, `must be DAY or MONTH`,
	`at least one emergency contact is required`, `at most 5 emergency contacts`,
	`must be KTP, SELFIE or OTHER`, `only one (KTP|SELFIE) document`, `not a document ID`, `at most 10 documents`,
	`a (KTP|SELFIE) document is required`, `must be STREAM or BASE64`, `must be an absolute http\(s\) URL`,
	`unknown relation`, `refused by AWDA's validation`, `must be 5 to 20 digits`,
	`must be true: the borrower's explicit consent`, `not an IP address`,
	`not standard base64`, `not an applicant ref`, `empty document`, `not a JPEG or PNG image`,
	`not a stage`, `must be true or false`, `must be an integer from 1 to \d+`, `invalid cursor`,
	`1 to 128 characters of A-Z a-z 0-9 \. _ : -`,
}, "|") + `)$`)

// fieldPath is the grammar of the JSON paths a field error names (besides
// the client's own unknown keys, which are echoed as the field).
var fieldPath = regexp.MustCompile(`^(body|applicantRef|applicant(\.(name|birthDate|nik|mobile|email|birthPlace|` +
	`personal(\.(gender|maritalStatus|education|religion|email|province|city|district|address|postalCode|dependents))?|` +
	`work(\.(occupation|employerName|employerPhone|monthlyIncome|yearsEmployed|salaryPayday|incomeCurrency))?))?|` +
	`loan(\.(amount|tenor|tenorUnit|purpose))?|emergencyContacts(\[\d+\])?(\.(name|mobile|relation))?|` +
	`documents(\[\d+\])?(\.(type|documentId))?|uploadMethod|returnUrl|` +
	`bankCode|accountNo|accountName|agreementId|consent|clientIp|reason|operator|` +
	`imageType|base64|fileName|file|stage|stuck|limit|cursor|Idempotency-Key)$`)

// problemTypes maps each status a parsing refusal may have to its type.
var problemTypes = map[int]string{
	http.StatusBadRequest:            TypeMalformed,
	http.StatusNotFound:              TypeNotFound,
	http.StatusRequestEntityTooLarge: TypeTooLarge,
	http.StatusUnsupportedMediaType:  TypeUnsupported,
	http.StatusUnprocessableEntity:   TypeValidation,
	http.StatusServiceUnavailable:    TypeUnavailable,
}

// checkProblem checks an answer that is not a success: a problem of the
// right type, field errors named by path with fixed details. unknownKeys
// are the names the client used that the API may echo as unknown fields.
func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, allowed []int, unknownKeys func(string) bool) Problem {
	t.Helper()
	if !slices.Contains(allowed, rec.Code) {
		t.Fatalf("status %d, want one of %v: %s", rec.Code, allowed, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != ContentTypeProblem {
		t.Fatalf("status %d with Content-Type %q", rec.Code, ct)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem does not decode: %v: %s", err, rec.Body)
	}
	if p.Status != rec.Code || p.Type != problemTypes[rec.Code] || p.Title == "" || p.RequestID == "" {
		t.Fatalf("problem %+v for status %d", p, rec.Code)
	}
	for _, e := range p.Errors {
		if !detailVocabulary.MatchString(e.Detail) {
			t.Fatalf("field error detail outside the vocabulary: %q (field %q)", e.Detail, e.Field)
		}
		switch {
		case e.Detail == "unknown field" || e.Detail == "unknown form field":
			if !unknownKeys(e.Field) {
				t.Fatalf("unknown field %q is not a name the request used", e.Field)
			}
		case !fieldPath.MatchString(e.Field):
			// Wrong JSON types are named by the struct path the decoder was
			// filling, without indices: the same grammar.
			t.Fatalf("field error names %q, not a path of the request", e.Field)
		}
	}
	return p
}

// jsonStrings returns every string in a JSON document, member names and
// values, decoded (nothing when it is not JSON).
func jsonStrings(b []byte) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.Decode(&v) == nil {
		walk(v)
	}
	return out
}

// jsonKeys returns every member name in a JSON document.
func jsonKeys(b []byte) map[string]bool {
	out := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				out[k] = true
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.Decode(&v) == nil {
		walk(v)
	}
	return out
}

// checkLogs fails when a log line carries a submitted value (8 bytes or
// more, so that a short value does not match a fixed word by chance) in a
// field other than those the code fills with fixed texts or the request's
// own path and route (where the applicant ref shows on purpose). allowed
// are values a field may carry by design.
func checkLogs(t *testing.T, logs string, submitted []string, allowed ...string) {
	t.Helper()
	fixed := map[string]bool{"level": true, "message": true, "component": true, "dependency": true, "error_type": true,
		"method": true, "route": true, "path": true, "request_id": true}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok || fixed[k] {
				continue
			}
			for _, sub := range submitted {
				if len(sub) >= 8 && !slices.Contains(allowed, sub) && strings.Contains(s, sub) {
					t.Fatalf("log field %s carries a submitted value %q: %s", k, sub, line)
				}
			}
		}
	}
}

// ---- POST /v1/applications ----

// FuzzCreateApplication: any body under any Content-Type gets a problem
// answer of the right class, never a 500 or a 2xx (the database is down).
// 415 exactly when the media type is not JSON; 400 exactly when the body is
// not one strict JSON object of the request's shape; 422 only for a
// well-formed body; and only a body that validates reaches the database
// (503). A validated request is a fixed point of validation (normalising
// twice changes nothing) and survives a JSON round trip with the same
// request hash, the idempotency key of the create.
func FuzzCreateApplication(f *testing.F) {
	fs := newFuzzServer(f)
	valid := mustJSONF(f, validApplication("app-1"))
	f.Add("application/json", valid)
	f.Add("", []byte(`{"applicantRef":"x","nikk":"1"}`))
	f.Add("text/plain", []byte(`{}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/applications", bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := fs.serve(req)
		calls := fs.temporal.take()
		keys := jsonKeys(body)
		p := checkProblem(t, rec, []int{400, 413, 415, 422, 503}, func(k string) bool { return keys[k] })
		if len(calls) > 0 {
			t.Fatalf("a create reached Temporal with the database down: %+v", calls)
		}

		jsonType := contentType == "" || isJSONMediaType(contentType)
		if (rec.Code == http.StatusUnsupportedMediaType) == jsonType {
			t.Fatalf("Content-Type %q answered %d", contentType, rec.Code)
		}
		if !jsonType {
			return
		}
		var req1 ApplicationRequest
		_, wellFormed := strictUnmarshal(body, &req1)
		switch rec.Code {
		case http.StatusBadRequest:
			if wellFormed {
				t.Fatalf("a well-formed body was refused as malformed: %+v", p)
			}
		case http.StatusUnprocessableEntity, http.StatusServiceUnavailable:
			if !wellFormed {
				t.Fatalf("a malformed body got %d", rec.Code)
			}
		}
		if wellFormed {
			errs := req1.validate()
			if (len(errs) == 0) != (rec.Code == http.StatusServiceUnavailable) {
				t.Fatalf("validation %v, answer %d", errs, rec.Code)
			}
			if len(errs) == 0 {
				checkCanonical(t, &req1)
			}
		}
		values := jsonStrings(body)
		checkLogs(t, fs.takeLogs(), values)
	})
}

// isJSONMediaType is the documented rule: application/json or any
// +json type, parameters allowed.
func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// checkCanonical: validating a validated request again changes nothing,
// and its JSON form decodes strictly to a request with the same hash.
func checkCanonical(t *testing.T, req *ApplicationRequest) {
	t.Helper()
	before := *req
	before.EmergencyContacts = slices.Clone(req.EmergencyContacts)
	before.Documents = slices.Clone(req.Documents)
	if errs := req.validate(); len(errs) > 0 {
		t.Fatalf("a validated request fails validation again: %v", errs)
	}
	if !reflect.DeepEqual(before, *req) {
		t.Fatalf("validation is not idempotent:\n%+v\n%+v", before, *req)
	}
	// checkDocuments finds documents by the text of their ID as PostgreSQL
	// prints it (lower-case 8-4-4-4-12): an ID in another spelling that
	// uuid.Parse takes would be "no such document", or a 503 for a form
	// PostgreSQL refuses (urn:uuid:…).
	for i, d := range req.Documents {
		if u, err := uuid.Parse(d.DocumentID); err != nil || !strings.EqualFold(u.String(), d.DocumentID) {
			t.Fatalf("documents[%d].documentId %q passed validation but is not a document ID as the API hands them out", i, d.DocumentID)
		}
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var again ApplicationRequest
	if fe, ok := strictUnmarshal(b, &again); !ok {
		t.Fatalf("the canonical form does not decode: %v", fe)
	}
	if errs := again.validate(); len(errs) > 0 {
		t.Fatalf("the canonical form does not validate: %v", errs)
	}
	if requestHash(&again) != requestHash(req) {
		t.Fatalf("the request hash changes over a JSON round trip")
	}
}

func mustJSONF(f *testing.F, v any) []byte {
	f.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// ---- borrower actions and signals ----

var actionRoutes = []struct {
	suffix, name string
	update       bool
}{
	{"bank-card", workflows.SubmitBankCardUpdate.Name, true},
	{"signature", workflows.SignAgreementUpdate.Name, true},
	{"cancel", workflows.CancelSignal.Name, false},
	{"retry", workflows.RetrySignal.Name, false},
	{"abandon", workflows.AbandonSignal.Name, false},
}

// FuzzActions: POST /v1/applications/{ref}/{bank-card,signature,cancel,
// retry,abandon} with any ref, Idempotency-Key, Content-Type and body. An
// impossible ref is 404 before anything is read; an invalid key or body is
// refused with nothing sent to Temporal; what does reach Temporal (503, as
// it is down) is addressed to LoanWorkflowID(ref) under the route's update
// or signal name, with the key as its update ID, and carries an input that
// is valid and already normalised. A cancel first asks the loan's status
// (what a cancel means depends on its stage); an update with a key first
// claims the key in the database, which is down too (503, nothing sent).
func FuzzActions(f *testing.F) {
	fs := newFuzzServer(f)
	f.Add(uint8(0), "app-1", "", "application/json", []byte(`{"bankCode":"BCA","accountNo":"1234567890","accountName":"Dewi"}`))
	f.Add(uint8(1), "app-1", "key-1", "application/json", []byte(`{"agreementId":"AG1","consent":true,"clientIp":"203.0.113.7"}`))
	f.Add(uint8(2), "app-1", "", "", []byte(``))
	f.Add(uint8(3), "bad ref", "", "application/json", []byte(`{"operator":"ops","reason":"retry"}`))
	f.Fuzz(func(t *testing.T, route uint8, ref, idemKey, contentType string, body []byte) {
		if ref == "" || ref == "." || ref == ".." {
			// The mux cleans such paths and redirects (301) before any
			// route runs; that is net/http's, not the API's parsing.
			return
		}
		rt := actionRoutes[int(route)%len(actionRoutes)]
		req := httptest.NewRequest(http.MethodPost, "/v1/applications/app/"+rt.suffix, bytes.NewReader(body))
		req.URL.Path = "/v1/applications/" + ref + "/" + rt.suffix
		req.URL.RawPath = "/v1/applications/" + url.PathEscape(ref) + "/" + rt.suffix
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if idemKey != "" {
			req.Header.Set(HeaderIdempotencyKey, idemKey)
		}
		rec := fs.serve(req)
		calls := fs.temporal.take()
		keys := jsonKeys(body)
		checkProblem(t, rec, []int{400, 404, 413, 415, 422, 503}, func(k string) bool { return keys[k] })
		if (rec.Code == http.StatusNotFound) != !ValidRef(ref) {
			t.Fatalf("ref %q (valid: %v) answered %d", ref, ValidRef(ref), rec.Code)
		}
		if rec.Code != http.StatusServiceUnavailable {
			if len(calls) > 0 {
				t.Fatalf("refused (%d) but sent to Temporal: %+v", rec.Code, calls)
			}
			values := jsonStrings(body)
			checkLogs(t, fs.takeLogs(), values, ref)
			return
		}
		if rt.update && idemKey != "" {
			if len(calls) != 0 || !strings.Contains(rec.Body.String(), "database") {
				t.Fatalf("a keyed update with the database down: %d Temporal calls, %s", len(calls), rec.Body)
			}
			checkLogs(t, fs.takeLogs(), jsonStrings(body), ref)
			return
		}
		if len(calls) != 1 {
			t.Fatalf("503 after %d Temporal calls", len(calls))
		}
		c := calls[0]
		if rt.name == workflows.CancelSignal.Name {
			if c.method != "QueryWorkflowWithOptions" || c.name != workflows.StatusQuery.Name || c.workflowID != workflows.LoanWorkflowID(ref) {
				t.Fatalf("cancel asked %s %q of %q first", c.method, c.name, c.workflowID)
			}
			checkLogs(t, fs.takeLogs(), jsonStrings(body), ref)
			return
		}
		if c.workflowID != workflows.LoanWorkflowID(ref) || c.name != rt.name {
			t.Fatalf("sent %s %q to %q", c.method, c.name, c.workflowID)
		}
		if rt.update {
			if c.method != "UpdateWorkflow" {
				t.Fatalf("route %s called %s", rt.suffix, c.method)
			}
			if idemKey != "" && (!saneRequestID(idemKey) || c.updateID != rt.name+"/"+idemKey) {
				t.Fatalf("Idempotency-Key %q became update ID %q", idemKey, c.updateID)
			}
			if idemKey == "" && c.updateID != "" {
				t.Fatalf("update ID %q without a key", c.updateID)
			}
		} else if c.method != "SignalWorkflow" {
			t.Fatalf("route %s called %s", rt.suffix, c.method)
		}
		switch in := c.arg.(type) {
		case BankCardRequest:
			again := in
			if errs := validateBankCard(&again); len(errs) > 0 || again != in {
				t.Fatalf("sent a bank card that is not valid and normalised: %v", errs)
			}
		case SignatureRequest:
			again := in
			if errs := validateSignature(&again); len(errs) > 0 || again != in || !in.Consent {
				t.Fatalf("sent a signature that is not valid and normalised: %v", errs)
			}
		case workflows.CancelRequest:
			if len(in.Reason) > 500 {
				t.Fatal("sent a cancel with an over-long reason")
			}
		case workflows.RetryRequest:
			if len(opsNote(in.Operator, in.Reason)) > 0 {
				t.Fatal("sent a retry with an over-long note")
			}
		case workflows.AbandonRequest:
			if len(opsNote(in.Operator, in.Reason)) > 0 {
				t.Fatal("sent an abandon with an over-long note")
			}
		default:
			t.Fatalf("sent %T", c.arg)
		}
		values := jsonStrings(body)
		checkLogs(t, fs.takeLogs(), values, ref)
	})
}

// ---- GET /v1/applications ----

// FuzzListQuery: any query string is either refused as a 400 naming only
// the list's parameters, or reaches the database (503 here).
func FuzzListQuery(f *testing.F) {
	fs := newFuzzServer(f)
	f.Add("stage=BANK_CARD&stuck=true&limit=10")
	f.Add("stage=NOPE&stuck=maybe&limit=0&cursor=%%%")
	f.Add("cursor=eyJ0IjoiMjAyNi0wMy0wMVQxMjozMDoxNVoiLCJyIjoiYXBwLTEifQ")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/applications", nil)
		req.URL.RawQuery = rawQuery
		rec := fs.serve(req)
		if calls := fs.temporal.take(); len(calls) > 0 {
			t.Fatalf("a list reached Temporal: %+v", calls)
		}
		p := checkProblem(t, rec, []int{400, 503}, func(string) bool { return false })
		if rec.Code == http.StatusBadRequest && len(p.Errors) == 0 {
			t.Fatalf("400 without naming the parameter: %+v", p)
		}
		for _, e := range p.Errors {
			if !slices.Contains([]string{"stage", "stuck", "limit", "cursor"}, e.Field) {
				t.Fatalf("error names %q", e.Field)
			}
		}
		q, _ := url.ParseQuery(rawQuery)
		var values []string
		for _, vs := range q {
			values = append(values, vs...)
		}
		checkLogs(t, fs.takeLogs(), values)
	})
}

// ---- POST /v1/documents ----

// FuzzUploadDocument: raw bodies under any Content-Type, and the same
// upload sent both ways (JSON with base64, and multipart). Properties: only
// problem answers of the expected classes (no 2xx: the database is down);
// 503 only for a JPEG or PNG with valid fields; and the two forms of one
// upload get the same status and name the same fields.
func FuzzUploadDocument(f *testing.F) {
	fs := newFuzzServer(f)
	png := testPNG(f, 4)
	f.Add(uint8(0), "application/json", []byte(`{"imageType":"KTP","base64":"`+base64.StdEncoding.EncodeToString(png)+`"}`), "", "", "", []byte(nil))
	f.Add(uint8(1), "", []byte(nil), "KTP", "app-1", "ktp.png", png)
	f.Add(uint8(1), "", []byte(nil), "SELFIE", "", "", []byte("%PDF-1.4"))
	f.Add(uint8(0), "multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"+string(png)+"\r\n--X--\r\n"), "", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, mode uint8, contentType string, body []byte, imageType, applicantRef, fileName string, file []byte) {
		if mode%2 == 0 {
			req := httptest.NewRequest(http.MethodPost, "/v1/documents", bytes.NewReader(body))
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			rec := fs.serve(req)
			keys := jsonKeys(body)
			checkUpload(t, fs, rec, func(k string) bool { return keys[k] || strings.Contains(string(body), k) })
			return
		}

		js, err := json.Marshal(DocumentUpload{ImageType: awda.ImageType(imageType), Base64: base64.StdEncoding.EncodeToString(file),
			FileName: fileName, ApplicantRef: applicantRef})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/documents", bytes.NewReader(js))
		req.Header.Set("Content-Type", "application/json")
		recJSON := fs.serve(req)
		pJSON := checkUpload(t, fs, recJSON, func(string) bool { return false })

		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, kv := range [][2]string{{"imageType", imageType}, {"applicantRef", applicantRef}, {"fileName", fileName}} {
			if kv[1] != "" {
				_ = mw.WriteField(kv[0], kv[1])
			}
		}
		fw, err := mw.CreateFormFile("file", "upload")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(file)
		_ = mw.Close()
		req = httptest.NewRequest(http.MethodPost, "/v1/documents", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		recMP := fs.serve(req)
		pMP := checkUpload(t, fs, recMP, func(string) bool { return false })

		// Only a JPEG or PNG with valid fields is stored (a 503 here).
		ct := http.DetectContentType(file)
		storable := (ct == "image/jpeg" || ct == "image/png") && awda.ValidImageType(awda.ImageType(strings.TrimSpace(imageType))) &&
			(strings.TrimSpace(applicantRef) == "" || ValidRef(strings.TrimSpace(applicantRef)))
		for _, rec := range []*httptest.ResponseRecorder{recJSON, recMP} {
			if rec.Code == http.StatusServiceUnavailable && !storable {
				t.Fatalf("a %s with imageType %q and ref %q went to the database", ct, imageType, applicantRef)
			}
		}

		// The forms differ on purpose in two ways: multipart trims its text
		// fields and bounds them at 1 KiB, and an empty document is
		// "base64: required" in JSON. Compare the uploads they agree on.
		comparable := len(file) > 0
		for _, v := range []string{imageType, applicantRef, fileName} {
			comparable = comparable && utf8.ValidString(v) && strings.TrimSpace(v) == v && len(v) <= 1024
		}
		if comparable {
			if recJSON.Code != recMP.Code {
				t.Fatalf("JSON upload %d, multipart upload %d:\n%s\n%s", recJSON.Code, recMP.Code, recJSON.Body, recMP.Body)
			}
			if !slices.Equal(problemFields(pJSON), problemFields(pMP)) {
				t.Fatalf("JSON upload names %v, multipart %v", problemFields(pJSON), problemFields(pMP))
			}
		}
		checkLogs(t, fs.takeLogs(), []string{imageType, applicantRef, fileName, string(file)}, applicantRef)
	})
}

func problemFields(p Problem) []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	slices.Sort(out)
	return out
}

func checkUpload(t *testing.T, fs *fuzzServer, rec *httptest.ResponseRecorder, unknownKeys func(string) bool) Problem {
	t.Helper()
	if calls := fs.temporal.take(); len(calls) > 0 {
		t.Fatalf("an upload reached Temporal: %+v", calls)
	}
	p := checkProblem(t, rec, []int{400, 413, 415, 422, 503}, unknownKeys)
	if rec.Code == http.StatusServiceUnavailable && p.Type != TypeUnavailable {
		t.Fatalf("503 of type %s", p.Type)
	}
	return p
}
