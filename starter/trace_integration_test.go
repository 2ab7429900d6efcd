//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/awdafx"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/logging"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/storefx"
	"github.com/awdaflow/awdaflow/internal/temporalx"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/internal/tracing"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
)

// The personal values of applicantJSON (and its documents' owner): none may
// appear in a span or a log line.
var applicantPII = []string{
	"Siti Rahayu Kusuma", "3171016208950003", "081377788899", "1995-08-22", "Jl. Kenanga 7",
	"Agus Kusuma", "081366655544", "Jakarta Timur",
}

// One trace from POST /v1/applications to the AWDA HTTP call, and the
// webhook path across the inbox, with the real wiring of both processes:
// `starter serve` (fx, otelhttp on the API, the forwarder) and a worker
// built from the worker's modules (temporalx with the tracing interceptor,
// awdafx with the traced transport), both exporting to one in-memory
// exporter. The sandbox runs the loan over HTTP and pushes its
// notifications to the starter. No span and no log line carries the
// applicant's personal data; log lines carry trace_id and workflow_id.
func TestTraceFromAPIToAWDAAndThroughTheInbox(t *testing.T) {
	hostPort, ns := testenv.Temporal(t)
	_, dbURL := testenv.NewDatabase(t)
	keys, err := codec.GenerateKeySpec("tr1")
	if err != nil {
		t.Fatal(err)
	}
	env, base := serveEnv(t, hostPort, ns, dbURL, keys, "", map[string]string{EnvForwardEvery: "200ms"})
	env[EnvURL] = base
	sb, err := sandbox.New(sandbox.Config{
		AppID: testAppID, HMACSecret: []byte(testSecret), Seed: 5,
		LoanStatusWebhookURL: base + webhook.PathLoanStatus,
		AuthWebhookURL:       base + webhook.PathAuthorization,
		Autopilot:            sandbox.Autopilot{Enabled: true, MinDelay: 20 * time.Millisecond, MaxDelay: 60 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	sb.Start()
	t.Cleanup(func() { _ = sb.Close() })
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(sbSrv.Close)
	env[config.EnvAWDABaseURL] = sbSrv.URL

	exp := tracetest.NewInMemoryExporter()
	starterLogs, workerLogs := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	app := startServe(t, env, traced(t, exp, "starter", starterLogs)...)
	defer func() { _ = app.Stop(context.Background()) }()
	wapp := startTracedWorker(t, env, traced(t, exp, "worker", workerLogs)...)
	defer func() { _ = wapp.Stop(context.Background()) }()

	ref := applyViaCLI(t, env)
	wfID := workflows.LoanWorkflowID(ref)
	defer func() {
		c := testenv.NewTemporalClient(t, client.Options{HostPort: hostPort, Namespace: ns})
		_ = c.TerminateWorkflow(context.Background(), wfID, "", "test over")
	}()

	// The application trace: wait until the loan has reached AWDA, then
	// for its RunWorkflow span, which ends when the loan does (the borrower
	// cancels at the bank card step).
	post := waitSpan(t, exp, "the POST server span", func(s sdktrace.ReadOnlySpan) bool {
		return s.Name() == "POST /v1/applications" && s.SpanKind() == trace.SpanKindServer
	})
	tid := post.SpanContext().TraceID()
	inTrace := func(pred func(sdktrace.ReadOnlySpan) bool) func(sdktrace.ReadOnlySpan) bool {
		return func(s sdktrace.ReadOnlySpan) bool { return s.SpanContext().TraceID() == tid && pred(s) }
	}
	start := waitSpan(t, exp, "StartWorkflow", inTrace(childOf(post, "StartWorkflow:"+workflows.WorkflowName)))
	awdaCall := waitSpan(t, exp, "an AWDA HTTP client span in the application's trace", inTrace(func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanKind() == trace.SpanKindClient && strings.HasPrefix(s.Name(), "POST /api/partner/")
	}))
	waitStatus(t, env, ref, `"action": "SUBMIT_BANK_CARD"`)
	var out, errOut bytes.Buffer
	if code := run([]string{"cancel", ref}, func(k string) string { return env[k] }, &out, &errOut); code != 0 {
		t.Fatalf("cancel: %d %s %s", code, out.String(), errOut.String())
	}
	runWF := waitSpan(t, exp, "RunWorkflow", inTrace(childOf(start, "RunWorkflow:"+workflows.WorkflowName)))
	runAct := spanByID(t, exp, awdaCall.Parent().SpanID())
	if !strings.HasPrefix(runAct.Name(), "RunActivity:") {
		t.Fatalf("the AWDA call's parent is %q, want a RunActivity span", runAct.Name())
	}
	startAct := spanByID(t, exp, runAct.Parent().SpanID())
	if !strings.HasPrefix(startAct.Name(), "StartActivity:") || startAct.Parent().SpanID() != runWF.SpanContext().SpanID() {
		t.Fatalf("RunActivity's parent is %q (parent %s), want a StartActivity child of RunWorkflow %s",
			startAct.Name(), startAct.Parent().SpanID(), runWF.SpanContext().SpanID())
	}
	if got := attr(runWF, "temporalWorkflowID"); got != wfID {
		t.Errorf("RunWorkflow's workflow ID %q, want %q", got, wfID)
	}

	// The webhook path: the receipt's server span; a delivery span of its
	// own trace, linked to it; the signal under it; the workflow's handling
	// under the signal, in the worker.
	var receive, deliver sdktrace.ReadOnlySpan
	handled := waitSpan(t, exp, "a HandleSignal span under an inbox delivery", func(s sdktrace.ReadOnlySpan) bool {
		if !strings.HasPrefix(s.Name(), "HandleSignal:") || attr(s, "temporalWorkflowID") != wfID {
			return false
		}
		sig := findSpan(exp, s.Parent().SpanID())
		if sig == nil || !strings.HasPrefix(sig.Name(), "SignalWorkflow:") {
			return false
		}
		deliver = findSpan(exp, sig.Parent().SpanID())
		if deliver == nil || deliver.Name() != inbox.SpanDeliver || len(deliver.Links()) != 1 {
			return false
		}
		receive = findSpan(exp, deliver.Links()[0].SpanContext.SpanID())
		return receive != nil
	})
	if !strings.HasPrefix(receive.Name(), "POST /webhooks/awda/") || receive.SpanKind() != trace.SpanKindServer {
		t.Errorf("the delivery links to %q (%v), want the webhook's server span", receive.Name(), receive.SpanKind())
	}
	if deliver.SpanContext().TraceID() == receive.SpanContext().TraceID() || deliver.Parent().IsValid() {
		t.Error("the delivery span should be the root of a trace of its own, linked to the receipt")
	}
	if attr(deliver, "awda.event_id") == "" || attr(deliver, "awda.event_id") != attr(receive, "awda.event_id") {
		t.Errorf("delivery event %q, receipt event %q", attr(deliver, "awda.event_id"), attr(receive, "awda.event_id"))
	}
	if handled.SpanContext().TraceID() != deliver.SpanContext().TraceID() {
		t.Error("HandleSignal is not in the delivery's trace")
	}

	// Nothing personal anywhere: span names, attributes, events, links,
	// statuses, resources; and the log lines.
	spans := exp.GetSpans().Snapshots()
	for _, s := range spans {
		for _, v := range spanStrings(s) {
			for _, pii := range applicantPII {
				if strings.Contains(v, pii) {
					t.Errorf("span %q carries personal data %q in %q", s.Name(), pii, v)
				}
			}
		}
	}
	for name, logs := range map[string]*testenv.SyncBuffer{"starter": starterLogs, "worker": workerLogs} {
		for _, pii := range applicantPII {
			if strings.Contains(logs.String(), pii) {
				t.Errorf("the %s's logs carry personal data %q", name, pii)
			}
		}
	}
	t.Logf("%d spans; the application's trace %s", len(spans), tid)

	// Log lines: the API's access log and the workflow's own lines carry
	// the trace, and workflow_id in snake_case only.
	wantLine(t, "starter", starterLogs, func(l map[string]any) bool {
		return l["route"] == "POST /v1/applications" && l["trace_id"] == tid.String()
	})
	wantLine(t, "starter", starterLogs, func(l map[string]any) bool {
		return l["message"] == "notification delivered" && l["workflow_id"] == wfID &&
			l["trace_id"] == deliver.SpanContext().TraceID().String()
	})
	wantLine(t, "worker", workerLogs, func(l map[string]any) bool {
		return l["workflow_id"] == wfID && l["trace_id"] == tid.String() && l["component"] == "temporal"
	})
	for _, b := range []*testenv.SyncBuffer{starterLogs, workerLogs} {
		if strings.Contains(b.String(), `"WorkflowID"`) || strings.Contains(b.String(), `"TraceID"`) {
			t.Error("a log line has a CamelCase WorkflowID or TraceID field")
		}
	}
}

// traced is the fx options that make an application export to exp and log
// to logs (JSON, debug), as tracing.Module and logging.Module would with
// tracing on.
func traced(t *testing.T, exp *tracetest.InMemoryExporter, service string, logs io.Writer) []fx.Option {
	t.Helper()
	tr, err := tracing.WithProcessor(context.Background(), service, sdktrace.NewSimpleSpanProcessor(exp))
	if err != nil {
		t.Fatal(err)
	}
	return []fx.Option{
		fx.Decorate(func(*tracing.Tracing) *tracing.Tracing { return tr }),
		fx.Decorate(func(zerolog.Logger) zerolog.Logger {
			return logging.New(config.Log{Format: "json", Level: zerolog.DebugLevel}, service, logs)
		}),
	}
}

// startTracedWorker runs a worker from the worker binary's modules (the
// binary itself is package main elsewhere): the Temporal client of
// temporalx.Module, with the interceptors of tracing.Module, and the AWDA
// client of awdafx.Module.
func startTracedWorker(t *testing.T, env map[string]string, extra ...fx.Option) *fx.App {
	t.Helper()
	cfg, err := config.LoadFrom(func(k string) string { return env[k] }, false)
	if err != nil {
		t.Fatal(err)
	}
	app := fx.New(
		config.Module(cfg),
		logging.Module("worker"),
		tracing.Module("worker"),
		metrics.Module,
		temporalx.Module,
		storefx.Module,
		awdafx.Module,
		fx.Invoke(func(lc fx.Lifecycle, c client.Client, ac *awda.Client, st *store.Store) {
			w := worker.New(c, workflows.TaskQueue, worker.Options{})
			w.RegisterWorkflow(workflows.LoanApplication)
			w.RegisterActivity(activities.New(ac, st, st))
			lc.Append(fx.StartStopHook(w.Start, w.Stop))
		}),
		fx.Options(extra...),
		fx.NopLogger,
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return app
}

// applyViaCLI starts an application with `starter apply` and returns its ref.
func applyViaCLI(t *testing.T, env map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "ktp.png"), 14)
	writePNG(t, filepath.Join(dir, "selfie.png"), 15)
	ref := fmt.Sprintf("trace-%d", time.Now().UnixNano())
	file := filepath.Join(dir, "applicant.json")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(applicantJSON, ref)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"apply", "--file", file}, func(k string) string { return env[k] }, &out, &errOut); code != 0 {
		t.Fatalf("apply: %d %s %s", code, out.String(), errOut.String())
	}
	return ref
}

