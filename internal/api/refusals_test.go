package api

import (
	"context"
	"net/http"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// refusingTemporal refuses every update with an application error of the
// given type, as the workflow's validator does, and answers status queries
// (the fallback for untyped refusals) with a loan waiting for a bank card.
type refusingTemporal struct {
	scriptedTemporal
	typ     string
	queries int
}

func (f *refusingTemporal) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, temporal.NewNonRetryableApplicationError("refused by the validator", f.typ, nil)
}

func (f *refusingTemporal) QueryWorkflowWithOptions(ctx context.Context, req *client.QueryWorkflowWithOptionsRequest) (*client.QueryWorkflowWithOptionsResponse, error) {
	f.queries++
	return f.scriptedTemporal.QueryWorkflowWithOptions(ctx, req)
}

// A refused update answers the same whether the worker spells its type the
// issue-14 way (wrong_stage, invalid_input) or the older way (WrongStage,
// InvalidInput, from a worker deployed before): 409 wrong stage, 422
// refused, without asking the workflow. Only an untyped refusal (a worker
// older than the types) makes the API ask what the loan waits for.
func TestUpdateRefusalTypesOldAndNew(t *testing.T) {
	waitingForCard := status(workflows.StageBankCard, func(st *workflows.Status) {
		st.Next = &workflows.NextAction{Action: workflows.ActionSubmitBankCard}
	})
	for _, c := range []struct {
		typ     string
		code    int
		problem string
		queries int
	}{
		{workflows.ErrTypeWrongStage, http.StatusConflict, TypeWrongStage, 0},
		{"WrongStage", http.StatusConflict, TypeWrongStage, 0},
		{workflows.ErrTypeInvalidInput, http.StatusUnprocessableEntity, TypeRejected, 0},
		{"InvalidInput", http.StatusUnprocessableEntity, TypeRejected, 0},
		{"", http.StatusConflict, TypeWrongStage, 1}, // the signature is not what the loan waits for
	} {
		t.Run(c.typ, func(t *testing.T) {
			ft := &refusingTemporal{scriptedTemporal: scriptedTemporal{statuses: []workflows.Status{waitingForCard}}, typ: c.typ}
			s, err := New(Options{Store: store.New(nil, nil), Temporal: ft, Tokens: []string{testToken}})
			if err != nil {
				t.Fatal(err)
			}
			rec := call(t, s, "POST", "/v1/applications/app-1/signature", testToken, "application/json",
				[]byte(`{"agreementId":"AG-1","consent":true,"clientIp":"10.0.0.1"}`))
			if rec.Code != c.code {
				t.Fatalf("type %q: %d %s, want %d", c.typ, rec.Code, rec.Body, c.code)
			}
			if p := decodeProblem(t, rec); p.Type != c.problem || p.Detail != "refused by the validator" {
				t.Errorf("type %q: problem %+v, want type %s", c.typ, p, c.problem)
			}
			if ft.queries != c.queries {
				t.Errorf("type %q: %d status queries, want %d", c.typ, ft.queries, c.queries)
			}
		})
	}
}
