//go:build integration

package inbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/store"
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
