//go:build integration

package api

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/workflows"
)

// startTemporal records the workflows started.
type startTemporal struct {
	client.Client
	mu     sync.Mutex
	inputs []workflows.LoanApplicationInput
}

func (st *startTemporal) ExecuteWorkflow(_ context.Context, _ client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.inputs = append(st.inputs, args[0].(workflows.LoanApplicationInput))
	return nil, nil
}

// The deployment's loan knobs (Options.LoanConfig, from the starter's
// LOAN_* variables) go into every workflow the API starts; the fields left
// unset stay zero, so the workflow's own defaults apply.
func TestLoanConfigReachesTheWorkflowInput(t *testing.T) {
	pool, url := testenv.NewDatabase(t)
	if err := store.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	spec, _ := codec.GenerateKeySpec("lc1")
	ring, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	app := validApplication("app-knobs")
	for _, d := range app.Documents {
		if _, err := pool.Exec(context.Background(), `INSERT INTO documents (id, image_type, content_type, size, sha256, sealed)
			VALUES ($1, $2, 'image/png', 1, 'x', '\x00')`, d.DocumentID, string(d.Type)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := workflows.Config{PollInterval: 17 * time.Minute, ReviewDeadline: 21 * 24 * time.Hour, ContinueAsNewEvents: 900}
	st := &startTemporal{}
	s, err := New(Options{Store: store.New(pool, ring), Temporal: st, Tokens: []string{testToken}, LoanConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	rec := call(t, s, http.MethodPost, "/v1/applications", testToken, "application/json", mustJSON(t, app))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if len(st.inputs) != 1 || st.inputs[0].Config != cfg {
		t.Fatalf("started with %+v, want config %+v", st.inputs, cfg)
	}
}
