package awda_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/awda"
)

// signVector is one golden vector under testdata/vectors, produced by
// gen.sh with OpenSSL (not with this package).
type signVector struct {
	name                      string
	path, appID, nonce        string
	ts                        int64
	body, sts                 []byte
	bodyHash, hmacHex, rsaB64 string
}

func keyValues(t *testing.T, b []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		m[k] = v
	}
	return m
}

func loadVectors(t *testing.T) []signVector {
	t.Helper()
	metas, err := filepath.Glob(filepath.Join("testdata", "vectors", "*.meta"))
	if err != nil || len(metas) < 5 {
		t.Fatalf("want at least 5 vectors, found %d (%v)", len(metas), err)
	}
	var vs []signVector
	for _, m := range metas {
		name := strings.TrimSuffix(filepath.Base(m), ".meta")
		meta := keyValues(t, readTestdata(t, "vectors/"+name+".meta"))
		gold := keyValues(t, readTestdata(t, "vectors/"+name+".golden"))
		ts, err := strconv.ParseInt(meta["timestamp"], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, signVector{
			name: name, path: meta["path"], appID: meta["appId"], nonce: meta["nonce"], ts: ts,
			body:     readTestdata(t, "vectors/"+name+".body"),
			sts:      readTestdata(t, "vectors/"+name+".sts"),
			bodyHash: gold["bodyHash"], hmacHex: gold["hmac"], rsaB64: gold["rsa"],
		})
	}
	return vs
}

func TestGoldenVectors(t *testing.T) {
	hs := hmacSigner(t, testSecret)
	rs := rsaSigner(t, "rsa_test_key.pem")
	pub, err := awda.ParseRSAPublicKeyPEM(readTestdata(t, "rsa_test_key.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	rv, err := awda.NewRSAVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := rsaSigner(t, "rsa_test_key2.pem")

	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			if got := awda.BodyHash(v.body); got != v.bodyHash {
				t.Errorf("BodyHash = %s, want %s", got, v.bodyHash)
			}
			sts := awda.StringToSign(v.path, v.appID, v.ts, v.nonce, v.bodyHash)
			if !bytes.Equal(sts, v.sts) {
				t.Errorf("StringToSign =\n%q\nwant\n%q", sts, v.sts)
			}

			sig, err := hs.Sign(v.sts)
			if err != nil || sig != v.hmacHex {
				t.Errorf("HMAC Sign = %q, %v; want %q", sig, err, v.hmacHex)
			}
			if err := hs.Verify(v.sts, v.hmacHex); err != nil {
				t.Errorf("HMAC Verify(golden) = %v", err)
			}

			sig, err = rs.Sign(v.sts)
			if err != nil || sig != v.rsaB64 {
				t.Errorf("RSA Sign = %q, %v; want %q", sig, err, v.rsaB64)
			}
			if err := rv.Verify(v.sts, v.rsaB64); err != nil {
				t.Errorf("RSA Verify(golden) = %v", err)
			}
			if err := rs.Public().Verify(v.sts, v.rsaB64); err != nil {
				t.Errorf("RSASigner.Public().Verify(golden) = %v", err)
			}

			// One changed byte anywhere in the string to sign breaks both.
			tampered := bytes.Clone(v.sts)
			tampered[len(tampered)-1] ^= 1
			if err := hs.Verify(tampered, v.hmacHex); !errors.Is(err, awda.ErrBadSignature) {
				t.Errorf("HMAC Verify(tampered) = %v, want ErrBadSignature", err)
			}
			if err := rv.Verify(tampered, v.rsaB64); !errors.Is(err, awda.ErrBadSignature) {
				t.Errorf("RSA Verify(tampered) = %v, want ErrBadSignature", err)
			}
			// Another secret or key does not verify.
			if err := hmacSigner(t, testSecret+"x").Verify(v.sts, v.hmacHex); !errors.Is(err, awda.ErrBadSignature) {
				t.Errorf("HMAC Verify(other secret) = %v", err)
			}
			if err := otherKey.Public().Verify(v.sts, v.rsaB64); !errors.Is(err, awda.ErrBadSignature) {
				t.Errorf("RSA Verify(other key) = %v", err)
			}
		})
	}
}

