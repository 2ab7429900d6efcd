//go:build integration

package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/store"
)

func TestInboxDedupeConcurrent(t *testing.T) {
	s := newStore(t)
	payload := []byte(`{"eventId":"ev-1","loanNo":"L1","bankAccount":"0987654321","name":"AGUS PRATAMA"}`)
	const n = 10
	var (
		wg       sync.WaitGroup
		ids      [n]int64
		inserted [n]bool
		errs     [n]error
	)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ids[i], inserted[i], errs[i] = s.InsertInbox(ctx(t), store.InboxEntry{
				Source: store.SourceLoanStatus, EventID: "ev-1", LoanNo: "L1", Payload: payload,
			})
		}()
	}
	close(start)
	wg.Wait()
	firsts := 0
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("insert %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("insert %d got id %d, insert 0 got %d", i, ids[i], ids[0])
		}
		if inserted[i] {
			firsts++
		}
	}
	if firsts != 1 {
		t.Errorf("inserted=true %d times, want exactly once", firsts)
	}
	var rows int
	var sealed []byte
	if err := s.Pool().QueryRow(ctx(t), `SELECT count(*), (array_agg(payload_sealed))[1] FROM webhook_inbox`).Scan(&rows, &sealed); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d rows, want 1", rows)
	}
	for _, needle := range []string{"0987654321", "AGUS", "bankAccount"} {
		if bytes.Contains(sealed, []byte(needle)) {
			t.Errorf("plaintext %q in payload_sealed", needle)
		}
	}

	// The same event ID from the other source is another notification.
	if _, ins, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: store.SourceAuthorization, EventID: "ev-1", UserID: "U1", Payload: payload}); err != nil || !ins {
		t.Errorf("other source: inserted=%v err=%v", ins, err)
	}
	if _, _, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: "bogus", EventID: "ev-2"}); err == nil {
		t.Error("unknown source accepted")
	}
}

func TestInboxLifecycle(t *testing.T) {
	s := newStore(t)
	insert := func(ev string) int64 {
		t.Helper()
		id, ins, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: store.SourceLoanStatus, EventID: ev, LoanNo: "L-" + ev, Payload: []byte("body " + ev)})
		if err != nil || !ins {
			t.Fatalf("insert %s: %v %v", ev, ins, err)
		}
		return id
	}
	a, b, c, d := insert("a"), insert("b"), insert("c"), insert("d")

	// Just inserted rows are leased to their receiver: nothing is due yet.
	if items, err := s.ClaimPending(ctx(t), 10, time.Now()); err != nil || len(items) != 0 {
		t.Fatalf("claim during the receiver's lease: %d items, %v", len(items), err)
	}
	if err := s.MarkDelivered(ctx(t), a, "loan:a"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkOrphan(ctx(t), b, "workflow closed"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRejected(ctx(t), d, "unparseable"); err != nil {
		t.Fatal(err)
	}
	retryAt := time.Now().Add(time.Hour)
	if err := s.MarkFailed(ctx(t), c, "temporal unavailable", retryAt); err != nil {
		t.Fatal(err)
	}
	// A late failure report does not undo a delivery.
	if err := s.MarkFailed(ctx(t), a, "late", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx(t), 999999, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("mark unknown id: %v, want ErrNotFound", err)
	}

	counts, err := s.CountByStatus(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"pending": 1, "delivered": 1, "orphan": 1, "rejected": 1}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}

	if items, err := s.ClaimPending(ctx(t), 10, retryAt.Add(-time.Second)); err != nil || len(items) != 0 {
		t.Fatalf("claim before retry time: %d items, %v", len(items), err)
	}
	items, err := s.ClaimPending(ctx(t), 10, retryAt)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].ID != c || string(items[0].Payload) != "body c" || items[0].LoanNo != "L-c" ||
		items[0].Attempts != 2 || items[0].Source != store.SourceLoanStatus || items[0].EventID != "c" {
		t.Fatalf("claimed %+v", items)
	}
	// Claimed: leased again.
	if items, err := s.ClaimPending(ctx(t), 10, retryAt); err != nil || len(items) != 0 {
		t.Fatalf("claim during the forwarder's lease: %d items, %v", len(items), err)
	}
	items, err = s.ClaimPending(ctx(t), 10, retryAt.Add(store.InboxLease))
	if err != nil || len(items) != 1 || items[0].Attempts != 3 {
		t.Fatalf("claim after the lease: %+v %v", items, err)
	}

	var status, lastErr, wf string
	if err := s.Pool().QueryRow(ctx(t), `SELECT status, last_error, coalesce(workflow_id, '') FROM webhook_inbox WHERE id = $1`, a).
		Scan(&status, &lastErr, &wf); err != nil {
		t.Fatal(err)
	}
	if status != "delivered" || lastErr != "" || wf != "loan:a" {
		t.Errorf("delivered row: %s %q %q", status, lastErr, wf)
	}
}

func TestClaimPendingConcurrentClaimersNeverShareARow(t *testing.T) {
	s := newStore(t)
	const rows = 60
	for i := 0; i < rows; i++ {
		if _, _, err := s.InsertInbox(ctx(t), store.InboxEntry{
			Source: store.SourceLoanStatus, EventID: fmt.Sprintf("ev-%d", i), Payload: []byte(fmt.Sprintf("p%d", i)),
		}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Minute) // past the receivers' lease

	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		wg   sync.WaitGroup
		errs = make(chan error, 2)
	)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				items, err := s.ClaimPending(ctx(t), 4, now)
				if err != nil {
					errs <- err
					return
				}
				if len(items) == 0 {
					return
				}
				mu.Lock()
				for _, it := range items {
					seen[it.ID]++
					if want := fmt.Sprintf("p%s", it.EventID[len("ev-"):]); string(it.Payload) != want {
						errs <- fmt.Errorf("row %d payload %q, want %q", it.ID, it.Payload, want)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != rows {
		t.Errorf("claimed %d distinct rows, want %d", len(seen), rows)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("row %d claimed %d times", id, n)
		}
	}
}

// A payload that does not open (its key left the ring) stays pending with the
// error, and does not block the others.
func TestClaimPendingSkipsUnopenable(t *testing.T) {
	s := newStore(t)
	for _, ev := range []string{"good", "bad"} {
		if _, _, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: store.SourceAuthorization, EventID: ev, Payload: []byte(ev)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx(t), `UPDATE webhook_inbox SET payload_sealed = '\x00010203' WHERE event_id = 'bad'`); err != nil {
		t.Fatal(err)
	}
	items, err := s.ClaimPending(ctx(t), 10, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].EventID != "good" {
		t.Fatalf("claimed %+v", items)
	}
	var status, lastErr string
	if err := s.Pool().QueryRow(ctx(t), `SELECT status, last_error FROM webhook_inbox WHERE event_id = 'bad'`).Scan(&status, &lastErr); err != nil {
		t.Fatal(err)
	}
	if status != "pending" || lastErr == "" {
		t.Errorf("bad row: %s %q", status, lastErr)
	}
}
