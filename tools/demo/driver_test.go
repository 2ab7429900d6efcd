package demo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/workflows"
)

// fakeAPI answers the starter's /v1 API and the sandbox admin API the way
// they answer a borrower: each read of an application moves it one stage on
// unless it waits for the borrower (a bank card, a signature) or for
// operations (a stuck disbursement). Markers in the ref choose the story,
// as in the sandbox. It records what the driver sent, and refuses what the
// real API refuses (a wrong token, a document of the wrong type, a card
// outside the bank's length, a signature without consent).
type fakeAPI struct {
	t     *testing.T
	token string
	// stuckAt parks every loan at this stage for good (for STUCK).
	stuckAt string
	// never keeps every loan at REGISTER (for TIMEOUT).
	never bool

	mu       sync.Mutex
	docs     map[string]awda.ImageType
	apps     map[string]*fakeApp
	keys     []string // idempotency keys of cards and signatures
	advanced []string // sandbox: loanNo → status
	failures map[string]int
}

type fakeApp struct {
	ref       string
	stage     workflows.Stage
	gets      int
	cardOK    bool
	cardWhy   string
	signed    bool
	cancelled bool
	retried   bool
	stuck     string
	loanNo    string
}

var banks = []awda.Bank{{BankCode: "BCA", AccountNoMinLen: 10, AccountNoMaxLen: 10}, {BankCode: "CIMB", AccountNoMinLen: 13, AccountNoMaxLen: 14}}

func newFakeAPI(t *testing.T) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, token: "fake-token-0123456789", docs: map[string]awda.ImageType{}, apps: map[string]*fakeApp{}, failures: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problemJSON(w http.ResponseWriter, status int, p api.Problem) {
	p.Status = status
	w.Header().Set("Content-Type", api.ContentTypeProblem)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// flaky answers 503 the first time key is seen: the driver must retry.
func (f *fakeAPI) flaky(w http.ResponseWriter, key string) bool {
	f.failures[key]++
	if f.failures[key] == 1 {
		problemJSON(w, http.StatusServiceUnavailable, api.Problem{Type: api.TypeUnavailable, Detail: "temporal is unavailable; retry later"})
		return true
	}
	return false
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		f.sandbox(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		problemJSON(w, http.StatusUnauthorized, api.Problem{Type: api.TypeUnauthorized})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/documents":
		f.upload(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/applications":
		f.create(w, r)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[1] == "applications":
		f.get(w, parts[2])
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "applications":
		f.action(w, r, parts[2], parts[3])
	default:
		problemJSON(w, http.StatusNotFound, api.Problem{Type: api.TypeNotFound})
	}
}

func (f *fakeAPI) upload(w http.ResponseWriter, r *http.Request) {
	var t awda.ImageType
	var data []byte
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			switch p.FormName() {
			case "imageType":
				t = awda.ImageType(b)
			case "file":
				data = b
			}
		}
	case "application/json":
		var up api.DocumentUpload
		_ = json.NewDecoder(r.Body).Decode(&up)
		t = up.ImageType
		data, _ = base64.StdEncoding.DecodeString(up.Base64)
	}
	ct := http.DetectContentType(data)
	if ct != "image/png" && ct != "image/jpeg" || !awda.ValidImageType(t) {
		problemJSON(w, http.StatusUnsupportedMediaType, api.Problem{Type: api.TypeUnsupported})
		return
	}
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", len(f.docs)+1)
	f.docs[id] = t
	writeJSON(w, http.StatusCreated, api.DocumentResponse{DocumentID: id, ImageType: t, ContentType: ct, Size: len(data)})
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	var req api.ApplicationRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		problemJSON(w, http.StatusBadRequest, api.Problem{Type: api.TypeMalformed})
		return
	}
	if f.flaky(w, "create "+req.ApplicantRef) {
		return
	}
	for _, d := range req.Documents {
		if f.docs[d.DocumentID] != d.Type {
			problemJSON(w, http.StatusUnprocessableEntity, api.Problem{Type: api.TypeValidation, Detail: "documents"})
			return
		}
	}
	reg := awda.RegisterRequest{PartnerUserID: req.ApplicantRef, Mobile: req.Applicant.Mobile, Name: req.Applicant.Name,
		NIK: req.Applicant.NIK, BirthDate: req.Applicant.BirthDate}
	if err := reg.Validate(); err != nil || len(req.Documents) != 2 || !api.ValidRef(req.ApplicantRef) {
		problemJSON(w, http.StatusUnprocessableEntity, api.Problem{Type: api.TypeValidation, Detail: fmt.Sprint(err)})
		return
	}
	f.apps[req.ApplicantRef] = &fakeApp{ref: req.ApplicantRef, stage: workflows.StageRegister}
	writeJSON(w, http.StatusAccepted, api.CreatedResponse{ApplicationID: req.ApplicantRef, WorkflowID: workflows.LoanWorkflowID(req.ApplicantRef), Created: true})
}

