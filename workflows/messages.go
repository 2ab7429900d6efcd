package workflows

import (
	"context"
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// This file holds the typed message values: a signal, update or query is
// one value that carries its wire name and its payload types together, so
// the workflow that handles it and every sender (the API, the inbox
// forwarder, tests and tools) are checked by the compiler against the same
// types. The values themselves are declared in api.go. Name stays exported
// for what needs the bare name: logs, metrics, the Ignored record, the
// test environment.

// Signal is a signal whose payload is a T.
type Signal[T any] struct{ Name string }

// Update is an update that takes an In and answers an Out.
type Update[In, Out any] struct{ Name string }

// Query is a query that answers a T.
type Query[T any] struct{ Name string }

// Signaler is the part of client.Client that sends a signal.
type Signaler interface {
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg any) error
}

// Updater is the part of client.Client that sends an update.
type Updater interface {
	UpdateWorkflow(ctx context.Context, options client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error)
}

// Querier is the part of client.Client that asks a query.
type Querier interface {
	QueryWorkflowWithOptions(ctx context.Context, request *client.QueryWorkflowWithOptionsRequest) (*client.QueryWorkflowWithOptionsResponse, error)
}

var (
	_ Signaler = client.Client(nil)
	_ Updater  = client.Client(nil)
	_ Querier  = client.Client(nil)
)

// Send signals v to the open workflow with this ID (its current run).
func (s Signal[T]) Send(ctx context.Context, c Signaler, workflowID string, v T) error {
	return c.SignalWorkflow(ctx, workflowID, "", s.Name, v)
}

// Execute sends in to the open workflow with this ID and waits for the
// handler's answer. updateID makes the update idempotent: the same ID again
// gets the first update's answer; "" lets the SDK choose one. A refusal by
// the workflow's validator is a *temporal.ApplicationError.
func (u Update[In, Out]) Execute(ctx context.Context, c Updater, workflowID, updateID string, in In) (Out, error) {
	var out Out
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateID:     updateID,
		UpdateName:   u.Name,
		Args:         []any{in},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return out, err
	}
	err = h.Get(ctx, &out)
	return out, err
}

// ErrNotOpen is a query asked with GetOpen of a workflow that has closed.
var ErrNotOpen = errors.New("workflows: the workflow is not open")

// Get asks the workflow with this ID (runID "" for its latest run), open or
// closed, for the query's answer.
func (q Query[T]) Get(ctx context.Context, c Querier, workflowID, runID string) (T, error) {
	return q.ask(ctx, c, &client.QueryWorkflowWithOptionsRequest{WorkflowID: workflowID, RunID: runID, QueryType: q.Name})
}

// GetOpen asks the workflow with this ID for the query's answer only while
// it is open: ErrNotOpen once it has closed (the server rejects the query
// instead of replaying the history), a *serviceerror.NotFound when there is
// no such workflow.
func (q Query[T]) GetOpen(ctx context.Context, c Querier, workflowID string) (T, error) {
	return q.ask(ctx, c, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID: workflowID, QueryType: q.Name,
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
}

func (q Query[T]) ask(ctx context.Context, c Querier, req *client.QueryWorkflowWithOptionsRequest) (T, error) {
	var v T
	resp, err := c.QueryWorkflowWithOptions(ctx, req)
	switch {
	case err != nil:
		return v, err
	case resp.QueryRejected != nil || resp.QueryResult == nil:
		return v, ErrNotOpen
	}
	err = resp.QueryResult.Get(&v)
	return v, err
}

// ---- the workflow's side ----

// channel is the signal's channel in the workflow.
func (s Signal[T]) channel(ctx workflow.Context) workflow.ReceiveChannel {
	return workflow.GetSignalChannel(ctx, s.Name)
}

// setHandler registers the workflow's handler of the update, with the
// validator that refuses an input before anything is written to history.
func (u Update[In, Out]) setHandler(ctx workflow.Context, handler func(workflow.Context, In) (Out, error), validator func(In) error) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, u.Name, handler, workflow.UpdateHandlerOptions{Validator: validator})
}

// setHandler registers the workflow's handler of the query.
func (q Query[T]) setHandler(ctx workflow.Context, handler func() (T, error)) error {
	return workflow.SetQueryHandler(ctx, q.Name, handler)
}
