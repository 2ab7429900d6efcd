package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

// admin calls the admin API over HTTP and decodes the answer into out.
func (e *env) admin(method, path, body string, out any) int {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return res.StatusCode
}

func TestAdminAPI(t *testing.T) {
	h := newHook(t)
	e := newEnv(t, sandbox.Config{LoanStatusWebhookURL: h.ts.URL + "/loan", AuthWebhookURL: h.ts.URL + "/auth"})
	b := e.prepare("p-admin", 101)
	loanNo := e.submit(b, "order-admin")

	var adv sandbox.AdvanceResponse
	if st := e.admin("POST", "/_sandbox/loans/"+loanNo+"/status", `{"status":"DISBURSED"}`, &adv); st != 200 {
		t.Fatalf("advance: HTTP %d", st)
	}
	if want := []awda.LoanStatus{"UNDER_REVIEW", "APPROVED", "SIGNED", "DISBURSING", "DISBURSED"}; !equal(adv.Path, want) {
		t.Fatalf("path %v, want %v", adv.Path, want)
	}
	if st := e.admin("POST", "/_sandbox/loans/"+loanNo+"/status", `{"status":"APPROVED"}`, nil); st != http.StatusConflict {
		t.Fatalf("backwards: HTTP %d, want 409", st)
	}
	if st := e.admin("POST", "/_sandbox/loans/LN_nope/status", `{"status":"APPROVED"}`, nil); st != http.StatusNotFound {
		t.Fatalf("unknown loan: HTTP %d, want 404", st)
	}
	if st := e.admin("POST", "/_sandbox/loans/"+loanNo+"/status", `{"status":"PAID"}`, nil); st != http.StatusBadRequest {
		t.Fatalf("unknown status: HTTP %d, want 400", st)
	}
	if st := e.admin("POST", "/_sandbox/loans/"+loanNo+"/status", `{"state":"PAID"}`, nil); st != http.StatusBadRequest {
		t.Fatalf("unknown field: HTTP %d, want 400", st)
	}
	var view sandbox.LoanView
	if st := e.admin("GET", "/_sandbox/loans/"+loanNo, "", &view); st != 200 || view.Info.Status != awda.LoanDisbursed || len(view.Transitions) != 6 {
		t.Fatalf("loan view: %d %+v", st, view)
	}

	if st := e.admin("POST", "/_sandbox/authorizations", `{"userId":"`+b.userID+`","authType":"BPJS","status":"SUCCESS"}`, nil); st != 200 {
		t.Fatalf("authorization: HTTP %d", st)
	}
	if st := e.admin("POST", "/_sandbox/authorizations", `{"userId":"usr_nobody","authType":"BPJS","status":"SUCCESS"}`, nil); st != http.StatusNotFound {
		t.Fatalf("unknown user: HTTP %d", st)
	}
	if st := e.admin("POST", "/_sandbox/authorizations", `{"userId":"`+b.userID+`","authType":"BPJS","status":"MAYBE"}`, nil); st != http.StatusBadRequest {
		t.Fatalf("bad status: HTTP %d", st)
	}

	var fr sandbox.FaultsResponse
	if st := e.admin("POST", "/_sandbox/faults", `{"endpoints":{"loan/info":{"forceCode":1011},"*":{"latencyMinMs":1}},"delivery":{"duplicates":1}}`, &fr); st != 200 {
		t.Fatalf("faults: HTTP %d", st)
	}
	if fr.Endpoints[awda.PathLoanInfo].ForceCode != 1011 || fr.Endpoints["*"].LatencyMin != time.Millisecond || fr.Delivery.Duplicates != 1 {
		t.Fatalf("faults answer %+v", fr)
	}
	if _, err := e.client.LoanInfo(ctx(t), &awda.LoanInfoRequest{LoanNo: loanNo}); !awda.IsBusy(err) {
		t.Fatalf("forced 1011: %v", err)
	}
	if st := e.admin("POST", "/_sandbox/faults", `{"endpoints":{"loan/nothing":{"busyRate":0.5}}}`, nil); st != http.StatusBadRequest {
		t.Fatalf("unknown endpoint key: HTTP %d", st)
	}
	if st := e.admin("POST", "/_sandbox/faults", `{"endpoints":{"*":{"busyRate":1.5}}}`, nil); st != http.StatusBadRequest {
		t.Fatalf("rate above 1: HTTP %d", st)
	}
	var cleared sandbox.FaultsResponse
	if st := e.admin("POST", "/_sandbox/faults", `{"clear":true}`, &cleared); st != 200 || len(cleared.Endpoints) != 0 || cleared.Delivery.Duplicates != 1 {
		t.Fatalf("clear: %d %+v", st, cleared)
	}
	if _, err := e.client.LoanInfo(ctx(t), &awda.LoanInfoRequest{LoanNo: loanNo}); err != nil {
		t.Fatalf("after clearing: %v", err)
	}

	var clock sandbox.ClockResponse
	if st := e.admin("POST", "/_sandbox/clock", `{"skewMs":120000}`, &clock); st != 200 || clock.SkewMs != 120000 {
		t.Fatalf("clock: %d %+v", st, clock)
	}
	if _, err := e.client.BankList(ctx(t)); !awda.IsStaleTimestamp(err) {
		t.Fatalf("with skew: %v", err)
	}
	e.admin("POST", "/_sandbox/clock", `{"skewMs":0}`, nil)

	waitIdle(t, e.srv)
	var st sandbox.Stats
	if code := e.admin("GET", "/_sandbox/stats", "", &st); code != 200 {
		t.Fatalf("stats: HTTP %d", code)
	}
	if st.Users != 1 || st.Loans != 1 || st.LoansByOrderNo["order-admin"] != 1 || st.SubmitCallsByOrderNo["order-admin"] != 1 ||
		st.LoansByStatus[awda.LoanDisbursed] != 1 || st.Calls[awda.PathLoanInfo]["1011"] != 1 || st.Calls[awda.PathBankList]["1003"] != 1 ||
		st.Faults.Forced != 1 || st.Pushes.Pending != 0 || st.Pushes.Acknowledged != st.Pushes.Deliveries {
		t.Fatalf("stats %+v", st)
	}
	var evs []sandbox.Event
	if code := e.admin("GET", "/_sandbox/events", "", &evs); code != 200 || len(evs) != st.Pushes.Events {
		t.Fatalf("events: %d, %d events, stats say %d", code, len(evs), st.Pushes.Events)
	}

	if code := e.admin("POST", "/_sandbox/reset", "", nil); code != 200 {
		t.Fatalf("reset: HTTP %d", code)
	}
	e.admin("GET", "/_sandbox/stats", "", &st)
	if st.Users != 0 || st.Loans != 0 || st.Pushes.Events != 0 {
		t.Fatalf("after reset %+v", st)
	}
	if code := e.admin("GET", "/_sandbox/healthz", "", nil); code != 200 {
		t.Fatalf("healthz: HTTP %d", code)
	}
	if code := e.admin("DELETE", "/_sandbox/stats", "", nil); code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE stats: HTTP %d", code)
	}
}