func (f *fakeAPI) get(w http.ResponseWriter, ref string) {
	a := f.apps[ref]
	if a == nil {
		problemJSON(w, http.StatusNotFound, api.Problem{Type: api.TypeNotFound})
		return
	}
	if f.flaky(w, "get "+ref) {
		return
	}
	a.gets++
	f.step(a)
	v := api.ApplicationView{ApplicationID: ref, WorkflowID: workflows.LoanWorkflowID(ref), Source: api.SourceWorkflow,
		Stage: string(a.stage), Terminal: a.stage.Terminal(), AwdaLoanNo: a.loanNo,
		OrderNo: workflows.OrderNo(workflows.LoanWorkflowID(ref))}
	if a.stuck != "" {
		step, reason, _ := strings.Cut(a.stuck, ": ")
		v.Stuck, v.StuckAt = true, &workflows.Stuck{Step: step, Reason: reason}
	}
	switch {
	case v.Stuck || v.Terminal:
	case a.stage == workflows.StageAuthorizations:
		v.Next = &workflows.NextAction{Action: workflows.ActionAuthorize}
	case a.stage == workflows.StageBankCard && !a.cardOK:
		v.Next = &workflows.NextAction{Action: workflows.ActionSubmitBankCard, Banks: banks, Reason: a.cardWhy}
	case a.stage == workflows.StageAgreement && !a.signed:
		v.Next = &workflows.NextAction{Action: workflows.ActionSignAgreement, Agreement: &workflows.Agreement{ID: "agr_" + ref}}
	}
	writeJSON(w, http.StatusOK, v)
}

// step moves the application on by one stage, unless it waits.
func (f *fakeAPI) step(a *fakeApp) {
	has := func(m string) bool { return strings.Contains(a.ref, m) }
	if f.never || a.stage.Terminal() || a.stuck != "" {
		return
	}
	if f.stuckAt != "" && string(a.stage) == f.stuckAt {
		a.stuck = "submit loan: configuration: code 1005"
		return
	}
	switch a.stage {
	case workflows.StageRegister:
		a.stage = workflows.StageEligibility
	case workflows.StageEligibility:
		a.stage = workflows.StageAuthorizations
		if has("ineligible") {
			a.stage = workflows.StageIneligible
		}
	case workflows.StageAuthorizations:
		switch {
		case a.cancelled:
			a.stage = workflows.StageCancelled
		case !has("manual"):
			a.stage = workflows.StageBankCard
		}
	case workflows.StageBankCard:
		if a.cardOK {
			a.stage = workflows.StageDocuments
		}
	case workflows.StageDocuments:
		a.stage = workflows.StageSubmit
	case workflows.StageSubmit:
		a.stage, a.loanNo = workflows.StageReview, "LN"+a.ref
	case workflows.StageReview:
		a.stage = workflows.StageAgreement
		if has("reject") {
			a.stage = workflows.StageRejected
		}
	case workflows.StageAgreement:
		if a.signed {
			a.stage = workflows.StageDisbursement
		}
	case workflows.StageDisbursement:
		if has("disbursefail") && !a.retried {
			a.stuck = "disbursement: AWDA reported DISBURSE_FAILED"
			return
		}
		a.stage = workflows.StageRepayment
	case workflows.StageRepayment:
		a.stage = workflows.StageSettled
	}
}

