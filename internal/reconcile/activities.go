package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// Store is what the activities need of *store.Store.
type Store interface {
	ActiveApplications(ctx context.Context, after string, limit int) ([]store.Application, error)
	RecordReconcileBatch(ctx context.Context, runID string, started time.Time, cursor string, checked int, ms []store.Mismatch) error
	FinishReconcileRun(ctx context.Context, runID string, started, finished time.Time) (map[string]int, error)
	UpsertApplication(ctx context.Context, p activities.ApplicationProjection) error
	InsertInbox(ctx context.Context, e store.InboxEntry) (id int64, inserted bool, err error)
	ParkApplication(ctx context.Context, ref, step, reason string) (bool, error)
	LastFinishedReconcileRun(ctx context.Context) (*store.ReconcileRun, map[string]int, error)
}

// Temporal is what the activities need of client.Client.
type Temporal interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	workflows.Querier
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
}

// AWDA is what the activities need of AWDA: *awda.Client, whose every call
// goes through the fleet's rate limit toward AWDA. Nothing here calls AWDA
// any other way.
type AWDA interface {
	LoanInfo(ctx context.Context, req *awda.LoanInfoRequest) (*awda.LoanInfoResponse, error)
}

var _ AWDA = (*awda.Client)(nil)

// Metric names as Prometheus shows them.
const (
	MismatchesName  = "awdaflow_reconcile_mismatches"
	CheckedName     = "awdaflow_reconcile_checked"
	LastSuccessName = "awdaflow_reconcile_last_success_timestamp_seconds"
	DurationName    = "awdaflow_reconcile_last_run_duration_seconds"
)

// callTimeout bounds each question to Temporal or AWDA about one loan.
const callTimeout = 20 * time.Second

// MaxUncheckedInARow is how many loans in a row Temporal or AWDA may fail
// to answer about before the batch gives up and is retried later.
const MaxUncheckedInARow = 5

// nextUnchecked counts the loans in a row that could not be checked: ms
// are one loan's mismatches.
func nextUnchecked(n int, ms []store.Mismatch) int {
	for _, m := range ms {
		if m.Kind == KindUnchecked {
			return n + 1
		}
	}
	return 0
}

// Activities check loans and record the runs' metrics. Their names start
// with Reconcile so that they cannot collide with the loan's activities on
// the same worker.
type Activities struct {
	store    Store
	temporal Temporal
	awda     AWDA
	log      zerolog.Logger
	now      func() time.Time

	mismatches  metric.Int64Gauge
	checked     metric.Int64Gauge
	lastSuccess metric.Float64Gauge
	duration    metric.Float64Gauge
}

// NewActivities returns the activities over st, Temporal c and AWDA a,
// with instruments from mp (nil: no metrics).
func NewActivities(st Store, c Temporal, a AWDA, mp metric.MeterProvider, log zerolog.Logger) (*Activities, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/awdaflow/awdaflow/internal/reconcile")
	acts := &Activities{store: st, temporal: c, awda: a, log: log.With().Str("component", "reconcile").Logger(), now: time.Now}
	var err error
	if acts.mismatches, err = meter.Int64Gauge("awdaflow.reconcile.mismatches",
		metric.WithDescription("Mismatches the last reconciliation run this process finished found, by kind")); err != nil {
		return nil, err
	}
	if acts.checked, err = meter.Int64Gauge("awdaflow.reconcile.checked",
		metric.WithDescription("Active loans the last reconciliation run this process finished checked")); err != nil {
		return nil, err
	}
	if acts.lastSuccess, err = meter.Float64Gauge("awdaflow.reconcile.last_success_timestamp", metric.WithUnit("s"),
		metric.WithDescription("When this process last finished a reconciliation run (Unix time; aggregate replicas with max)")); err != nil {
		return nil, err
	}
	if acts.duration, err = meter.Float64Gauge("awdaflow.reconcile.last_run.duration", metric.WithUnit("s"),
		metric.WithDescription("How long the last reconciliation run this process finished took, from its start to its last batch")); err != nil {
		return nil, err
	}
	return acts, nil
}

// BatchInput is one batch of a run: at most Limit active loans after
// After, in applicant_ref order. A loan created less than MinAge before
// the run started is skipped: its workflow may be starting.
type BatchInput struct {
	RunID   string        `json:"runId"`
	Started time.Time     `json:"started"`
	After   string        `json:"after"`
	Limit   int           `json:"limit"`
	MinAge  time.Duration `json:"minAge"`
}

