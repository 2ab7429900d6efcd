package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	querypb "go.temporal.io/api/query/v1"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// jsonValue is a query result (converter.EncodedValue) holding v.
type jsonValue struct{ v any }

func (j jsonValue) HasValue() bool { return j.v != nil }
func (j jsonValue) Get(ptr any) error {
	b, err := json.Marshal(j.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}

// scriptedTemporal answers status queries with the statuses given, in
// order (the last one repeats), and records the signals sent.
type scriptedTemporal struct {
	client.Client
	mu       sync.Mutex
	statuses []workflows.Status
	closed   bool
	signals  []string
}

func (f *scriptedTemporal) QueryWorkflowWithOptions(_ context.Context, req *client.QueryWorkflowWithOptionsRequest) (*client.QueryWorkflowWithOptionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &client.QueryWorkflowWithOptionsResponse{QueryRejected: &querypb.QueryRejected{}}, nil
	}
	st := f.statuses[0]
	if len(f.statuses) > 1 {
		f.statuses = f.statuses[1:]
	}
	return &client.QueryWorkflowWithOptionsResponse{QueryResult: jsonValue{st}}, nil
}

func (f *scriptedTemporal) SignalWorkflow(_ context.Context, workflowID, _, name string, _ any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, name+" "+workflowID)
	return nil
}

func scriptedServer(t *testing.T, statuses ...workflows.Status) (*Server, *scriptedTemporal) {
	t.Helper()
	ft := &scriptedTemporal{statuses: statuses}
	s, err := New(Options{Store: store.New(nil, nil), Temporal: ft, Tokens: []string{testToken}})
	if err != nil {
		t.Fatal(err)
	}
	return s, ft
}

func status(stage workflows.Stage, mod func(*workflows.Status)) workflows.Status {
	st := workflows.Status{ApplicantRef: "app-1", WorkflowID: "loan:app-1", State: workflows.State{Stage: stage}}
	st.Terminal = stage.Terminal()
	if mod != nil {
		mod(&st)
	}
	return st
}

// The cancel endpoint says what a cancel means at each stage, and sends
// the signal only where the loan takes it.
func TestCancelPerStage(t *testing.T) {
	agreement := &workflows.Agreement{ID: "AG-1", SignURL: "https://awda.example/sign"}
	offered := func(st *workflows.Status) {
		st.LoanNo, st.LoanStatus, st.Agreement = "LN1", awda.LoanApproved, agreement
		st.Next = &workflows.NextAction{Action: workflows.ActionSignAgreement, Agreement: agreement}
	}
	cases := []struct {
		name   string
		st     workflows.Status
		code   int
		note   string
		detail string
	}{
		{"bank card", status(workflows.StageBankCard, nil), http.StatusAccepted, NoteCancelBeforeSubmission, ""},
		{"stuck before submission", status(workflows.StageSubmit, func(st *workflows.Status) {
			st.Stuck = &workflows.Stuck{Step: "submit loan", Reason: "configuration: code 1005"}
		}), http.StatusAccepted, NoteCancelDuringSubmission, ""},
		{"documents", status(workflows.StageDocuments, nil), http.StatusAccepted, NoteCancelBeforeSubmission, ""},
		{"review", status(workflows.StageReview, func(st *workflows.Status) { st.LoanNo, st.LoanStatus = "LN1", awda.LoanUnderReview }),
			http.StatusAccepted, NoteCancelAfterSubmission, ""},
		{"agreement offered", status(workflows.StageAgreement, offered), http.StatusAccepted, NoteCancelAfterSubmission, ""},
		{"signing", status(workflows.StageAgreement, func(st *workflows.Status) { offered(st); st.Next = nil }),
			http.StatusConflict, "", DetailCancelTooLate},
		{"parked while signing", status(workflows.StageAgreement, func(st *workflows.Status) {
			offered(st)
			st.Next, st.Stuck = nil, &workflows.Stuck{Step: "sign agreement", Reason: "busy"}
		}), http.StatusConflict, "", DetailCancelTooLate},
		{"signed at AWDA", status(workflows.StageAgreement, func(st *workflows.Status) { offered(st); st.LoanStatus = awda.LoanSigned }),
			http.StatusConflict, "", DetailCancelTooLate},
		{"disbursement", status(workflows.StageDisbursement, func(st *workflows.Status) { st.LoanNo, st.LoanStatus = "LN1", awda.LoanDisburseFailed }),
			http.StatusConflict, "", DetailCancelTooLate},
		{"repayment", status(workflows.StageRepayment, func(st *workflows.Status) { st.LoanNo, st.LoanStatus = "LN1", awda.LoanRepaying }),
			http.StatusConflict, "", DetailCancelTooLate},
		{"ended", status(workflows.StageCancelled, nil), http.StatusConflict, "", "the application has ended"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ft := scriptedServer(t, c.st)
			rec := call(t, s, http.MethodPost, "/v1/applications/app-1/cancel", testToken, "application/json", []byte(`{"reason":"changed my mind"}`))
			if rec.Code != c.code {
				t.Fatalf("%d, want %d: %s", rec.Code, c.code, rec.Body)
			}
			if c.code != http.StatusAccepted {
				if p := decodeProblem(t, rec); p.Type != TypeWrongStage || p.Detail != c.detail {
					t.Fatalf("problem %+v", p)
				}
				if len(ft.signals) != 0 {
					t.Fatalf("refused, yet sent %v", ft.signals)
				}
				return
			}
			var res SignalResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.Note != c.note || res.Signal != workflows.CancelSignal.Name {
				t.Fatalf("answer %s (%v)", rec.Body, err)
			}
			if len(ft.signals) != 1 || ft.signals[0] != "cancel loan:app-1" {
				t.Fatalf("signals %v", ft.signals)
			}
		})
	}
}

// A signature that lands between the stage check and the signal: the
// workflow records the cancel as ignored, and the answer says too late.
func TestCancelRacingASignature(t *testing.T) {
	before := status(workflows.StageAgreement, func(st *workflows.Status) {
		st.LoanNo, st.LoanStatus = "LN1", awda.LoanApproved
		st.Agreement = &workflows.Agreement{ID: "AG-1"}
		st.Next = &workflows.NextAction{Action: workflows.ActionSignAgreement}
		st.Ignored = []workflows.Ignored{{At: time.Unix(100, 0), Signal: workflows.CancelSignal.Name, Reason: "too late to cancel at AGREEMENT"}}
	})
	after := before
	after.Next = nil
	after.Ignored = append(append([]workflows.Ignored(nil), before.Ignored...),
		workflows.Ignored{At: time.Unix(200, 0), Signal: workflows.CancelSignal.Name, Reason: "too late to cancel at AGREEMENT"})
	s, ft := scriptedServer(t, before, after)
	rec := call(t, s, http.MethodPost, "/v1/applications/app-1/cancel", testToken, "", nil)
	if rec.Code != http.StatusConflict || decodeProblem(t, rec).Detail != DetailCancelTooLate {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(ft.signals) != 1 {
		t.Fatalf("signals %v", ft.signals)
	}

	// Nothing new ignored: accepted.
	s, _ = scriptedServer(t, before, before)
	if rec := call(t, s, http.MethodPost, "/v1/applications/app-1/cancel", testToken, "", nil); rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