func (f *fakeAPI) action(w http.ResponseWriter, r *http.Request, ref, what string) {
	a := f.apps[ref]
	if a == nil {
		problemJSON(w, http.StatusNotFound, api.Problem{Type: api.TypeNotFound})
		return
	}
	key := r.Header.Get(api.HeaderIdempotencyKey)
	switch what {
	case "bank-card":
		var in api.BankCardRequest
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.keys = append(f.keys, key)
		if f.flaky(w, "card "+key) {
			return
		}
		for _, b := range banks {
			if b.BankCode == in.BankCode && (len(in.AccountNo) < b.AccountNoMinLen || len(in.AccountNo) > b.AccountNoMaxLen) {
				problemJSON(w, http.StatusUnprocessableEntity, api.Problem{Type: api.TypeRejected, Verdict: &api.Verdict{Reason: "length"}})
				return
			}
		}
		if strings.HasSuffix(in.AccountNo, "0000") {
			a.cardWhy = "name mismatch"
			problemJSON(w, http.StatusUnprocessableEntity, api.Problem{Type: api.TypeRejected, Detail: "name mismatch",
				Verdict: &api.Verdict{Status: "FAILED", Reason: "name mismatch"}})
			return
		}
		a.cardOK = true
		writeJSON(w, http.StatusOK, api.Verdict{Accepted: true, Status: "BOUND"})
	case "signature":
		var in api.SignatureRequest
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.keys = append(f.keys, key)
		if !in.Consent || in.AgreementID != "agr_"+ref || in.ClientIP == "" {
			problemJSON(w, http.StatusUnprocessableEntity, api.Problem{Type: api.TypeValidation})
			return
		}
		a.signed = true
		writeJSON(w, http.StatusOK, api.Verdict{Accepted: true, Status: "SIGNED"})
	case "cancel":
		a.cancelled = true
		writeJSON(w, http.StatusAccepted, api.SignalResponse{ApplicationID: ref, Signal: "cancel"})
	case "retry":
		var in workflows.RetryRequest
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.Operator == "" || a.stuck == "" || !f.wasAdvanced(a.loanNo) {
			problemJSON(w, http.StatusConflict, api.Problem{Type: api.TypeWrongStage})
			return
		}
		a.retried, a.stuck = true, ""
		writeJSON(w, http.StatusAccepted, api.SignalResponse{ApplicationID: ref, Signal: "retry"})
	default:
		problemJSON(w, http.StatusNotFound, api.Problem{Type: api.TypeNotFound})
	}
}

func (f *fakeAPI) wasAdvanced(loanNo string) bool {
	for _, s := range f.advanced {
		if s == loanNo+"→DISBURSING" {
			return true
		}
	}
	return false
}

func (f *fakeAPI) sandbox(w http.ResponseWriter, r *http.Request) {
	loanNo := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_sandbox/loans/"), "/status")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_sandbox/healthz":
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/_sandbox/loans/"):
		st := awda.LoanDisbursing
		if !f.wasAdvanced(loanNo) {
			st = awda.LoanDisburseFailed
		}
		writeJSON(w, http.StatusOK, map[string]any{"info": awda.LoanInfoResponse{LoanNo: loanNo, Status: st}})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/status"):
		var in struct{ Status awda.LoanStatus }
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.advanced = append(f.advanced, loanNo+"→"+string(in.Status))
		writeJSON(w, http.StatusOK, map[string]any{"loanNo": loanNo, "status": in.Status})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no"})
	}
}

func options(srv *httptest.Server, token string, plan []demo.Scenario) demo.Options {
	return demo.Options{
		APIURL: srv.URL, Token: token, SandboxAdminURL: srv.URL, Plan: plan, Concurrency: 3,
		RunID: "t1", PollInterval: time.Millisecond, Timeout: 10 * time.Second,
	}
}

// Every scenario reaches its expected outcome through the borrower's and
// ops' actions alone, over transient 503s, and progress counts add up.
func TestRunEveryScenario(t *testing.T) {
	f, srv := newFakeAPI(t)
	o := options(srv, f.token, demo.Scenarios)
	var mu sync.Mutex
	var last demo.Progress
	calls := 0
	o.OnProgress = func(p demo.Progress) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		n := 0
		for _, c := range p.Stages {
			n += c
		}
		if n != p.Total || p.Done > p.Total || p.Matched > p.Done || p.Stuck < 0 {
			t.Errorf("inconsistent progress: %d in stages, %+v", n, p)
		}
		last = p
	}
	sum, err := demo.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sum.Results {
		if !r.OK() {
			t.Errorf("%s (%s): %s, want %s (%s); problems %v", r.Ref, r.Scenario, r.Actual, r.Expected, r.Reason, r.Problems)
		}
		if r.OrderNo == "" || r.Duration <= 0 {
			t.Errorf("%s: orderNo %q, duration %s", r.Ref, r.OrderNo, r.Duration)
		}
	}
	if !sum.OK() || len(sum.Results) != len(demo.Scenarios) || sum.RunID != "t1" {
		t.Fatalf("summary: ok %v, %d results, run %q", sum.OK(), len(sum.Results), sum.RunID)
	}
	if last.Done != len(demo.Scenarios) || last.Matched != last.Done || last.Stuck != 0 || calls < 3*len(demo.Scenarios) {
		t.Errorf("last progress %+v after %d calls", last, calls)
	}
	byScenario := map[demo.Scenario]demo.Result{}
	for _, r := range sum.Results {
		byScenario[r.Scenario] = r
	}
	if r := byScenario[demo.CardRetry]; r.CardAttempts != 2 {
		t.Errorf("cardretry: %d cards", r.CardAttempts)
	}
	if r := byScenario[demo.DisburseFail]; r.Retries != 1 {
		t.Errorf("disbursefail: %d retries", r.Retries)
	}
	if got := f.advanced; len(got) != 1 || !strings.HasSuffix(got[0], "disbursefail→DISBURSING") {
		t.Errorf("sandbox advances %v", got)
	}
	if !f.apps[byScenario[demo.Cancel].Ref].cancelled {
		t.Error("the withdrawing borrower never cancelled")
	}
	// The refused card and the good one went under different keys; the
	// card retried after a 503 under the same key.
	ref := byScenario[demo.CardRetry].Ref
	var cardKeys []string
	for _, k := range f.keys {
		if strings.HasPrefix(k, ref+".card.") {
			cardKeys = append(cardKeys, k)
		}
	}
	if want := []string{ref + ".card.0", ref + ".card.0", ref + ".card.1", ref + ".card.1"}; strings.Join(cardKeys, " ") != strings.Join(want, " ") {
		t.Errorf("card keys %v, want %v", cardKeys, want)
	}
}

