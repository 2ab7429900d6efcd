//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/proto"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/workflows"
)

func repeat(s demo.Scenario, n int) []demo.Scenario {
	out := make([]demo.Scenario, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// historyOf counts the events of a loan's history (all runs would be
// separate; a loan this short never continues as new) and their encoded
// size.
func (s *system) historyOf(ctx context.Context, ref string) (events, bytes int) {
	s.t.Helper()
	it := s.temporal.GetWorkflowHistory(ctx, workflows.LoanWorkflowID(ref), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatalf("history of %s: %v", ref, err)
		}
		events++
		bytes += proto.Size(ev)
	}
	return events, bytes
}

// Twenty applicants at once walk the whole lifecycle to SETTLED (3 monthly
// installments each, repaid by the sandbox's autopilot), one is rejected at
// review and one is ineligible; AWDA holds exactly one loan per orderNo. The
// history of every settled loan stays within the budget of issue 6 (200
// events); its size is logged.
func TestLoansSettleConcurrently(t *testing.T) {
	s := newSystem(t, 11)
	plan := append(repeat(demo.Happy, 20), demo.Reject, demo.Ineligible)
	o := s.options(plan)
	o.Tenors = []demo.Tenor{{Tenor: 3, Unit: awda.TenorMonth}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	sum := s.run(ctx, o)
	t.Logf("%d applicants terminal in %s", len(sum.Results), time.Since(began).Round(time.Millisecond))
	s.checkOutcomes(sum)
	st := s.checkOneLoanPerOrder(sum)
	if st.Loans != 21 || st.LoansByStatus[awda.LoanSettled] != 20 || st.LoansByStatus[awda.LoanRejected] != 1 {
		t.Errorf("sandbox: %d loans, by status %v; want 20 SETTLED and 1 REJECTED", st.Loans, st.LoansByStatus)
	}

	var events, sizes []int
	for _, r := range sum.Results {
		if r.Scenario != demo.Happy || r.Actual != string(workflows.StageSettled) {
			continue
		}
		if info, err := s.Sandbox.Loan(r.LoanNo); err != nil || len(info.Schedule) != 3 {
			t.Errorf("%s: AWDA schedule %d installments (%v), want 3", r.Ref, len(info.Schedule), err)
		}
		n, size := s.historyOf(ctx, r.Ref)
		if n > 200 {
			t.Errorf("%s: %d history events from registration to SETTLED, over the budget of 200", r.Ref, n)
		}
		events, sizes = append(events, n), append(sizes, size)
	}
	if len(events) == 0 {
		t.Fatal("no settled loan to measure")
	}
	slices.Sort(events)
	slices.Sort(sizes)
	t.Logf("history of a happy-path loan (3 installments, registration to SETTLED) over %d loans: "+
		"events min %d, median %d, max %d; bytes min %d, median %d, max %d",
		len(events), events[0], events[len(events)/2], events[len(events)-1], sizes[0], sizes[len(sizes)/2], sizes[len(sizes)-1])
}

// Every scenario of the demo ends as its expected outcome: a failed first
// authorization, a refused first bank card, an overdue installment and a
// disbursement that fails (stuck, then AWDA disburses again and ops send
// Retry through the API) all settle; a rejection, an ineligible applicant
// and a withdrawal end REJECTED, INELIGIBLE and CANCELLED.
func TestEveryDemoScenario(t *testing.T) {
	s := newSystem(t, 12)
	sum := s.run(context.Background(), s.options(demo.Scenarios))
	s.checkOutcomes(sum)
	s.checkOneLoanPerOrder(sum)
	for _, r := range sum.Results {
		switch r.Scenario {
		case demo.CardRetry:
			if r.CardAttempts != 2 {
				t.Errorf("%s: %d cards submitted, want 2 (one refused)", r.Ref, r.CardAttempts)
			}
		case demo.DisburseFail:
			if r.Retries != 1 || !slices.Contains(r.Stages, string(workflows.StageDisbursement)) {
				t.Errorf("%s: %d ops retries, stages %v; want 1 retry at DISBURSEMENT", r.Ref, r.Retries, r.Stages)
			}
			tr, err := s.Sandbox.LoanTransitions(r.LoanNo)
			if err != nil {
				t.Fatal(err)
			}
			failed := 0
			for _, x := range tr {
				if x.To == awda.LoanDisburseFailed {
					failed++
				}
			}
			if failed != 1 {
				t.Errorf("%s: AWDA saw %d failed disbursements, want 1", r.Ref, failed)
			}
		}
	}
}

// With 30 % of every AWDA call answered busy, every loan still settles (the
// activities retry with fresh signatures), and AWDA still holds exactly one
// loan per orderNo.
func TestBusyFaultsOnEveryEndpoint(t *testing.T) {
	s := newSystem(t, 13)
	ctx := context.Background()
	if err := s.Admin.SetFaults(ctx, map[string]sandbox.Fault{"*": {BusyRate: 0.3}}); err != nil {
		t.Fatal(err)
	}
	plan := append(repeat(demo.Happy, 7), demo.AuthFail, demo.CardRetry, demo.Overdue)
	o := s.options(plan)
	// Most loans take seconds, but a busy answer fails a whole activity
	// attempt and the retries back off exponentially (1 s doubling, at most
	// a minute): the upload (a token and two images per attempt) can take a
	// few minutes when its attempts keep failing.
	o.Timeout = 5 * time.Minute
	sum := s.run(ctx, o)
	s.checkOutcomes(sum)
	st := s.checkOneLoanPerOrder(sum)
	busy := 0
	for _, codes := range st.Calls {
		for _, c := range []awda.Code{awda.CodeBusy, awda.CodeSystemBusy, awda.CodeSystemBusy2} {
			busy += codes[fmt.Sprint(int(c))]
		}
	}
	t.Logf("sandbox answered %d calls busy (faults counted %d); %d loans", busy, st.Faults.Busy, st.Loans)
	if st.Faults.Busy < 20 || busy != st.Faults.Busy {
		t.Errorf("only %d busy answers (%d counted by code): the faults did not bite", st.Faults.Busy, busy)
	}
	// Local reads give up after ReadBudget (4 s) and go on as regular
	// activities, so no workflow task runs long while AWDA is busy: with a
	// 30 s budget the worker warned of tasks of up to 26 s. The SDK warns of
	// any task over 5 s (TMPRL1104), which a starved CPU alone can cause (a
	// busy CI machine did, at 5-10 s), so the test fails on what the budget
	// rules out: a task over longTask.
	checkTaskDurations(t, filepath.Join(s.LogDir(), "worker.log"))
}

// longTask is a workflow task no local read may cause: more than three
// times ReadBudget.
const longTask = 15 * time.Second

// checkTaskDurations reads the worker's TMPRL1104 warnings (JSON lines,
// the duration in milliseconds) and fails on a task over longTask.
func checkTaskDurations(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "TMPRL1104") {
			continue
		}
		var w struct {
			Duration float64 `json:"workflow_task_duration"` // the SDK's key, snake_cased by internal/logging
		}
		if err := json.Unmarshal([]byte(line), &w); err != nil || w.Duration <= 0 {
			t.Errorf("a TMPRL1104 warning without a readable duration (%v): %s", err, line)
			continue
		}
		d := time.Duration(w.Duration * float64(time.Millisecond))
		if d > longTask {
			t.Errorf("a workflow task took %s (over %s): %s", d.Round(time.Millisecond), longTask, line)
		} else {
			t.Logf("a workflow task took %s (over the SDK's 5 s, under %s)", d.Round(time.Millisecond), longTask)
		}
	}
}

