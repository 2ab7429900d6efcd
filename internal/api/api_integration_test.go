//go:build integration

package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/proto"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
)

const (
	goodAccount = "7391046285" // BCA: 10 digits
	failAccount = "7391040000" // the sandbox refuses: name mismatch
)

// One loan from the first request to SETTLED, through the API and AWDA's
// notifications only: documents uploaded (multipart and base64), the
// application started and re-sent (idempotent) and contradicted (409),
// authorizations completed by the sandbox and pushed through the webhooks,
// a bank card refused by the workflow's validator and by AWDA (422) and
// then accepted (200), a signature too early (409), wrong (422) and right
// (200), then disbursement and repayment pushed by the sandbox. Afterwards
// the application answers from the read model, a late notification is an
// orphan, and the workflow ID still has one run. No personal data reaches
// Temporal in the clear, the logs, or the API's answers.
func TestLoanLifecycleThroughTheAPI(t *testing.T) {
	s := newStack(t)
	ref := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	app := s.application(ref, 1)

	code, created, body := s.create(app)
	if code != http.StatusAccepted || !created.Created || created.ApplicationID != ref || created.WorkflowID != workflows.LoanWorkflowID(ref) {
		t.Fatalf("create: %d %s", code, body)
	}
	// The same application again, spelled differently: the same answer.
	again := app
	again.Applicant.Mobile = "+62 812-3456-7890"
	if code, res, body := s.create(again); code != http.StatusAccepted || res.Created || res.WorkflowID != created.WorkflowID {
		t.Fatalf("idempotent re-create: %d %s", code, body)
	}
	other := app
	other.Loan.Amount = 3_000_000
	if code, _, body := s.create(other); code != http.StatusConflict || problemOf(t, body).Type != TypeConflict {
		t.Fatalf("conflicting re-create: %d %s", code, body)
	}
	desc, err := s.temporal.DescribeWorkflow(context.Background(), created.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	firstRun := desc.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	if sa := desc.RawResponse.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["ApplicantRef"]; sa == nil || !strings.Contains(string(sa.GetData()), ref) {
		t.Errorf("search attribute ApplicantRef not set: %v", sa)
	}

	// Authorizations happen at AWDA (the sandbox's autopilot) and reach the
	// workflow through the webhook; then it waits for the borrower's card.
	v := s.waitView(ref, "the bank card step", time.Minute, func(v ApplicationView) bool {
		return nextAction(v) == workflows.ActionSubmitBankCard
	})
	if v.Source != SourceWorkflow || v.Stage != string(workflows.StageBankCard) || v.AwdaUserID == "" || len(v.Next.Banks) == 0 {
		t.Fatalf("at the bank card step: %+v", v)
	}

	// A signature now is a conflict with the loan's state.
	code, body = s.postJSON("/v1/applications/"+ref+"/signature", SignatureRequest{AgreementID: "AG-1", Consent: true, ClientIP: "203.0.113.7"})
	if code != http.StatusConflict || problemOf(t, body).Type != TypeWrongStage {
		t.Fatalf("early signature: %d %s", code, body)
	}
	// The workflow's validator: BCA numbers have 10 digits.
	code, body = s.postJSON("/v1/applications/"+ref+"/bank-card", BankCardRequest{BankCode: "BCA", AccountNo: "739104628", AccountName: fixtureName})
	if p := problemOf(t, body); code != http.StatusUnprocessableEntity || p.Type != TypeRejected || !strings.Contains(p.Detail, "10 digits") {
		t.Fatalf("short account number: %d %s", code, body)
	}
	// AWDA's refusal.
	code, body = s.postJSON("/v1/applications/"+ref+"/bank-card", BankCardRequest{BankCode: "BCA", AccountNo: failAccount, AccountName: fixtureName})
	if p := problemOf(t, body); code != http.StatusUnprocessableEntity || p.Verdict == nil || p.Verdict.Status != string(awda.CardFailed) || p.Detail == "" {
		t.Fatalf("refused card: %d %s", code, body)
	}
	// Accepted; the same Idempotency-Key again gets the same verdict.
	code, body = s.postJSON("/v1/applications/"+ref+"/bank-card", BankCardRequest{BankCode: "BCA", AccountNo: goodAccount, AccountName: fixtureName},
		HeaderIdempotencyKey, "card-1")
	var verdict Verdict
	if code != http.StatusOK || json.Unmarshal(body, &verdict) != nil || !verdict.Accepted || verdict.Status != string(awda.CardBound) {
		t.Fatalf("good card: %d %s", code, body)
	}
	code, body = s.postJSON("/v1/applications/"+ref+"/bank-card", BankCardRequest{BankCode: "BCA", AccountNo: goodAccount, AccountName: fixtureName},
		HeaderIdempotencyKey, "card-1")
	if code != http.StatusOK || !strings.Contains(string(body), string(awda.CardBound)) {
		t.Fatalf("repeated card with the same key: %d %s", code, body)
	}
	// The same key with another card is a conflict, not the first verdict.
	code, body = s.postJSON("/v1/applications/"+ref+"/bank-card", BankCardRequest{BankCode: "BCA", AccountNo: failAccount, AccountName: fixtureName},
		HeaderIdempotencyKey, "card-1")
	if code != http.StatusConflict || problemOf(t, body).Type != TypeConflict {
		t.Fatalf("another card with the same key: %d %s", code, body)
	}

	v = s.waitView(ref, "the agreement", time.Minute, func(v ApplicationView) bool {
		return nextAction(v) == workflows.ActionSignAgreement
	})
	if v.AwdaLoanNo == "" || v.Next.Agreement == nil {
		t.Fatalf("at the agreement: %+v", v)
	}
	loanNo := v.AwdaLoanNo
	code, body = s.postJSON("/v1/applications/"+ref+"/signature", SignatureRequest{AgreementID: "AG-WRONG", Consent: true, ClientIP: "203.0.113.7"})
	if code != http.StatusUnprocessableEntity || problemOf(t, body).Type != TypeRejected {
		t.Fatalf("wrong agreement: %d %s", code, body)
	}
	code, body = s.postJSON("/v1/applications/"+ref+"/signature", SignatureRequest{AgreementID: v.Next.Agreement.ID, Consent: true, ClientIP: "203.0.113.7"})
	if code != http.StatusOK || json.Unmarshal(body, &verdict) != nil || !verdict.Accepted {
		t.Fatalf("signature: %d %s", code, body)
	}
	// A retry of a loan that is not stuck is recorded and ignored.
	code, body = s.postJSON("/v1/applications/"+ref+"/retry", map[string]string{"operator": "ops-1"})
	if code != http.StatusAccepted {
		t.Fatalf("retry: %d %s", code, body)
	}

	// Disbursement and repayment: the sandbox's pushes through the webhook.
	// Closed: the read model answers.
	v = s.waitView(ref, "SETTLED and closed", 2*time.Minute, func(v ApplicationView) bool {
		return v.Terminal && v.Source == SourceReadModel
	})
	if v.Stage != string(workflows.StageSettled) || v.Source != SourceReadModel || v.AwdaLoanNo != loanNo || v.LoanStatus != string(awda.LoanSettled) {
		t.Fatalf("settled: %+v", v)
	}
	// The closed loan's whole trail, from PostgreSQL: numbered from 1
	// without a gap, from REGISTER to SETTLED.
	if len(v.Trail) < 10 || v.Trail[0].To != string(workflows.StageRegister) || v.Trail[len(v.Trail)-1].To != string(workflows.StageSettled) {
		t.Fatalf("trail of the settled loan: %+v", v.Trail)
	}
	for i, tr := range v.Trail {
		if tr.Seq != int64(i+1) || tr.At.IsZero() || tr.Kind == "" {
			t.Fatalf("trail entry %d: %+v", i, tr)
		}
	}

	// A late notification for the settled loan: acknowledged, orphaned,
	// and no new run.
	late, _ := json.Marshal(awda.LoanStatusEvent{EventID: "late-" + ref, EventType: awda.EventTypeLoanStatus, LoanNo: loanNo,
		Status: awda.LoanSettled, OccurredAt: time.Now().UnixMilli()})
	if code, env := s.notify(webhook.PathLoanStatus, late); code != http.StatusOK || env.Code != awda.CodeSuccess {
		t.Fatalf("late notification: %d %+v", code, env)
	}
	if st := s.waitInbox("late-"+ref, 30*time.Second); st != store.InboxOrphan {
		t.Fatalf("late notification is %s, want orphan", st)
	}
	list, err := s.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", created.WorkflowID)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.GetExecutions()); n != 1 || list.GetExecutions()[0].GetExecution().GetRunId() != firstRun {
		t.Fatalf("%d runs of %s, want the first one only", n, created.WorkflowID)
	}
	// The loan has ended: the borrower's and ops' actions are conflicts.
	for _, action := range []string{"cancel", "retry", "abandon"} {
		if code, body := s.postJSON("/v1/applications/"+ref+"/"+action, map[string]string{}); code != http.StatusConflict {
			t.Errorf("%s after SETTLED: %d %s", action, code, body)
		}
	}
	code, body = s.postJSON("/v1/applications/"+ref+"/bank-card", BankCardRequest{BankCode: "BCA", AccountNo: goodAccount, AccountName: "X"})
	if code != http.StatusConflict {
		t.Errorf("bank card after SETTLED: %d %s", code, body)
	}

	// The read model lists it.
	code, body, _ = s.do(http.MethodGet, "/v1/applications?stage=SETTLED&limit=10", "", nil)
	var lr ListResponse
	if code != http.StatusOK || json.Unmarshal(body, &lr) != nil || len(lr.Items) != 1 || lr.Items[0].ApplicationID != ref {
		t.Fatalf("list SETTLED: %d %s", code, body)
	}

	s.checkNoPII(t, created.WorkflowID, app.Applicant.NIK)
}