// A loan stuck where its scenario does not expect it is reported STUCK
// (after StuckGrace); one that never gets anywhere ends TIMEOUT; a
// cancelled run ABORTED.
func TestRunGivesUp(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.stuckAt = string(workflows.StageSubmit)
	o := options(srv, f.token, []demo.Scenario{demo.Happy})
	o.StuckGrace = 50 * time.Millisecond
	sum, err := demo.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r := sum.Results[0]; r.Actual != demo.OutcomeStuck || !strings.Contains(r.Reason, "1005") || sum.OK() {
		t.Fatalf("result %+v", r)
	}

	f2, srv2 := newFakeAPI(t)
	f2.never = true
	o = options(srv2, f2.token, []demo.Scenario{demo.Happy, demo.Reject})
	o.Timeout = time.Second
	sum, _ = demo.Run(context.Background(), o)
	for _, r := range sum.Results {
		if r.Actual != demo.OutcomeTimeout || !strings.Contains(r.Reason, "REGISTER") {
			t.Fatalf("result %+v", r)
		}
	}
	if len(sum.Mismatches()) != 2 {
		t.Fatal("timeouts are not mismatches")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	o.Timeout, o.Concurrency = time.Minute, 1
	sum, err = demo.Run(ctx, o)
	if err == nil || sum == nil {
		t.Fatalf("err %v", err)
	}
	for _, r := range sum.Results {
		if r.Actual != demo.OutcomeAborted {
			t.Fatalf("result %+v", r)
		}
	}

	_, srv3 := newFakeAPI(t)
	sum, _ = demo.Run(context.Background(), options(srv3, "a-wrong-token-0123456789", []demo.Scenario{demo.Happy}))
	if r := sum.Results[0]; r.Actual != demo.OutcomeError || !strings.Contains(r.Reason, "HTTP 401") {
		t.Fatalf("with a wrong token: %+v", r)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	base := demo.Options{APIURL: "http://127.0.0.1:1", Token: "t", N: 3}
	for name, o := range map[string]demo.Options{
		"no token":             {APIURL: "http://x", N: 1},
		"no applicants":        {APIURL: "http://x", Token: "t"},
		"marker in the prefix": func() demo.Options { o := base; o.RefPrefix = "demo-rejected"; return o }(),
		"bad prefix":           func() demo.Options { o := base; o.RefPrefix = "-x"; return o }(),
		"unknown scenario":     func() demo.Options { o := base; o.Plan = []demo.Scenario{"nope"}; return o }(),
		"needs the sandbox":    func() demo.Options { o := base; o.Plan = []demo.Scenario{demo.DisburseFail}; return o }(),
		"only sandbox scenarios without it": func() demo.Options {
			o := base
			o.Mix = demo.Mix{demo.DisburseFail: 1}
			return o
		}(),
	} {
		if _, err := demo.Run(context.Background(), o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Without the sandbox admin API the default mix leaves DisburseFail
	// out: with 40 applicants it would otherwise have two.
	_, srv := newFakeAPI(t)
	o := demo.Options{APIURL: srv.URL, Token: "fake-token-0123456789", N: 40, Concurrency: 40, Seed: 1,
		PollInterval: time.Millisecond, Timeout: 10 * time.Second}
	sum, err := demo.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sum.Results {
		if r.Scenario == demo.DisburseFail {
			t.Fatal("disbursefail without the sandbox admin API")
		}
		if !r.OK() {
			t.Errorf("%s: %s (%s)", r.Ref, r.Actual, r.Reason)
		}
	}
	if !strings.HasPrefix(sum.RefPrefix, "demo-") || len(sum.Results) != 40 {
		t.Errorf("prefix %q, %d results", sum.RefPrefix, len(sum.Results))
	}
}
