//go:build integration

package workflows_test

// Runs LoanApplication on a real Temporal dev server with a real worker (the
// activities over the real client and the AWDA sandbox in process), plays AWDA's pushes and the
// borrower's updates through the client the way the front door will, counts
// the history events, and records the histories the replay test replays.
//
//	go test -tags integration -run DevServer ./workflows/ -v
//	RECORD_HISTORIES=1 go test -tags integration -run DevServer ./workflows/
//	RECORD_HISTORIES=happy_path,rejected go test ...   (only those)
//
// Never re-record a history to make the replay test pass: a committed
// history stands for loans that exist; guard the change with GetVersion.
//
// TEMPORAL_CLI names the temporal binary (default /root/go/bin/temporal, then
// $PATH).

import (
	"context"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/workflows"
)

// historyBudget is issue 6's budget for a happy-path loan (3 installments).
const historyBudget = 200

func temporalCLI(t *testing.T) string {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p
	}
	if _, err := os.Stat("/root/go/bin/temporal"); err == nil {
		return "/root/go/bin/temporal"
	}
	p, err := exec.LookPath("temporal")
	if err != nil {
		t.Skip("no temporal CLI: set TEMPORAL_CLI")
	}
	return p
}

type devRun struct {
	t    *testing.T
	ctx  context.Context
	c    client.Client
	awda *testenv.AWDA
	id   string
	seq  int
}

func TestDevServerHistories(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var args []string
	for _, sa := range workflows.SearchAttributes() {
		args = append(args, "--search-attribute", sa.Name+"="+sa.Type)
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: temporalCLI(t),
		LogLevel:     "error",
		ExtraArgs:    args,
		ClientOptions: &client.Options{
			Namespace: "default",
			Logger:    nopLogger{},
		},
	})
	require.NoError(t, err)
	defer srv.Stop()
	c := srv.Client()

	fk, err := testenv.NewAWDA(sandbox.Config{})
	require.NoError(t, err)
	docs := testenv.NewDocuments(
		activities.Document{ID: "doc-ktp", ContentType: "image/jpeg", FileName: "ktp.jpg", Bytes: []byte("ktp-image")},
		activities.Document{ID: "doc-selfie", ContentType: "image/jpeg", FileName: "selfie.jpg", Bytes: []byte("selfie-image")},
	)
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflow(workflows.LoanApplication)
	w.RegisterActivity(activities.New(fk.Client, docs, testenv.NewProjections()))
	require.NoError(t, w.Start())
	defer w.Stop()

	t.Run("happy path to SETTLED", func(t *testing.T) {
		r := &devRun{t: t, ctx: ctx, c: c, awda: fk, id: workflows.LoanWorkflowID("dev-happy")}
		r.start("dev-happy", workflows.Config{})
		r.throughReview()
		r.approveSignDisburse()
		r.repayAll()
		res := r.result()
		require.Equal(t, workflows.StageSettled, res.Outcome)
		n := r.report("happy_path")
		require.LessOrEqual(t, n, historyBudget, "history budget of a happy-path loan")
	})

	t.Run("rejected", func(t *testing.T) {
		r := &devRun{t: t, ctx: ctx, c: c, awda: fk, id: workflows.LoanWorkflowID("dev-rejected")}
		r.start("dev-rejected", workflows.Config{})
		r.throughReview()
		r.push(awda.LoanRejected, 0)
		require.Equal(t, workflows.StageRejected, r.result().Outcome)
		r.report("rejected")
	})

	t.Run("stuck then retried", func(t *testing.T) {
		r := &devRun{t: t, ctx: ctx, c: c, awda: fk, id: workflows.LoanWorkflowID("dev-stuck")}
		fk.FailCodes(awda.PathEligibleCheck, awda.CodeSignatureFailed)
		r.start("dev-stuck", workflows.Config{})
		r.waitFor("stuck", func(s workflows.Status) bool { return s.Stuck != nil })
		devSignal(r, workflows.RetrySignal, workflows.RetryRequest{Operator: "ops-1"})
		r.throughReview()
		r.approveSignDisburse()
		r.repayAll()
		require.Equal(t, workflows.StageSettled, r.result().Outcome)
		r.report("stuck_retried")
	})

	t.Run("upload retried after the KTP image", func(t *testing.T) {
		// On a real server the progress heartbeat of a failed attempt (sent
		// at once, or flushed with the failure) reaches the next attempt.
		r := &devRun{t: t, ctx: ctx, c: c, awda: fk, id: workflows.LoanWorkflowID("dev-upload")}
		ktp, selfie := fk.ImagesStored(awda.ImageKTP), fk.ImagesStored(awda.ImageSelfie)
		fk.FailCodes(awda.PathImageUpload, 0, awda.CodeSystemBusy)
		r.start("dev-upload", workflows.Config{})
		r.throughReview()
		require.Equal(t, ktp+1, fk.ImagesStored(awda.ImageKTP), "the KTP image was uploaded once")
		require.Equal(t, selfie+1, fk.ImagesStored(awda.ImageSelfie))
		devSignal(r, workflows.CancelSignal, workflows.CancelRequest{})
		require.Equal(t, workflows.StageCancelled, r.result().Outcome)
	})

	t.Run("review deadline parks; continued as new while parked; AWDA's answer resumes it", func(t *testing.T) {
		r := &devRun{t: t, ctx: ctx, c: c, awda: fk, id: workflows.LoanWorkflowID("dev-long")}
		r.start("dev-long", workflows.Config{PollInterval: time.Second, PollBackoffCap: 2 * time.Second, ReviewDeadline: 4 * time.Second, ContinueAsNewEvents: 100})
		first, err := r.c.DescribeWorkflow(ctx, r.id, "")
		require.NoError(t, err)
		firstRun := first.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		r.throughReview()
		r.waitFor("parked at review", func(s workflows.Status) bool { return s.Stuck != nil && s.Stuck.Step == "review" })
		// Pushes while parked grow the history to the loan's threshold: it
		// hands over while parked, and stays parked.
		for i := 0; ; i++ {
			require.Less(t, i, 100, "never continued as new")
			st := r.status()
			if st.Runs > 0 {
				require.NotNil(t, st.Stuck, "still parked in the new run")
				break
			}
			r.push(awda.LoanUnderReview, 0)
		}
		r.approveSignDisburse()
		r.repayAll()
		require.Equal(t, workflows.StageSettled, r.result().Outcome)
		var resumed bool
		for _, tr := range r.status().Transitions {
			resumed = resumed || tr.Kind == workflows.KindResumed && tr.From == "review" && tr.Note == "AWDA answered"
		}
		require.True(t, resumed, "AWDA's approval resumed the parked loan")
		r.reportRun("long_wait_first_run", firstRun)
		r.report("long_wait_last_run")
	})

	raceScenarios(t, ctx, c, fk)
}

