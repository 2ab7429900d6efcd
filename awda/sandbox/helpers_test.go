package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

const (
	testAppID  = "app-test"
	testSecret = "s3cret-for-tests"
)

// env is one sandbox behind a real HTTP server, with a client for it.
type env struct {
	t      testing.TB
	srv    *sandbox.Server
	ts     *httptest.Server
	client *awda.Client
}

func hmacSigner(t testing.TB, secret string) *awda.HMACSigner {
	t.Helper()
	s, err := awda.NewHMACSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newEnv starts a sandbox with cfg (AppID and HMACSecret filled in when
// empty) and a client signing with the same secret.
func newEnv(t *testing.T, cfg sandbox.Config) *env {
	t.Helper()
	if cfg.AppID == "" {
		cfg.AppID = testAppID
	}
	if cfg.HMACSecret == nil && cfg.PartnerPublicKey == nil {
		cfg.HMACSecret = []byte(testSecret)
	}
	srv, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		_ = srv.Close()
	})
	e := &env{t: t, srv: srv, ts: ts}
	e.client = e.newClient(awda.Config{Clock: cfg.Clock})
	return e
}

// newClient returns a client for the sandbox; empty fields default to the
// test appId and secret.
func (e *env) newClient(c awda.Config) *awda.Client {
	e.t.Helper()
	c.BaseURL = e.ts.URL
	if c.AppID == "" {
		c.AppID = testAppID
	}
	if c.Signer == nil {
		c.Signer = hmacSigner(e.t, testSecret)
	}
	cl, err := awda.NewClient(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return cl
}

// rawReq is a hand-built request; sign() fills in valid headers that the
// test then breaks.
type rawReq struct {
	method, path, contentType string
	body                      []byte
	hashOver                  []byte // signed body hash input; nil: body
	appID, nonce, signType    string
	ts                        int64
	secret                    string
	header                    http.Header
}

func newRaw(path string, body string) *rawReq {
	return &rawReq{
		method: http.MethodPost, path: path, contentType: "application/json", body: []byte(body),
		appID: testAppID, nonce: awda.NewNonce(), signType: awda.SignTypeHMAC,
		ts: time.Now().UnixMilli(), secret: testSecret,
	}
}

// sign computes headers from the current fields.
func (r *rawReq) sign(t testing.TB) *rawReq {
	t.Helper()
	over := r.body
	if r.hashOver != nil {
		over = r.hashOver
	}
	sig, err := hmacSigner(t, r.secret).Sign(awda.StringToSign(r.path, r.appID, r.ts, r.nonce, awda.BodyHash(over)))
	if err != nil {
		t.Fatal(err)
	}
	r.header = http.Header{}
	r.header.Set("Content-Type", r.contentType)
	r.header.Set(awda.HeaderAppID, r.appID)
	r.header.Set(awda.HeaderTimestamp, fmt.Sprint(r.ts))
	r.header.Set(awda.HeaderNonce, r.nonce)
	r.header.Set(awda.HeaderSignType, r.signType)
	r.header.Set(awda.HeaderSign, sig)
	return r
}

// do sends the request and returns the HTTP status and, for 200, the
// envelope.
func (e *env) do(r *rawReq) (int, awda.Envelope) {
	e.t.Helper()
	req, err := http.NewRequest(r.method, e.ts.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		e.t.Fatal(err)
	}
	if r.header != nil {
		req.Header = r.header.Clone()
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var env awda.Envelope
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &env); err != nil {
			e.t.Fatalf("HTTP 200 without an envelope: %s", raw)
		}
	}
	return res.StatusCode, env
}

