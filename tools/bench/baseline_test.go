package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

func TestShapeOf(t *testing.T) {
	ev := func(t enumspb.EventType) *historypb.HistoryEvent { return &historypb.HistoryEvent{EventType: t} }
	marker := func(name string) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_MARKER_RECORDED,
			Attributes: &historypb.HistoryEvent_MarkerRecordedEventAttributes{
				MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{MarkerName: name}}}
	}
	h := []*historypb.HistoryEvent{
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
		marker("LocalActivity"),
		marker("SideEffect"),
		ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
		ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
		ev(enumspb.EVENT_TYPE_TIMER_STARTED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED),
	}
	if got := ShapeOf(h); got != "LASSU" {
		t.Fatalf("shape %q, want LASSU", got)
	}
	if s := Shape("LASSU"); s.Count(StepSignal) != 2 || s.Count(StepActivity) != 1 || s.Count(StepUpdate) != 1 {
		t.Fatalf("counts of %s wrong", s)
	}
}

func TestShapeCheck(t *testing.T) {
	for shape, ok := range map[Shape]bool{
		"LASSUA": true, "ASULSS": true, "": false, "SA": false, "AUS": false, "LUSS": false,
	} {
		if err := shape.check(); (err == nil) != ok {
			t.Errorf("check(%q) = %v, want ok=%v", shape, err, ok)
		}
	}
}

// The baseline walks its shape: every activity and local activity runs, the
// signals the activities have sent are received, and each update is taken
// only when the workflow waits for it.
func TestBaselineWorkflowWalksItsShape(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(BaselineWorkflow, workflow.RegisterOptions{Name: BaselineWorkflowName})

	var mu sync.Mutex
	calls, signalsAsked := 0, 0
	env.RegisterActivityWithOptions(func(ctx context.Context, in NoopInput) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		signalsAsked += in.Signals
		for range in.Signals {
			// As the worker process does, after the activity returned.
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(BaselineSignal, nil) }, time.Millisecond)
		}
		return nil
	}, activity.RegisterOptions{Name: BaselineActivityName})

	const shape = Shape("LAALLSSLUALSSSUASL")
	updates := 0
	var poll func()
	poll = func() {
		v, err := env.QueryWorkflow(BaselineQuery)
		if err != nil {
			t.Errorf("query: %v", err)
			return
		}
		var st BaselineStatus
		if err := v.Get(&st); err != nil {
			t.Error(err)
			return
		}
		if st.WaitingForUpdate >= 0 {
			env.UpdateWorkflow(BaselineUpdate, "", &testsuite.TestUpdateCallback{
				OnReject:   func(err error) { t.Errorf("update %d rejected: %v", st.WaitingForUpdate, err) },
				OnAccept:   func() {},
				OnComplete: func(any, error) { updates++ },
			}, st.WaitingForUpdate)
		}
		env.RegisterDelayedCallback(poll, 500*time.Millisecond)
	}
	env.RegisterDelayedCallback(poll, 500*time.Millisecond)
	// An update for a step the workflow is not at is refused.
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(BaselineUpdate, "", &testsuite.TestUpdateCallback{
			OnReject:   func(error) {},
			OnAccept:   func() { t.Error("update 5 accepted") },
			OnComplete: func(any, error) {},
		}, 5)
	}, 100*time.Millisecond)

	env.ExecuteWorkflow(BaselineWorkflowName, BaselineInput{Shape: shape})
	if !env.IsWorkflowCompleted() {
		t.Fatal("baseline did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("baseline failed: %v", err)
	}
	want := shape.Count(StepActivity) + shape.Count(StepLocalActivity)
	if calls != want || signalsAsked != shape.Count(StepSignal) || updates != shape.Count(StepUpdate) {
		t.Fatalf("activities %d (want %d), signals %d (want %d), updates %d (want %d)",
			calls, want, signalsAsked, shape.Count(StepSignal), updates, shape.Count(StepUpdate))
	}
}