// raceScenarios plays the races of races_test.go on the dev server, where
// a signal reaches the workflow while a local activity still runs (the SDK
// completes the workflow task after 80 % of its timeout and the server hands
// it the buffered signal), and records their histories: each takes the
// GetVersion branch of its fix, so the replay test holds the new behaviour
// as well as the old (prefix_*.json, recorded by the code before the fixes).
func raceScenarios(t *testing.T, ctx context.Context, c client.Client, fk *testenv.AWDA) {
	t.Run("authorization callback during the page fetch", func(t *testing.T) {
		r := &devRun{t: t, ctx: ctx, c: c, awda: fk, id: workflows.LoanWorkflowID("dev-auth-race")}
		busy := awda.CodeSystemBusy
		pages := fk.Calls(awda.PathAuthPage)
		fk.FailAuthPage("TELCO", busy, busy, busy, busy, busy) // about 17 s of local retries
		r.start("dev-auth-race", workflows.Config{})
		// No query until the EKYC page is read: a query would wait for
		// the workflow task that runs the reads.
		for fk.Calls(awda.PathAuthPage) < pages+2 {
			time.Sleep(10 * time.Millisecond)
		}
		userID := fk.UserID("dev-auth-race")
		require.NoError(t, r.awda.SetAuthorization(userID, "EKYC", awda.AuthFailed))
		devSignal(r, workflows.AuthorizationSignal, awda.AuthorizationEvent{EventID: r.eventID(), UserID: userID, AuthType: "EKYC", Status: awda.AuthFailed})
		st := r.waitFor("a fresh EKYC page", func(s workflows.Status) bool {
			for _, au := range s.Authorizations {
				if au.AuthType == "EKYC" && au.Attempts == 2 && !au.NeedsPage {
					return true
				}
			}
			return false
		})
		require.Equal(t, workflows.ActionAuthorize, st.Next.Action)
		devSignal(r, workflows.CancelSignal, workflows.CancelRequest{})
		require.Equal(t, workflows.StageCancelled, r.result().Outcome)
		r.requireVersionMarker("auth-callback-wins")
		r.report("auth_callback_during_page_fetch")
	})

	t.Run("loan settled between loan/info and the VA", func(t *testing.T) {
		r := &devRun{t: t, ctx: ctx, c: c, awda: fk, id: workflows.LoanWorkflowID("dev-va-race")}
		r.start("dev-va-race", workflows.Config{})
		r.throughReview()
		r.push(awda.LoanApproved, 0)
		st := r.waitNext(workflows.ActionSignAgreement)
		devUpdate(r, workflows.SignAgreementUpdate, workflows.SignAgreementInput{AgreementID: st.Agreement.ID, Consent: true, ClientIP: "203.0.113.7"})
		r.push(awda.LoanDisbursing, 0)
		// The first schedule fetch reads loan/info (DISBURSED) and the VA;
		// the borrower repays everything in between and the push is lost.
		fk.AfterNextLoanInfo(func() {
			if _, err := fk.Advance(st.LoanNo, awda.LoanSettled); err != nil {
				t.Error(err) // in an activity's goroutine
			}
		})
		fk.FailCodes(awda.PathRepaymentVA, awda.CodeParamInvalid)
		r.push(awda.LoanDisbursed, 0)
		res := r.result()
		require.Equal(t, workflows.StageSettled, res.Outcome)
		require.Equal(t, awda.LoanSettled, res.LoanStatus)
		r.requireVersionMarker("final-status-wins")
		r.report("settled_between_info_and_va")
	})

	t.Run("signature refused for a cancelled loan", func(t *testing.T) {
		r := &devRun{t: t, ctx: ctx, c: c, awda: fk, id: workflows.LoanWorkflowID("dev-sign-race")}
		r.start("dev-sign-race", workflows.Config{})
		r.throughReview()
		r.push(awda.LoanApproved, 0)
		st := r.waitNext(workflows.ActionSignAgreement)
		_, err := fk.Advance(st.LoanNo, awda.LoanCancelled) // the push is late
		require.NoError(t, err)
		signed := devUpdate(r, workflows.SignAgreementUpdate, workflows.SignAgreementInput{AgreementID: st.Agreement.ID, Consent: true, ClientIP: "203.0.113.7"})
		require.False(t, signed.Accepted)
		res := r.result()
		require.Equal(t, workflows.StageCancelled, res.Outcome)
		require.Equal(t, "cancelled by AWDA", res.Reason)
		r.requireVersionMarker("final-status-wins")
		r.report("sign_refused_cancelled")
	})
}