// BatchResult is what a batch did.
type BatchResult struct {
	Fetched    int    `json:"fetched"` // rows read; fewer than Limit: the last batch
	Checked    int    `json:"checked"`
	Last       string `json:"last"` // the cursor for the next batch
	Mismatches int    `json:"mismatches"`
}

// ReconcileBatch checks one batch of active loans, one at a time,
// repairs what is safe, parks the rest, and records the batch's
// mismatches and cursor. A retried batch checks its loans again and records
// nothing twice (the repairs are idempotent too).
func (a *Activities) ReconcileBatch(ctx context.Context, in BatchInput) (BatchResult, error) {
	if in.RunID == "" || in.Limit <= 0 {
		return BatchResult{}, temporal.NewNonRetryableApplicationError("reconcile: batch without a run or a limit", errBadInput, nil)
	}
	rows, err := a.store.ActiveApplications(ctx, in.After, in.Limit)
	if err != nil {
		return BatchResult{}, err
	}
	res := BatchResult{Fetched: len(rows), Last: in.After}
	var found []store.Mismatch
	uncheckedInARow := 0
	for i := range rows {
		r := &rows[i]
		res.Last = r.ApplicantRef
		if r.CreatedAt.After(in.Started.Add(-in.MinAge)) {
			continue
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, i)
		}
		ms := a.check(ctx, in.RunID, r)
		found = append(found, ms...)
		res.Checked++
		if ctx.Err() != nil {
			return BatchResult{}, ctx.Err()
		}
		if uncheckedInARow = nextUnchecked(uncheckedInARow, ms); uncheckedInARow >= MaxUncheckedInARow {
			// Temporal or AWDA is down or in a storm, not one loan: the
			// batch is retried later (with backoff) rather than written
			// off loan by loan, each after its own timeout.
			return BatchResult{}, fmt.Errorf("reconcile: %d loans in a row could not be checked (last: %s)",
				uncheckedInARow, ms[len(ms)-1].Reason)
		}
	}
	if res.Fetched > 0 {
		if err := a.store.RecordReconcileBatch(ctx, in.RunID, in.Started, res.Last, res.Checked, found); err != nil {
			return BatchResult{}, err
		}
	}
	res.Mismatches = len(found)
	return res, nil
}

// check compares one loan's three views and acts on what disagrees.
func (a *Activities) check(ctx context.Context, runID string, r *store.Application) []store.Mismatch {
	m := store.Mismatch{RunID: runID, ApplicantRef: r.ApplicantRef, WorkflowID: r.WorkflowID, ReadModelValue: describeRow(r),
		DetectedAt: a.now()}
	dctx, cancel := context.WithTimeout(ctx, callTimeout)
	desc, err := a.temporal.DescribeWorkflowExecution(dctx, r.WorkflowID, "")
	cancel()
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return []store.Mismatch{a.park(ctx, m, KindWorkflowMissing, "not found",
			"workflow not found in Temporal (deleted, or purged after the namespace's retention) while the read model shows the loan active")}
	case err != nil:
		return []store.Mismatch{unchecked(m, "temporal describe: "+errType(err))}
	}
	status := desc.GetWorkflowExecutionInfo().GetStatus()
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return []store.Mismatch{a.closed(ctx, m, r, status)}
	}
	qctx, cancel := context.WithTimeout(ctx, callTimeout)
	st, err := workflows.StatusQuery.GetOpen(qctx, a.temporal, r.WorkflowID)
	cancel()
	if err != nil {
		return []store.Mismatch{unchecked(m, "status query: "+errType(err))}
	}
	m.TemporalValue = describeStatus(&st)
	var out []store.Mismatch
	if projectionBehind(r, &st) {
		out = append(out, a.repairProjection(ctx, m, r, &st))
	}
	if aw, ok := a.compareWithAWDA(ctx, m, r, &st); ok {
		out = append(out, aw)
	}
	return out
}

