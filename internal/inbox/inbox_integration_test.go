//go:build integration

package inbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/serviceerror"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/workflows"
)

// recorder is a Signaler that records every signal, in the order each
// workflow got them, and can hold calls or fail them. Temporal itself is
// exercised by the webhook and starter tests; this one observes what
// Temporal cannot show: how many signals were in flight at once, and for
// which workflows.
type recorder struct {
	mu       sync.Mutex
	got      map[string][]string // workflow ID → event IDs, in call order
	inFlight map[string]int      // workflow ID → calls in flight
	overlap  []string            // workflows that had two calls in flight at once
	now, max int

	// hold, when set, is called in every call before it returns (its
	// error is the call's).
	hold func(ctx context.Context, wfID, eventID string) error
}

func newRecorder() *recorder {
	return &recorder{got: map[string][]string{}, inFlight: map[string]int{}}
}

func (r *recorder) SignalWorkflow(ctx context.Context, wfID, runID, name string, arg any) error {
	var eventID string
	switch ev := arg.(type) {
	case awda.LoanStatusEvent:
		eventID = ev.EventID
	case awda.AuthorizationEvent:
		eventID = ev.EventID
	default:
		return fmt.Errorf("unexpected signal argument %T", arg)
	}
	if runID != "" {
		return errors.New("signalled a run, not the workflow")
	}
	r.mu.Lock()
	r.inFlight[wfID]++
	if r.inFlight[wfID] > 1 {
		r.overlap = append(r.overlap, wfID)
	}
	r.now++
	r.max = max(r.max, r.now)
	r.mu.Unlock()
	var err error
	if r.hold != nil {
		err = r.hold(ctx, wfID, eventID)
	}
	r.mu.Lock()
	r.inFlight[wfID]--
	r.now--
	if err == nil {
		r.got[wfID] = append(r.got[wfID], eventID)
	}
	r.mu.Unlock()
	return err
}

func (r *recorder) signals(wfID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got[wfID]...)
}

