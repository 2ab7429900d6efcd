//go:build integration

package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/workflows"
)

// A create whose documents the unreferenced_documents retention sweep
// deletes after the create checked them (they were uploaded more than
// RETENTION_UNREFERENCED_DOCUMENTS_DAYS ago and never bound) answers the
// 422 of an unknown document, starts nothing and keeps no claim: sent again
// with the documents uploaded anew it is accepted, and the sweep never
// deletes the application's documents, however old.
func TestCreateAfterTheSweepDeletedItsDocuments(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	ref := "swept-" + time.Now().Format("150405.000000")
	wfID := workflows.LoanWorkflowID(ref)
	t.Cleanup(func() { _ = s.temporal.TerminateWorkflow(context.Background(), wfID, "", "test over") })
	age := func(app ApplicationRequest) {
		if _, err := s.pool.Exec(ctx, `UPDATE documents SET created_at = now() - interval '30 days' WHERE id = ANY($1::uuid[])`,
			documentIDs(app.Documents)); err != nil {
			t.Fatal(err)
		}
	}
	app := s.application(ref, 41)
	age(app)

	// Another transaction holds the applicant ref, so the create waits in
	// CreateApplication, after its check of the documents.
	hold, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hold.Rollback(ctx) }()
	if _, err := hold.Exec(ctx, `INSERT INTO applications (applicant_ref, workflow_id) VALUES ($1, $2)`, ref, wfID); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		code int
		body []byte
		err  error
	}
	done := make(chan answer, 1)
	body := mustJSON(t, app)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/applications", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		done <- answer{res.StatusCode, b, err}
	}()
	waitLockWait(t, s, "INSERT INTO applications")

	cutoff := time.Now().Add(-7 * 24 * time.Hour)
	if n, err := s.store.DeleteExpired(ctx, store.RetentionUnreferencedDocuments, cutoff, 100); err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v; want the create's 2 documents", n, err)
	}
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.code != http.StatusUnprocessableEntity {
		t.Fatalf("create after the sweep: %d %s; want 422", a.code, a.body)
	}
	got := fields(problemOf(t, a.body))
	if !strings.Contains(got["documents[0].documentId"], "no such document") || !strings.Contains(got["documents[1].documentId"], "no such document") {
		t.Fatalf("create after the sweep: %v", got)
	}
	if _, err := s.store.GetApplication(ctx, ref); err != store.ErrNotFound {
		t.Fatalf("the refused create kept its claim: %v", err)
	}
	if _, err := s.temporal.DescribeWorkflow(ctx, wfID, ""); err == nil {
		t.Fatal("the refused create started the workflow")
	}

	// Sent again with new uploads: accepted, and its documents stay.
	again := s.application(ref, 41)
	if code, _, body := s.create(again); code != http.StatusAccepted {
		t.Fatalf("create again: %d %s", code, body)
	}
	age(again)
	if n, err := s.store.DeleteExpired(ctx, store.RetentionUnreferencedDocuments, cutoff, 100); err != nil || n != 0 {
		t.Fatalf("sweep after the create: %d, %v; want 0", n, err)
	}
	for _, id := range documentIDs(again.Documents) {
		if _, err := s.store.GetDocument(ctx, id); err != nil {
			t.Errorf("the application's document %s: %v", id, err)
		}
	}
}

// waitLockWait waits until a backend running a statement that contains
// query waits for a lock.
func waitLockWait(t *testing.T, s *stack, query string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0`, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no statement %q waits for a lock", query)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
