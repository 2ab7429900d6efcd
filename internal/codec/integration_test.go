//go:build integration

package codec_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/awdaflow/awdaflow/internal/codec"
)

// temporalCLI is the Temporal CLI used as dev server and as the client that
// reads histories; TEMPORAL_CLI overrides it.
func temporalCLI(t *testing.T) string {
	p := os.Getenv("TEMPORAL_CLI")
	if p == "" {
		p = "/root/go/bin/temporal"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Temporal CLI not found at %s (set TEMPORAL_CLI): %v", p, err)
	}
	return p
}

func checkApplicantActivity(ctx context.Context, a applicant) (string, error) {
	return "checked " + a.Name + " " + a.Phone, nil
}

func greetWorkflow(ctx workflow.Context, a applicant) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, "checkApplicant", a).Get(ctx, &out)
	return out, err
}

func rejectWorkflow(ctx workflow.Context, a applicant) error {
	return temporal.NewNonRetryableApplicationError("NIK "+a.NIK+" rejected for "+a.Name, "Rejected", nil)
}

func TestDevServerHistoriesAreEncrypted(t *testing.T) {
	cli := temporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ring := mustRing(t, genEntry(t, "it-old"), genEntry(t, "it-new"))
	opts := client.Options{Namespace: "default"}
	codec.ConfigureClient(&opts, ring)
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		ClientOptions: &opts,
		LogLevel:      "error",
		Stdout:        io.Discard,
		Stderr:        io.Discard,
	})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	enc := srv.Client()

	const taskQueue = "codec-it"
	w := worker.New(enc, taskQueue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterWorkflow(rejectWorkflow)
	w.RegisterActivityWithOptions(checkApplicantActivity, activity.RegisterOptions{Name: "checkApplicant"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	suffix := fmt.Sprint(time.Now().UnixNano())
	okID, failID := "codec-it-ok-"+suffix, "codec-it-fail-"+suffix
	run, err := enc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: okID, TaskQueue: taskQueue, Memo: map[string]any{"applicant": testApplicant},
	}, greetWorkflow, testApplicant)
	if err != nil {
		t.Fatal(err)
	}
	var greeting string
	if err := run.Get(ctx, &greeting); err != nil {
		t.Fatalf("greet workflow: %v", err)
	}
	if greeting != "checked "+testApplicant.Name+" "+testApplicant.Phone {
		t.Fatalf("greeting = %q", greeting)
	}
	failRun, err := enc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: failID, TaskQueue: taskQueue}, rejectWorkflow, testApplicant)
	if err != nil {
		t.Fatal(err)
	}
	err = failRun.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !strings.Contains(appErr.Error(), testApplicant.NIK) {
		t.Fatalf("reject workflow: err = %v, want the decrypted application error", err)
	}

	// A client without the codec sees only ciphertext.
	plain, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var leaked string
	if err := plain.GetWorkflow(ctx, okID, "").Get(ctx, &leaked); err == nil || strings.Contains(leaked, testApplicant.Name) {
		t.Fatalf("client without codec read the result: %q, %v", leaked, err)
	}

	okEvents := history(ctx, t, plain, okID)
	failEvents := history(ctx, t, plain, failID)
	for _, e := range append(append([]*historypb.HistoryEvent{}, okEvents...), failEvents...) {
		raw, err := proto.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		assertNoPII(t, "history event "+e.GetEventType().String(), raw)
		js, _ := protojson.Marshal(e)
		assertNoPII(t, "history event JSON "+e.GetEventType().String(), js)
	}

	// With the key ring the same raw history decodes.
	dc, fc := codec.ClientOptions(ring)
	started := okEvents[0].GetWorkflowExecutionStartedEventAttributes()
	if started == nil {
		t.Fatalf("first event is %s", okEvents[0].GetEventType())
	}
	if id := string(started.GetInput().GetPayloads()[0].GetMetadata()[codec.MetadataEncryptionKeyID]); id != "it-new" {
		t.Fatalf("input encrypted under %q, want the primary it-new", id)
	}
	var in applicant
	if err := dc.FromPayloads(started.GetInput(), &in); err != nil || in != testApplicant {
		t.Fatalf("decoded input = %+v, %v", in, err)
	}
	var memo applicant
	if err := dc.FromPayload(started.GetMemo().GetFields()["applicant"], &memo); err != nil || memo != testApplicant {
		t.Fatalf("decoded memo = %+v, %v", memo, err)
	}
	var failure error
	for _, e := range failEvents {
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED {
			failure = fc.FailureToError(e.GetWorkflowExecutionFailedEventAttributes().GetFailure())
		}
	}
	if failure == nil || !strings.Contains(failure.Error(), "NIK "+testApplicant.NIK+" rejected") {
		t.Fatalf("decoded failure = %v", failure)
	}

	// The Temporal CLI: raw output has no PII; through the codec server it
	// decodes. This also pins the CLI flag names documented on NewHandler.
	const token = "it-token"
	var unauthorized atomic.Int64
	codecHandler := codec.NewHandler(ring, codec.HandlerOptions{BearerTokens: []string{token}})
	codecSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		codecHandler.ServeHTTP(rec, r)
		if rec.Code == http.StatusUnauthorized {
			unauthorized.Add(1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer codecSrv.Close()
	show := func(extra ...string) []byte {
		args := append([]string{"workflow", "show", "-w", okID, "--address", srv.FrontendHostPort(),
			"--namespace", "default", "--output", "json"}, extra...)
		cmd := exec.CommandContext(ctx, cli, args...)
		cmd.Env = append(os.Environ(), "TEMPORAL_CONFIG_FILE=/nonexistent")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("temporal %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	rawOut := show()
	if !bytes.Contains(rawOut, []byte(codec.MetadataEncodingEncrypted)) && !bytes.Contains(rawOut, []byte("YmluYXJ5L2VuY3J5cHRlZA")) {
		t.Fatalf("raw CLI output does not show encrypted payloads:\n%s", rawOut)
	}
	assertNoPII(t, "temporal workflow show without codec", rawOut)
	decoded := show("--codec-endpoint", codecSrv.URL+codec.PathPrefix, "--codec-auth", "Bearer "+token)
	// The CLI prints decoded payloads either as JSON shorthand or as the
	// plain json/plain payload with base64 data; accept both.
	plainInput, err := converter.GetDefaultDataConverter().ToPayload(testApplicant)
	if err != nil {
		t.Fatal(err)
	}
	b64Input := base64.StdEncoding.EncodeToString(plainInput.GetData())
	if !bytes.Contains(decoded, []byte(b64Input)) && !bytes.Contains(decoded, []byte(testApplicant.NIK)) {
		t.Fatalf("CLI output through the codec server does not show the decoded input:\n%s", decoded)
	}
	if bytes.Contains(decoded, []byte("YmluYXJ5L2VuY3J5cHRlZA")) || bytes.Contains(decoded, []byte(codec.MetadataEncodingEncrypted)) {
		t.Fatalf("CLI output through the codec server still has encrypted payloads:\n%s", decoded)
	}
	// A wrong token: the codec server answers 401, the CLI keeps retrying
	// until its timeout, fails, and prints nothing decoded.
	cmd := exec.CommandContext(ctx, cli, "workflow", "show", "-w", okID, "--address", srv.FrontendHostPort(),
		"--output", "json", "--codec-endpoint", codecSrv.URL+codec.PathPrefix, "--codec-auth", "Bearer wrong", "--command-timeout", "3s")
	cmd.Env = append(os.Environ(), "TEMPORAL_CONFIG_FILE=/nonexistent")
	denied, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("CLI succeeded with a wrong codec token:\n%s", denied)
	}
	if unauthorized.Load() == 0 {
		t.Fatal("the codec server never answered 401 to the wrong token")
	}
	assertNoPII(t, "temporal workflow show with a wrong codec token", denied)
	if bytes.Contains(denied, []byte(b64Input)) {
		t.Fatal("CLI decoded the input with a wrong token")
	}
}

func history(ctx context.Context, t *testing.T, c client.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		t.Fatalf("no history for %s", id)
	}
	return events
}