func TestStringToSignLayout(t *testing.T) {
	got := awda.StringToSign("/api/partner/v1/loan/info", "app-1", 1767225600000, "0123456789abcdef0123456789abcdef", "ab")
	want := "POST\n/api/partner/v1/loan/info\napp-1\n1767225600000\n0123456789abcdef0123456789abcdef\nab"
	if string(got) != want {
		t.Errorf("StringToSign = %q, want %q", got, want)
	}
}

func TestVerifiersRejectGarbage(t *testing.T) {
	sts := []byte("POST\n/x\napp\n1\n0123456789abcdef0123456789abcdef\nff")
	hs := hmacSigner(t, testSecret)
	rs := rsaSigner(t, "rsa_test_key.pem")
	good, _ := hs.Sign(sts)
	for _, sig := range []string{"", "zz", good[:len(good)-2], good + "00", "not hex at all"} {
		if err := hs.Verify(sts, sig); !errors.Is(err, awda.ErrBadSignature) {
			t.Errorf("HMAC Verify(%q) = %v", sig, err)
		}
	}
	rgood, _ := rs.Sign(sts)
	for _, sig := range []string{"", "!!!", rgood[:len(rgood)-4], "AAAA" + rgood} {
		if err := rs.Public().Verify(sts, sig); !errors.Is(err, awda.ErrBadSignature) {
			t.Errorf("RSA Verify(%q) = %v", sig, err)
		}
	}
	if hs.SignType() != "HMAC-SHA256" || rs.SignType() != "RSA-SHA256" || rs.Public().SignType() != "RSA-SHA256" {
		t.Error("wrong SignType strings")
	}
}

func TestSignerConstruction(t *testing.T) {
	if _, err := awda.NewHMACSigner(nil); err == nil {
		t.Error("NewHMACSigner(empty) succeeded")
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := awda.NewRSASigner(small); err == nil {
		t.Error("NewRSASigner(1024-bit) succeeded")
	}
	if _, err := awda.NewRSAVerifier(&small.PublicKey); err == nil {
		t.Error("NewRSAVerifier(1024-bit) succeeded")
	}
	if _, err := awda.NewRSASigner(nil); err == nil {
		t.Error("NewRSASigner(nil) succeeded")
	}

	// The committed key is PKCS#8; the same key as PKCS#1 parses to the same
	// signer.
	k8, err := awda.ParseRSAPrivateKeyPEM(readTestdata(t, "rsa_test_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k8)})
	k1, err := awda.ParseRSAPrivateKeyPEM(pkcs1)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k8) {
		t.Error("PKCS#1 and PKCS#8 parses differ")
	}
	pub1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k8.PublicKey)})
	p1, err := awda.ParseRSAPublicKeyPEM(pub1)
	if err != nil || !p1.Equal(&k8.PublicKey) {
		t.Errorf("ParseRSAPublicKeyPEM(PKCS#1) = %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("garbage"), readTestdata(t, "rsa_test_key.pub.pem")} {
		if _, err := awda.ParseRSAPrivateKeyPEM(bad); err == nil {
			t.Errorf("ParseRSAPrivateKeyPEM(%.20q) succeeded", bad)
		}
	}
	if _, err := awda.ParseRSAPublicKeyPEM([]byte("garbage")); err == nil {
		t.Error("ParseRSAPublicKeyPEM(garbage) succeeded")
	}
}

func TestNonces(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		n := awda.NewNonce()
		if !awda.ValidNonce(n) {
			t.Fatalf("NewNonce() = %q is not 32 lowercase hex", n)
		}
		if seen[n] {
			t.Fatalf("NewNonce repeated %q", n)
		}
		seen[n] = true
	}
	for _, s := range []string{"", "0123456789abcdef0123456789abcde", "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcdeg", "0123456789abcdef0123456789abcdef0"} {
		if awda.ValidNonce(s) {
			t.Errorf("ValidNonce(%q) = true", s)
		}
	}
}