// requireVersionMarker checks that the run had change: its history records
// the change's own GetVersion marker (a run begun before revEveryChange), or
// the run-start marker bounded-waits at version 2 or more (a run that has
// every change and asks no other). That the race really happened, and the
// new branch was taken, each scenario shows by its outcome, which the old
// behaviour could not reach.
func (r *devRun) requireVersionMarker(change string) {
	r.t.Helper()
	it := r.c.GetWorkflowHistory(r.ctx, r.id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(r.t, err)
		m := ev.GetMarkerRecordedEventAttributes()
		if m == nil || m.GetMarkerName() != "Version" {
			continue
		}
		var id string
		var version int
		require.NoError(r.t, converter.GetDefaultDataConverter().FromPayloads(m.GetDetails()["change-id"], &id))
		require.NoError(r.t, converter.GetDefaultDataConverter().FromPayloads(m.GetDetails()["version"], &version))
		if id == change || id == "bounded-waits" && version >= 2 {
			return
		}
	}
	r.t.Fatalf("no version marker %q nor bounded-waits ≥ 2: the run did not have the change", change)
}

func (r *devRun) start(ref string, cfg workflows.Config) {
	in := loanInput()
	in.ApplicantRef = ref
	// A borrower of its own: AWDA knows a user by NIK as well.
	in.Applicant.NIK = fmt.Sprintf("%s%04d", testNIK[:12], crc32.ChecksumIEEE([]byte(ref))%10000)
	in.Config = cfg
	_, err := r.c.ExecuteWorkflow(r.ctx, client.StartWorkflowOptions{ID: r.id, TaskQueue: workflows.TaskQueue}, workflows.LoanApplication, in)
	require.NoError(r.t, err)
}

func (r *devRun) status() workflows.Status {
	s, err := r.tryStatus()
	require.NoError(r.t, err)
	return s
}

func (r *devRun) tryStatus() (workflows.Status, error) {
	return workflows.StatusQuery.Get(r.ctx, r.c, r.id, "")
}

// waitFor polls the status query until cond holds. A query that fails is
// tried again: one sent while a workflow task runs local activities waits
// for the task and may time out.
func (r *devRun) waitFor(what string, cond func(workflows.Status) bool) workflows.Status {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := r.tryStatus()
		if err == nil && cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; at %s (last query error %v)", what, s.Stage, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *devRun) waitNext(action string) workflows.Status {
	return r.waitFor(action, func(s workflows.Status) bool { return s.Next != nil && s.Next.Action == action })
}

func devSignal[T any](r *devRun, s workflows.Signal[T], v T) {
	require.NoError(r.t, s.Send(r.ctx, r.c, r.id, v))
}

func (r *devRun) eventID() string {
	r.seq++
	return fmt.Sprintf("%s-evt-%03d", r.id, r.seq)
}