// The worker is killed with SIGKILL while loans are spread over the stages
// around their document upload, with workflow tasks, activities, local
// activities, pushes and signals in flight, and started again: nothing is
// lost, every loan settles, AWDA holds one loan per orderNo, no loan ran
// twice. The kill does not wait for the uploads: one lost with the worker is
// retried once its heartbeat times out (UploadHeartbeatTimeout, 15 s). The
// activities that needed another attempt are logged.
func TestWorkerKilledMidRun(t *testing.T) {
	s := newSystem(t, 14)
	plan := repeat(demo.Happy, 12)
	o := s.options(plan)
	o.Tenors = []demo.Tenor{{Tenor: 6, Unit: awda.TenorMonth}}

	// The kill comes as soon as a loan is seen at its document upload or
	// past it, while the others are still behind.
	late := map[string]bool{}
	for _, st := range workflows.Stages[slices.Index(workflows.Stages, workflows.StageDocuments):] {
		late[string(st)] = true
	}
	var once sync.Once
	kill := make(chan demo.Progress, 1)
	o.OnProgress = func(p demo.Progress) {
		n := 0
		for st, c := range p.Stages {
			if late[st] {
				n += c
			}
		}
		if n > 0 && p.Done < p.Total {
			once.Do(func() { kill <- p })
		}
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		select {
		case p := <-kill:
			if err := s.KillWorker(); err != nil {
				t.Errorf("kill the worker: %v", err)
				return
			}
			t.Logf("worker killed at %s with %d of %d loans done; stages %v", p.Elapsed.Round(time.Millisecond), p.Done, p.Total, p.Stages)
			time.Sleep(2 * time.Second) // loans wait with no worker at all
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := s.StartWorker(ctx); err != nil {
				t.Errorf("restart the worker: %v", err)
				return
			}
			t.Logf("worker restarted")
		case <-time.After(3 * time.Minute):
		}
	}()
	sum := s.run(context.Background(), o)
	<-killed
	if n := s.Worker.Starts(); n != 2 {
		t.Fatalf("the worker was started %d times; the kill never happened", n)
	}
	s.checkOutcomes(sum)
	st := s.checkOneLoanPerOrder(sum)
	if st.LoansByStatus[awda.LoanSettled] != len(plan) {
		t.Errorf("sandbox: %v, want %d SETTLED", st.LoansByStatus, len(plan))
	}
	// No loan was started twice or continued as new.
	ctx := context.Background()
	retried := map[string]int{}
	for _, r := range sum.Results {
		for typ, n := range s.retriedActivities(ctx, r.Ref) {
			retried[typ] += n
		}
		resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowId = '%s'", workflows.LoanWorkflowID(r.Ref)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.Executions); n != 1 {
			t.Errorf("%s: %d runs", r.Ref, n)
		}
	}
	t.Logf("activities that needed more than one attempt, by type: %v", retried)
}

