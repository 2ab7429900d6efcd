//go:build integration

package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/awdaflow/awdaflow/activities"
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

	// Just inserted rows are due at once, with no attempt yet: a claim
	// gets them, in the order they were stored, on their first attempt.
	items, err := s.ClaimPending(ctx(t), 10, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, it := range items {
		if it.Attempts != 1 {
			t.Errorf("row %d claimed on attempt %d, want 1", it.ID, it.Attempts)
		}
		got = append(got, it.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint([]int64{a, b, c, d}) {
		t.Fatalf("claimed %v, want %v in that order", got, []int64{a, b, c, d})
	}
	// Claimed: leased to this claimer.
	if items, err := s.ClaimPending(ctx(t), 10, time.Now()); err != nil || len(items) != 0 {
		t.Fatalf("claim during the lease: %d items, %v", len(items), err)
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
	items, err = s.ClaimPending(ctx(t), 10, retryAt)
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
	now := time.Now()

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

type inboxRow struct {
	id                        int64
	status, lastError, wfID   string
	attempts                  int
	receivedAt, nextAttemptAt time.Time
	deliveredAt               *time.Time
	loanNo, userID            string
}

func readInbox(t *testing.T, s *store.Store, source, eventID string) (inboxRow, bool) {
	t.Helper()
	var r inboxRow
	err := s.Pool().QueryRow(ctx(t), `SELECT id, status, last_error, coalesce(workflow_id, ''), attempts, received_at, next_attempt_at,
		delivered_at, coalesce(loan_no, ''), coalesce(user_id, '') FROM webhook_inbox WHERE source = $1 AND event_id = $2`, source, eventID).
		Scan(&r.id, &r.status, &r.lastError, &r.wfID, &r.attempts, &r.receivedAt, &r.nextAttemptAt, &r.deliveredAt, &r.loanNo, &r.userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

// A batch stores each new notification once, in (source, event ID) order,
// due at its receive time; a duplicate of a stored row, or of an earlier entry of
// the same batch, is reported and not stored again. An invalid entry fails
// the whole batch, which then stores nothing.
func TestInsertInboxBatch(t *testing.T) {
	s := newStore(t)
	if _, ins, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: store.SourceLoanStatus, EventID: "old", LoanNo: "L0", Payload: []byte("old")}); err != nil || !ins {
		t.Fatal(ins, err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	entries := []store.InboxEntry{
		{Source: store.SourceLoanStatus, EventID: "e1", LoanNo: "L1", UserID: "U1", Payload: []byte(`{"name":"AGUS PRATAMA"}`)},
		{Source: store.SourceLoanStatus, EventID: "old", LoanNo: "L0", Payload: []byte("old again")},
		{Source: store.SourceAuthorization, EventID: "e1", UserID: "U1", Payload: []byte("auth")}, // another source: another event
		{Source: store.SourceLoanStatus, EventID: "e1", LoanNo: "L1", Payload: []byte("e1 again")},
		{Source: store.SourceLoanStatus, EventID: "e2", LoanNo: "L2", Payload: []byte("e2")},
	}
	times := []time.Time{t0, t0.Add(time.Second), t0.Add(2 * time.Second), t0.Add(3 * time.Second), t0.Add(4 * time.Second)}
	res, err := s.InsertInboxBatch(ctx(t), entries, times)
	if err != nil {
		t.Fatal(err)
	}
	wantInserted := []bool{true, false, true, false, true}
	for i, r := range res {
		if r.Inserted != wantInserted[i] || (r.ID != 0) != r.Inserted {
			t.Errorf("entry %d (%s/%s): %+v, want inserted=%v", i, entries[i].Source, entries[i].EventID, r, wantInserted[i])
		}
	}
	// authorization/e1, loan_status/e1, loan_status/e2.
	if ids := []int64{res[2].ID, res[0].ID, res[4].ID}; !(ids[0] < ids[1] && ids[1] < ids[2]) {
		t.Errorf("IDs %v: want them in (source, event ID) order", ids)
	}
	e1, ok := readInbox(t, s, store.SourceLoanStatus, "e1")
	if !ok || e1.status != store.InboxPending || e1.attempts != 0 || !e1.receivedAt.Equal(t0) || !e1.nextAttemptAt.Equal(t0) ||
		e1.loanNo != "L1" || e1.userID != "U1" {
		t.Errorf("e1 row: %+v", e1)
	}
	if auth, _ := readInbox(t, s, store.SourceAuthorization, "e1"); auth.loanNo != "" || auth.userID != "U1" {
		t.Errorf("authorization row: %+v", auth)
	}
	var sealed []byte
	if err := s.Pool().QueryRow(ctx(t), `SELECT payload_sealed FROM webhook_inbox WHERE id = $1`, e1.id).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("AGUS")) {
		t.Error("payload stored in the clear")
	}
	// The first of the duplicates is the one stored, and claims open it.
	items, err := s.ClaimPending(ctx(t), 10, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	payloads := map[string]string{}
	for _, it := range items {
		payloads[it.Source+"/"+it.EventID] = string(it.Payload)
	}
	if want := map[string]string{"loan_status/e1": `{"name":"AGUS PRATAMA"}`, "authorization/e1": "auth", "loan_status/e2": "e2", "loan_status/old": "old"}; fmt.Sprint(payloads) != fmt.Sprint(want) {
		t.Errorf("claimed payloads %v, want %v", payloads, want)
	}

	for name, bad := range map[string][]store.InboxEntry{
		"unknown source": {{Source: store.SourceLoanStatus, EventID: "e3", Payload: []byte("x")}, {Source: "bogus", EventID: "e4"}},
		"no event ID":    {{Source: store.SourceLoanStatus, EventID: "e3", Payload: []byte("x")}, {Source: store.SourceLoanStatus}},
	} {
		if _, err := s.InsertInboxBatch(ctx(t), bad, []time.Time{t0, t0}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := s.InsertInboxBatch(ctx(t), entries[:1], nil); err == nil {
		t.Error("a batch without receive times: accepted")
	}
	if _, ok := readInbox(t, s, store.SourceLoanStatus, "e3"); ok {
		t.Error("a failed batch stored a row")
	}
}

// Batches that race with the same event IDs, each in another order, store
// each exactly once, and never deadlock.
func TestInsertInboxBatchConcurrentDuplicates(t *testing.T) {
	s := newStore(t)
	const rounds, writers, events = 3, 8, 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inserted = map[string]int{}
		start    = make(chan struct{})
		errs     = make(chan error, rounds*writers)
	)
	for w := 0; w < rounds*writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var entries []store.InboxEntry
			var times []time.Time
			for i := 0; i < events; i++ {
				ev := fmt.Sprintf("ev-%d-%d", w/writers, (i*(w%writers+1)+w)%events) // each writer in another order
				entries = append(entries, store.InboxEntry{Source: store.SourceLoanStatus, EventID: ev, Payload: []byte(ev)})
				times = append(times, time.Now())
			}
			<-start
			res, err := s.InsertInboxBatch(ctx(t), entries, times)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for i, r := range res {
				if r.Inserted {
					inserted[entries[i].EventID]++
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(inserted) != rounds*events {
		t.Errorf("%d events reported inserted, want %d", len(inserted), rounds*events)
	}
	for ev, n := range inserted {
		if n != 1 {
			t.Errorf("%s reported inserted %d times", ev, n)
		}
	}
	var rows int
	if err := s.Pool().QueryRow(ctx(t), `SELECT count(*) FROM webhook_inbox`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != rounds*events {
		t.Errorf("%d rows, want %d", rows, rounds*events)
	}
}

// One statement records a batch of outcomes: delivered (workflow and time),
// orphan and rejected (reason), a retry (reason, next attempt, and the
// workflow when known). A row that is no longer pending does not move.
func TestRecordInboxOutcomes(t *testing.T) {
	s := newStore(t)
	ids := map[string]int64{}
	for _, ev := range []string{"del", "orph", "rej", "retry", "retry-routed", "done"} {
		id, _, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: store.SourceLoanStatus, EventID: ev, Payload: []byte(ev)})
		if err != nil {
			t.Fatal(err)
		}
		ids[ev] = id
	}
	if err := s.MarkDelivered(ctx(t), ids["done"], "loan:first"); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	err := s.RecordInboxOutcomes(ctx(t), []store.InboxOutcome{
		{ID: ids["del"], Status: store.InboxDelivered, WorkflowID: "loan:del"},
		{ID: ids["orph"], Status: store.InboxOrphan, WorkflowID: "loan:closed", Reason: "workflow loan:closed is not open"},
		{ID: ids["rej"], Status: store.InboxRejected, Reason: "payload: not valid JSON"},
		{ID: ids["retry"], Status: store.InboxPending, Reason: "no application for this loan yet", NextAttemptAt: next},
		{ID: ids["retry-routed"], Status: store.InboxPending, WorkflowID: "loan:r", Reason: "signal: temporal unavailable", NextAttemptAt: next},
		{ID: ids["done"], Status: store.InboxPending, Reason: "late", NextAttemptAt: next},
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(ev, status, wf, lastErr string, nextAt time.Time, delivered bool) {
		t.Helper()
		r, _ := readInbox(t, s, store.SourceLoanStatus, ev)
		if r.status != status || r.wfID != wf || r.lastError != lastErr || (r.deliveredAt != nil) != delivered ||
			(!nextAt.IsZero() && !r.nextAttemptAt.Equal(nextAt)) {
			t.Errorf("%s: %+v; want %s %q %q next %v delivered %v", ev, r, status, wf, lastErr, nextAt, delivered)
		}
	}
	check("del", store.InboxDelivered, "loan:del", "", time.Time{}, true)
	check("orph", store.InboxOrphan, "loan:closed", "workflow loan:closed is not open", time.Time{}, false)
	check("rej", store.InboxRejected, "", "payload: not valid JSON", time.Time{}, false)
	check("retry", store.InboxPending, "", "no application for this loan yet", next, false)
	check("retry-routed", store.InboxPending, "loan:r", "signal: temporal unavailable", next, false)
	check("done", store.InboxDelivered, "loan:first", "", time.Time{}, true)

	// A claim hands a retry its known workflow.
	items, err := s.ClaimPending(ctx(t), 10, next)
	if err != nil {
		t.Fatal(err)
	}
	wfs := map[string]string{}
	for _, it := range items {
		wfs[it.EventID] = it.WorkflowID
	}
	if fmt.Sprint(wfs) != fmt.Sprint(map[string]string{"retry": "", "retry-routed": "loan:r"}) {
		t.Errorf("claimed %v", wfs)
	}

	if err := s.RecordInboxOutcomes(ctx(t), []store.InboxOutcome{{ID: ids["retry"], Status: "lost"}}); err == nil {
		t.Error("an unknown status was accepted")
	}
	if err := s.RecordInboxOutcomes(ctx(t), nil); err != nil {
		t.Errorf("no outcomes: %v", err)
	}
}

// Routing in bulk: by AWDA loan number, by order number, by AWDA user (the
// open application if there is one, else the newest); unknown keys are
// absent.
func TestRouteInbox(t *testing.T) {
	s := newStore(t)
	app := func(ref, user, loan, order string, terminal bool) {
		t.Helper()
		if err := s.UpsertApplication(ctx(t), activities.ApplicationProjection{ApplicantRef: ref, WorkflowID: "loan:" + ref, Seq: 1,
			AwdaUserID: user, AwdaLoanNo: loan, OrderNo: order, Terminal: terminal}); err != nil {
			t.Fatal(err)
		}
	}
	app("a", "U1", "L-A", "O-A", true)
	app("b", "U1", "", "O-B", false) // U1's open application, newer
	app("c", "U2", "L-C", "O-C", true)
	app("d", "U2", "L-D", "O-D", true) // U2's newest, both closed
	app("e", "U3", "L-E", "O-E", false)
	app("f", "U3", "L-F", "O-F", true) // newer, but closed: U3's is e

	r, err := s.RouteInbox(ctx(t), []string{"L-A", "L-D", "L-NONE"}, []string{"O-B", "O-NONE"}, []string{"U1", "U2", "U3", "U-NONE"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"L-A": "loan:a", "L-D": "loan:d"}; fmt.Sprint(r.ByLoanNo) != fmt.Sprint(want) {
		t.Errorf("by loan number %v, want %v", r.ByLoanNo, want)
	}
	if want := map[string]string{"O-B": "loan:b"}; fmt.Sprint(r.ByOrderNo) != fmt.Sprint(want) {
		t.Errorf("by order number %v, want %v", r.ByOrderNo, want)
	}
	if want := map[string]string{"U1": "loan:b", "U2": "loan:d", "U3": "loan:e"}; fmt.Sprint(r.ByUserID) != fmt.Sprint(want) {
		t.Errorf("by user %v, want %v", r.ByUserID, want)
	}
	// The single lookups agree.
	for user, want := range r.ByUserID {
		if got, err := s.WorkflowIDByUserID(ctx(t), user); err != nil || got != want {
			t.Errorf("WorkflowIDByUserID(%s) = %s %v, RouteInbox says %s", user, got, err, want)
		}
	}
	if r, err := s.RouteInbox(ctx(t), nil, nil, nil); err != nil || len(r.ByLoanNo)+len(r.ByOrderNo)+len(r.ByUserID) != 0 {
		t.Errorf("nothing asked: %+v %v", r, err)
	}
}

// The backlog: pending rows, those due, the oldest due and oldest pending.
func TestInboxBacklog(t *testing.T) {
	s := newStore(t)
	now := time.Now().Truncate(time.Microsecond)
	if b, err := s.InboxBacklog(ctx(t), now); err != nil || b != (store.InboxBacklog{}) {
		t.Fatalf("empty inbox: %+v %v", b, err)
	}
	entries := []store.InboxEntry{
		{Source: store.SourceLoanStatus, EventID: "a", Payload: []byte("a")},
		{Source: store.SourceLoanStatus, EventID: "b", Payload: []byte("b")},
		{Source: store.SourceLoanStatus, EventID: "c", Payload: []byte("c")},
		{Source: store.SourceLoanStatus, EventID: "d", Payload: []byte("d")},
	}
	times := []time.Time{now.Add(-time.Minute), now.Add(-30 * time.Second), now.Add(-10 * time.Second), now.Add(-5 * time.Second)}
	res, err := s.InsertInboxBatch(ctx(t), entries, times)
	if err != nil {
		t.Fatal(err)
	}
	// a waits for a retry, d is delivered: b and c are due, b the longest.
	if err := s.MarkFailed(ctx(t), res[0].ID, "temporal unavailable", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx(t), res[3].ID, "loan:d"); err != nil {
		t.Fatal(err)
	}
	b, err := s.InboxBacklog(ctx(t), now)
	if err != nil {
		t.Fatal(err)
	}
	if b.Pending != 3 || b.Due != 2 || !b.OldestDue.Equal(times[1]) || !b.OldestPending.Equal(times[0]) {
		t.Errorf("backlog %+v", b)
	}
}

// A claim names its replica and hands out its lease's end; the outcome of a
// claim that a later one overtook (its lease ran out, another replica
// claimed the row) is dropped, so that the stale claimer neither moves the
// current claimer's lease nor settles the row behind its back.
func TestClaimPendingByFencesStaleOutcomes(t *testing.T) {
	s := newStore(t)
	id, _, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: store.SourceLoanStatus, EventID: "fence", Payload: []byte("f")})
	if err != nil {
		t.Fatal(err)
	}
	claimedBy := func() string {
		t.Helper()
		var by string
		if err := s.Pool().QueryRow(ctx(t), `SELECT coalesce(claimed_by, '') FROM webhook_inbox WHERE id = $1`, id).Scan(&by); err != nil {
			t.Fatal(err)
		}
		return by
	}
	t0 := time.Now().Truncate(time.Microsecond)
	first, err := s.ClaimPendingBy(ctx(t), "host-a:8080", 10, t0)
	if err != nil || len(first) != 1 {
		t.Fatalf("first claim: %+v %v", first, err)
	}
	if !first[0].LeaseUntil.Equal(t0.Add(store.InboxLease)) || claimedBy() != "host-a:8080" {
		t.Fatalf("first claim: lease until %v, claimed by %q", first[0].LeaseUntil, claimedBy())
	}
	// A's lease runs out; B claims the row.
	second, err := s.ClaimPendingBy(ctx(t), "host-b:8080", 10, first[0].LeaseUntil)
	if err != nil || len(second) != 1 || second[0].Attempts != first[0].Attempts+1 {
		t.Fatalf("second claim: %+v %v", second, err)
	}
	if claimedBy() != "host-b:8080" {
		t.Fatalf("claimed by %q after B's claim", claimedBy())
	}
	// A reports late: a failure due at once, then even a delivery. Both are
	// dropped: the row stays B's, leased until B's lease ends.
	for _, st := range []string{store.InboxPending, store.InboxDelivered} {
		if err := s.RecordInboxOutcomes(ctx(t), []store.InboxOutcome{{ID: id, Status: st, Reason: "late", NextAttemptAt: t0,
			Attempt: first[0].Attempts}}); err != nil {
			t.Fatal(err)
		}
		r, _ := readInbox(t, s, store.SourceLoanStatus, "fence")
		if r.status != store.InboxPending || r.lastError != "" || !r.nextAttemptAt.Equal(second[0].LeaseUntil) {
			t.Fatalf("after A's stale %s: %+v, want pending under B's lease until %v", st, r, second[0].LeaseUntil)
		}
	}
	// B's own outcome is recorded, and the row keeps B's name.
	if err := s.RecordInboxOutcomes(ctx(t), []store.InboxOutcome{{ID: id, Status: store.InboxDelivered, WorkflowID: "loan:f",
		Attempt: second[0].Attempts}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := readInbox(t, s, store.SourceLoanStatus, "fence"); r.status != store.InboxDelivered || claimedBy() != "host-b:8080" {
		t.Fatalf("after B's delivery: %+v, claimed by %q", r, claimedBy())
	}
}