// push moves the loan at AWDA, pushes the notification and waits until the
// workflow has applied it (so that every push costs its own workflow task:
// the count is an upper bound).
func (r *devRun) push(s awda.LoanStatus, period int) {
	st := r.status()
	if info, err := r.awda.Loan(st.LoanNo); period == 0 && (err != nil || info.Status != s) {
		_, err := r.awda.Advance(st.LoanNo, s)
		require.NoError(r.t, err)
	}
	id := r.eventID()
	devSignal(r, workflows.LoanStatusSignal, awda.LoanStatusEvent{EventID: id, EventType: awda.EventTypeLoanStatus, LoanNo: st.LoanNo, OrderNo: st.OrderNo, Status: s, Period: period})
	r.waitFor("event "+id, func(s workflows.Status) bool {
		for _, tr := range s.Transitions {
			if tr.EventID == id {
				return true
			}
		}
		return s.Terminal
	})
}

func devUpdate[In, Out any](r *devRun, u workflows.Update[In, Out], in In) Out {
	out, err := u.Execute(r.ctx, r.c, r.id, "", in)
	require.NoError(r.t, err)
	return out
}

func (r *devRun) throughReview() {
	st := r.waitNext(workflows.ActionAuthorize)
	for _, au := range st.Next.Authorizations {
		require.NoError(r.t, r.awda.SetAuthorization(st.UserID, au.AuthType, awda.AuthSuccess))
		id := r.eventID()
		devSignal(r, workflows.AuthorizationSignal, awda.AuthorizationEvent{EventID: id, UserID: st.UserID, AuthType: au.AuthType, Status: awda.AuthSuccess})
	}
	r.waitNext(workflows.ActionSubmitBankCard)
	card := devUpdate(r, workflows.SubmitBankCardUpdate, goodCard())
	require.True(r.t, card.Accepted)
	r.waitFor("review", func(s workflows.Status) bool { return s.Stage == workflows.StageReview })
	r.push(awda.LoanUnderReview, 0)
}

func (r *devRun) approveSignDisburse() {
	r.push(awda.LoanApproved, 0)
	st := r.waitNext(workflows.ActionSignAgreement)
	signed := devUpdate(r, workflows.SignAgreementUpdate, workflows.SignAgreementInput{AgreementID: st.Agreement.ID, Consent: true, ClientIP: "203.0.113.7"})
	require.True(r.t, signed.Accepted)
	r.push(awda.LoanDisbursing, 0)
	r.push(awda.LoanDisbursed, 0)
}

func (r *devRun) repayAll() {
	st := r.waitNext(workflows.ActionRepay)
	for p := 1; p <= len(st.Schedule); p++ {
		require.NoError(r.t, r.awda.Pay(st.LoanNo, p))
		s := awda.LoanRepaying
		if p == len(st.Schedule) {
			s = awda.LoanSettled
		}
		r.push(s, p)
		r.waitFor(fmt.Sprintf("installment %d paid", p), func(s workflows.Status) bool {
			return s.Terminal || len(s.Schedule) >= p && s.Schedule[p-1].Status == awda.InstallmentPaid
		})
	}
}

func (r *devRun) result() workflows.LoanResult {
	var res workflows.LoanResult
	require.NoError(r.t, r.c.GetWorkflow(r.ctx, r.id, "").Get(r.ctx, &res))
	return res
}

// report counts the history's events by type, logs the breakdown, and
// records the history as testdata/<name>.json when RECORD_HISTORIES is set.
func (r *devRun) report(name string) int { return r.reportRun(name, "") }

// reportRun is report for one run of the loan ("" for the latest).
func (r *devRun) reportRun(name, runID string) int {
	it := r.c.GetWorkflowHistory(r.ctx, r.id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(r.t, err)
		events = append(events, ev)
	}
	byType := map[string]int{}
	for _, ev := range events {
		byType[strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")]++
	}
	var lines []string
	for k, v := range byType {
		lines = append(lines, fmt.Sprintf("%4d %s", v, k))
	}
	sort.Strings(lines)
	raw, err := protojson.Marshal(&historypb.History{Events: events})
	require.NoError(r.t, err)
	r.t.Logf("%s: %d events, %d bytes of history\n%s", name, len(events), len(raw), strings.Join(lines, "\n"))
	if rec := os.Getenv("RECORD_HISTORIES"); rec == "1" || slices.Contains(strings.Split(rec, ","), name) {
		require.NoError(r.t, os.WriteFile(filepath.Join("testdata", name+".json"), raw, 0o644))
	}
	return len(events)
}

// nopLogger keeps the SDK's client logs out of the test output.
type nopLogger struct{}

func (nopLogger) Debug(string, ...any) {}
func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Warn(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}