// retriedActivities counts a loan's activities that completed or failed on
// a later attempt than their first, by activity type.
func (s *system) retriedActivities(ctx context.Context, ref string) map[string]int {
	s.t.Helper()
	types := map[int64]string{} // scheduled event ID → activity type
	out := map[string]int{}
	it := s.temporal.GetWorkflowHistory(ctx, workflows.LoanWorkflowID(ref), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatalf("history of %s: %v", ref, err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			out[types[a.GetScheduledEventId()]]++
		}
	}
	return out
}

// A configuration error at AWDA (1005, forced on loan/submit) parks the loan
// as stuck: ops find it with the search attribute query `LoanStuck = true`
// and in GET /v1/applications?stuck=true; once the cause is fixed, Retry
// through the API re-runs the step and the loan settles, with one loan at
// AWDA.
func TestStuckOnConfigurationErrorThenRetried(t *testing.T) {
	s := newSystem(t, 15)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := s.Admin.SetFaults(ctx, map[string]sandbox.Fault{"loan/submit": {ForceCode: awda.CodeMerchantInvalid}}); err != nil {
		t.Fatal(err)
	}
	o := s.options([]demo.Scenario{demo.Happy})
	o.StuckGrace = 3 * time.Minute // ops (this test) handle it
	ref := demo.RefFor(o.RefPrefix, 0, demo.Happy)

	var sum *demo.Summary
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		sum = s.run(ctx, o)
	}()

	// Ops: the stuck-loans query of the runbook.
	query := fmt.Sprintf("LoanStuck = true AND ApplicantRef = '%s'", ref)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list %q: %v", query, err)
		}
		if len(resp.Executions) == 1 {
			if id := resp.Executions[0].GetExecution().GetWorkflowId(); id != workflows.LoanWorkflowID(ref) {
				t.Fatalf("the stuck loan is %s", id)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no workflow matches %q", query)
		}
		time.Sleep(250 * time.Millisecond)
	}
	v, err := s.API.Application(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Stuck || v.Stage != string(workflows.StageSubmit) || v.StuckAt == nil || !strings.Contains(v.StuckAt.Reason, "configuration") {
		t.Fatalf("the API shows stage %s, stuck %v (%+v); want stuck at SUBMIT on a configuration error", v.Stage, v.Stuck, v.StuckAt)
	}
	t.Logf("stuck at %s (%s): %s", v.Stage, v.StuckAt.Step, v.StuckAt.Reason)
	list, err := s.API.ListApplications(ctx, url.Values{"stuck": {"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].ApplicationID != ref {
		t.Errorf("GET /v1/applications?stuck=true lists %d applications, want only %s", len(list.Items), ref)
	}
	// Nothing retries a configuration error: once the workflow is at rest
	// (no workflow task to run), no activity is pending, none retrying
	// loan/submit in its backoff, and the loan is still stuck.
	s.waitAtRest(ctx, workflows.LoanWorkflowID(ref))
	if v, err := s.API.Application(ctx, ref); err != nil || !v.Stuck {
		t.Fatalf("no longer stuck before the retry (%v)", err)
	}

	// The cause fixed (the merchant configuration), ops retry.
	if err := s.Admin.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.API.Retry(ctx, ref, "e2e-ops", "merchant configuration fixed"); err != nil {
		t.Fatal(err)
	}
	<-ran
	s.checkOutcomes(sum)
	st := s.checkOneLoanPerOrder(sum)
	if n := st.Calls[awda.PathLoanSubmit][fmt.Sprint(int(awda.CodeMerchantInvalid))]; n < 1 {
		t.Errorf("loan/submit never answered 1005: %v", st.Calls[awda.PathLoanSubmit])
	}
	if resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query}); err != nil || len(resp.Executions) != 0 {
		t.Errorf("the settled loan still matches %q (%v)", query, err)
	}
}