// waitStatus waits (a minute at most) until `starter status` shows want.
func waitStatus(t *testing.T, env map[string]string, ref, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var out, errOut bytes.Buffer
		if code := run([]string{"status", ref}, func(k string) string { return env[k] }, &out, &errOut); code != 0 {
			t.Fatalf("status: %d %s", code, errOut.String())
		}
		if strings.Contains(out.String(), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loan never showed %s:\n%s", want, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitSpan waits (a minute at most) for an exported span that matches.
func waitSpan(t *testing.T, exp *tracetest.InMemoryExporter, what string, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for _, s := range exp.GetSpans().Snapshots() {
			if match(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range exp.GetSpans().Snapshots() {
				names = append(names, s.Name())
			}
			t.Fatalf("no span: %s; exported: %s", what, strings.Join(names, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func childOf(parent sdktrace.ReadOnlySpan, name string) func(sdktrace.ReadOnlySpan) bool {
	return func(s sdktrace.ReadOnlySpan) bool {
		return s.Name() == name && s.Parent().SpanID() == parent.SpanContext().SpanID()
	}
}

func findSpan(exp *tracetest.InMemoryExporter, id trace.SpanID) sdktrace.ReadOnlySpan {
	for _, s := range exp.GetSpans().Snapshots() {
		if s.SpanContext().SpanID() == id {
			return s
		}
	}
	return nil
}

func spanByID(t *testing.T, exp *tracetest.InMemoryExporter, id trace.SpanID) sdktrace.ReadOnlySpan {
	t.Helper()
	s := findSpan(exp, id)
	if s == nil {
		t.Fatalf("no exported span %s", id)
	}
	return s
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// spanStrings is every string a span exports: its name, status, and the
// keys and values of its attributes, events, links and resource.
func spanStrings(s sdktrace.ReadOnlySpan) []string {
	out := []string{s.Name(), s.Status().Description}
	add := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			out = append(out, string(kv.Key), kv.Value.String())
		}
	}
	add(s.Attributes())
	for _, e := range s.Events() {
		out = append(out, e.Name)
		add(e.Attributes)
	}
	for _, l := range s.Links() {
		add(l.Attributes)
	}
	add(s.Resource().Attributes())
	return out
}

// wantLine fails unless a JSON line of logs matches.
func wantLine(t *testing.T, name string, logs *testenv.SyncBuffer, match func(map[string]any) bool) {
	t.Helper()
	for _, l := range strings.Split(logs.String(), "\n") {
		m := map[string]any{}
		if json.Unmarshal([]byte(l), &m) == nil && match(m) {
			return
		}
	}
	t.Errorf("no such line in the %s's logs", name)
}
