//go:build integration

package store_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

func ringEntry(t *testing.T, id string) string {
	t.Helper()
	k := make([]byte, codec.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return id + "=" + base64.StdEncoding.EncodeToString(k)
}

func ring(t *testing.T, spec string) *codec.KeyRing {
	t.Helper()
	r, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// keyedStore is a store over a migrated database of its own with data keys
// under ring; another keyedStore over the same pool is another process.
func keyedStore(t *testing.T, s *store.Store, r *codec.KeyRing) (*store.Store, *codec.DataKeys) {
	t.Helper()
	ks := store.New(s.Pool(), r)
	keys := codec.NewDataKeys(r, ks, codec.DataKeysOptions{CacheTTL: time.Minute})
	ks.UseDataKeys(keys)
	return ks, keys
}

func newPlainStore(t *testing.T) *store.Store {
	t.Helper()
	pool, url := testenv.NewDatabase(t)
	if err := store.Migrate(ctx(t), url); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return store.New(pool, nil)
}

func TestDataKeyGetOrCreateIsRaceSafe(t *testing.T) {
	base := newPlainStore(t)
	r := ring(t, ringEntry(t, "k1"))
	const racers = 8
	ids := make([]string, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range ids {
		_, keys := keyedStore(t, base, r) // a cache each, as separate processes
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			id, err := keys.ForApplicant(ctx(t), "app-race")
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	close(start)
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || !codec.IsDataKeyID(id) {
			t.Fatalf("racing creators got %v", ids)
		}
	}
	var n int
	if err := base.Pool().QueryRow(ctx(t), `SELECT count(*) FROM data_keys WHERE applicant_ref = 'app-race'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d data keys stored (%v), want 1", n, err)
	}
}

func TestEraseApplicant(t *testing.T) {
	base := newPlainStore(t)
	r := ring(t, ringEntry(t, "k1"))
	s, keys := keyedStore(t, base, r)
	const ref, wf = "app-erase", "loan:app-erase"
	secret := []byte("KTP 3174012345678901 SITI RAHAYU")
	if _, _, err := s.CreateApplication(ctx(t), ref, wf, "hash-1", 5_000_000, 3, "MONTH"); err != nil {
		t.Fatal(err)
	}
	owned, err := s.PutDocument(ctx(t), store.DocumentInput{ApplicantRef: ref, ImageType: "KTP", ContentType: "image/jpeg", FileName: "siti.jpg", Bytes: secret})
	if err != nil {
		t.Fatal(err)
	}
	loose, err := s.PutDocument(ctx(t), store.DocumentInput{ImageType: "SELFIE", ContentType: "image/jpeg", FileName: "selfie.jpg", Bytes: secret})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.PutDocument(ctx(t), store.DocumentInput{ApplicantRef: "app-other", ImageType: "KTP", ContentType: "image/jpeg", Bytes: secret})
	if err != nil {
		t.Fatal(err)
	}
	// At create, the loose document is bound to the applicant and re-sealed
	// under their key; another applicant's is left alone.
	if n, err := s.BindDocuments(ctx(t), ref, []string{loose, other}); err != nil || n != 1 {
		t.Fatalf("bind = %d, %v", n, err)
	}
	keyID, _ := keys.ForApplicant(ctx(t), ref)
	for _, id := range []string{owned, loose} {
		var sealed []byte
		if err := s.Pool().QueryRow(ctx(t), `SELECT sealed FROM documents WHERE id = $1`, id).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if got, _ := codec.SealedKeyID(sealed); got != keyID {
			t.Fatalf("document %s sealed under %q, want the applicant's %s", id, got, keyID)
		}
	}
	inboxID, _, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: store.SourceLoanStatus, EventID: "ev-1", LoanNo: "L-1", Payload: []byte(`{"x":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx(t), inboxID, wf); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimActionKey(ctx(t), wf, "submit-bank-card", "k-1", []byte("h")); err != nil {
		t.Fatal(err)
	}
	// A notification naming the loan that found no application: orphaned.
	if _, err := s.Pool().Exec(ctx(t), `UPDATE applications SET awda_loan_no = 'L-1' WHERE applicant_ref = $1`, ref); err != nil {
		t.Fatal(err)
	}
	orphanID, _, err := s.InsertInbox(ctx(t), store.InboxEntry{Source: store.SourceLoanStatus, EventID: "ev-2", LoanNo: "L-1", Payload: []byte(`{"x":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkOrphan(ctx(t), orphanID, "no application"); err != nil {
		t.Fatal(err)
	}

	req := store.ErasureRequest{ApplicantRef: ref, Operator: "ops-ana", Reason: "borrower request UU 27/2022", Forced: false}
	e, created, err := s.EraseApplicant(ctx(t), req)
	if err != nil || !created {
		t.Fatalf("erase = %v, created %v", err, created)
	}
	if e.DataKeyID != keyID || e.DocumentsDeleted != 2 || e.InboxRowsErased != 2 || e.ActionKeysDeleted != 1 || e.WorkflowID != wf {
		t.Fatalf("erasure %+v", e)
	}
	keys.Forget(ref)

	// The key is gone; no new key is ever made for the applicant.
	if _, err := keys.ForApplicant(ctx(t), ref); !errors.Is(err, codec.ErrErased) {
		t.Fatalf("key after erasure: %v", err)
	}
	var sealedKey []byte
	var erasedAt *time.Time
	if err := s.Pool().QueryRow(ctx(t), `SELECT sealed, erased_at FROM data_keys WHERE applicant_ref = $1`, ref).Scan(&sealedKey, &erasedAt); err != nil || sealedKey != nil || erasedAt == nil {
		t.Fatalf("data key row: sealed %d bytes, erased_at %v (%v)", len(sealedKey), erasedAt, err)
	}
	for _, id := range []string{owned, loose} {
		if _, err := s.GetDocument(ctx(t), id); !errors.Is(err, activities.ErrDocumentNotFound) {
			t.Fatalf("document %s after erasure: %v", id, err)
		}
	}
	if doc, err := s.GetDocument(ctx(t), other); err != nil || !bytes.Equal(doc.Bytes, secret) {
		t.Fatalf("other applicant's document: %v", err)
	}
	var payload []byte
	if err := s.Pool().QueryRow(ctx(t), `SELECT payload_sealed FROM webhook_inbox WHERE id = $1`, inboxID).Scan(&payload); err != nil || len(payload) != 0 {
		t.Fatalf("inbox payload after erasure: %d bytes (%v)", len(payload), err)
	}
	if row, p, err := s.InboxRowByID(ctx(t), orphanID); !errors.Is(err, store.ErrInboxPayloadErased) || p != nil || row.Status != store.InboxRejected {
		t.Fatalf("inspect an erased row = %+v, %d bytes, %v", row, len(p), err)
	}
	// The orphan, its payload erased, is rejected and cannot be sent again.
	red, err := s.Redeliver(ctx(t), []int64{orphanID}, "ops-ana", "after the fix")
	if err != nil || len(red) != 1 || red[0].Redelivered || red[0].FromStatus != store.InboxRejected {
		t.Fatalf("redeliver an erased orphan = %+v, %v; want refused", red, err)
	}
	app, err := s.GetApplication(ctx(t), ref)
	if err != nil || app.Amount != 5_000_000 || app.WorkflowID != wf {
		t.Fatalf("application after erasure: %+v, %v", app, err)
	}
	// A create for the ref again is a conflict, never a new claim.
	if created, existing, err := s.CreateApplication(ctx(t), ref, wf, "hash-1", 1, 1, "MONTH"); err != nil || created || existing != store.ErasedRequestHash {
		t.Fatalf("create after erasure: created %v existing %q (%v)", created, existing, err)
	}

	// Idempotent: a repeat answers the first erasure.
	again, created, err := s.EraseApplicant(ctx(t), store.ErasureRequest{ApplicantRef: ref, Operator: "someone-else", Reason: "again", Forced: true})
	if err != nil || created || again.Operator != "ops-ana" || !again.ErasedAt.Equal(e.ErasedAt) {
		t.Fatalf("repeat = %+v, created %v, %v", again, created, err)
	}
	if got, err := s.GetErasure(ctx(t), ref); err != nil || got.Reason != req.Reason {
		t.Fatalf("GetErasure = %+v, %v", got, err)
	}
	if _, _, err := s.EraseApplicant(ctx(t), store.ErasureRequest{ApplicantRef: "nobody", Operator: "o", Reason: "r"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown applicant: %v", err)
	}
}

func TestEraseApplicantWithoutKeyLeavesTombstone(t *testing.T) {
	base := newPlainStore(t)
	r := ring(t, ringEntry(t, "k1"))
	s, keys := keyedStore(t, base, r)
	if _, _, err := s.CreateApplication(ctx(t), "app-nokey", "loan:app-nokey", "h", 1, 1, "MONTH"); err != nil {
		t.Fatal(err)
	}
	e, _, err := s.EraseApplicant(ctx(t), store.ErasureRequest{ApplicantRef: "app-nokey", Operator: "o", Reason: "r"})
	if err != nil || !codec.IsDataKeyID(e.DataKeyID) {
		t.Fatalf("erase = %+v, %v", e, err)
	}
	if _, err := keys.ForApplicant(ctx(t), "app-nokey"); !errors.Is(err, codec.ErrErased) {
		t.Fatalf("a key was made after erasure: %v", err)
	}
}

func TestResealDataKeysAfterRingRotation(t *testing.T) {
	base := newPlainStore(t)
	old, next := ringEntry(t, "k1"), ringEntry(t, "k2")
	s1, _ := keyedStore(t, base, ring(t, old))
	secret := []byte("NIK 3174012345678901")
	var docs []string
	for _, ref := range []string{"a", "b", "c", "d", "e"} {
		id, err := s1.PutDocument(ctx(t), store.DocumentInput{ApplicantRef: ref, ContentType: "image/png", Bytes: secret})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, id)
	}
	s2, keys2 := keyedStore(t, base, ring(t, old+","+next))
	n, err := s2.ResealDataKeys(ctx(t), "k2", 2, keys2.Reseal)
	if err != nil || n != 5 {
		t.Fatalf("reseal = %d, %v", n, err)
	}
	if by, err := s2.DataKeysByRingKey(ctx(t)); err != nil || by["k2"] != 5 || by["k1"] != 0 {
		t.Fatalf("by ring key = %v, %v", by, err)
	}
	if n, err := s2.ResealDataKeys(ctx(t), "k2", 2, keys2.Reseal); err != nil || n != 0 {
		t.Fatalf("second reseal = %d, %v (want nothing left)", n, err)
	}
	// k1 dropped from the ring: every document still opens.
	s3, _ := keyedStore(t, base, ring(t, next))
	for _, id := range docs {
		doc, err := s3.GetDocument(ctx(t), id)
		if err != nil || !bytes.Equal(doc.Bytes, secret) {
			t.Fatalf("document %s after dropping k1: %v", id, err)
		}
	}
}
