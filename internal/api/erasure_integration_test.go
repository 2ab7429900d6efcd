//go:build integration

package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
)

// erasureApp is one applicant of the erasure test, driven to the bank card
// step (the sandbox's authorizations delivered through the inbox).
type erasureApp struct {
	ref, wfID, nik string
	input          *commonpb.Payload // the workflow's input, as stored
}

func (s *stack) erasureApp(t *testing.T, prefix string, serial int) erasureApp {
	t.Helper()
	ref := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	app := s.application(ref, serial)
	if code, _, body := s.create(app); code != http.StatusAccepted {
		t.Fatalf("create %s: %d %s", ref, code, body)
	}
	s.waitView(ref, "the bank card step", time.Minute, func(v ApplicationView) bool {
		return nextAction(v) == workflows.ActionSubmitBankCard
	})
	a := erasureApp{ref: ref, wfID: workflows.LoanWorkflowID(ref), nik: app.Applicant.NIK}
	a.input = s.historyPayloads(t, a.wfID)[0]
	return a
}

// historyPayloads returns the payloads of a history as the server stores
// them: the workflow input first, then activity inputs and results and
// signal inputs.
func (s *stack) historyPayloads(t *testing.T, wfID string) []*commonpb.Payload {
	t.Helper()
	it := s.plain.GetWorkflowHistory(context.Background(), wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*commonpb.Payload
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		for _, ps := range []*commonpb.Payloads{
			ev.GetWorkflowExecutionStartedEventAttributes().GetInput(),
			ev.GetActivityTaskScheduledEventAttributes().GetInput(),
			ev.GetActivityTaskCompletedEventAttributes().GetResult(),
			ev.GetWorkflowExecutionSignaledEventAttributes().GetInput(),
			ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetArgs(),
			ev.GetWorkflowExecutionUpdateCompletedEventAttributes().GetOutcome().GetSuccess(),
		} {
			out = append(out, ps.GetPayloads()...)
		}
		for _, ps := range ev.GetMarkerRecordedEventAttributes().GetDetails() { // local activities, side effects
			out = append(out, ps.GetPayloads()...)
		}
		if f := ev.GetActivityTaskFailedEventAttributes().GetFailure(); f.GetEncodedAttributes() != nil {
			out = append(out, f.GetEncodedAttributes())
		}
	}
	if len(out) < 3 {
		t.Fatalf("%s: only %d payloads in the history", wfID, len(out))
	}
	t.Logf("%s: %d payloads in the history", wfID, len(out))
	return out
}

func (s *stack) erase(ref string, body any) (int, ErasureResponse, []byte) {
	s.t.Helper()
	code, b := s.postJSON("/v1/applicants/"+ref+"/erasure", body)
	var res ErasureResponse
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &res); err != nil {
			s.t.Fatal(err)
		}
	}
	return code, res, b
}

// personal is the applicant's data as the test posted it, and how a dump
// could show it (base64 of the raw bytes).
func personal(nik string) []string {
	plain := []string{nik, fixtureName, "81234567890", fixtureContact, "81298765432", failAccount}
	out := append([]string(nil), plain...)
	for _, p := range plain {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(p)))
	}
	return out
}

