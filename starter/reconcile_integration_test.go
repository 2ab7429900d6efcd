//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/reconcile"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/workflows"
)

// Personal data of the test borrowers: none of it may reach a report.
const (
	reconNIK     = "3171014501900777"
	reconName    = "Dewi Lestari"
	reconMobile  = "081377788899"
	reconAccount = "8800765432"
)

// reconRig is a loan worker (the real activities over the AWDA sandbox in
// process, the read model in PostgreSQL) with the reconciliation on the
// same task queue, and the inbox forwarder, which the test starts when it
// wants notifications delivered. The sandbox is never started: AWDA's
// moves push nothing, as if every push were lost.
type reconRig struct {
	t      *testing.T
	ctx    context.Context
	c      client.Client
	ns     string
	tq     string
	sfx    string
	awda   *testenv.AWDA
	st     *store.Store
	pool   *pgxpool.Pool
	dbURL  string
	m      *metrics.Metrics
	events int
}

func newReconRig(t *testing.T, ctx context.Context) *reconRig {
	t.Helper()
	_, ns := testenv.Temporal(t)
	pool, dbURL := testenv.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	spec, err := codec.GenerateKeySpec("rc1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	r := &reconRig{t: t, ctx: ctx, c: testenv.NewTemporalClient(t, client.Options{}), ns: ns, pool: pool, dbURL: dbURL,
		st: store.New(pool, ring), sfx: fmt.Sprint(time.Now().UnixNano())}
	r.tq = "reconcile-" + r.sfx
	if r.awda, err = testenv.NewAWDA(sandbox.Config{}); err != nil {
		t.Fatal(err)
	}
	if r.m, err = metrics.New(zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	docs := testenv.NewDocuments(
		activities.Document{ID: "doc-ktp", ContentType: "image/jpeg", FileName: "ktp.jpg", Bytes: []byte("ktp-image")},
		activities.Document{ID: "doc-selfie", ContentType: "image/jpeg", FileName: "selfie.jpg", Bytes: []byte("selfie-image")},
	)
	w := worker.New(r.c, r.tq, worker.Options{})
	w.RegisterWorkflow(workflows.LoanApplication)
	w.RegisterActivity(activities.New(r.awda.Client, docs, r.st))
	ra, err := reconcile.NewActivities(r.st, r.c, r.awda.Client, r.m.MeterProvider(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	reconcile.Register(w, ra)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return r
}

func (r *reconRig) startLoan(ref string) string {
	r.t.Helper()
	r.events++ // a borrower of its own: AWDA knows a user by NIK as well
	in := workflows.LoanApplicationInput{
		ApplicantRef: ref,
		Applicant: workflows.Applicant{
			Name: reconName, NIK: fmt.Sprintf("%s%04d", reconNIK[:12], r.events), Mobile: reconMobile, BirthDate: "1990-01-05",
			Personal: awda.PersonalInfo{Gender: "FEMALE", MaritalStatus: "SINGLE", Province: "DKI Jakarta", City: "Jakarta Selatan", Address: "Jl. Contoh 1"},
			Work:     awda.WorkInfo{Occupation: "EMPLOYEE", MonthlyIncome: 8_000_000},
		},
		Loan:              workflows.LoanRequest{Amount: 3_000_000, Tenor: 3, TenorUnit: awda.TenorMonth, Purpose: "WORKING_CAPITAL"},
		EmergencyContacts: []awda.EmergencyContact{{Name: "Budi Santoso", Mobile: "081298765432", Relation: "SIBLING"}},
		Documents:         []activities.DocumentRef{{Type: awda.ImageKTP, DocumentID: "doc-ktp"}, {Type: awda.ImageSelfie, DocumentID: "doc-selfie"}},
	}
	id := workflows.LoanWorkflowID(ref)
	if _, err := r.c.ExecuteWorkflow(r.ctx, client.StartWorkflowOptions{ID: id, TaskQueue: r.tq}, workflows.LoanApplication, in); err != nil {
		r.t.Fatal(err)
	}
	return id
}

func (r *reconRig) waitStatus(id, what string, cond func(workflows.Status) bool) workflows.Status {
	r.t.Helper()
	var last workflows.Status
	waitUntil(r.t, what, time.Minute, func() bool {
		s, err := workflows.StatusQuery.Get(r.ctx, r.c, id, "")
		last = s
		return err == nil && cond(s)
	})
	return last
}

func (r *reconRig) row(ref string) *store.Application {
	r.t.Helper()
	a, err := r.st.GetApplication(r.ctx, ref)
	if err != nil {
		r.t.Fatalf("read model of %s: %v", ref, err)
	}
	return a
}

// toReview plays the borrower (and AWDA's authorization callbacks) until
// the loan is submitted and waits for AWDA's review.
func (r *reconRig) toReview(id string) workflows.Status {
	r.t.Helper()
	st := r.waitStatus(id, "authorizations", func(s workflows.Status) bool {
		return s.Next != nil && s.Next.Action == workflows.ActionAuthorize
	})
	for _, au := range st.Next.Authorizations {
		if err := r.awda.SetAuthorization(st.UserID, au.AuthType, awda.AuthSuccess); err != nil {
			r.t.Fatal(err)
		}
		r.events++
		ev := awda.AuthorizationEvent{EventID: fmt.Sprintf("%s-auth-%d", id, r.events), UserID: st.UserID, AuthType: au.AuthType, Status: awda.AuthSuccess}
		if err := workflows.AuthorizationSignal.Send(r.ctx, r.c, id, ev); err != nil {
			r.t.Fatal(err)
		}
	}
	r.waitStatus(id, "bank card", func(s workflows.Status) bool { return s.Next != nil && s.Next.Action == workflows.ActionSubmitBankCard })
	card, err := workflows.SubmitBankCardUpdate.Execute(r.ctx, r.c, id, "", workflows.BankCardInput{BankCode: "BCA", AccountNo: reconAccount, AccountName: reconName})
	if err != nil || !card.Accepted {
		r.t.Fatalf("bank card: %+v, %v", card, err)
	}
	return r.waitStatus(id, "review", func(s workflows.Status) bool { return s.Stage == workflows.StageReview && s.LoanNo != "" })
}

// reconcileRun runs one reconciliation to its end, as the schedule would
// start it, with batches of one loan.
func (r *reconRig) reconcileRun(n int) reconcile.RunResult {
	r.t.Helper()
	run, err := r.c.ExecuteWorkflow(r.ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%s-%d", reconcile.ScheduleID, r.sfx, n), TaskQueue: r.tq},
		reconcile.WorkflowName, reconcile.RunInput{BatchSize: 1, MinAge: time.Nanosecond})
	if err != nil {
		r.t.Fatal(err)
	}
	var res reconcile.RunResult
	if err := run.Get(r.ctx, &res); err != nil {
		r.t.Fatalf("reconciliation %d: %v", n, err)
	}
	return res
}

func (r *reconRig) mismatches(runID string) map[string]store.Mismatch {
	r.t.Helper()
	ms, err := r.st.ReconcileMismatches(r.ctx, runID)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]store.Mismatch{}
	for _, m := range ms {
		out[m.ApplicantRef+" "+m.Kind] = m
	}
	return out
}

func (r *reconRig) inboxRows() []string {
	r.t.Helper()
	rows, err := r.pool.Query(r.ctx, `SELECT event_id || ' ' || status FROM webhook_inbox ORDER BY id`)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// deleteWorkflow deletes a loan's workflow, as Temporal's retention would
// after it closed, and waits until Temporal no longer knows it.
func (r *reconRig) deleteWorkflow(id string) {
	r.t.Helper()
	_, err := r.c.WorkflowService().DeleteWorkflowExecution(r.ctx, &workflowservice.DeleteWorkflowExecutionRequest{
		Namespace: r.ns, WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: id}})
	if err != nil {
		r.t.Fatal(err)
	}
	waitUntil(r.t, "the workflow to be gone", time.Minute, func() bool {
		_, err := r.c.WorkflowService().DescribeWorkflowExecution(r.ctx, &workflowservice.DescribeWorkflowExecutionRequest{
			Namespace: r.ns, Execution: &commonpb.WorkflowExecution{WorkflowId: id}})
		var nf *serviceerror.NotFound
		return errors.As(err, &nf)
	})
}

func (r *reconRig) metricsText() string {
	rec := httptest.NewRecorder()
	r.m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// The daily reconciliation against seeded disagreements: a loan whose
// workflow is gone from Temporal while the read model says it is active
// (parked, its row marked stuck), and a loan whose read model lags its
// workflow (repaired from the status query) and whose rejection at AWDA
// was never pushed (re-delivered through the inbox: the forwarder signals
// it, the workflow confirms it with loan/info and ends REJECTED). A second
// run before delivery stores no second notification; a run after it
// resolves what was repaired and keeps what was parked. The report shows
// the latest run, and no personal data.
func TestReconciliationRepairsAndParks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newReconRig(t, ctx)

	gone, lost := "rc-gone-"+r.sfx, "rc-lost-"+r.sfx
	goneID := r.startLoan(gone)
	r.waitStatus(goneID, "the gone loan at rest", func(s workflows.Status) bool { return s.Stage == workflows.StageAuthorizations })
	waitUntil(t, "the gone loan's read model", 30*time.Second, func() bool {
		a, err := r.st.GetApplication(ctx, gone)
		return err == nil && a.Stage == string(workflows.StageAuthorizations)
	})
	r.deleteWorkflow(goneID)

	lostID := r.startLoan(lost)
	st := r.toReview(lostID)
	waitUntil(t, "the lost loan's read model at review", 30*time.Second, func() bool {
		return r.row(lost).Stage == string(workflows.StageReview) && r.row(lost).AwdaLoanNo == st.LoanNo
	})
	// The read model's last write was lost: it shows the stage before.
	if _, err := r.pool.Exec(ctx, `UPDATE applications SET stage = 'BANK_CARD', seq = seq - 1 WHERE applicant_ref = $1`, lost); err != nil {
		t.Fatal(err)
	}
	// AWDA rejects the loan; its push never comes.
	if _, err := r.awda.Advance(st.LoanNo, awda.LoanRejected); err != nil {
		t.Fatal(err)
	}

	res1 := r.reconcileRun(1)
	if res1.Checked != 2 {
		t.Fatalf("run 1 checked %d loans, want 2", res1.Checked)
	}
	m1 := r.mismatches(res1.RunID)
	wantInbox := "reconcile-" + st.LoanNo + "-REJECTED"
	checkMismatch(t, m1, gone+" "+reconcile.KindWorkflowMissing, store.ActionParked, "not found", "")
	checkMismatch(t, m1, lost+" "+reconcile.KindProjectionLag, store.ActionRepaired, "REVIEW", "")
	checkMismatch(t, m1, lost+" "+reconcile.KindAWDAAhead, store.ActionRepaired, "REVIEW", "REJECTED")
	if len(m1) != 3 {
		t.Errorf("run 1 mismatches %v, want these 3", m1)
	}
	if g := r.row(gone); !g.Stuck || g.StuckStep != reconcile.ParkStep || !strings.Contains(g.StuckReason, "not found in Temporal") {
		t.Errorf("the gone loan's row: stuck %v on %q (%q), want parked", g.Stuck, g.StuckStep, g.StuckReason)
	}
	if l := r.row(lost); l.Stage != string(workflows.StageReview) {
		t.Errorf("the lagging row shows %s after the repair, want REVIEW", l.Stage)
	}
	metricsText := r.metricsText()
	for _, want := range []string{
		reconcile.MismatchesName + `{kind="awda_ahead"} 1`, reconcile.MismatchesName + `{kind="workflow_missing"} 1`,
		reconcile.MismatchesName + `{kind="projection_lag"} 1`, reconcile.MismatchesName + `{kind="awda_unknown"} 0`,
		reconcile.CheckedName + " 2", reconcile.LastSuccessName + " ", reconcile.DurationName + " ",
	} {
		if !strings.Contains(metricsText, "\n"+want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(metricsText, "awdaflow_reconcile"))
		}
	}

	// A second run before the forwarder runs finds the same news and the
	// notification already stored: still one row.
	res2 := r.reconcileRun(2)
	m2 := r.mismatches(res2.RunID)
	checkMismatch(t, m2, lost+" "+reconcile.KindAWDAAhead, store.ActionRepaired, "REVIEW", "REJECTED")
	if !strings.Contains(m2[lost+" "+reconcile.KindAWDAAhead].Reason, "already in the webhook inbox") {
		t.Errorf("run 2's reason %q", m2[lost+" "+reconcile.KindAWDAAhead].Reason)
	}
	if _, again := m2[lost+" "+reconcile.KindProjectionLag]; again {
		t.Error("run 2 found the repaired projection lag again")
	}
	if rows := r.inboxRows(); len(rows) != 1 || rows[0] != wantInbox+" pending" {
		t.Fatalf("inbox after two runs: %v, want one pending %s", rows, wantInbox)
	}

	// The forwarder delivers it as it would AWDA's push; the workflow
	// confirms with loan/info and ends.
	d := &inbox.Deliverer{Store: r.st, Temporal: r.c, Log: zerolog.Nop()}
	f := &inbox.Forwarder{Deliverer: d, Log: zerolog.Nop(), Interval: 100 * time.Millisecond}
	f.Start()
	defer func() { _ = f.Stop(context.Background()) }()
	var out workflows.LoanResult
	if err := r.c.GetWorkflow(ctx, lostID, "").Get(ctx, &out); err != nil || out.Outcome != workflows.StageRejected {
		t.Fatalf("the lost loan ended %+v, %v; want REJECTED", out, err)
	}
	waitUntil(t, "the read model to show REJECTED", 30*time.Second, func() bool { return r.row(lost).Terminal })
	if rows := r.inboxRows(); len(rows) != 1 || rows[0] != wantInbox+" delivered" {
		t.Errorf("inbox after delivery: %v", rows)
	}

	res3 := r.reconcileRun(3)
	if res3.Checked != 1 {
		t.Errorf("run 3 checked %d, want 1 (the rejected loan is no longer active)", res3.Checked)
	}
	m3 := r.mismatches(res3.RunID)
	checkMismatch(t, m3, gone+" "+reconcile.KindWorkflowMissing, store.ActionParked, "not found", "")
	if len(m3) != 1 {
		t.Errorf("run 3 mismatches %v, want the parked one only", m3)
	}
	for _, m := range []store.Mismatch{m1[lost+" "+reconcile.KindAWDAAhead], m2[lost+" "+reconcile.KindAWDAAhead], m1[lost+" "+reconcile.KindProjectionLag]} {
		if now := r.mismatches(m.RunID)[m.ApplicantRef+" "+m.Kind]; now.ResolvedAt == nil {
			t.Errorf("%s of %s (%s) not resolved", m.Kind, m.ApplicantRef, m.RunID)
		}
	}
	if now := r.mismatches(res1.RunID)[gone+" "+reconcile.KindWorkflowMissing]; now.ResolvedAt != nil {
		t.Error("the parked loan's mismatch was resolved, but run 3 found it again")
	}
	checkReport(t, r, res3.RunID, gone)
	checkClose(t, r, gone, lost)
}

// checkClose ends the parked loan with `starter reconcile close`, refuses
// a loan the reconciliation did not park, and a run after it has nothing
// left to check and resolves the parked loan's mismatch.
func checkClose(t *testing.T, r *reconRig, parked, other string) {
	t.Helper()
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": r.dbURL}[k] }
	var out, errOut bytes.Buffer
	if code := run([]string{"reconcile", "close", parked, "--reason", "settled with the lender"}, getenv, &out, &errOut); code != 2 {
		t.Errorf("close without an operator ($USER unset): exit %d", code)
	}
	errOut.Reset()
	if code := run([]string{"reconcile", "close", other, "--operator", "ops-3", "--reason", "x"}, getenv, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "not a loan the reconciliation parked") {
		t.Errorf("close of a loan not parked: exit %d: %s", code, errOut.String())
	}
	if code := run([]string{"reconcile", "close", parked, "--operator", "ops-3", "--reason", "settled with the lender"}, getenv, &out, &errOut); code != 0 {
		t.Fatalf("close: exit %d: %s", code, errOut.String())
	}
	if a := r.row(parked); !a.Terminal || a.Stage != string(workflows.StageFailed) || a.Stuck || a.Operator != "ops-3" || a.Reason != "settled with the lender" {
		t.Errorf("closed row: %+v", a)
	}
	res := r.reconcileRun(4)
	if res.Checked != 0 || len(r.mismatches(res.RunID)) != 0 {
		t.Errorf("run 4 checked %d with %v, want nothing left", res.Checked, r.mismatches(res.RunID))
	}
	var open int
	if err := r.pool.QueryRow(r.ctx, `SELECT count(*) FROM reconcile_mismatches WHERE applicant_ref = $1 AND resolved_at IS NULL`,
		parked).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open != 0 {
		t.Errorf("%d mismatches of the closed loan still open", open)
	}
}

func checkMismatch(t *testing.T, ms map[string]store.Mismatch, key, action, temporal, awdaValue string) {
	t.Helper()
	m, ok := ms[key]
	switch {
	case !ok:
		t.Errorf("no mismatch %s in %v", key, ms)
	case m.Action != action || !strings.Contains(m.TemporalValue, temporal) || !strings.Contains(m.AWDAValue, awdaValue):
		t.Errorf("%s: %+v, want action %s, temporal %q, AWDA %q", key, m, action, temporal, awdaValue)
	}
}

// checkReport runs `starter reconcile report`, as text and JSON: the
// latest run, its parked loan, and none of the borrowers' personal data.
func checkReport(t *testing.T, r *reconRig, runID, parked string) {
	t.Helper()
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": r.dbURL}[k] }
	var out, errOut bytes.Buffer
	if code := run([]string{"reconcile", "report"}, getenv, &out, &errOut); code != 0 {
		t.Fatalf("reconcile report: exit %d: %s", code, errOut.String())
	}
	text := out.String()
	t.Logf("starter reconcile report:\n%s", text)
	for _, want := range []string{"run " + runID, "1 mismatches", "workflow_missing: 1", parked, "parked", "KIND"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	out.Reset()
	if code := run([]string{"reconcile", "report", "--json"}, getenv, &out, &errOut); code != 0 {
		t.Fatalf("reconcile report --json: exit %d: %s", code, errOut.String())
	}
	var rep reportJSON
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Run == nil || rep.Run.RunID != runID || rep.Counts[reconcile.KindWorkflowMissing] != 1 || len(rep.Mismatches) != 1 ||
		rep.Run.FinishedAt == nil {
		t.Errorf("report JSON %s", out.String())
	}
	for _, pii := range []string{reconNIK[:12], reconName, reconMobile, reconAccount, "Budi Santoso"} {
		if strings.Contains(text, pii) || strings.Contains(out.String(), pii) {
			t.Errorf("the report shows personal data %q", pii)
		}
	}
}

func grepLines(text, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// The other kinds: a loan whose workflow completed (the borrower cancelled)
// while the read model lost its final write takes the outcome; a loan whose
// workflow was terminated is parked; a loan AWDA answers "no such order"
// for is parked (recorded: its workflow still runs and owns its row); one
// AWDA is too busy to answer about is left for the next run.
func TestReconciliationClosedAndUnknownLoans(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newReconRig(t, ctx)
	atRest := func(s workflows.Status) bool { return s.Stage == workflows.StageAuthorizations }

	cancelled, terminated, unknown, busy := "rc-a-cancel-"+r.sfx, "rc-b-term-"+r.sfx, "rc-c-unknown-"+r.sfx, "rc-d-busy-"+r.sfx
	cancelledID := r.startLoan(cancelled)
	r.waitStatus(cancelledID, "the loan at rest", atRest)
	if err := workflows.CancelSignal.Send(ctx, r.c, cancelledID, workflows.CancelRequest{Reason: "changed my mind"}); err != nil {
		t.Fatal(err)
	}
	var out workflows.LoanResult
	if err := r.c.GetWorkflow(ctx, cancelledID, "").Get(ctx, &out); err != nil || out.Outcome != workflows.StageCancelled {
		t.Fatalf("cancelled loan: %+v, %v", out, err)
	}
	waitUntil(t, "the cancelled loan's final projection", 30*time.Second, func() bool { return r.row(cancelled).Terminal })
	// Its final write is lost.
	if _, err := r.pool.Exec(ctx, `UPDATE applications SET terminal = false, stage = 'AUTHORIZATIONS', reason = '' WHERE applicant_ref = $1`, cancelled); err != nil {
		t.Fatal(err)
	}

	terminatedID := r.startLoan(terminated)
	r.waitStatus(terminatedID, "the loan at rest", atRest)
	waitUntil(t, "the terminated loan's read model", 30*time.Second, func() bool {
		a, err := r.st.GetApplication(ctx, terminated)
		return err == nil && a.Stage == string(workflows.StageAuthorizations)
	})
	if err := r.c.TerminateWorkflow(ctx, terminatedID, "", "ops mistake"); err != nil {
		t.Fatal(err)
	}

	r.toReview(r.startLoan(unknown))
	r.toReview(r.startLoan(busy))
	waitUntil(t, "both read models at review", 30*time.Second, func() bool {
		return r.row(unknown).Stage == string(workflows.StageReview) && r.row(busy).Stage == string(workflows.StageReview)
	})
	// The next two loan/info calls, the reconciliation's (in ref order),
	// are answered "order does not exist", then "busy".
	r.awda.FailCodes(awda.PathLoanInfo, awda.CodeOrderNotExist, awda.CodeSystemBusy)

	res := r.reconcileRun(1)
	ms := r.mismatches(res.RunID)
	checkMismatch(t, ms, cancelled+" "+reconcile.KindWorkflowClosed, store.ActionRepaired, "CANCELLED", "")
	checkMismatch(t, ms, terminated+" "+reconcile.KindWorkflowClosed, store.ActionParked, "Terminated", "")
	checkMismatch(t, ms, unknown+" "+reconcile.KindAWDAUnknown, store.ActionParked, "REVIEW", "no loan")
	checkMismatch(t, ms, busy+" "+reconcile.KindUnchecked, store.ActionNone, "REVIEW", "")
	if len(ms) != 4 || res.Checked != 4 {
		t.Errorf("checked %d, mismatches %v; want 4 and these 4", res.Checked, ms)
	}
	if c := r.row(cancelled); !c.Terminal || c.Stage != string(workflows.StageCancelled) {
		t.Errorf("the cancelled loan's row: %s terminal %v, want CANCELLED", c.Stage, c.Terminal)
	}
	if tr := r.row(terminated); !tr.Stuck || !strings.Contains(tr.StuckReason, "Terminated") {
		t.Errorf("the terminated loan's row: stuck %v (%q), want parked", tr.Stuck, tr.StuckReason)
	}
	if u := r.row(unknown); u.Stuck {
		t.Errorf("the unknown loan's row was marked stuck while its workflow runs: %q", u.StuckReason)
	}

	// AWDA answers again: the busy loan agrees, the unknown one is back.
	res2 := r.reconcileRun(2)
	ms2 := r.mismatches(res2.RunID)
	if len(ms2) != 1 || ms2[terminated+" "+reconcile.KindWorkflowClosed].Action != store.ActionParked {
		t.Errorf("run 2 mismatches %v, want the terminated loan only", ms2)
	}
	if m := r.mismatches(res.RunID)[busy+" "+reconcile.KindUnchecked]; m.ResolvedAt == nil {
		t.Error("the busy loan's unchecked mismatch was not resolved by a run that checked it")
	}
}
