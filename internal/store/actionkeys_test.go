//go:build integration

package store_test

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"testing"
)

func TestClaimActionKey(t *testing.T) {
	s := newStore(t)
	a, b := sha256.Sum256([]byte("card A")), sha256.Sum256([]byte("card B"))
	claim := func(wf, route, key string, h [32]byte) bool {
		t.Helper()
		same, err := s.ClaimActionKey(ctx(t), wf, route, key, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return same
	}
	if !claim("loan:r1", "bank-card", "k1", a) {
		t.Fatal("first use refused")
	}
	if !claim("loan:r1", "bank-card", "k1", a) {
		t.Fatal("the same request again refused")
	}
	if claim("loan:r1", "bank-card", "k1", b) {
		t.Fatal("the same key with another body accepted")
	}
	// Keys are per application and per route.
	if !claim("loan:r2", "bank-card", "k1", b) || !claim("loan:r1", "signature", "k1", b) {
		t.Fatal("a key of another application or route conflicted")
	}

	// Released (nothing was recorded under it): the key is free for a
	// corrected request; a release for another body leaves it alone.
	if err := s.ReleaseActionKey(ctx(t), "loan:r2", "bank-card", "k1", a[:]); err != nil {
		t.Fatal(err)
	}
	if claim("loan:r2", "bank-card", "k1", a) {
		t.Fatal("released for another body")
	}
	if err := s.ReleaseActionKey(ctx(t), "loan:r2", "bank-card", "k1", b[:]); err != nil {
		t.Fatal(err)
	}
	if !claim("loan:r2", "bank-card", "k1", a) {
		t.Fatal("a released key is still bound to its first body")
	}
	if err := s.ReleaseActionKey(ctx(t), "loan:none", "bank-card", "k1", a[:]); err != nil {
		t.Fatalf("release of an unknown key: %v", err)
	}

	// The hash is not stored in clear.
	var stored []byte
	if err := s.Pool().QueryRow(ctx(t), `SELECT request_hash_sealed FROM action_keys WHERE workflow_id = 'loan:r1' AND route = 'bank-card'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, a[:]) {
		t.Fatal("the request hash is stored in clear")
	}
	// A sealed hash copied to another row does not open there.
	if _, err := s.Pool().Exec(ctx(t), `INSERT INTO action_keys (workflow_id, route, idem_key, request_hash_sealed) VALUES ('loan:r3', 'bank-card', 'k1', $1)`, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimActionKey(ctx(t), "loan:r3", "bank-card", "k1", a[:]); err == nil {
		t.Fatal("a hash moved to another row opened")
	}

	// Concurrent first uses with different bodies: exactly one wins.
	var wg sync.WaitGroup
	results := make([]bool, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := a
			if i%2 == 1 {
				h = b
			}
			same, err := s.ClaimActionKey(ctx(t), "loan:race", "signature", "k", h[:])
			if err != nil {
				t.Error(err)
			}
			results[i] = same
		}()
	}
	wg.Wait()
	won := map[bool]int{}
	for i, ok := range results {
		if ok {
			won[i%2 == 1]++
		}
	}
	if len(won) != 1 || (won[false] != 4 && won[true] != 4) {
		t.Fatalf("concurrent claims: %v (results %v)", won, results)
	}
}