// checkNoPII: the raw history (as the server stores it, read without the
// codec), the captured logs and the inbox table hold none of the
// applicant's personal data; through the codec (in process and over the
// codec server) the input decodes.
func (s *stack) checkNoPII(t *testing.T, wfID, nik string) {
	t.Helper()
	pii := []string{nik, "81234567890", fixtureName, fixtureContact, "81298765432", goodAccount, failAccount}

	it := s.plain.GetWorkflowHistory(context.Background(), wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var input *commonpb.Payload
	events := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		raw, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if hit := containsAny(string(raw), pii...); hit != "" {
			t.Errorf("history event %d (%v) holds personal data in the clear", ev.GetEventId(), ev.GetEventType())
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			input = a.GetInput().GetPayloads()[0]
		}
	}
	if events < 20 || input == nil {
		t.Fatalf("history has %d events and input %v: the check saw nothing", events, input)
	}
	// Positive control: the codec opens it, with the applicant's data key.
	if id := string(input.GetMetadata()[codec.MetadataEncryptionKeyID]); !codec.IsDataKeyID(id) {
		t.Errorf("the input is under key %q, not the applicant's data key", id)
	}
	var in workflows.LoanApplicationInput
	if err := codec.NewDataConverterWithKeys(s.ring, s.keys).FromPayload(input, &in); err != nil || in.Applicant.NIK != nik {
		t.Fatalf("the codec does not decode the input: %v", err)
	}
	// And so does the codec server, for the UI and CLI, with its token only.
	payloadsJSON := `{"payloads":[` + protoJSONPayload(t, input) + `]}`
	code, _, _ := s.do(http.MethodPost, "/codec/decode", "application/json", []byte(payloadsJSON))
	if code != http.StatusUnauthorized {
		t.Errorf("codec decode with the API token: %d, want 401", code)
	}
	code, body, _ := s.do(http.MethodPost, "/codec/decode", "application/json", []byte(payloadsJSON), "Authorization", "Bearer "+codecToken)
	var decoded struct {
		Payloads []struct {
			Data string `json:"data"`
		} `json:"payloads"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &decoded) != nil || len(decoded.Payloads) != 1 {
		t.Fatalf("codec decode: %d %s", code, body)
	}
	plain, _ := base64.StdEncoding.DecodeString(decoded.Payloads[0].Data)
	if !strings.Contains(string(plain), nik) {
		t.Errorf("the codec server's answer does not hold the decoded input")
	}

	logs := s.logs.String()
	if len(logs) < 1000 {
		t.Fatalf("only %d bytes of logs captured: the check saw nothing", len(logs))
	}
	if hit := containsAny(logs, pii...); hit != "" {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, hit) {
				t.Errorf("a log line holds personal data: %.300s", line)
				break
			}
		}
	}
	var payloads [][]byte
	rows, err := s.pool.Query(context.Background(), `SELECT payload_sealed FROM webhook_inbox UNION ALL SELECT sealed FROM documents`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var b []byte
		_ = rows.Scan(&b)
		payloads = append(payloads, b)
	}
	rows.Close()
	for _, p := range payloads {
		if strings.Contains(string(p), "\"eventId\"") || strings.Contains(string(p), "PNG") {
			t.Errorf("an inbox payload or document is stored in the clear")
		}
	}
}

func protoJSONPayload(t *testing.T, p *commonpb.Payload) string {
	t.Helper()
	md := map[string]string{}
	for k, v := range p.GetMetadata() {
		md[k] = base64.StdEncoding.EncodeToString(v)
	}
	b, _ := json.Marshal(map[string]any{"metadata": md, "data": base64.StdEncoding.EncodeToString(p.GetData())})
	return string(b)
}

// A create that recorded its row and crashed before starting the workflow
// is finished by the client's retry: same body → 202, the workflow runs.
func TestCreateFinishesAfterACrashBeforeTheStart(t *testing.T) {
	s := newStack(t)
	ref := fmt.Sprintf("crash-%d", time.Now().UnixNano())
	app := s.application(ref, 2)
	norm := app
	norm.EmergencyContacts = append(norm.EmergencyContacts[:0:0], app.EmergencyContacts...)
	if errs := norm.validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	wfID := workflows.LoanWorkflowID(ref)
	if created, _, err := s.store.CreateApplication(context.Background(), ref, wfID, requestHash(&norm),
		norm.Loan.Amount, norm.Loan.Tenor, string(norm.Loan.TenorUnit)); err != nil || !created {
		t.Fatal(created, err)
	}
	if _, err := s.temporal.DescribeWorkflow(context.Background(), wfID, ""); err == nil {
		t.Fatal("the workflow runs before the retry")
	}
	code, res, body := s.create(app)
	if code != http.StatusAccepted || res.Created {
		t.Fatalf("retry: %d %s", code, body)
	}
	desc, err := s.temporal.DescribeWorkflow(context.Background(), wfID, "")
	if err != nil {
		t.Fatalf("the retry did not start the workflow: %v", err)
	}
	if desc.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("status %v", desc.RawResponse.GetWorkflowExecutionInfo().GetStatus())
	}
	// Before the workflow reports, the read model says NEW; the live view
	// takes over as soon as the workflow answers.
	v := s.waitView(ref, "the live status", 30*time.Second, func(v ApplicationView) bool { return v.Source == SourceWorkflow })
	if v.WorkflowID != wfID || v.Amount != app.Loan.Amount {
		t.Fatalf("live view %+v", v)
	}
}

// Unknown applications, documents that do not exist or were uploaded as
// another type, cancelling a loan that waits for its bank card, and the
// bank list cache.
func TestApplicationsErrorsCancelAndBanks(t *testing.T) {
	s := newStack(t)

	for _, p := range []struct{ method, path string }{
		{"GET", "/v1/applications/nobody"},
		{"POST", "/v1/applications/nobody/cancel"},
		{"POST", "/v1/applications/nobody/retry"},
		{"POST", "/v1/applications/nobody/abandon"},
	} {
		code, body, _ := s.do(p.method, p.path, "application/json", nil)
		if code != http.StatusNotFound || problemOf(t, body).Type != TypeNotFound {
			t.Errorf("%s %s: %d %s", p.method, p.path, code, body)
		}
	}
	code, body := s.postJSON("/v1/applications/nobody/bank-card", BankCardRequest{BankCode: "BCA", AccountNo: goodAccount, AccountName: "X"})
	if code != http.StatusNotFound {
		t.Errorf("bank card for nobody: %d %s", code, body)
	}

	ref := fmt.Sprintf("cancel-%d", time.Now().UnixNano())
	app := s.application(ref, 3)
	bad := app
	bad.Documents = append(bad.Documents[:0:0], app.Documents...)
	bad.Documents[0].DocumentID, bad.Documents[1].DocumentID = app.Documents[1].DocumentID, "00000000-0000-4000-8000-00000000dead"
	code, _, body = s.create(bad)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("bad documents: %d %s", code, body)
	}
	got := fields(problemOf(t, body))
	if !strings.Contains(got["documents[0].documentId"], "uploaded as SELFIE") || !strings.Contains(got["documents[1].documentId"], "no such document") {
		t.Fatalf("bad documents: %v", got)
	}
	if _, err := s.store.GetApplication(context.Background(), ref); err != store.ErrNotFound {
		t.Fatalf("a refused application left a row: %v", err)
	}

	// Another applicant's ID card is never taken into this loan.
	code, body = s.postJSON("/v1/documents", map[string]string{"imageType": "KTP", "applicantRef": ref + "-other",
		"base64": base64.StdEncoding.EncodeToString(testPNG(t, 31))})
	if code != http.StatusCreated {
		t.Fatalf("upload for another applicant: %d %s", code, body)
	}
	var theirs DocumentResponse
	if err := json.Unmarshal(body, &theirs); err != nil {
		t.Fatal(err)
	}
	stolen := app
	stolen.Documents = append(app.Documents[:0:0], app.Documents...)
	stolen.Documents[0].DocumentID = theirs.DocumentID
	code, _, body = s.create(stolen)
	if got := fields(problemOf(t, body)); code != http.StatusUnprocessableEntity ||
		!strings.Contains(got["documents[0].documentId"], "uploaded for another applicant") {
		t.Fatalf("another applicant's document: %d %s", code, body)
	}
	if _, err := s.store.GetApplication(context.Background(), ref); err != store.ErrNotFound {
		t.Fatalf("a refused application left a row: %v", err)
	}

	code, _, body = s.create(app)
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %s", code, body)
	}
	s.waitView(ref, "the bank card step", time.Minute, func(v ApplicationView) bool {
		return nextAction(v) == workflows.ActionSubmitBankCard
	})
	code, body = s.postJSON("/v1/applications/"+ref+"/cancel", map[string]string{"reason": "changed my mind"})
	var sr SignalResponse
	if code != http.StatusAccepted || json.Unmarshal(body, &sr) != nil || sr.Signal != workflows.CancelSignal.Name || sr.Note != NoteCancelBeforeSubmission {
		t.Fatalf("cancel: %d %s", code, body)
	}
	v := s.waitView(ref, "CANCELLED", time.Minute, func(v ApplicationView) bool { return v.Terminal })
	if v.Stage != string(workflows.StageCancelled) {
		t.Fatalf("after cancel: %+v", v)
	}
	// Ended: another cancel is a conflict.
	code, body = s.postJSON("/v1/applications/"+ref+"/cancel", map[string]string{})
	if code != http.StatusConflict || problemOf(t, body).Type != TypeWrongStage {
		t.Fatalf("cancel after the end: %d %s", code, body)
	}

	// The same image for the same applicant and type is the same document.
	img := testPNG(t, 31)
	var ids []string
	for i, typ := range []string{"KTP", "KTP", "SELFIE"} {
		mb, ct := multipartBody(t, map[string]string{"imageType": typ, "applicantRef": ref}, img)
		code, body, _ := s.do(http.MethodPost, "/v1/documents", ct, mb)
		var dr DocumentResponse
		want := []int{http.StatusCreated, http.StatusOK, http.StatusCreated}[i]
		if code != want || json.Unmarshal(body, &dr) != nil {
			t.Fatalf("upload #%d: %d %s", i, code, body)
		}
		ids = append(ids, dr.DocumentID)
	}
	if ids[0] != ids[1] || ids[0] == ids[2] {
		t.Fatalf("document IDs %v: want the repeat to be the first, the other type new", ids)
	}

	// Banks: AWDA's list, fetched once for many requests.
	for i := 0; i < 3; i++ {
		code, body, _ := s.do(http.MethodGet, "/v1/banks", "", nil)
		var br BanksResponse
		if code != http.StatusOK || json.Unmarshal(body, &br) != nil || len(br.Banks) < 5 || br.Stale {
			t.Fatalf("banks: %d %s", code, body)
		}
	}
	if n := s.bankCalls.Load(); n != 1 {
		t.Fatalf("%d bank/list calls for 3 requests, want 1 (cached)", n)
	}

	// Probes and metrics.
	for _, p := range []string{"/healthz", PathReady, PathReadyWebhooks, PathReadyAPI} {
		if code, body, _ := s.do(http.MethodGet, p, "", nil); code != http.StatusOK {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	code, body, _ = s.do(http.MethodGet, "/metrics", "", nil)
	for _, m := range []string{"awdaflow_http_requests_total", "awdaflow_webhook_notifications_total", "awdaflow_webhook_deliveries_total"} {
		if code != http.StatusOK || !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if strings.Contains(string(body), ref) {
		t.Errorf("an applicant ref is a metric label")
	}
}

// With the database away, the API answers 503 problems and every readiness
// path says which dependency is down (the webhooks' checks the database
// alone); they recover when the database is back.
func TestDatabaseDownReadiness(t *testing.T) {
	s := newStack(t)
	testenv.StopPostgres(t)
	for p, want := range map[string]map[string]string{
		PathReady:         {"database": "unreachable", "temporal": "ok"},
		PathReadyAPI:      {"database": "unreachable", "temporal": "ok"},
		PathReadyWebhooks: {"database": "unreachable"},
	} {
		code, body, _ := s.do(http.MethodGet, p, "", nil)
		var got Readiness
		if code != http.StatusServiceUnavailable || json.Unmarshal(body, &got) != nil || got.Status != "unavailable" || !maps.Equal(got.Checks, want) {
			t.Fatalf("%s with the database down: %d %s", p, code, body)
		}
	}
	code, body, _ := s.do(http.MethodGet, "/v1/applications", "", nil)
	if code != http.StatusServiceUnavailable || problemOf(t, body).Type != TypeUnavailable {
		t.Fatalf("list with the database down: %d %s", code, body)
	}
	testenv.RestartPostgres(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _, _ := s.do(http.MethodGet, "/readyz", "", nil); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range []string{PathReadyWebhooks, PathReadyAPI} {
		if code, body, _ := s.do(http.MethodGet, p, "", nil); code != http.StatusOK {
			t.Fatalf("%s after the database is back: %d %s", p, code, body)
		}
	}

	// Draining: every readiness path refuses, for good, while the routes
	// still serve.
	s.api.BeginDrain()
	for _, p := range []string{PathReady, PathReadyWebhooks, PathReadyAPI} {
		code, body, _ := s.do(http.MethodGet, p, "", nil)
		var got Readiness
		if code != http.StatusServiceUnavailable || json.Unmarshal(body, &got) != nil || got.Status != "draining" {
			t.Fatalf("%s while draining: %d %s", p, code, body)
		}
	}
	if code, body, _ := s.do(http.MethodGet, "/v1/applications", "", nil); code != http.StatusOK {
		t.Fatalf("list while draining: %d %s", code, body)
	}
}
