//go:build integration

package store_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m)) }

// gcmSealer is a minimal store.Sealer for tests: AES-256-GCM, random nonce
// prepended. Production uses codec.KeyRing.
type gcmSealer struct{ aead cipher.AEAD }

func newSealer(t *testing.T) *gcmSealer {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &gcmSealer{aead: aead}
}

func (g *gcmSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, g.aead.NonceSize(), g.aead.NonceSize()+len(plaintext)+g.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.aead.Seal(nonce, nonce, plaintext, aad), nil
}

func (g *gcmSealer) Open(sealed, aad []byte) ([]byte, error) {
	n := g.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	return g.aead.Open(nil, sealed[:n], sealed[n:], aad)
}

// newStore gives the test a migrated database of its own.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	pool, url := testenv.NewDatabase(t)
	if err := store.Migrate(ctx(t), url); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s := store.New(pool, newSealer(t))
	t.Cleanup(s.Close)
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}