func TestAdminIsLoopbackOnly(t *testing.T) {
	srv, err := sandbox.New(sandbox.Config{AppID: testAppID, HMACSecret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		remote string
		want   int
	}{{"192.0.2.10:4000", http.StatusForbidden}, {"[2001:db8::1]:4000", http.StatusForbidden}, {"127.0.0.1:4000", 200}, {"[::1]:4000", 200}} {
		req := httptest.NewRequest("GET", "/_sandbox/stats", nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.remote, rec.Code, tc.want)
		}
	}

	open, _ := sandbox.New(sandbox.Config{AppID: testAppID, HMACSecret: []byte(testSecret), AdminAllowRemote: true})
	req := httptest.NewRequest("GET", "/_sandbox/stats", nil)
	req.RemoteAddr = "192.0.2.10:4000"
	rec := httptest.NewRecorder()
	open.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("AdminAllowRemote: HTTP %d", rec.Code)
	}

	closed, _ := sandbox.New(sandbox.Config{AppID: testAppID, HMACSecret: []byte(testSecret), DisableAdmin: true})
	req = httptest.NewRequest("GET", "/_sandbox/stats", nil)
	rec = httptest.NewRecorder()
	closed.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DisableAdmin: HTTP %d, want 405 (not an interface)", rec.Code)
	}
	req = httptest.NewRequest("POST", "/_sandbox/stats", nil)
	req.RemoteAddr = "127.0.0.1:4000"
	rec = httptest.NewRecorder()
	closed.AdminHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("AdminHandler POST stats: HTTP %d", rec.Code)
	}
}

func TestLatencyFault(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	if err := e.srv.SetFaults(map[string]sandbox.Fault{"bank/list": {LatencyMin: 80 * time.Millisecond, LatencyMax: 120 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := e.client.BankList(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the fault must have delayed the answer.
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("answered after %v, want at least 80ms", d)
	}
	if err := e.srv.SetFaults(map[string]sandbox.Fault{"*": {LatencyMean: 60 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := e.client.BankList(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("mean latency without jitter: answered after %v, want at least 60ms", d)
	}
}

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]sandbox.Config{
		"no appId":         {HMACSecret: []byte("x")},
		"no key":           {AppID: "a"},
		"bad webhook":      {AppID: "a", HMACSecret: []byte("x"), LoanStatusWebhookURL: "localhost:9/hook"},
		"bad fault key":    {AppID: "a", HMACSecret: []byte("x"), Faults: map[string]sandbox.Fault{"nope": {}}},
		"bad fault rate":   {AppID: "a", HMACSecret: []byte("x"), Faults: map[string]sandbox.Fault{"*": {BusyRate: 0.8, TimeoutRate: 0.4}}},
		"bad delays":       {AppID: "a", HMACSecret: []byte("x"), Autopilot: sandbox.Autopilot{MinDelay: 2, MaxDelay: 1}},
		"bad delivery":     {AppID: "a", HMACSecret: []byte("x"), Delivery: sandbox.Delivery{Duplicates: -1}},
		"RSA-only pushing": {AppID: "a", PartnerPublicKey: &rsaKey(t).PublicKey, AuthWebhookURL: "http://127.0.0.1:1/auth"},
	} {
		if _, err := sandbox.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