// closed handles a read-model row whose workflow has closed: a completed
// one has its outcome, which the read model takes (the terminal write the
// workflow's own last projection would have made); any other close has
// none, and the row is parked.
func (a *Activities) closed(ctx context.Context, m store.Mismatch, r *store.Application, status enumspb.WorkflowExecutionStatus) store.Mismatch {
	m.Kind, m.TemporalValue = KindWorkflowClosed, "closed "+status.String()
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		return a.park(ctx, m, KindWorkflowClosed, m.TemporalValue,
			"workflow closed as "+status.String()+" without an outcome while the read model shows the loan active")
	}
	gctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var res workflows.LoanResult
	if err := a.temporal.GetWorkflow(gctx, r.WorkflowID, "").Get(gctx, &res); err != nil {
		m.Action, m.Reason = store.ActionNone, "could not read the workflow's result: "+errType(err)
		return m
	}
	m.TemporalValue = "closed " + string(res.Outcome)
	p := activities.ApplicationProjection{
		WorkflowID: r.WorkflowID, ApplicantRef: r.ApplicantRef, Seq: r.Seq, Stage: string(res.Outcome),
		AwdaUserID: res.AwdaUserID, AwdaLoanNo: res.AwdaLoanNo, OrderNo: res.OrderNo, LoanStatus: string(res.LoanStatus),
		Amount: r.Amount, Tenor: r.Tenor, TenorUnit: r.TenorUnit, Terminal: true, Reason: res.Reason,
		Operator: res.Operator, UpdatedAt: res.ClosedAt,
	}
	if err := a.store.UpsertApplication(ctx, p); err != nil {
		m.Action, m.Reason = store.ActionNone, "writing the outcome failed: "+errType(err)
		return m
	}
	m.Action, m.Reason = store.ActionRepaired, "the read model took the workflow's outcome"
	return m
}

// repairProjection writes the running workflow's own state to the read
// model, through the same seq-ordered upsert as the workflow's projection:
// a write of the workflow's that lands later with a higher seq wins, and
// one with the same seq carries the same state.
func (a *Activities) repairProjection(ctx context.Context, m store.Mismatch, r *store.Application, st *workflows.Status) store.Mismatch {
	m.Kind = KindProjectionLag
	p := activities.ApplicationProjection{
		WorkflowID: r.WorkflowID, ApplicantRef: r.ApplicantRef, Seq: st.Seq, Stage: string(st.Stage),
		Stuck: st.Stuck != nil, AwdaUserID: st.UserID, AwdaLoanNo: st.LoanNo, OrderNo: st.OrderNo,
		LoanStatus: string(st.LoanStatus), Amount: st.Amount, Tenor: st.Tenor, TenorUnit: string(st.TenorUnit),
		Terminal: st.Terminal, Reason: st.Reason, UpdatedAt: a.now(),
	}
	if st.Stuck != nil {
		p.StuckStep, p.StuckReason = st.Stuck.Step, st.Stuck.Reason
	}
	if err := a.store.UpsertApplication(ctx, p); err != nil {
		m.Action, m.Reason = store.ActionNone, "writing the workflow's state failed: "+errType(err)
		return m
	}
	m.Action, m.Reason = store.ActionRepaired, "the read model took the workflow's state (its status query)"
	return m
}

// compareWithAWDA asks AWDA's loan/info about a loan that has an AWDA loan
// number, and acts on a difference: ok is false when they agree.
func (a *Activities) compareWithAWDA(ctx context.Context, m store.Mismatch, r *store.Application, st *workflows.Status) (store.Mismatch, bool) {
	loanNo := st.LoanNo
	if loanNo == "" {
		loanNo = r.AwdaLoanNo
	}
	if loanNo == "" {
		return m, false // not at AWDA yet
	}
	actx, cancel := context.WithTimeout(ctx, callTimeout)
	info, err := a.awda.LoanInfo(actx, &awda.LoanInfoRequest{LoanNo: loanNo})
	cancel()
	switch {
	case awda.IsNotFound(err):
		m.Kind, m.AWDAValue = KindAWDAUnknown, "no loan "+loanNo
		m.Action, m.Reason = store.ActionParked, "AWDA has no loan with the workflow's loan number"
		return m, true
	case err != nil:
		return unchecked(m, "awda loan/info: "+awda.ClassOf(err).String()), true
	}
	m.AWDAValue = describeAWDA(info)
	ahead, behind := compareAWDA(info, st)
	switch {
	case ahead:
		return a.redeliverStatus(ctx, m, loanNo, r.AwdaUserID, info, st), true
	case behind:
		m.Kind, m.Action = KindAWDABehind, store.ActionNone
		m.Reason = "AWDA's status is one the workflow does not move to from its own"
		return m, true
	}
	return m, false
}

