package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/reconcile"
	"github.com/awdaflow/awdaflow/internal/store"
)

// memStore is the read model in memory, and what the batch records.
type memStore struct {
	rows     []store.Application
	recorded []store.Mismatch
	cursors  []string
}

func (m *memStore) ActiveApplications(_ context.Context, after string, limit int) ([]store.Application, error) {
	var out []store.Application
	for _, r := range m.rows {
		if r.ApplicantRef > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) RecordReconcileBatch(_ context.Context, _ string, _ time.Time, cursor string, _ int, ms []store.Mismatch) error {
	m.recorded = append(m.recorded, ms...)
	m.cursors = append(m.cursors, cursor)
	return nil
}

func (m *memStore) FinishReconcileRun(context.Context, string, time.Time, time.Time) (map[string]int, error) {
	return nil, nil
}
func (m *memStore) UpsertApplication(context.Context, activities.ApplicationProjection) error {
	return nil
}
func (m *memStore) InsertInbox(context.Context, store.InboxEntry) (int64, bool, error) {
	return 1, true, nil
}
func (m *memStore) LastFinishedReconcileRun(context.Context) (*store.ReconcileRun, map[string]int, error) {
	return nil, nil, store.ErrNotFound
}

func (m *memStore) ParkApplication(context.Context, string, string, string) (bool, error) {
	return true, nil
}

// downTemporal answers every describe as a server that is down, or, for
// the refs in missing, that it does not know the workflow.
type downTemporal struct {
	client.Client
	missing map[string]bool
	asked   int
}

func (d *downTemporal) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	d.asked++
	if d.missing[id] {
		return nil, serviceerror.NewNotFound("workflow not found")
	}
	return nil, serviceerror.NewUnavailable("connection refused")
}

type noAWDA struct{}

func (noAWDA) LoanInfo(context.Context, *awda.LoanInfoRequest) (*awda.LoanInfoResponse, error) {
	panic("no loan here has a loan number")
}

func rows(refs ...string) []store.Application {
	var out []store.Application
	for _, r := range refs {
		out = append(out, store.Application{ApplicantRef: r, WorkflowID: "loan:" + r, Stage: "REGISTER"})
	}
	return out
}

// A Temporal that cannot answer about one loan after another fails the
// batch, to be retried later, instead of writing off every loan after its
// own timeout; loans it can answer about break the run of failures.
func TestBatchGivesUpWhenTemporalIsDown(t *testing.T) {
	st := &memStore{rows: rows("a", "b", "c", "d", "e", "f", "g", "h", "i")}
	tc := &downTemporal{missing: map[string]bool{"loan:c": true}}
	a, err := reconcile.NewActivities(st, tc, noAWDA{}, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	in := reconcile.BatchInput{RunID: "r", Started: time.Now().Add(time.Hour), Limit: 10}
	_, err = a.ReconcileBatch(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "5 loans in a row") || tc.asked != 8 || len(st.recorded) != 0 {
		t.Fatalf("error %v after %d describes, %d recorded; want a failed batch at h, the fifth in a row after c was answered, nothing recorded",
			err, tc.asked, len(st.recorded))
	}

	// Two failures in a row, then an answer: the batch completes, and
	// records them as unchecked.
	st = &memStore{rows: rows("a", "b", "c")}
	tc = &downTemporal{missing: map[string]bool{"loan:c": true}}
	a, _ = reconcile.NewActivities(st, tc, noAWDA{}, nil, zerolog.Nop())
	res, err := a.ReconcileBatch(context.Background(), in)
	if err != nil || res.Checked != 3 || res.Last != "c" || len(st.recorded) != 3 || st.recorded[0].Kind != reconcile.KindUnchecked ||
		st.recorded[2].Kind != reconcile.KindWorkflowMissing || st.recorded[2].Action != store.ActionParked {
		t.Fatalf("result %+v, %v, recorded %+v", res, err, st.recorded)
	}
}

// A loan created less than MinAge before the run started is not checked
// (its workflow may be starting), but the cursor moves past it.
func TestBatchSkipsLoansYoungerThanMinAge(t *testing.T) {
	started := time.Date(2026, 12, 5, 21, 30, 0, 0, time.UTC)
	st := &memStore{rows: rows("a", "b")}
	st.rows[0].CreatedAt = started.Add(-time.Hour)
	st.rows[1].CreatedAt = started.Add(-time.Minute)
	tc := &downTemporal{missing: map[string]bool{"loan:a": true, "loan:b": true}}
	a, _ := reconcile.NewActivities(st, tc, noAWDA{}, nil, zerolog.Nop())
	res, err := a.ReconcileBatch(context.Background(), reconcile.BatchInput{RunID: "r", Started: started, Limit: 10, MinAge: 10 * time.Minute})
	if err != nil || res.Fetched != 2 || res.Checked != 1 || res.Last != "b" || tc.asked != 1 || len(st.recorded) != 1 {
		t.Fatalf("result %+v, %v after %d describes, recorded %+v; want a checked, b skipped, cursor b", res, err, tc.asked, st.recorded)
	}
}
