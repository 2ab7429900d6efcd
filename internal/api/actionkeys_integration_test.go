//go:build integration

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/workflows"
)

// updateTemporal answers updates like Temporal does for update IDs: the
// first update under an ID decides, a repeat gets its result. Its verdict
// names the body it decided on, so a test sees which body won. Bodies with
// refuse set are refused by the "validator" (nothing is recorded).
type updateTemporal struct {
	client.Client
	mu      sync.Mutex
	results map[string]Verdict
	refuse  func(arg any) bool
	sent    int
}

type updateHandle struct {
	id string
	v  Verdict
	e  error
}

func (h updateHandle) WorkflowID() string { return "" }
func (h updateHandle) RunID() string      { return "" }
func (h updateHandle) UpdateID() string   { return h.id }
func (h updateHandle) Get(_ context.Context, out any) error {
	if h.e != nil {
		return h.e
	}
	b, _ := json.Marshal(h.v)
	return json.Unmarshal(b, out)
}

func (u *updateTemporal) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sent++
	if u.refuse != nil && u.refuse(o.Args[0]) {
		return nil, temporal.NewApplicationErrorWithOptions("refused", workflows.ErrTypeInvalidInput, temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	id := o.WorkflowID + "/" + o.UpdateID // update IDs are per workflow
	if v, ok := u.results[id]; ok && o.UpdateID != "" {
		return updateHandle{id: o.UpdateID, v: v}, nil
	}
	b, _ := json.Marshal(o.Args[0])
	v := Verdict{Accepted: true, Status: "BOUND", Reason: string(b)}
	if o.UpdateID != "" {
		u.results[id] = v
	}
	return updateHandle{id: o.UpdateID, v: v}, nil
}

// The same Idempotency-Key with the same body gets the first verdict; with
// another body 409 and nothing sent; per application and route; a refused
// request frees its key for a corrected one.
func TestIdempotencyKeyBindsTheBody(t *testing.T) {
	pool, url := testenv.NewDatabase(t)
	if err := store.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	spec, _ := codec.GenerateKeySpec("ak1")
	ring, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	ut := &updateTemporal{results: map[string]Verdict{}}
	s, err := New(Options{Store: store.New(pool, ring), Temporal: ut, Tokens: []string{testToken}})
	if err != nil {
		t.Fatal(err)
	}
	post := func(ref, route, key string, body any) (int, Verdict, Problem) {
		t.Helper()
		req := mustJSON(t, body)
		rec := callWithHeader(t, s, "/v1/applications/"+ref+"/"+route, req, HeaderIdempotencyKey, key)
		var v Verdict
		var p Problem
		if rec.Code == http.StatusOK {
			_ = json.Unmarshal(rec.Body.Bytes(), &v)
		} else {
			p = decodeProblem(t, rec)
		}
		return rec.Code, v, p
	}
	cardA := BankCardRequest{BankCode: "BCA", AccountNo: "7391046285", AccountName: "Dewi Lestari"}
	cardB := BankCardRequest{BankCode: "BCA", AccountNo: "7391040000", AccountName: "Dewi Lestari"}

	code, first, _ := post("app-1", "bank-card", "card-1", cardA)
	if code != http.StatusOK {
		t.Fatalf("first card: %d", code)
	}
	code, again, _ := post("app-1", "bank-card", "card-1", cardA)
	if code != http.StatusOK || again != first {
		t.Fatalf("same key, same card: %d %+v, want %+v", code, again, first)
	}
	sent := ut.sent
	code, _, p := post("app-1", "bank-card", "card-1", cardB)
	if code != http.StatusConflict || p.Type != TypeConflict {
		t.Fatalf("same key, another card: %d %+v", code, p)
	}
	if ut.sent != sent {
		t.Fatal("the conflicting card reached the workflow")
	}
	// Another application, or the other route, may use the same key.
	if code, v, _ := post("app-2", "bank-card", "card-1", cardB); code != http.StatusOK || v == first {
		t.Fatalf("same key on another application: %d %+v", code, v)
	}
	sig := SignatureRequest{AgreementID: "AG-1", Consent: true, ClientIP: "203.0.113.7"}
	if code, _, _ := post("app-1", "signature", "card-1", sig); code != http.StatusOK {
		t.Fatalf("same key on the signature route: %d", code)
	}
	// The signature route binds its key to the body too.
	code, _, p = post("app-1", "signature", "card-1", SignatureRequest{AgreementID: "AG-2", Consent: true, ClientIP: "203.0.113.7"})
	if code != http.StatusConflict || p.Type != TypeConflict {
		t.Fatalf("signature, same key, another agreement: %d %+v", code, p)
	}

	// Refused by the workflow's validator: nothing recorded, the key is
	// free for the corrected card.
	ut.refuse = func(arg any) bool { c, ok := arg.(BankCardRequest); return ok && c.AccountNo == cardB.AccountNo }
	if code, _, _ := post("app-3", "bank-card", "card-9", cardB); code != http.StatusUnprocessableEntity {
		t.Fatalf("refused card: %d", code)
	}
	if code, _, _ := post("app-3", "bank-card", "card-9", cardA); code != http.StatusOK {
		t.Fatalf("corrected card with the refused card's key: %d", code)
	}
}

func callWithHeader(t *testing.T, h http.Handler, path string, body []byte, name, value string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(name, value)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