func TestErasure(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	active := s.erasureApp(t, "erase-active", 41) // erased while it runs: forced
	closed := s.erasureApp(t, "erase-closed", 42) // erased after it ended
	kept := s.erasureApp(t, "erase-kept", 43)     // never erased

	// A bank card AWDA refuses: an update, its result and the AWDA call's
	// activity in the history of the loan to be erased.
	code, b := s.postJSON("/v1/applications/"+active.ref+"/bank-card", BankCardRequest{BankCode: "BCA", AccountNo: failAccount, AccountName: fixtureName})
	if p := problemOf(t, b); code != http.StatusUnprocessableEntity || p.Verdict == nil || p.Verdict.Status != string(awda.CardFailed) {
		t.Fatalf("refused card: %d %s", code, b)
	}

	var inboxRows, docs int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_inbox WHERE workflow_id = $1`, active.wfID).Scan(&inboxRows); err != nil || inboxRows == 0 {
		t.Fatalf("no inbox row delivered to %s before the erasure (%v): the check would see nothing", active.wfID, err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE applicant_ref = $1`, active.ref).Scan(&docs); err != nil || docs != 2 {
		t.Fatalf("%d documents bound to the applicant at create (%v), want 2", docs, err)
	}

	// Refusals: bad input, unknown applicant, a running loan without force.
	if code, _, b := s.erase(active.ref, map[string]any{"operator": "ops-ana"}); code != http.StatusUnprocessableEntity || !strings.Contains(string(b), "reason") {
		t.Fatalf("without a reason: %d %s", code, b)
	}
	if code, _, b := s.erase("nobody-here", map[string]any{"operator": "ops-ana", "reason": "r"}); code != http.StatusNotFound {
		t.Fatalf("unknown applicant: %d %s", code, b)
	}
	code, _, b = s.erase(active.ref, ErasureRequest{Operator: "ops-ana", Reason: "borrower request (UU 27/2022)"})
	if code != http.StatusConflict || problemOf(t, b).Type != TypeActive {
		t.Fatalf("running loan without force: %d %s", code, b)
	}

	// Forced: the workflow is terminated, then the data erased.
	code, forced, b := s.erase(active.ref, ErasureRequest{Operator: "ops-ana", Reason: "borrower request (UU 27/2022)", Force: true})
	if code != http.StatusOK || !forced.Created || !forced.Forced || !forced.WorkflowTerminated || forced.DocumentsDeleted != 2 ||
		forced.InboxRowsErased < inboxRows || !codec.IsDataKeyID(forced.DataKeyID) || forced.Operator != "ops-ana" {
		t.Fatalf("forced erasure: %d %s", code, b)
	}
	desc, err := s.temporal.DescribeWorkflow(ctx, active.wfID, "")
	if err != nil || desc.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Fatalf("after a forced erasure the workflow is not terminated (%v)", err)
	}
	// A repeat answers the recorded erasure.
	code, again, b := s.erase(active.ref, ErasureRequest{Operator: "someone", Reason: "again"})
	if code != http.StatusOK || again.Created || again.Operator != "ops-ana" || !again.ErasedAt.Equal(forced.ErasedAt) {
		t.Fatalf("repeated erasure: %d %s", code, b)
	}

	// Not forced, after the loan ended (the borrower cancelled).
	if code, b := s.postJSON("/v1/applications/"+closed.ref+"/cancel", map[string]string{"reason": "changed my mind"}); code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", code, b)
	}
	s.waitView(closed.ref, "the end", time.Minute, func(v ApplicationView) bool { return v.Terminal })
	// The read model says it ended before the workflow closes: wait for that.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	_ = s.temporal.GetWorkflow(wctx, closed.wfID, "").Get(wctx, nil) // its outcome does not matter here
	cancel()
	code, plain, b := s.erase(closed.ref, ErasureRequest{Operator: "ops-budi", Reason: "retention request"})
	if code != http.StatusOK || !plain.Created || plain.Forced || plain.WorkflowTerminated {
		t.Fatalf("erasure of an ended loan: %d %s", code, b)
	}
	// A notification for the erased applicant's AWDA user, after the
	// erasure: acknowledged, and orphaned (not retried for ever) since
	// nothing can be signalled under an erased key.
	closedView := s.get(closed.ref)
	push, _ := json.Marshal(awda.AuthorizationEvent{EventID: "after-erasure-" + closed.ref, UserID: closedView.AwdaUserID,
		AuthType: "EKYC", Status: awda.AuthSuccess, OccurredAt: time.Now().UnixMilli()})
	if code, env := s.notify(webhook.PathAuthorization, push); code != http.StatusOK || env.Code != awda.CodeSuccess {
		t.Fatalf("notification after erasure: %d %+v", code, env)
	}
	if st := s.waitInbox("after-erasure-"+closed.ref, 30*time.Second); st != store.InboxOrphan {
		t.Fatalf("notification after erasure: inbox status %s, want orphan", st)
	}
	// So is an upload for them.
	mb, ct := multipartBody(t, map[string]string{"imageType": "KTP", "applicantRef": closed.ref}, testPNG(t, 77))
	if code, b, _ := s.do(http.MethodPost, "/v1/documents", ct, mb); code != http.StatusConflict || problemOf(t, b).Type != TypeErased {
		t.Fatalf("upload after erasure: %d %s", code, b)
	}
	// A create for an erased applicant is refused.
	if code, _, b := s.create(s.application(closed.ref, 42)); code != http.StatusConflict || problemOf(t, b).Type != TypeErased {
		t.Fatalf("create after erasure: %d %s", code, b)
	}

	s.checkErasedAtRest(t, active, forced)
	s.checkCodecServer(t, []erasureApp{active, closed}, kept)
	s.checkTemporalShow(t, active, kept)
	s.checkRingRotation(t, active, kept)
}

