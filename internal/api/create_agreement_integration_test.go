//go:build integration

package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// The read model and Temporal can disagree about an applicantRef: the
// database restored from an older backup (Temporal has the workflow, the
// read model has no row), or Temporal's retention purged a closed loan (the
// read model has the row, Temporal has no workflow). A repeated create must
// never answer 202 for a workflow that will not run, nor start a second
// lifecycle for one applicant. Both orders, on the real stack.
func TestCreateWhenTemporalAndTheReadModelDisagree(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()

	// Temporal has the workflow, the read model lost the row.
	ref := fmt.Sprintf("restored-%d", time.Now().UnixNano())
	app := s.application(ref, 4)
	code, first, body := s.create(app)
	if code != http.StatusAccepted || !first.Created {
		t.Fatalf("create: %d %s", code, body)
	}
	s.waitRow(ref, "a workflow report", func(a *store.Application) bool { return a.Seq > 0 })
	runID := s.runID(first.WorkflowID)
	if _, err := s.pool.Exec(ctx, `DELETE FROM applications WHERE applicant_ref = $1`, ref); err != nil {
		t.Fatal(err)
	}
	code, body = s.postJSON("/v1/applications", app)
	if code != http.StatusConflict || problemOf(t, body).Type != TypeAlreadyUsed {
		t.Fatalf("create over a workflow the read model lost: %d %s, want 409 %s", code, body, TypeAlreadyUsed)
	}
	if got := s.runID(first.WorkflowID); got != runID {
		t.Fatalf("the refused create replaced the run: %s, was %s", got, runID)
	}
	// The claim was released: what is left is at most the running workflow's
	// own projection, with no request hash that a later create could match.
	if a, err := s.store.GetApplication(ctx, ref); err == nil && a.RequestHash != "" {
		t.Fatalf("the refused create left its claim on the row: %+v", a)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}

	// Two loans lose their workflows to retention (deleted together: the dev
	// server takes some 20 s to forget a deleted workflow). One ended
	// (cancelled): a repeat answers the stored outcome and starts nothing.
	// The other's read model still says under way: nothing would move that
	// loan, so a repeat is refused rather than answered 202.
	ended, vanished := fmt.Sprintf("purged-%d", time.Now().UnixNano()), fmt.Sprintf("vanished-%d", time.Now().UnixNano())
	endedApp, vanishedApp := s.application(ended, 5), s.application(vanished, 6)
	for _, a := range []ApplicationRequest{endedApp, vanishedApp} {
		if code, _, body = s.create(a); code != http.StatusAccepted {
			t.Fatalf("create: %d %s", code, body)
		}
	}
	s.waitView(ended, "the bank card step", time.Minute, func(v ApplicationView) bool {
		return nextAction(v) == workflows.ActionSubmitBankCard
	})
	if code, body = s.postJSON("/v1/applications/"+ended+"/cancel", map[string]string{"reason": "test"}); code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", code, body)
	}
	s.waitRow(ended, "the terminal projection", func(a *store.Application) bool { return a.Terminal })
	s.waitRow(vanished, "a workflow report", func(a *store.Application) bool { return a.Seq > 0 && !a.Terminal })
	if err := s.temporal.TerminateWorkflow(ctx, workflows.LoanWorkflowID(vanished), "", "test: the workflow vanishes"); err != nil {
		t.Fatal(err)
	}
	s.purge(workflows.LoanWorkflowID(ended), workflows.LoanWorkflowID(vanished))

	code, again, body := s.create(endedApp)
	if code != http.StatusAccepted || again.Created || !again.Terminal || again.Stage != string(workflows.StageCancelled) {
		t.Fatalf("repeat after retention: %d %s, want 202 created:false with the stored outcome CANCELLED", code, body)
	}
	code, body = s.postJSON("/v1/applications", vanishedApp)
	if code != http.StatusConflict || problemOf(t, body).Type != TypeAlreadyUsed {
		t.Fatalf("repeat while the workflow is gone and the row is under way: %d %s", code, body)
	}
	for _, ref := range []string{ended, vanished} {
		if _, err := s.temporal.DescribeWorkflow(ctx, workflows.LoanWorkflowID(ref), ""); !isNotFound(err) {
			t.Fatalf("a create after retention started a second lifecycle for %s (describe: %v)", ref, err)
		}
	}
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// waitRow polls the read model until cond holds for ref's row.
func (s *stack) waitRow(ref, what string, cond func(*store.Application) bool) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		a, err := s.store.GetApplication(context.Background(), ref)
		if err == nil && cond(a) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s in the read model (last: %+v, %v)", what, a, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *stack) runID(wfID string) string {
	s.t.Helper()
	d, err := s.temporal.DescribeWorkflow(context.Background(), wfID, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return d.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

// purge deletes closed workflows as Temporal's retention would, and waits
// until Temporal no longer knows them.
func (s *stack) purge(wfIDs ...string) {
	s.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for _, wfID := range wfIDs {
		// Retention only purges closed workflows: wait for the close.
		for {
			d, err := s.temporal.DescribeWorkflow(ctx, wfID, "")
			if err != nil {
				s.t.Fatal(err)
			}
			if d.RawResponse.GetWorkflowExecutionInfo().GetCloseTime() != nil {
				break
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("%s still running after 30 s", wfID)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := s.temporal.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace:         s.namespace,
			WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wfID},
		}); err != nil {
			s.t.Fatal(err)
		}
	}
	deadline = time.Now().Add(90 * time.Second)
	for _, wfID := range wfIDs {
		for {
			_, derr := s.temporal.DescribeWorkflow(ctx, wfID, "")
			if isNotFound(derr) {
				break
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("%s still known to Temporal 90 s after its deletion (describe: %v)", wfID, derr)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}
