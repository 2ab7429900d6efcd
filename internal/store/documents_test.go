//go:build integration

package store_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/internal/store"
)

func docInput(name string, b []byte) store.DocumentInput {
	return store.DocumentInput{ContentType: "image/png", FileName: name, Bytes: b}
}

func TestDocumentsRoundTripSealed(t *testing.T) {
	s := newStore(t)
	secret := []byte("KTP NIK 3174012345678901 SITI RAHAYU lahir 1990-01-02 " + string(bytes.Repeat([]byte{0xff, 0xd8}, 500)))
	const fileName = "siti-rahayu-ktp.jpg"

	id, err := s.PutDocument(ctx(t), store.DocumentInput{
		ApplicantRef: "app-1", ImageType: "ID_CARD", ContentType: "image/jpeg", FileName: fileName, Bytes: secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := s.GetDocument(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if doc.ID != id || doc.ContentType != "image/jpeg" || doc.FileName != fileName || !bytes.Equal(doc.Bytes, secret) {
		t.Fatalf("round trip: got %q %q %q (%d bytes)", doc.ID, doc.ContentType, doc.FileName, len(doc.Bytes))
	}

	// At rest, neither the image nor the file name is readable.
	var sealed, sealedName []byte
	var size int
	if err := s.Pool().QueryRow(ctx(t), `SELECT sealed, file_name_sealed, size FROM documents WHERE id = $1`, id).
		Scan(&sealed, &sealedName, &size); err != nil {
		t.Fatal(err)
	}
	if size != len(secret) {
		t.Errorf("size = %d, want %d", size, len(secret))
	}
	for _, needle := range []string{"3174012345678901", "SITI RAHAYU", "siti-rahayu"} {
		if bytes.Contains(sealed, []byte(needle)) || bytes.Contains(sealedName, []byte(needle)) {
			t.Errorf("plaintext %q found in the documents table", needle)
		}
	}
	var rowText string
	if err := s.Pool().QueryRow(ctx(t), `SELECT d::text FROM documents d WHERE id = $1`, id).Scan(&rowText); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains([]byte(rowText), []byte("SITI")) || bytes.Contains([]byte(rowText), []byte("siti")) {
		t.Errorf("plaintext found in the row's text form")
	}
}

func TestDocumentNotFound(t *testing.T) {
	s := newStore(t)
	for _, id := range []string{"1b4e28ba-2fa1-11d2-883f-0016d3cca427", "not-a-uuid", ""} {
		if _, err := s.GetDocument(ctx(t), id); !errors.Is(err, activities.ErrDocumentNotFound) {
			t.Errorf("GetDocument(%q) = %v, want ErrDocumentNotFound", id, err)
		}
	}
}

// The sealed bytes are bound to their row: moved to another row, they do not
// open.
func TestDocumentSealedBoundToID(t *testing.T) {
	s := newStore(t)
	a, err := s.PutDocument(ctx(t), docInput("a.jpg", []byte("first")))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.PutDocument(ctx(t), docInput("b.jpg", []byte("second")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx(t),
		`UPDATE documents SET sealed = (SELECT sealed FROM documents WHERE id = $1), sha256 = (SELECT sha256 FROM documents WHERE id = $1) WHERE id = $2`,
		a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDocument(ctx(t), b); err == nil || errors.Is(err, activities.ErrDocumentNotFound) {
		t.Fatalf("GetDocument with another row's ciphertext = %v, want an open error", err)
	}
	if _, err := s.GetDocument(ctx(t), a); err != nil {
		t.Fatalf("untouched document: %v", err)
	}
}
