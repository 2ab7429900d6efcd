package codec_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/internal/codec"
)

const pii = "NIK 3174012345678901 Siti Rahayu +6281234567890 rek 1234567890"

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	for _, pt := range [][]byte{nil, {}, []byte(pii), bytes.Repeat([]byte{0xAB}, 1<<16)} {
		sealed, err := k.Seal(pt, []byte("documents/doc-1"))
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 0 && bytes.Contains(sealed, pt[:min(len(pt), 16)]) {
			t.Fatal("sealed blob contains plaintext")
		}
		got, err := k.Open(sealed, []byte("documents/doc-1"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("round trip changed %d bytes into %d bytes", len(pt), len(got))
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	a, _ := k.Seal([]byte(pii), nil)
	b, _ := k.Seal([]byte(pii), nil)
	if bytes.Equal(a, b) {
		t.Fatal("sealing twice gave the same blob (nonce reuse)")
	}
}

func TestSealBlobIsSelfDescribing(t *testing.T) {
	k := mustRing(t, genEntry(t, "old"), genEntry(t, "key-2026"))
	sealed, err := k.Seal([]byte(pii), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != 1 || int(sealed[1]) != len("key-2026") || string(sealed[2:2+len("key-2026")]) != "key-2026" {
		t.Fatalf("header = % x, want version 1 and key ID key-2026", sealed[:12])
	}
}

func TestOpenWrongAAD(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	sealed, _ := k.Seal([]byte(pii), []byte("documents/doc-1"))
	for _, aad := range [][]byte{nil, []byte("documents/doc-2"), []byte("webhook_inbox/doc-1")} {
		_, err := k.Open(sealed, aad)
		if !errors.Is(err, codec.ErrDecrypt) {
			t.Fatalf("Open with aad %q: err = %v, want ErrDecrypt", aad, err)
		}
		if strings.Contains(err.Error(), "3174012345678901") {
			t.Fatal("error contains plaintext")
		}
	}
}

func TestOpenTampered(t *testing.T) {
	k := mustRing(t, genEntry(t, "k1"))
	aad := []byte("row-7")
	sealed, _ := k.Seal([]byte(pii), aad)
	// Flip one bit at every position: header, nonce, ciphertext and tag.
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := k.Open(bad, aad); err == nil {
			t.Fatalf("Open accepted a blob with byte %d flipped", i)
		}
	}
	if _, err := k.Open(sealed[:len(sealed)-1], aad); !errors.Is(err, codec.ErrDecrypt) {
		t.Fatalf("truncated tag: err = %v, want ErrDecrypt", err)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 2, 'k', '1'}, {1, 0}, {1, 5, 'k'}, {1, 2, 'k', '1', 0, 0}} {
		if _, err := k.Open(bad, aad); !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("Open(% x): err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestSealKeyRotation(t *testing.T) {
	oldEntry, newEntry := genEntry(t, "k2025"), genEntry(t, "k2026")
	before := mustRing(t, oldEntry)
	sealedOld, err := before.Seal([]byte(pii), []byte("doc-1"))
	if err != nil {
		t.Fatal(err)
	}

	after := mustRing(t, oldEntry, newEntry)
	got, err := after.Open(sealedOld, []byte("doc-1"))
	if err != nil || string(got) != pii {
		t.Fatalf("old blob after rotation: %q, %v", got, err)
	}
	sealedNew, _ := after.Seal([]byte(pii), []byte("doc-2"))
	if id := string(sealedNew[2 : 2+sealedNew[1]]); id != "k2026" {
		t.Fatalf("new blob under key %q, want k2026", id)
	}
	if _, err := before.Open(sealedNew, []byte("doc-2")); !errors.Is(err, codec.ErrUnknownKey) {
		t.Fatalf("old ring on new blob: err = %v, want ErrUnknownKey", err)
	}

	retired := mustRing(t, newEntry)
	_, err = retired.Open(sealedOld, []byte("doc-1"))
	if !errors.Is(err, codec.ErrUnknownKey) || !strings.Contains(err.Error(), `"k2025"`) {
		t.Fatalf("ring without old key: err = %v, want ErrUnknownKey naming k2025", err)
	}

	// Same ID, different key material: authentication fails, not garbage.
	impostor := mustRing(t, genEntry(t, "k2025"))
	if _, err := impostor.Open(sealedOld, []byte("doc-1")); !errors.Is(err, codec.ErrDecrypt) {
		t.Fatalf("same ID, other key: err = %v, want ErrDecrypt", err)
	}
}