type rig struct {
	t     *testing.T
	store *store.Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	pool, url := testenv.NewDatabase(t)
	if err := store.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	spec, err := codec.GenerateKeySpec("ib1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, ring)
	t.Cleanup(st.Close)
	return &rig{t: t, store: st}
}

// loan records an application with an AWDA loan and user; it returns the
// workflow ID.
func (r *rig) loan(ref, loanNo, userID string) string {
	r.t.Helper()
	wfID := workflows.LoanWorkflowID(ref)
	if err := r.store.UpsertApplication(context.Background(), activities.ApplicationProjection{
		ApplicantRef: ref, WorkflowID: wfID, Seq: 1, AwdaUserID: userID, AwdaLoanNo: loanNo, OrderNo: workflows.OrderNo(wfID),
	}); err != nil {
		r.t.Fatal(err)
	}
	return wfID
}

func loanEntry(eventID, loanNo, orderNo string) store.InboxEntry {
	b, _ := json.Marshal(awda.LoanStatusEvent{EventID: eventID, EventType: awda.EventTypeLoanStatus, LoanNo: loanNo, OrderNo: orderNo,
		Status: awda.LoanUnderReview, OccurredAt: time.Now().UnixMilli()})
	return store.InboxEntry{Source: store.SourceLoanStatus, EventID: eventID, LoanNo: loanNo, Payload: b}
}

func authEntry(eventID, userID string) store.InboxEntry {
	b, _ := json.Marshal(awda.AuthorizationEvent{EventID: eventID, UserID: userID, AuthType: "EKYC", Status: awda.AuthSuccess,
		OccurredAt: time.Now().UnixMilli()})
	return store.InboxEntry{Source: store.SourceAuthorization, EventID: eventID, UserID: userID, Payload: b}
}

// insert stores entries as the receiver does when AWDA sends them one
// after the other's answer: one statement each, so in this order.
func (r *rig) insert(entries ...store.InboxEntry) {
	r.t.Helper()
	for _, e := range entries {
		res, err := r.store.InsertInboxBatch(context.Background(), []store.InboxEntry{e}, []time.Time{time.Now()})
		if err != nil {
			r.t.Fatal(err)
		}
		if !res[0].Inserted {
			r.t.Fatalf("%s not inserted", e.EventID)
		}
	}
}

type row struct {
	status, workflowID, lastError string
	attempts                      int
	nextAttemptAt                 time.Time
}

func (r *rig) row(eventID string) row {
	r.t.Helper()
	var x row
	if err := r.store.Pool().QueryRow(context.Background(), `SELECT status, coalesce(workflow_id, ''), last_error, attempts, next_attempt_at
		FROM webhook_inbox WHERE event_id = $1`, eventID).Scan(&x.status, &x.workflowID, &x.lastError, &x.attempts, &x.nextAttemptAt); err != nil {
		r.t.Fatalf("row %s: %v", eventID, err)
	}
	return x
}

func (r *rig) claimAndDeliver(d *inbox.Deliverer, now time.Time) []inbox.Outcome {
	r.t.Helper()
	items, err := r.store.ClaimPending(context.Background(), 1000, now)
	if err != nil {
		r.t.Fatal(err)
	}
	out, err := d.Deliver(context.Background(), items)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A batch about several loans, interleaved: each workflow gets its
// notifications one at a time, in the order they were stored, while
// several workflows are signalled at once, never more than Concurrency.
func TestDeliverInOrderPerWorkflowWithBoundedConcurrency(t *testing.T) {
	r := newRig(t)
	const loans, perLoan, concurrency = 6, 5, 3
	wfIDs := make([]string, loans)
	for l := range loans {
		wfIDs[l] = r.loan(fmt.Sprintf("order-%d", l), fmt.Sprintf("L-%d", l), fmt.Sprintf("U-%d", l))
	}
	var entries []store.InboxEntry
	want := map[string][]string{}
	for i := range perLoan {
		for l := range loans {
			ev := fmt.Sprintf("ev-%d-%d", l, i)
			if i == 2 {
				entries = append(entries, authEntry(ev, fmt.Sprintf("U-%d", l))) // routed by user, to the same workflow
			} else {
				entries = append(entries, loanEntry(ev, fmt.Sprintf("L-%d", l), ""))
			}
			want[wfIDs[l]] = append(want[wfIDs[l]], ev)
		}
	}
	r.insert(entries...)

	rec := newRecorder()
	// Every call waits until `concurrency` calls are in flight (or a while
	// has passed): a deliverer that signalled one at a time would leave the
	// maximum at 1.
	var arrived atomic.Int32
	full := make(chan struct{})
	rec.hold = func(ctx context.Context, wfID, eventID string) error {
		if arrived.Add(1) == concurrency {
			close(full)
		}
		select {
		case <-full:
		case <-time.After(5 * time.Second):
		}
		time.Sleep(2 * time.Millisecond)
		return nil
	}
	d := &inbox.Deliverer{Store: r.store, Temporal: rec, Log: zerolog.Nop(), Concurrency: concurrency}
	outcomes := r.claimAndDeliver(d, time.Now())
	if len(outcomes) != loans*perLoan {
		t.Fatalf("%d outcomes, want %d", len(outcomes), loans*perLoan)
	}
	for _, o := range outcomes {
		if o != inbox.Delivered {
			t.Fatalf("outcomes %v", outcomes)
		}
	}
	for _, wf := range wfIDs {
		if got := rec.signals(wf); fmt.Sprint(got) != fmt.Sprint(want[wf]) {
			t.Errorf("%s got %v, want %v in that order", wf, got, want[wf])
		}
	}
	if rec.max != concurrency {
		t.Errorf("at most %d signals in flight, want %d", rec.max, concurrency)
	}
	if len(rec.overlap) > 0 {
		t.Errorf("two signals in flight at once to %v", rec.overlap)
	}
	for _, e := range entries {
		if x := r.row(e.EventID); x.status != store.InboxDelivered || x.workflowID == "" || x.attempts != 1 {
			t.Errorf("%s: %+v", e.EventID, x)
		}
	}
}

// A signal that fails holds back the later notifications of its workflow:
// they wait for the same next attempt, and are then delivered after it, in
// order. Other workflows are not held back.
func TestFailedSignalHoldsBackItsWorkflow(t *testing.T) {
	r := newRig(t)
	a, b := r.loan("held-a", "L-A", "U-A"), r.loan("held-b", "L-B", "U-B")
	r.insert(loanEntry("a1", "L-A", ""), loanEntry("b1", "L-B", ""), loanEntry("a2", "L-A", ""),
		loanEntry("a3", "L-A", ""), loanEntry("b2", "L-B", ""))
	rec := newRecorder()
	var fail atomic.Bool
	fail.Store(true)
	rec.hold = func(_ context.Context, wfID, eventID string) error {
		if eventID == "a2" && fail.Load() {
			return serviceerror.NewUnavailable("temporal restarting")
		}
		return nil
	}
	d := &inbox.Deliverer{Store: r.store, Temporal: rec, Log: zerolog.Nop(), MinBackoff: time.Minute, MaxBackoff: time.Hour}
	now := time.Now()
	out := r.claimAndDeliver(d, now)
	if fmt.Sprint(out) != fmt.Sprint([]inbox.Outcome{inbox.Delivered, inbox.Delivered, inbox.Retry, inbox.Retry, inbox.Delivered}) {
		t.Fatalf("outcomes %v", out)
	}
	if got := rec.signals(a); fmt.Sprint(got) != "[a1]" {
		t.Errorf("%s got %v before the failure, want [a1]", a, got)
	}
	if got := rec.signals(b); fmt.Sprint(got) != "[b1 b2]" {
		t.Errorf("%s got %v, want [b1 b2]", b, got)
	}
	a2, a3 := r.row("a2"), r.row("a3")
	if a2.status != store.InboxPending || a2.lastError != "signal: temporal unavailable" || a2.workflowID != a || !a2.nextAttemptAt.After(now) {
		t.Errorf("a2: %+v", a2)
	}
	if a3.status != store.InboxPending || !strings.Contains(a3.lastError, "held behind") || !a3.nextAttemptAt.Equal(a2.nextAttemptAt) {
		t.Errorf("a3: %+v (a2 due at %v)", a3, a2.nextAttemptAt)
	}
	// Not due yet.
	if out := r.claimAndDeliver(d, now); len(out) != 0 {
		t.Fatalf("claimed before the retry time: %v", out)
	}
	fail.Store(false)
	if out := r.claimAndDeliver(d, a2.nextAttemptAt); fmt.Sprint(out) != fmt.Sprint([]inbox.Outcome{inbox.Delivered, inbox.Delivered}) {
		t.Fatalf("retry outcomes %v", out)
	}
	if got := rec.signals(a); fmt.Sprint(got) != "[a1 a2 a3]" {
		t.Errorf("%s got %v, want [a1 a2 a3]", a, got)
	}
}

// Routing in bulk: by loan number, by order number when the workflow has
// not recorded the loan number yet, by user. No application: pending
// through the grace, orphan after it. A closed workflow: orphan. A stored
// payload that is not an event: rejected. Nothing signalled for those.
func TestDeliverRoutesAndSettlesEveryOutcome(t *testing.T) {
	r := newRig(t)
	byLoan := r.loan("route-loan", "L-R1", "U-R1")
	byOrder := r.loan("route-order", "", "U-R2") // AWDA pushed before the loan number was recorded
	closed := r.loan("route-closed", "L-R3", "U-R3")
	r.insert(
		loanEntry("by-loan", "L-R1", ""),
		loanEntry("by-order", "L-R2-NEW", workflows.OrderNo(byOrder)),
		authEntry("by-user", "U-R1"),
		loanEntry("unknown", "L-NOBODY", ""),
		authEntry("unknown-user", "U-NOBODY"),
		loanEntry("closed", "L-R3", ""),
		store.InboxEntry{Source: store.SourceLoanStatus, EventID: "garbage", LoanNo: "L-R1", Payload: []byte(`{"eventId":`)},
	)
	rec := newRecorder()
	rec.hold = func(_ context.Context, wfID, _ string) error {
		if wfID == closed {
			return serviceerror.NewNotFound("workflow execution already completed")
		}
		return nil
	}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	d := &inbox.Deliverer{Store: r.store, Temporal: rec, Log: zerolog.Nop(), OrphanGrace: time.Hour,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	r.claimAndDeliver(d, d.Now())
	for ev, want := range map[string]row{
		"by-loan":      {status: store.InboxDelivered, workflowID: byLoan},
		"by-order":     {status: store.InboxDelivered, workflowID: byOrder},
		"by-user":      {status: store.InboxDelivered, workflowID: byLoan},
		"unknown":      {status: store.InboxPending, lastError: "no application for this loan yet"},
		"unknown-user": {status: store.InboxPending, lastError: "no application for this user yet"},
		"closed":       {status: store.InboxOrphan, workflowID: closed, lastError: "workflow " + closed + " is not open"},
	} {
		if got := r.row(ev); got.status != want.status || got.workflowID != want.workflowID || got.lastError != want.lastError {
			t.Errorf("%s: %+v, want %+v", ev, got, want)
		}
	}
	if g := r.row("garbage"); g.status != store.InboxRejected || !strings.HasPrefix(g.lastError, "payload: ") {
		t.Errorf("garbage: %+v", g)
	}
	if got := rec.signals(byLoan); fmt.Sprint(got) != "[by-loan by-user]" {
		t.Errorf("%s got %v", byLoan, got)
	}
	// After the grace: orphan, still without a signal.
	clock.Store(time.Now().Add(2 * time.Hour).UnixNano())
	r.claimAndDeliver(d, d.Now())
	for _, ev := range []string{"unknown", "unknown-user"} {
		if got := r.row(ev); got.status != store.InboxOrphan || !strings.HasPrefix(got.lastError, "no application for this") {
			t.Errorf("%s after the grace: %+v", ev, got)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := len(rec.got); n != 2 {
		t.Errorf("signals went to %d workflows (%v), want 2", n, rec.got)
	}
}

// The forwarder delivers as soon as it is woken, not at its next poll.
// While the receiver is busy it waits (at most MaxDefer) before claiming.
func TestForwarderWakeAndDefer(t *testing.T) {
	r := newRig(t)
	wf := r.loan("wake", "L-W", "U-W")
	rec := newRecorder()
	d := &inbox.Deliverer{Store: r.store, Temporal: rec, Log: zerolog.Nop()}
	// busyChecks counts the forwarder's questions while the receiver is
	// busy: how the test knows it has been woken and is deferring.
	var busy atomic.Bool
	var busyChecks atomic.Int32
	isBusy := func() bool {
		b := busy.Load()
		if b {
			busyChecks.Add(1)
		}
		return b
	}
	f := &inbox.Forwarder{Deliverer: d, Log: zerolog.Nop(), Interval: time.Hour, MaxDefer: time.Hour, Busy: isBusy}
	// A row left from before the start: the startup poll delivers it, and
	// once it is recorded that poll is over (it claimed fewer rows than a
	// batch). Nothing but a wake can then deliver w1 within the hour.
	r.insert(loanEntry("w0", "L-W", ""))
	f.Start()
	defer f.Stop(context.Background())
	waitFor(t, "the startup poll to deliver w0", 10*time.Second, func() bool { return r.row("w0").status == store.InboxDelivered })

	r.insert(loanEntry("w1", "L-W", ""))
	f.Wake()
	waitFor(t, "the woken forwarder to deliver w1", 10*time.Second, func() bool { return r.row("w1").status == store.InboxDelivered })

	busy.Store(true)
	r.insert(loanEntry("w2", "L-W", ""))
	f.Wake()
	// The first question is before its first claim; a second means it has
	// waited and asked again: it is deferring, and stays in that wait
	// (MaxDefer is an hour) while the receiver is busy. One that claimed
	// before asking has claimed w2 by now; one that did not wait never asks
	// twice.
	waitFor(t, "the woken forwarder to defer to the busy receiver", 10*time.Second, func() bool { return busyChecks.Load() >= 2 })
	if x := r.row("w2"); x.status != store.InboxPending || x.attempts != 0 {
		t.Fatalf("claimed while the receiver was busy: %+v", x)
	}
	busy.Store(false)
	waitFor(t, "w2 once the receiver is quiet", 10*time.Second, func() bool { return r.row("w2").status == store.InboxDelivered })
	if got := rec.signals(wf); fmt.Sprint(got) != "[w0 w1 w2]" {
		t.Errorf("signals %v", got)
	}
}

// Under a burst that never ends, delivery still goes on: a batch per
// MaxDefer.
func TestForwarderDefersAtMostMaxDefer(t *testing.T) {
	r := newRig(t)
	r.loan("defer", "L-D", "U-D")
	d := &inbox.Deliverer{Store: r.store, Temporal: newRecorder(), Log: zerolog.Nop()}
	f := &inbox.Forwarder{Deliverer: d, Log: zerolog.Nop(), Interval: time.Hour, Batch: 2, MaxDefer: 200 * time.Millisecond,
		Busy: func() bool { return true }}
	r.insert(loanEntry("d1", "L-D", ""), loanEntry("d2", "L-D", ""), loanEntry("d3", "L-D", ""))
	f.Start()
	defer f.Stop(context.Background())
	waitFor(t, "every row delivered despite a busy receiver", 20*time.Second, func() bool {
		return r.row("d1").status == store.InboxDelivered && r.row("d2").status == store.InboxDelivered && r.row("d3").status == store.InboxDelivered
	})
}

// While the receiver is still busy after MaxDefer, the forwarder claims a
// small batch (BusyBatch), not a full one: a trickle that keeps delivery
// going without a burst of signals. Once it is quiet, full batches.
func TestForwarderClaimsBusyBatchUnderPressure(t *testing.T) {
	for _, c := range []struct {
		name        string
		busy        bool
		wantClaimed int
	}{{"busy", true, 2}, {"quiet", false, 5}} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.loan("pressure", "L-P", "U-P")
			for i := range 5 {
				r.insert(loanEntry(fmt.Sprintf("p%d", i), "L-P", ""))
			}
			rec := newRecorder()
			started, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			rec.hold = func(context.Context, string, string) error {
				once.Do(func() { close(started) })
				<-release
				return nil
			}
			d := &inbox.Deliverer{Store: r.store, Temporal: rec, Log: zerolog.Nop()}
			f := &inbox.Forwarder{Deliverer: d, Log: zerolog.Nop(), Interval: time.Hour, Batch: 100,
				MaxDefer: 50 * time.Millisecond, BusyBatch: 2, Busy: func() bool { return c.busy }}
			f.Start()
			defer f.Stop(context.Background())
			<-started // the first signal of the first claim is in flight
			var claimed int
			if err := r.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM webhook_inbox WHERE attempts > 0`).Scan(&claimed); err != nil {
				t.Fatal(err)
			}
			close(release)
			if claimed != c.wantClaimed {
				t.Errorf("the first claim took %d rows, want %d", claimed, c.wantClaimed)
			}
			waitFor(t, "every row delivered", 20*time.Second, func() bool {
				for i := range 5 {
					if r.row(fmt.Sprintf("p%d", i)).status != store.InboxDelivered {
						return false
					}
				}
				return true
			})
		})
	}
}

// Stopping the forwarder in the middle of a batch loses nothing: the signal
// in flight is cancelled and retried, and the notifications it had not
// attempted yet are due again at once.
func TestForwarderStopMidBatch(t *testing.T) {
	r := newRig(t)
	r.loan("stop", "L-S", "U-S")
	r.insert(loanEntry("s1", "L-S", ""), loanEntry("s2", "L-S", ""), loanEntry("s3", "L-S", ""))
	rec := newRecorder()
	started := make(chan struct{})
	rec.hold = func(ctx context.Context, _, eventID string) error {
		close(started)
		<-ctx.Done() // s1 hangs until the stop
		return ctx.Err()
	}
	d := &inbox.Deliverer{Store: r.store, Temporal: rec, Log: zerolog.Nop(), MinBackoff: time.Minute}
	f := &inbox.Forwarder{Deliverer: d, Log: zerolog.Nop(), Interval: time.Hour}
	f.Start()
	<-started
	before := time.Now()
	if err := f.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	s1 := r.row("s1")
	if s1.status != store.InboxPending || s1.lastError != "signal: canceled" || s1.nextAttemptAt.Before(before.Add(30*time.Second)) {
		t.Errorf("s1: %+v", s1)
	}
	for _, ev := range []string{"s2", "s3"} {
		// Held behind s1, as any later notification of its workflow.
		if x := r.row(ev); x.status != store.InboxPending || !x.nextAttemptAt.Equal(s1.nextAttemptAt) {
			t.Errorf("%s: %+v", ev, x)
		}
	}
}

// The deliveries counter and the backlog gauges reach /metrics.
func TestInstrumentReportsBacklog(t *testing.T) {
	r := newRig(t)
	r.loan("metrics", "L-M", "U-M")
	m, err := metrics.New(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	d := &inbox.Deliverer{Store: r.store, Temporal: newRecorder(), Log: zerolog.Nop()}
	if err := d.Instrument(m.MeterProvider()); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if _, err := r.store.InsertInboxBatch(context.Background(), []store.InboxEntry{loanEntry("m1", "L-M", ""), loanEntry("m2", "L-M", "")},
		[]time.Time{old, time.Now()}); err != nil {
		t.Fatal(err)
	}
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	text := scrape()
	for _, want := range []string{inbox.MetricPending + `{state="due"} 2`, inbox.MetricPending + `{state="waiting"} 0`} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, grep(text, "inbox"))
		}
	}
	for _, name := range []string{inbox.MetricLag, inbox.MetricOldestPendingAge} {
		var v float64
		if _, err := fmt.Sscanf(after(text, name+" "), "%g", &v); err != nil || v < 59 {
			t.Errorf("%s = %v (%v), want about a minute:\n%s", name, v, err, grep(text, "inbox"))
		}
	}
	r.claimAndDeliver(d, time.Now())
	text = scrape()
	for _, want := range []string{inbox.MetricPending + `{state="due"} 0`, inbox.MetricLag + " 0", inbox.MetricOldestPendingAge + " 0",
		inbox.MetricDeliveries + `{outcome="delivered",source="loan_status"} 2`} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, grep(text, "inbox|deliveries"))
		}
	}
}

func after(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimPrefix(l, prefix)
		}
	}
	return ""
}

func grep(text, words string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, w := range strings.Split(words, "|") {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
