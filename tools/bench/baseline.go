package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The baseline is a bare workflow that makes the same Temporal moves as a
// happy-path loan (the same activities, local activities, signals and
// updates, in the same order) and does nothing else: no AWDA, no database,
// no codec, no search attributes, no timers. Its Shape is read from a real
// loan's history in the same run.
//
// Who sends what, mirroring the real system:
//   - signals: in a loan they are AWDA's pushes, sent after the workflow
//     called AWDA; in the baseline the activity (or local activity) that
//     precedes a group of signals sends them to its own workflow from the
//     worker process, one after another, after it returned;
//   - updates: in a loan the lending backend sends them when its poll of
//     the status says so; in the baseline the driver polls the status query
//     at the same interval and sends the update the workflow waits for;
//   - the end: the driver sees the workflow closed (the query is rejected).

// BaselineTaskQueue is the baseline worker's task queue.
const BaselineTaskQueue = "awdaflow-bench-baseline"

// Names of the baseline's workflow, activity, signal, update and query.
const (
	BaselineWorkflowName = "BenchBaseline"
	BaselineActivityName = "BenchNoop"
	BaselineSignal       = "bench-signal"
	BaselineUpdate       = "bench-update"
	BaselineQuery        = "bench-status"
)

// Steps of a Shape.
const (
	StepActivity      = 'A'
	StepLocalActivity = 'L'
	StepSignal        = 'S'
	StepUpdate        = 'U'
)

// Shape is the sequence of a loan's Temporal moves, one letter each (see
// the Step constants), in history order.
type Shape string

// Count returns how many steps of kind k the shape has.
func (s Shape) Count(k byte) int { return strings.Count(string(s), string(k)) }

// ShapeOf reads the shape of a workflow history.
func ShapeOf(events []*historypb.HistoryEvent) Shape {
	var b strings.Builder
	for _, ev := range events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			b.WriteByte(StepActivity)
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
				b.WriteByte(StepLocalActivity)
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			b.WriteByte(StepSignal)
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			b.WriteByte(StepUpdate)
		}
	}
	return Shape(b.String())
}

// BaselineInput is the baseline workflow's input: its shape.
type BaselineInput struct {
	Shape Shape `json:"shape"`
}

// BaselineStatus answers BaselineQuery: the update the workflow waits for
// (its index among the shape's updates), or -1.
type BaselineStatus struct {
	WaitingForUpdate int `json:"waitingForUpdate"`
}

// NoopInput tells the noop activity how many signals to send its workflow
// once it has returned (AWDA's pushes after a call).
type NoopInput struct {
	Signals int `json:"signals,omitempty"`
}

// BaselineWorkflow walks its shape: activities and local activities that do
// nothing, waits for signals and updates.
func BaselineWorkflow(ctx workflow.Context, in BaselineInput) error {
	waiting, updates := -1, 0
	if err := workflow.SetQueryHandler(ctx, BaselineQuery, func() (BaselineStatus, error) {
		return BaselineStatus{WaitingForUpdate: waiting}, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, BaselineUpdate, func(ctx workflow.Context, k int) error {
		updates++
		waiting = -1
		return nil
	}, workflow.UpdateHandlerOptions{Validator: func(k int) error {
		if k != waiting {
			return fmt.Errorf("not waiting for update %d", k)
		}
		return nil
	}}); err != nil {
		return err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 30 * time.Second})
	signals := workflow.GetSignalChannel(ctx, BaselineSignal)
	shape := string(in.Shape)
	for i := 0; i < len(shape); i++ {
		switch shape[i] {
		case StepActivity, StepLocalActivity:
			n := 0
			for j := i + 1; j < len(shape) && shape[j] == StepSignal; j++ {
				n++
			}
			var err error
			if shape[i] == StepActivity {
				err = workflow.ExecuteActivity(actx, BaselineActivityName, NoopInput{Signals: n}).Get(ctx, nil)
			} else {
				err = workflow.ExecuteLocalActivity(lctx, BaselineActivityName, NoopInput{Signals: n}).Get(ctx, nil)
			}
			if err != nil {
				return err
			}
		case StepSignal:
			signals.Receive(ctx, nil)
		case StepUpdate:
			k := updates
			waiting = k
			if err := workflow.Await(ctx, func() bool { return updates > k }); err != nil {
				return err
			}
		}
	}
	// As a loan does: let update callers have their answers first.
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// Noop is the baseline's activity: it does nothing, and has its signals
// sent once it has returned.
type Noop struct {
	Client client.Client
}

// Run is the activity (and local activity) BaselineActivityName.
func (n *Noop) Run(ctx context.Context, in NoopInput) error {
	if in.Signals > 0 {
		id := activity.GetInfo(ctx).WorkflowExecution.ID
		go func() {
			// Sent one after another, as AWDA delivers a subject's events.
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for range in.Signals {
				_ = n.Client.SignalWorkflow(sctx, id, "", BaselineSignal, nil)
			}
		}()
	}
	return nil
}

// RegisterBaseline registers the baseline workflow and its activity on w.
func RegisterBaseline(w worker.Registry, c client.Client) {
	w.RegisterWorkflowWithOptions(BaselineWorkflow, workflow.RegisterOptions{Name: BaselineWorkflowName})
	w.RegisterActivityWithOptions((&Noop{Client: c}).Run, activity.RegisterOptions{Name: BaselineActivityName})
}
