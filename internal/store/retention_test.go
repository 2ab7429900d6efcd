//go:build integration

package store_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/store"
)

// retentionFixture fills a database with rows on both sides of the cutoff
// (now - 30 days) and says what each kind should delete and keep.
type retentionFixture struct {
	cutoff     time.Time
	closedDocs []string // documents of loans closed long ago
	unrefDocs  []string // old: loose, or of an applicant ref no application has
	keptDocs   []string // of an open loan, of a loan closed recently, bound by a create, young
	keptInbox  int      // pending, orphan, or delivered recently
	keptCalls  int      // called recently
	closedLong string   // applicant refs
}

func newRetentionFixture(t *testing.T, s *store.Store) *retentionFixture {
	t.Helper()
	now := time.Now()
	f := &retentionFixture{cutoff: now.Add(-30 * 24 * time.Hour), closedLong: "ret-closed-long"}
	old, young := now.Add(-60*24*time.Hour), now.Add(-time.Hour)
	apps := []struct {
		ref      string
		terminal bool
		at       time.Time
	}{{f.closedLong, true, old}, {"ret-open-old", false, old}, {"ret-closed-young", true, young}, {"ret-bound", false, young}}
	for _, a := range apps {
		if _, err := s.Pool().Exec(ctx(t), `
			INSERT INTO applications (applicant_ref, workflow_id, stage, terminal, created_at, updated_at)
			VALUES ($1, 'loan:' || $1, 'DONE', $2, $3, $3)`, a.ref, a.terminal, a.at); err != nil {
			t.Fatal(err)
		}
	}
	f.addDocuments(t, s, old, young)

	inbox := func(i int, status string, deliveredAt time.Time) {
		id, _, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: store.SourceLoanStatus,
			EventID: fmt.Sprintf("ev-%s-%d", status, i), LoanNo: "L1", Payload: []byte(`{"name":"SITI RAHAYU"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx(t), `UPDATE webhook_inbox SET status = $2, delivered_at = $3, received_at = $3
			WHERE id = $1`, id, status, deliveredAt); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 {
		inbox(i, "delivered", old)
	}
	inbox(100, "delivered", young)
	inbox(101, "orphan", old)
	inbox(102, "rejected", old)
	f.keptInbox = 3
	call := func(at time.Time) {
		if err := s.RecordCall(ctx(t), store.CallRecord{Endpoint: "/x", Outcome: "ok", HTTPStatus: 200,
			Nonce: "n", CalledAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		call(old)
	}
	call(young)
	call(f.cutoff.Add(time.Minute))
	f.keptCalls = 2
	return f
}

// addDocuments uploads the fixture's documents: old ones (60 days) and
// young ones (an hour).
func (f *retentionFixture) addDocuments(t *testing.T, s *store.Store, old, young time.Time) {
	t.Helper()
	put := func(ref string, created time.Time) string {
		id, err := s.PutDocument(ctx(t), store.DocumentInput{ApplicantRef: ref, ImageType: "ID_CARD",
			ContentType: "image/jpeg", FileName: "ktp-siti.jpg", Bytes: []byte("KTP 3174012345678901 " + ref)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx(t), `UPDATE documents SET created_at = $2 WHERE id = $1`, id, created); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for range 5 {
		f.closedDocs = append(f.closedDocs, put(f.closedLong, old))
	}
	// Uploaded loose long ago, then referenced by the create of ret-bound,
	// which bound it: the application's now.
	bound := put("", old)
	if n, err := s.BindDocuments(ctx(t), "ret-bound", []string{bound}); err != nil || n != 1 {
		t.Fatalf("bind: %d, %v", n, err)
	}
	f.unrefDocs = []string{put("", old), put("", old), put("ret-never-created", old)}
	f.keptDocs = []string{put("ret-open-old", old), put("ret-closed-young", old), bound,
		put(f.closedLong, young), // uploaded after the close: young itself
		put("", young), put("ret-never-created", young)}
}

// drain deletes kind in batches of batch until a batch comes back short,
// and returns each batch's count.
func drain(t *testing.T, s *store.Store, kind string, cutoff time.Time, batch int) []int64 {
	t.Helper()
	var got []int64
	for {
		n, err := s.DeleteExpired(ctx(t), kind, cutoff, batch)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n < int64(batch) || len(got) > 100 {
			return got
		}
	}
}

func count(t *testing.T, s *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(ctx(t), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeleteExpiredInBatches(t *testing.T) {
	s := newStore(t)
	f := newRetentionFixture(t, s)

	// Unreferenced documents first: a closed loan's documents are not
	// theirs to delete, however old.
	if got := fmt.Sprint(drain(t, s, store.RetentionUnreferencedDocuments, f.cutoff, 2)); got != "[2 1]" {
		t.Errorf("unreferenced documents batches = %s, want [2 1]", got)
	}
	assertDocuments(t, s, f.unrefDocs, slices.Concat(f.closedDocs, f.keptDocs))

	if got := fmt.Sprint(drain(t, s, store.RetentionDocuments, f.cutoff, 2)); got != "[2 2 1]" {
		t.Errorf("documents batches = %s, want [2 2 1]", got)
	}
	assertDocuments(t, s, slices.Concat(f.unrefDocs, f.closedDocs), f.keptDocs)

	if got := fmt.Sprint(drain(t, s, store.RetentionInbox, f.cutoff, 3)); got != "[3 3 1]" {
		t.Errorf("inbox batches = %s, want [3 3 1]", got)
	}
	if n := count(t, s, `SELECT count(*) FROM webhook_inbox`); n != f.keptInbox {
		t.Errorf("%d inbox rows left, want %d (pending/orphan/rejected and the young delivered one)", n, f.keptInbox)
	}
	if n := count(t, s, `SELECT count(*) FROM webhook_inbox WHERE status = 'delivered' AND delivered_at < $1`, f.cutoff); n != 0 {
		t.Errorf("%d old delivered inbox rows left", n)
	}

	if got := fmt.Sprint(drain(t, s, store.RetentionAWDACalls, f.cutoff, 4)); got != "[4 0]" {
		t.Errorf("awda_calls batches = %s, want [4 0]", got)
	}
	if n := count(t, s, `SELECT count(*) FROM awda_calls`); n != f.keptCalls {
		t.Errorf("%d awda_calls rows left, want %d", n, f.keptCalls)
	}

	// The application rows themselves (the loan's non-personal record) stay.
	if n := count(t, s, `SELECT count(*) FROM applications`); n != 4 {
		t.Errorf("%d applications left, want 4", n)
	}
	// A second sweep finds nothing: deleting is idempotent.
	for _, k := range store.RetentionKinds {
		if n, err := s.DeleteExpired(ctx(t), k, f.cutoff, 10); err != nil || n != 0 {
			t.Errorf("second sweep of %s: %d, %v", k, n, err)
		}
	}
}

// assertDocuments checks that the documents gone are deleted and those kept
// still open.
func assertDocuments(t *testing.T, s *store.Store, gone, kept []string) {
	t.Helper()
	if n := count(t, s, `SELECT count(*) FROM documents WHERE id = ANY($1)`, gone); n != 0 {
		t.Errorf("%d of the %d documents to delete survived", n, len(gone))
	}
	for _, id := range kept {
		if _, err := s.GetDocument(ctx(t), id); err != nil {
			t.Errorf("kept document %s: %v", id, err)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM documents`); n != len(kept) {
		t.Errorf("%d documents left, want the %d kept", n, len(kept))
	}
}

// A create binding a loose document while the sweep runs: the sweep skips
// the row the bind holds rather than waiting, and once the bind commits the
// document is the application's and no later sweep deletes it. A document
// uploaded with an applicant ref is safe from the moment its application
// exists, however old.
func TestDeleteUnreferencedDocumentsSparesABindInFlight(t *testing.T) {
	s := newStore(t)
	old := time.Now().Add(-30 * 24 * time.Hour)
	put := func(ref string) string {
		id, err := s.PutDocument(ctx(t), store.DocumentInput{ApplicantRef: ref, ContentType: "image/jpeg",
			Bytes: []byte("selfie " + ref)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx(t), `UPDATE documents SET created_at = $2 WHERE id = $1`, id, old); err != nil {
			t.Fatal(err)
		}
		return id
	}
	loose, early := put(""), put("ret-late-app")
	for _, ref := range []string{"ret-binding", "ret-late-app"} {
		if _, _, err := s.CreateApplication(ctx(t), ref, "loan:"+ref, "hash-"+ref, 1_000_000, 30, "DAY"); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := s.Pool().Begin(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx(t)) }()
	if _, err := tx.Exec(ctx(t), `UPDATE documents SET applicant_ref = 'ret-binding' WHERE id = $1`, loose); err != nil {
		t.Fatal(err)
	}
	cutoff := time.Now().Add(-7 * 24 * time.Hour)
	if n, err := s.DeleteExpired(ctx(t), store.RetentionUnreferencedDocuments, cutoff, 10); err != nil || n != 0 {
		t.Errorf("sweep during the bind: %d, %v; want 0", n, err)
	}
	if err := tx.Commit(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpired(ctx(t), store.RetentionUnreferencedDocuments, cutoff, 10); err != nil || n != 0 {
		t.Errorf("sweep after the bind: %d, %v; want 0", n, err)
	}
	assertDocuments(t, s, nil, []string{loose, early})
}

func TestDeleteExpiredRefusesBadInput(t *testing.T) {
	s := newStore(t)
	if _, err := s.DeleteExpired(ctx(t), "applications", time.Now(), 10); !errors.Is(err, store.ErrUnknownRetentionKind) {
		t.Errorf("unknown kind: %v, want ErrUnknownRetentionKind", err)
	}
	if _, err := s.DeleteExpired(ctx(t), store.RetentionInbox, time.Now(), 0); err == nil {
		t.Error("batch size 0 accepted")
	}
}

// The record of the last sweep of a kind keeps the latest one: a report
// older than the stored one (a retried activity that lost a race) does not
// move it back. Unknown kinds are refused.
func TestRecordRetentionSweep(t *testing.T) {
	s := newStore(t)
	at := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	if err := s.RecordRetentionSweep(ctx(t), store.RetentionInbox, at, 7, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRetentionSweep(ctx(t), store.RetentionInbox, at.Add(-time.Hour), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRetentionSweep(ctx(t), store.RetentionDocuments, at.Add(time.Hour), 0, time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastRetentionSweeps(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]store.RetentionSweep{
		{Kind: store.RetentionDocuments, At: at.Add(time.Hour), Deleted: 0, Took: time.Second},
		{Kind: store.RetentionInbox, At: at, Deleted: 7, Took: 3 * time.Second},
	})
	for i := range got {
		got[i].At = got[i].At.UTC()
	}
	if fmt.Sprint(got) != want {
		t.Errorf("last sweeps %v, want %v", got, want)
	}
	if err := s.RecordRetentionSweep(ctx(t), "applications", at, 1, time.Second); !errors.Is(err, store.ErrUnknownRetentionKind) {
		t.Errorf("unknown kind: %v", err)
	}
}