// code sends a signed raw request and returns the AWDA code.
func (e *env) code(r *rawReq) awda.Code {
	e.t.Helper()
	status, env := e.do(r)
	if status != http.StatusOK {
		e.t.Fatalf("HTTP %d, want 200", status)
	}
	return env.Code
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// ---- borrowers ----

// nik returns a valid NIK for birth date 1990-08-15 (male) with serial n.
func nik(n int) string { return fmt.Sprintf("317401150890%04d", n%9999+1) }

func registration(partnerUserID string, n int) *awda.RegisterRequest {
	return &awda.RegisterRequest{
		PartnerUserID: partnerUserID,
		Mobile:        "081234567890",
		Name:          "Budi Santoso",
		NIK:           nik(n),
		Email:         "budi@example.com",
		BirthDate:     "1990-08-15",
	}
}

func submission(userID, orderNo, nikValue, ktp, selfie string) *awda.LoanSubmitRequest {
	return &awda.LoanSubmitRequest{
		UserID: userID, OrderNo: orderNo, Amount: 3_000_000, Tenor: 3, TenorUnit: awda.TenorMonth, Purpose: "EDUCATION",
		Personal: awda.PersonalInfo{Gender: "MALE", MaritalStatus: "SINGLE", Province: "DKI Jakarta", City: "Jakarta Selatan", Address: "Jl. Sudirman 1"},
		Identity: awda.IdentityInfo{NIK: nikValue, Name: "Budi Santoso", BirthDate: "1990-08-15", KTPImageID: ktp, SelfieImageID: selfie},
		Work:     awda.WorkInfo{Occupation: "EMPLOYEE", EmployerName: "PT Contoh", MonthlyIncome: 8_000_000, YearsEmployed: 3},
		EmergencyContacts: []awda.EmergencyContact{
			{Name: "Siti", Mobile: "+6281298765432", Relation: "PARENT"},
		},
	}
}

// borrower is a user taken through everything that precedes loan/submit.
type borrower struct {
	userID, nik, ktp, selfie string
}

// prepare registers a user, grants the required authorizations, binds a
// card and uploads KTP and selfie, all through the client.
func (e *env) prepare(partnerUserID string, n int) borrower {
	e.t.Helper()
	c, cl := ctx(e.t), e.client
	reg := registration(partnerUserID, n)
	r, err := cl.Register(c, reg)
	if err != nil {
		e.t.Fatalf("register: %v", err)
	}
	for _, at := range []string{"EKYC", "TELCO"} {
		if _, err := cl.AuthPage(c, &awda.AuthPageRequest{UserID: r.UserID, AuthType: at}); err != nil {
			e.t.Fatalf("auth page: %v", err)
		}
		if err := e.srv.SetAuthorization(r.UserID, at, awda.AuthSuccess); err != nil {
			e.t.Fatal(err)
		}
	}
	if v, err := cl.BankCardVerify(c, &awda.BankCardVerifyRequest{UserID: r.UserID, BankCode: "BCA", AccountNo: "1234567890", AccountName: "Budi Santoso"}); err != nil || v.Status != awda.CardBound {
		e.t.Fatalf("bankcard verify: %v %+v", err, v)
	}
	tok, err := cl.ImageToken(c, &awda.ImageTokenRequest{UserID: r.UserID})
	if err != nil {
		e.t.Fatal(err)
	}
	ktp, err := cl.ImageUpload(c, &awda.ImageUploadRequest{Token: tok.Token, ImageType: awda.ImageKTP, File: []byte("\xff\xd8\xff ktp")})
	if err != nil {
		e.t.Fatal(err)
	}
	selfie, err := cl.ImageUpload(c, &awda.ImageUploadRequest{Token: tok.Token, ImageType: awda.ImageSelfie, File: []byte("\xff\xd8\xff selfie")})
	if err != nil {
		e.t.Fatal(err)
	}
	return borrower{userID: r.UserID, nik: reg.NIK, ktp: ktp.ImageID, selfie: selfie.ImageID}
}

func (e *env) submit(b borrower, orderNo string) string {
	e.t.Helper()
	res, err := e.client.LoanSubmit(ctx(e.t), submission(b.userID, orderNo, b.nik, b.ktp, b.selfie))
	if err != nil {
		e.t.Fatalf("submit: %v", err)
	}
	return res.LoanNo
}

// ---- webhooks ----

// hook records signed notifications after checking them, and answers
// whatever answer() says.
type hook struct {
	t      testing.TB
	ts     *httptest.Server
	appID  string
	verify awda.Verifier
	now    func() time.Time // the partner's clock; time.Now by default

	mu       sync.Mutex
	loan     []awda.LoanStatusEvent
	auth     []awda.AuthorizationEvent
	requests int
	bad      []string
	answer   func(n int) (int, string) // n: 1-based request number
}

func newHook(t *testing.T) *hook {
	h := &hook{t: t, appID: testAppID, verify: hmacSigner(t, testSecret), now: time.Now}
	h.ts = httptest.NewServer(h)
	t.Cleanup(h.ts.Close)
	return h
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.requests++
	n := h.requests
	answer := h.answer
	h.mu.Unlock()
	if problem := h.check(r, body); problem != "" {
		h.mu.Lock()
		h.bad = append(h.bad, problem)
		h.mu.Unlock()
		http.Error(w, problem, http.StatusUnauthorized)
		return
	}
	status, reply := http.StatusOK, `{"code":0,"message":"success"}`
	if answer != nil {
		status, reply = answer(n)
	}
	if status == http.StatusOK && strings.Contains(reply, `"code":0`) {
		h.mu.Lock()
		switch r.URL.Path {
		case "/loan":
			var ev awda.LoanStatusEvent
			if err := json.Unmarshal(body, &ev); err != nil {
				h.bad = append(h.bad, "loan event: "+err.Error())
			}
			h.loan = append(h.loan, ev)
		case "/auth":
			var ev awda.AuthorizationEvent
			if err := json.Unmarshal(body, &ev); err != nil {
				h.bad = append(h.bad, "auth event: "+err.Error())
			}
			h.auth = append(h.auth, ev)
		}
		h.mu.Unlock()
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reply)
}

// check verifies a notification the way a partner must: signature over
// the received path and the partner's appId, a fresh timestamp, a nonce.
func (h *hook) check(r *http.Request, body []byte) string {
	if r.Method != http.MethodPost {
		return "method " + r.Method
	}
	if r.Header.Get(awda.HeaderAppID) != h.appID {
		return "appId " + r.Header.Get(awda.HeaderAppID)
	}
	var ts int64
	if _, err := fmt.Sscan(r.Header.Get(awda.HeaderTimestamp), &ts); err != nil {
		return "timestamp"
	}
	if d := h.now().Sub(time.UnixMilli(ts)); d > time.Minute || d < -time.Minute {
		return "stale timestamp"
	}
	nonce := r.Header.Get(awda.HeaderNonce)
	if !awda.ValidNonce(nonce) {
		return "nonce"
	}
	if r.Header.Get(awda.HeaderSignType) != h.verify.SignType() {
		return "sign type " + r.Header.Get(awda.HeaderSignType)
	}
	sts := awda.StringToSign(r.URL.Path, h.appID, ts, nonce, awda.BodyHash(body))
	if err := h.verify.Verify(sts, r.Header.Get(awda.HeaderSign)); err != nil {
		return "signature: " + err.Error()
	}
	// And the way the partner's webhook will: the awda package's verifier.
	v := awda.NotificationVerifier{AppID: h.appID, Keys: []awda.Verifier{h.verify}, Clock: h.now}
	if err := v.Verify(r, body); err != nil {
		return "NotificationVerifier: " + err.Error()
	}
	return ""
}

func (h *hook) loanEvents() []awda.LoanStatusEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.loan)
}

func (h *hook) authEvents() []awda.AuthorizationEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.auth)
}

func (h *hook) problems() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.bad)
}

func statuses(evs []awda.LoanStatusEvent) []awda.LoanStatus {
	out := make([]awda.LoanStatus, len(evs))
	for i, e := range evs {
		out[i] = e.Status
	}
	return out
}

func waitIdle(t *testing.T, srv *sandbox.Server) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.WaitIdle(c); err != nil {
		t.Fatalf("sandbox not idle: %v (stats %+v)", err, srv.Stats().Pushes)
	}
}

// fakeClock is a settable clock shared by a sandbox and its client.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
