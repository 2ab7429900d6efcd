//go:build integration

package inbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

// A notification nothing can route is orphaned when its grace ends, within
// a forwarder interval, not at whichever backed-off retry comes first after
// it; one whose application appears within the grace is delivered. The
// backoff is chosen so that, uncapped, the first retry at or after the
// grace would come at least 7.2 s after receipt (3 s ±20 %, then 6 s ±20 %),
// well past the bound checked here.
func TestOrphanedWhenTheGraceEnds(t *testing.T) {
	const (
		grace    = 4 * time.Second
		interval = 200 * time.Millisecond
		slack    = time.Second // a claim, a route query and this test's polling, on a loaded machine
	)
	r := newRig(t)
	rec := newRecorder()
	d := &inbox.Deliverer{Store: r.store, Temporal: rec, Log: zerolog.Nop(), OrphanGrace: grace,
		MinBackoff: 3 * time.Second, MaxBackoff: time.Minute}
	f := &inbox.Forwarder{Deliverer: d, Log: zerolog.Nop(), Interval: interval}
	r.insert(loanEntry("never", "L-NEVER", ""), loanEntry("later", "L-LATER", ""))
	received := map[string]time.Time{}
	for _, ev := range []string{"never", "later"} {
		var at time.Time
		if err := r.store.Pool().QueryRow(context.Background(), `SELECT received_at FROM webhook_inbox WHERE event_id = $1`,
			ev).Scan(&at); err != nil {
			t.Fatal(err)
		}
		received[ev] = at
	}
	f.Start()
	t.Cleanup(func() { _ = f.Stop(context.Background()) })

	// Both are tried at once and wait; then "later" gets its application.
	waitFor(t, "the first attempts' outcomes", 10*time.Second, func() bool { // a claim counts its attempt before it is made
		return r.row("never").lastError != "" && r.row("later").lastError != ""
	})
	for _, ev := range []string{"never", "later"} {
		if got := r.row(ev); got.status != store.InboxPending || got.lastError != "no application for this loan yet" {
			t.Fatalf("%s within the grace: %+v", ev, got)
		}
		if got := r.row(ev); got.nextAttemptAt.After(received[ev].Add(grace)) {
			t.Errorf("%s is next due at %s, after its grace ends (%s)", ev, got.nextAttemptAt, received[ev].Add(grace))
		}
	}
	wfID := r.loan("orphan-later", "L-LATER", "U-LATER")

	var orphanedAt time.Time
	waitFor(t, "the unroutable row to be orphaned", 20*time.Second, func() bool {
		if r.row("never").status == store.InboxPending {
			return false
		}
		orphanedAt = time.Now()
		return true
	})
	if got := r.row("never"); got.status != store.InboxOrphan || got.lastError != "no application for this loan" {
		t.Fatalf("never after the grace: %+v", got)
	}
	took := orphanedAt.Sub(received["never"])
	t.Logf("orphaned %s after receipt (grace %s, interval %s)", took.Round(time.Millisecond), grace, interval)
	if took < grace {
		t.Errorf("orphaned %s after receipt, before its grace of %s", took, grace)
	}
	if bound := grace + interval + slack; took > bound {
		t.Errorf("orphaned %s after receipt, later than grace+interval+slack = %s", took, bound)
	}

	waitFor(t, "the late-routed row to be delivered", 10*time.Second, func() bool {
		return r.row("later").status != store.InboxPending
	})
	if got := r.row("later"); got.status != store.InboxDelivered || got.workflowID != wfID {
		t.Fatalf("later: %+v, want delivered to %s", got, wfID)
	}
	if got := rec.signals(wfID); fmt.Sprint(got) != "[later]" {
		t.Errorf("%s got %v, want [later]", wfID, got)
	}
}

// A loan status whose workflow has closed is expected (AWDA's own SETTLED
// or DISBURSED after the loan ended): logged at info, counted as
// outcome="after_close". What nothing can account for stays a warning and
// outcome="orphan": a loan status whose workflow Temporal has never seen,
// and an authorization for a closed workflow. Against a real Temporal dev
// server, whose NotFound and DescribeWorkflowExecution the classification
// reads.
func TestNotificationAfterTheLoanClosedIsExpected(t *testing.T) {
	r := newRig(t)
	c := testenv.NewTemporalClient(t, client.Options{})
	suffix := fmt.Sprint(time.Now().UnixNano()) // the dev server is shared by -count runs
	tq := "inbox-after-close-" + suffix
	w := worker.New(c, tq, worker.Options{})
	w.RegisterWorkflowWithOptions(func(workflow.Context) error { return nil }, workflow.RegisterOptions{Name: "inbox-test-done"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	closed := r.loan("closed-"+suffix, "L-CLOSED-"+suffix, "U-CLOSED-"+suffix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: closed, TaskQueue: tq}, "inbox-test-done")
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	never := r.loan("never-started-"+suffix, "L-NEVER-"+suffix, "U-NEVER-"+suffix) // in the read model, not in Temporal

	logs := &testenv.SyncBuffer{}
	m, err := metrics.New(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	d := &inbox.Deliverer{Store: r.store, Temporal: c, Log: zerolog.New(logs)}
	if err := d.Instrument(m.MeterProvider()); err != nil {
		t.Fatal(err)
	}
	r.insert(loanEntry("settled-"+suffix, "L-CLOSED-"+suffix, ""), loanEntry("lost-"+suffix, "L-NEVER-"+suffix, ""),
		authEntry("auth-"+suffix, "U-CLOSED-"+suffix))
	outs := r.claimAndDeliver(d, time.Now())
	if fmt.Sprint(outs) != "[after_close orphan orphan]" {
		t.Fatalf("outcomes %v, want [after_close orphan orphan]", outs)
	}
	for ev, wf := range map[string]string{"settled-": closed, "lost-": never, "auth-": closed} {
		if got := r.row(ev + suffix); got.status != store.InboxOrphan || got.workflowID != wf || got.lastError != "workflow "+wf+" is not open" {
			t.Errorf("%s: %+v", ev, got)
		}
	}

	lines := map[string]map[string]any{} // event ID → its log line
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if id, _ := v["event_id"].(string); id != "" {
			lines[id] = v
		}
	}
	for ev, want := range map[string][2]string{
		"settled-": {"info", "notification after the loan closed"},
		"lost-":    {"warn", "orphan notification"},
		"auth-":    {"warn", "orphan notification"},
	} {
		l := lines[ev+suffix]
		if msg, _ := l["message"].(string); l["level"] != want[0] || !strings.HasPrefix(msg, want[1]) {
			t.Errorf("%s logged %v, want level %s and %q", ev, l, want[0], want[1])
		}
	}
	if st := lines["settled-"+suffix]["workflow_status"]; st != "Completed" {
		t.Errorf("settled: workflow_status %v, want Completed", st)
	}
	if st := lines["lost-"+suffix]["workflow_status"]; st != "not found" {
		t.Errorf("lost: workflow_status %v, want not found", st)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		inbox.MetricDeliveries + `{outcome="after_close",source="loan_status"} 1`,
		inbox.MetricDeliveries + `{outcome="orphan",source="loan_status"} 1`,
		inbox.MetricDeliveries + `{outcome="orphan",source="authorization"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %q in:\n%s", want, grep(string(b), "deliveries"))
		}
	}
}
