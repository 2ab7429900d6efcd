package sandbox_test

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// rsaKey generates a fresh 2048-bit key.
func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
