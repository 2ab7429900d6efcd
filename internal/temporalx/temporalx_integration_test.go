//go:build integration

package temporalx_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/temporalx"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

const secretInput = "nik 3171234567890001 name Siti Rahayu"

func echoWorkflow(ctx workflow.Context, in string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	err := workflow.ExecuteActivity(ctx, failing, in).Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return "", err
	}
	return "echo " + in, nil
}

func failing(_ context.Context, in string) error {
	return temporal.NewNonRetryableApplicationError("refused: "+in, "Refused", nil)
}

// A client built by temporalx encrypts inputs, results and failure messages:
// the raw history, read without the codec, holds none of them, while the
// client itself reads the result back.
func TestClientEncryptsPayloadsAndFailures(t *testing.T) {
	hostPort, ns := testenv.Temporal(t)
	opts, err := temporalx.Options(temporalConfig(t, map[string]string{config.EnvTemporalAddress: hostPort, config.EnvTemporalNamespace: ns}), ring(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.NewTemporalClient(t, opts)
	plain := testenv.NewTemporalClient(t, client.Options{})

	tq := "temporalx-" + t.Name()
	w := worker.New(c, tq, worker.Options{})
	w.RegisterWorkflow(echoWorkflow)
	w.RegisterActivity(failing)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "temporalx-" + time.Now().Format("150405.000000"), TaskQueue: tq}, echoWorkflow, secretInput)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out != "echo "+secretInput {
		t.Fatalf("result %q", out)
	}

	var raw strings.Builder
	it := plain.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	sawFailure := false
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED {
			sawFailure = true
		}
		b, _ := protojson.Marshal(ev)
		raw.Write(b)
		raw.WriteString(string(ev.String()))
	}
	if !sawFailure {
		t.Fatal("history has no activity failure; the test does not exercise the failure converter")
	}
	for _, s := range []string{"3171234567890001", "Siti", "Rahayu", "refused"} {
		if strings.Contains(raw.String(), s) {
			t.Errorf("raw history contains %q", s)
		}
	}
	if !strings.Contains(raw.String(), "binary/encrypted") {
		t.Error("raw history has no encrypted payload")
	}
}