// The demo tool (bin/demo) drives applicants through the running starter, prints its
// progress and the summary table, and exits 0 when every applicant ended as
// expected; with AWDA refusing every submission (1005) its applicant ends
// STUCK instead of SETTLED, and it exits 1.
func TestDemoCommand(t *testing.T) {
	s := newSystem(t, 16)
	demoBin := s.Bin("demo")
	demoRun := func(runID string, n int, extra ...string) (int, string) {
		s.refPrefix("demo-" + runID)
		args := append([]string{"-n", fmt.Sprint(n), "-concurrency", "8", "-seed", "3", "-run-id", runID,
			"-api", s.StarterURL, "-sandbox-admin", s.SandboxURL, "-poll", "250ms", "-progress", "lines"}, extra...)
		cmd := exec.Command(demoBin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "STARTER_API_TOKENS=" + s.APIToken}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("demo %s: exit %d\n%s", strings.Join(args, " "), code, out)
		return code, string(out)
	}

	code, out := demoRun("cli1", 8)
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	for _, want := range []string{"demo: 8 applicants", "[8/8]", "APPLICANT", "AS EXPECTED", "every applicant ended as expected",
		"duplicate orderNos: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if strings.Contains(out, "MISMATCH") {
		t.Error("a mismatch in a run that should have none")
	}

	ctx := context.Background()
	if err := s.Admin.SetFaults(ctx, map[string]sandbox.Fault{"loan/submit": {ForceCode: awda.CodeMerchantInvalid}}); err != nil {
		t.Fatal(err)
	}
	code, out = demoRun("cli2", 1, "-mix", "happy=1")
	if code != 1 || !strings.Contains(out, "MISMATCH") || !strings.Contains(out, "STUCK") {
		t.Errorf("exit %d; want 1 with the applicant STUCK and a MISMATCH", code)
	}
}

// waitAtRest waits until the workflow has no workflow task to run (what it
// does next waits for a signal, an update or a timer), and fails the test if
// an activity is pending then: an activity retrying in its backoff is one.
func (s *system) waitAtRest(ctx context.Context, wfID string) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := s.temporal.DescribeWorkflow(ctx, wfID, "")
		if err != nil {
			s.t.Fatalf("describe %s: %v", wfID, err)
		}
		if d.RawResponse.GetPendingWorkflowTask() == nil {
			if acts := d.RawResponse.GetPendingActivities(); len(acts) > 0 {
				s.t.Fatalf("%s has %d activities pending while parked; the first: %s, attempt %d",
					wfID, len(acts), acts[0].GetActivityType().GetName(), acts[0].GetAttempt())
			}
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not come to rest", wfID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