// redeliverStatus stores the notification AWDA's push would have been in
// the webhook inbox, under an event ID derived from the loan number and
// the status, so that the inbox forwarder signals it to the workflow as it
// would AWDA's own.
func (a *Activities) redeliverStatus(ctx context.Context, m store.Mismatch, loanNo, userID string, info *awda.LoanInfoResponse, st *workflows.Status) store.Mismatch {
	m.Kind = KindAWDAAhead
	ev := event(loanNo, userID, info, st.LoanStatus, a.now().UnixMilli())
	body, err := json.Marshal(ev)
	if err != nil {
		m.Action, m.Reason = store.ActionNone, "encoding the notification failed"
		return m
	}
	id, inserted, err := a.store.InsertInbox(ctx, store.InboxEntry{Source: store.SourceLoanStatus, EventID: ev.EventID,
		LoanNo: loanNo, UserID: userID, Payload: body})
	if err != nil {
		m.Action, m.Reason = store.ActionNone, "storing the notification failed: "+errType(err)
		return m
	}
	m.Action = store.ActionRepaired
	if inserted {
		m.Reason = fmt.Sprintf("lost push: notification %s stored in the webhook inbox (row %d) for the forwarder", ev.EventID, id)
	} else {
		m.Reason = fmt.Sprintf("lost push: notification %s already in the webhook inbox (row %d)", ev.EventID, id)
	}
	a.log.Info().Str("applicant_ref", m.ApplicantRef).Str("loan_no", loanNo).Str("status", string(info.Status)).
		Int64("inbox_id", id).Bool("inserted", inserted).Msg("reconcile: AWDA status re-delivered through the inbox")
	return m
}

// park records a mismatch that needs operations; the read-model row, which
// no workflow will write again, is marked stuck with the reason.
func (a *Activities) park(ctx context.Context, m store.Mismatch, kind, temporalValue, reason string) store.Mismatch {
	m.Kind, m.TemporalValue, m.Action, m.Reason = kind, temporalValue, store.ActionParked, reason
	if _, err := a.store.ParkApplication(ctx, m.ApplicantRef, ParkStep, kind+": "+reason); err != nil {
		m.Reason += "; marking the read model stuck failed: " + errType(err)
	}
	a.log.Warn().Str("applicant_ref", m.ApplicantRef).Str("workflow_id", m.WorkflowID).Str("kind", kind).
		Msg("reconcile: loan parked for operations")
	return m
}

func unchecked(m store.Mismatch, why string) store.Mismatch {
	m.Kind, m.Action, m.Reason = KindUnchecked, store.ActionNone, why+"; checked again by the next run"
	return m
}

// DoneInput closes a run.
type DoneInput struct {
	RunID   string    `json:"runId"`
	Started time.Time `json:"started"`
	Checked int64     `json:"checked"`
}

// ReconcileDone closes a run: it resolves the earlier mismatches this run
// did not find again, records the run's metrics, and logs one line with
// its counts.
func (a *Activities) ReconcileDone(ctx context.Context, in DoneInput) (map[string]int, error) {
	if in.RunID == "" {
		return nil, temporal.NewNonRetryableApplicationError("reconcile: done without a run", errBadInput, nil)
	}
	now := a.now()
	counts, err := a.store.FinishReconcileRun(ctx, in.RunID, in.Started, now)
	if err != nil {
		return nil, err
	}
	ev := a.log.Info().Str("run_id", in.RunID).Int64("checked", in.Checked)
	for _, k := range Kinds {
		a.mismatches.Record(ctx, int64(counts[k]), metric.WithAttributes(attribute.String("kind", k)))
		if counts[k] > 0 {
			ev = ev.Int(k, counts[k])
		}
	}
	took := now.Sub(in.Started)
	a.record(ctx, in.Checked, now, took)
	ev.Dur("took", took).Msg("reconciliation done")
	return counts, nil
}

func (a *Activities) record(ctx context.Context, checked int64, finished time.Time, took time.Duration) {
	a.checked.Record(ctx, checked)
	a.lastSuccess.Record(ctx, float64(finished.UnixNano())/1e9)
	a.duration.Record(ctx, took.Seconds())
}

// ReportLastRun sets the run gauges from the last run finished in
// PostgreSQL, so that a worker reports the fleet's last reconciliation from
// its start, not only the runs it finishes itself: without it a fleet
// restarted after a run would report none, and an alert on a late run
// could not tell "late" from "restarted". A worker calls it at startup;
// with no finished run it reports nothing.
func (a *Activities) ReportLastRun(ctx context.Context) error {
	run, counts, err := a.store.LastFinishedReconcileRun(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, k := range Kinds {
		a.mismatches.Record(ctx, int64(counts[k]), metric.WithAttributes(attribute.String("kind", k)))
	}
	a.record(ctx, run.Checked, *run.FinishedAt, run.FinishedAt.Sub(run.StartedAt))
	return nil
}

// errType names an error without its message, which may quote a host.
func errType(err error) string {
	var pgErr interface{ SQLState() string }
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &pgErr):
		return "database error " + pgErr.SQLState()
	}
	return fmt.Sprintf("%T", err)
}
