package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/workflows"
)

func TestIsErrorTypeAcceptsLegacySpellings(t *testing.T) {
	appErr := func(typ string) error {
		return fmt.Errorf("wrapped: %w", temporal.NewNonRetryableApplicationError("m", typ, nil))
	}
	for _, c := range []struct {
		err   error
		types []string
		want  bool
	}{
		{appErr("wrong_stage"), []string{workflows.ErrTypeWrongStage}, true},
		{appErr("WrongStage"), []string{workflows.ErrTypeWrongStage}, true},
		{appErr("InvalidInput"), []string{workflows.ErrTypeInvalidInput}, true},
		{appErr("InvalidInput"), []string{workflows.ErrTypeWrongStage}, false},
		{appErr("wrong_stage"), []string{workflows.ErrTypeInvalidInput, workflows.ErrTypeWrongStage}, true},
		{appErr("wrongstage"), []string{workflows.ErrTypeWrongStage}, false},
		{appErr(activities.ErrTypeValidation), []string{activities.ErrTypeValidation}, true},
		{appErr(activities.ErrTypeBusy), activities.NonRetryableErrorTypes, false},
		{errors.New("wrong_stage"), []string{workflows.ErrTypeWrongStage}, false},
		{nil, []string{workflows.ErrTypeWrongStage}, false},
	} {
		require.Equal(t, c.want, workflows.IsErrorType(c.err, c.types...), "%v is one of %v", c.err, c.types)
	}
}

// refusingWorkflow runs an activity that fails with an application error
// of the given type and reports whether workflow code, seeing the failure as
// it comes back from the history (an ActivityError around it), takes the
// "AWDA refused" branch.
func refusingWorkflow(ctx workflow.Context, typ string) (bool, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	err := workflow.ExecuteActivity(ctx, "Refuse", typ).Get(ctx, nil)
	if err == nil {
		return false, errors.New("the activity did not fail")
	}
	return workflows.IsErrorType(err, activities.ErrTypeValidation), nil
}

// A loan in flight when an activity error type is renamed replays the old
// spelling from its history: with the old spelling in
// activities.LegacyErrorTypes, the workflow takes the same branch as with
// the new one. No activity type has been renamed yet, so the test adds a
// made-up old spelling ("Validation") for the length of the test.
func TestOldActivityErrorTypeTakesTheSameBranch(t *testing.T) {
	activities.LegacyErrorTypes[activities.ErrTypeValidation] = []string{"Validation"}
	t.Cleanup(func() { delete(activities.LegacyErrorTypes, activities.ErrTypeValidation) })

	for typ, want := range map[string]bool{
		activities.ErrTypeValidation: true,
		"Validation":                 true,
		activities.ErrTypeBusy:       false,
		"VALIDATION":                 false,
	} {
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(refusingWorkflow)
		env.RegisterActivityWithOptions(func(_ context.Context, typ string) error {
			return temporal.NewNonRetryableApplicationError("awda: refused", typ, nil)
		}, activity.RegisterOptions{Name: "Refuse"})
		env.ExecuteWorkflow(refusingWorkflow, typ)
		require.NoError(t, env.GetWorkflowError())
		var refused bool
		require.NoError(t, env.GetWorkflowResult(&refused))
		require.Equal(t, want, refused, "activity failed with type %q", typ)
	}
}
