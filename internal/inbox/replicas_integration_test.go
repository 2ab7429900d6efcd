//go:build integration

package inbox_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/store"
)

// Several starter replicas share one inbox: these tests run two forwarders
// (two Deliverers with replica names) on one database.

// Two forwarders drain one inbox together: each row is signalled exactly
// once, both replicas deliver rows (so the first property is not won by
// one replica doing everything), and every delivered row names the
// replica that delivered it.
func TestTwoForwardersShareTheInboxAndSignalEachRowOnce(t *testing.T) {
	r := newRig(t)
	const loans, perLoan = 20, 6
	var entries []store.InboxEntry
	for l := range loans {
		r.loan(fmt.Sprintf("share-%d", l), fmt.Sprintf("L-%d", l), fmt.Sprintf("U-%d", l))
		for i := range perLoan {
			entries = append(entries, loanEntry(fmt.Sprintf("ev-%d-%d", l, i), fmt.Sprintf("L-%d", l), ""))
		}
	}
	r.insert(entries...)

	// Each replica's first signal waits until the other replica has a
	// signal in flight too: both hold a claim at the same moment.
	started := map[string]chan struct{}{"a:8080": make(chan struct{}), "b:8080": make(chan struct{})}
	other := map[string]string{"a:8080": "b:8080", "b:8080": "a:8080"}
	var (
		mu      sync.Mutex
		signals = map[string][]string{} // event ID → replicas that signalled it
	)
	forwarder := func(replica string) *inbox.Forwarder {
		rec := newRecorder()
		var once sync.Once
		rec.hold = func(ctx context.Context, _, eventID string) error {
			once.Do(func() { close(started[replica]) })
			select {
			case <-started[other[replica]]:
			case <-ctx.Done():
				return ctx.Err()
			}
			mu.Lock()
			signals[eventID] = append(signals[eventID], replica)
			mu.Unlock()
			return nil
		}
		d := &inbox.Deliverer{Store: r.store, Temporal: rec, Log: zerolog.Nop(), Replica: replica}
		return &inbox.Forwarder{Deliverer: d, Log: zerolog.Nop(), Batch: 10}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, replica := range []string{"a:8080", "b:8080"} {
		f := forwarder(replica)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.RunOnce(context.Background()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for _, e := range entries {
		if got := signals[e.EventID]; len(got) != 1 {
			t.Errorf("%s signalled by %v, want exactly once", e.EventID, got)
		}
	}
	byReplica := deliveredByReplica(t, r)
	if byReplica["a:8080"] == 0 || byReplica["b:8080"] == 0 || byReplica["a:8080"]+byReplica["b:8080"] != len(entries) {
		t.Fatalf("delivered rows by replica %v, want both replicas and %d rows in all", byReplica, len(entries))
	}
	for _, e := range entries {
		var by string
		if err := r.store.Pool().QueryRow(context.Background(), `SELECT claimed_by FROM webhook_inbox WHERE event_id = $1`, e.EventID).Scan(&by); err != nil {
			t.Fatal(err)
		}
		if got := signals[e.EventID]; len(got) == 1 && got[0] != by {
			t.Errorf("%s signalled by %s, recorded as delivered by %s", e.EventID, got[0], by)
		}
	}
}

func deliveredByReplica(t *testing.T, r *rig) map[string]int {
	t.Helper()
	rows, err := r.store.Pool().Query(context.Background(),
		`SELECT coalesce(claimed_by, ''), count(*) FROM webhook_inbox WHERE status = 'delivered' GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var by string
		var n int
		if err := rows.Scan(&by, &n); err != nil {
			t.Fatal(err)
		}
		out[by] = n
	}
	return out
}

// A forwarder whose signals outlast its claim's lease stops short of it:
// the hanging signal is cut LeaseMargin before the lease ends (not after
// AttemptTimeout), the rows of its workflow wait behind it, and another
// workflow's row, whose turn comes too late, is not attempted and is due at
// once; the next replica's claim then signals each row once.
func TestSignalsStopShortOfTheLease(t *testing.T) {
	r := newRig(t)
	r.loan("lease", "L-L", "U-L")
	r.loan("lease2", "L-M", "U-M")
	// Claimed long enough ago that 300 ms of the lease are left before
	// the margin (and received before that).
	claimedAt := time.Now().Add(-(store.InboxLease - inbox.LeaseMargin - 300*time.Millisecond))
	for _, e := range []store.InboxEntry{loanEntry("l1", "L-L", ""), loanEntry("l2", "L-L", ""), loanEntry("l3", "L-L", ""), loanEntry("m1", "L-M", "")} {
		if _, err := r.store.InsertInboxBatch(context.Background(), []store.InboxEntry{e}, []time.Time{claimedAt.Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := r.store.ClaimPendingBy(context.Background(), "a:8080", 10, claimedAt)
	if err != nil || len(items) != 4 {
		t.Fatalf("claim: %d items, %v", len(items), err)
	}
	hung := newRecorder()
	cut := make(chan time.Duration, 4)
	hung.hold = func(ctx context.Context, _, _ string) error {
		began := time.Now()
		<-ctx.Done() // Temporal does not answer
		cut <- time.Since(began)
		return ctx.Err()
	}
	a := &inbox.Deliverer{Store: r.store, Temporal: hung, Log: zerolog.Nop(), Replica: "a:8080", AttemptTimeout: time.Minute, Concurrency: 1}
	began := time.Now()
	outcomes, err := a.Deliver(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	close(cut)
	var calls []time.Duration
	for took := range cut {
		calls = append(calls, took)
	}
	if len(calls) != 1 || calls[0] > 2*time.Second {
		t.Errorf("signal calls that hung for %v: want one, cut at the lease's margin (300 ms away)", calls)
	}
	if fmt.Sprint(outcomes) != "[retry retry retry retry]" {
		t.Fatalf("outcomes %v", outcomes)
	}
	for _, ev := range []string{"l2", "l3"} {
		if x := r.row(ev); x.status != store.InboxPending || x.nextAttemptAt.After(began.Add(store.InboxLease)) {
			t.Errorf("%s: %+v, want pending and due by the lease's end", ev, x)
		}
	}
	if x := r.row("m1"); x.status != store.InboxPending || x.lastError != "not attempted: the claim's lease ran out" || x.nextAttemptAt.After(time.Now()) {
		t.Errorf("m1: %+v, want pending, not attempted, due at once", x)
	}

	// Replica b claims what is due when a's lease has ended, and signals
	// each row once.
	items, err = r.store.ClaimPendingBy(context.Background(), "b:8080", 10, claimedAt.Add(store.InboxLease+inbox.DefaultMaxBackoff))
	if err != nil || len(items) != 4 {
		t.Fatalf("b's claim: %d items, %v", len(items), err)
	}
	ok := newRecorder()
	b := &inbox.Deliverer{Store: r.store, Temporal: ok, Log: zerolog.Nop(), Replica: "b:8080"}
	if outcomes, err := b.Deliver(context.Background(), items); err != nil || fmt.Sprint(outcomes) != "[delivered delivered delivered delivered]" {
		t.Fatalf("b: %v %v", outcomes, err)
	}
	if got := ok.signals(items[0].WorkflowID); fmt.Sprint(got) != "[l1 l2 l3]" {
		t.Errorf("b signalled %v", got)
	}
	if got := deliveredByReplica(t, r); fmt.Sprint(got) != "map[b:8080:4]" {
		t.Errorf("delivered by %v", got)
	}
}

// The backlog gauges read the whole inbox, which every replica shares:
// each replica reports the same global figure, so that the sum over
// replicas counts the backlog once per replica and max() counts it once.
// docs/operations.md says to aggregate them with max(); this pins the
// reason.
func TestBacklogGaugesAreGlobalOnEveryReplica(t *testing.T) {
	r := newRig(t)
	r.loan("gauge", "L-G", "U-G")
	var entries []store.InboxEntry
	for i := range 5 {
		entries = append(entries, loanEntry("g"+strconv.Itoa(i), "L-G", ""))
	}
	r.insert(entries...)
	scrapes := make([]func() string, 2)
	for i := range scrapes {
		m, err := metrics.New(zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		d := &inbox.Deliverer{Store: r.store, Temporal: newRecorder(), Log: zerolog.Nop(), Replica: "r" + strconv.Itoa(i)}
		if err := d.Instrument(m.MeterProvider()); err != nil {
			t.Fatal(err)
		}
		scrapes[i] = func() string {
			rec := httptest.NewRecorder()
			m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			b, _ := io.ReadAll(rec.Body)
			return string(b)
		}
	}
	// Replica 0 claims two rows: both replicas see them as waiting.
	if items, err := r.store.ClaimPendingBy(context.Background(), "r0", 2, time.Now()); err != nil || len(items) != 2 {
		t.Fatalf("claim: %d %v", len(items), err)
	}
	for i, scrape := range scrapes {
		text := scrape()
		for _, want := range []string{inbox.MetricPending + `{state="due"} 3`, inbox.MetricPending + `{state="waiting"} 2`} {
			if !strings.Contains(text, want) {
				t.Errorf("replica %d: no %q in:\n%s", i, want, grep(text, "inbox"))
			}
		}
	}
}