// checkErasedAtRest: the database holds nothing personal for the applicant,
// and keeps the non-personal trail.
func (s *stack) checkErasedAtRest(t *testing.T, a erasureApp, e ErasureResponse) {
	t.Helper()
	ctx := context.Background()
	var docs, livePayloads int
	var sealed []byte
	var erasedAt *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM documents WHERE applicant_ref = $1),
			(SELECT count(*) FROM webhook_inbox WHERE workflow_id = $2 AND octet_length(payload_sealed) > 0),
			(SELECT sealed FROM data_keys WHERE applicant_ref = $1),
			(SELECT erased_at FROM data_keys WHERE applicant_ref = $1)`, a.ref, a.wfID).Scan(&docs, &livePayloads, &sealed, &erasedAt); err != nil {
		t.Fatal(err)
	}
	if docs != 0 || livePayloads != 0 || sealed != nil || erasedAt == nil {
		t.Fatalf("after erasure: %d documents, %d inbox payloads, %d bytes of key, erased_at %v", docs, livePayloads, len(sealed), erasedAt)
	}
	var row string
	if err := s.pool.QueryRow(ctx, `SELECT row_to_json(a)::text FROM applications a WHERE applicant_ref = $1`, a.ref).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if hit := containsAny(row, personal(a.nik)...); hit != "" {
		t.Fatalf("the read model holds %q: %s", hit, row)
	}
	app, err := s.store.GetApplication(ctx, a.ref)
	if err != nil || app.Stage != string(workflows.StageBankCard) || app.Amount != 2_000_000 || app.AwdaUserID == "" || !app.Terminal {
		t.Fatalf("the non-personal trail: %+v (%v)", app, err)
	}
	if trail, err := s.store.Trail(ctx, a.wfID); err != nil || len(trail) == 0 {
		t.Fatalf("loan_trail after erasure: %d entries (%v)", len(trail), err)
	}
	var audit string
	if err := s.pool.QueryRow(ctx, `SELECT row_to_json(e)::text FROM erasures e WHERE applicant_ref = $1`, a.ref).Scan(&audit); err != nil ||
		!strings.Contains(audit, `"operator":"ops-ana"`) || !strings.Contains(audit, `"forced":true`) || !strings.Contains(audit, e.DataKeyID) {
		t.Fatalf("audit row %s (%v)", audit, err)
	}
}

// checkCodecServer: the codec server answers the erased applicants'
// payloads with placeholders (200, no error, no personal data) and still
// decodes the other applicant's.
func (s *stack) checkCodecServer(t *testing.T, erased []erasureApp, kept erasureApp) {
	t.Helper()
	for _, a := range erased {
		ps := s.historyPayloads(t, a.wfID)
		code, body, _ := s.do(http.MethodPost, "/codec/decode", "application/json",
			payloadsJSON(t, ps), "Authorization", "Bearer "+codecToken)
		if code != http.StatusOK {
			t.Fatalf("%s: codec decode %d %s", a.wfID, code, body)
		}
		var out commonpb.Payloads
		if err := protojsonUnmarshal(body, &out); err != nil || len(out.Payloads) != len(ps) {
			t.Fatalf("%s: codec answer %s (%v)", a.wfID, body, err)
		}
		placeholders := 0
		for _, p := range out.Payloads {
			if hit := containsAny(string(p.GetData()), personal(a.nik)...); hit != "" {
				t.Fatalf("%s: the codec server decoded %q", a.wfID, hit)
			}
			if len(p.GetMetadata()[codec.MetadataErased]) > 0 {
				placeholders++
				if !bytes.Contains(p.GetData(), []byte(`"erased":true`)) {
					t.Fatalf("placeholder %s", p.GetData())
				}
			}
		}
		// Every payload of the loan is under its applicant's key: the SDK
		// gives the codec the loan's workflow ID on every path (start,
		// activities, local activities, signals, updates, failures).
		if placeholders != len(ps) {
			t.Fatalf("%s: %d placeholders of %d payloads (input %v)", a.wfID, placeholders, len(ps), out.Payloads[0].GetMetadata())
		}
	}
	code, body, _ := s.do(http.MethodPost, "/codec/decode", "application/json",
		payloadsJSON(t, []*commonpb.Payload{kept.input}), "Authorization", "Bearer "+codecToken)
	if code != http.StatusOK || !bytes.Contains(decodedData(t, body), []byte(kept.nik)) {
		t.Fatalf("the other applicant does not decode: %d %s", code, body)
	}
}

func payloadsJSON(t *testing.T, ps []*commonpb.Payload) []byte {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func protojsonUnmarshal(b []byte, m *commonpb.Payloads) error { return protojson.Unmarshal(b, m) }

func decodedData(t *testing.T, body []byte) []byte {
	t.Helper()
	var out commonpb.Payloads
	if err := protojsonUnmarshal(body, &out); err != nil || len(out.Payloads) == 0 {
		t.Fatalf("codec answer %s (%v)", body, err)
	}
	return out.Payloads[0].GetData()
}

// checkTemporalShow: `temporal workflow show` through the codec server
// prints the erased loan's history, its events but none of its personal
// data; the other applicant's history still shows theirs.
func (s *stack) checkTemporalShow(t *testing.T, erased, kept erasureApp) {
	t.Helper()
	cli := os.Getenv("TEMPORAL_CLI")
	if cli == "" {
		t.Fatal("set TEMPORAL_CLI to the Temporal CLI binary")
	}
	show := func(wfID string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, "workflow", "show", "-w", wfID, "--address", s.hostPort, "--namespace", s.namespace,
			"--output", "json", "--codec-endpoint", s.url+codec.PathPrefix, "--codec-auth", "Bearer "+codecToken)
		cmd.Env = append(os.Environ(), "TEMPORAL_CONFIG_FILE=/nonexistent")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("temporal workflow show %s: %v: %s", wfID, err, stderr.String())
		}
		return string(out)
	}
	// The CLI prints a payload's data in base64: read the output with
	// every payload's data decoded.
	out := show(erased.wfID)
	data := cliPayloadData(t, out)
	if hit := containsAny(out+data, personal(erased.nik)...); hit != "" {
		t.Fatalf("temporal workflow show prints %q of an erased applicant", hit)
	}
	for _, want := range []string{"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "EVENT_TYPE_ACTIVITY_TASK_COMPLETED",
		"EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED", "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"} {
		if !strings.Contains(out, want) {
			t.Errorf("temporal workflow show of the erased loan lacks %q", want)
		}
	}
	if !strings.Contains(data, `"erased":true`) || strings.Contains(out, codec.MetadataEncodingEncrypted) ||
		strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(codec.MetadataEncodingEncrypted))) {
		t.Errorf("temporal workflow show of the erased loan: no placeholder, or payloads left encrypted")
	}
	other := show(kept.wfID)
	if !strings.Contains(cliPayloadData(t, other), kept.nik) {
		t.Errorf("temporal workflow show of another applicant does not show their NIK: the check would pass blind")
	}
}

// cliPayloadData walks the JSON the CLI printed and returns the decoded
// data of every payload in it ({"metadata": ..., "data": base64}), one per
// line.
func cliPayloadData(t *testing.T, out string) string {
	t.Helper()
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if d, ok := x["data"].(string); ok {
				if _, meta := x["metadata"]; meta {
					if raw, err := base64.StdEncoding.DecodeString(d); err == nil {
						b.Write(raw)
						b.WriteByte('\n')
					}
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			break
		}
		walk(v)
	}
	if b.Len() == 0 {
		t.Fatalf("no payload in the CLI output:\n%.2000s", out)
	}
	return b.String()
}

// checkRingRotation: a new ring key, `starter keys reseal`'s store call,
// then the old ring key dropped: the kept applicant's payloads still
// decode, the erased one's are still erased.
func (s *stack) checkRingRotation(t *testing.T, erased, kept erasureApp) {
	t.Helper()
	ctx := context.Background()
	next, err := codec.GenerateKeySpec("api2")
	if err != nil {
		t.Fatal(err)
	}
	both, err := codec.ParseKeyRing(s.spec + "," + next)
	if err != nil {
		t.Fatal(err)
	}
	st2 := store.New(s.pool, both)
	n, err := st2.ResealDataKeys(ctx, "api2", 1, codec.NewDataKeys(both, st2, codec.DataKeysOptions{}).Reseal)
	if err != nil || n < 1 {
		t.Fatalf("reseal = %d, %v", n, err)
	}
	only, err := codec.ParseKeyRing(next)
	if err != nil {
		t.Fatal(err)
	}
	st3 := store.New(s.pool, only)
	keys3 := codec.NewDataKeys(only, st3, codec.DataKeysOptions{})
	st3.UseDataKeys(keys3)
	dc := codec.NewDataConverterWithKeys(only, keys3)
	var in workflows.LoanApplicationInput
	if err := dc.FromPayload(kept.input, &in); err != nil || in.Applicant.NIK != kept.nik {
		t.Fatalf("after rotation, the kept applicant: %v", err)
	}
	if err := dc.FromPayload(erased.input, &in); !errors.Is(err, codec.ErrErased) {
		t.Fatalf("after rotation, the erased applicant: %v", err)
	}
	// The kept applicant's documents (bound at create) still open.
	var id string
	if err := s.pool.QueryRow(ctx, `SELECT id::text FROM documents WHERE applicant_ref = $1 LIMIT 1`, kept.ref).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := st3.GetDocument(ctx, id); err != nil {
		t.Fatalf("after rotation, the kept applicant's document: %v", err)
	}
}
