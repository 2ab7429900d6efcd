package awda

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
)

// Signer signs a string-to-sign for one algorithm.
type Signer interface {
	SignType() string
	Sign(stringToSign []byte) (string, error)
}

// Verifier checks a signature made by the matching Signer. Implementations
// compare in constant time.
type Verifier interface {
	SignType() string
	Verify(stringToSign []byte, signature string) error
}

// ErrBadSignature is returned by a Verifier when the signature does not match.
var ErrBadSignature = errors.New("awda: signature mismatch")

// StringToSign builds the canonical string
//
//	POST\n{path}\n{appId}\n{timestamp}\n{nonce}\n{bodyHash}
//
// where bodyHash is BodyHash of the raw body (or, for the multipart image
// upload, of the file bytes).
func StringToSign(path, appID string, timestampMillis int64, nonce, bodyHash string) []byte {
	b := make([]byte, 0, 5+len(path)+len(appID)+20+len(nonce)+len(bodyHash)+5)
	b = append(b, "POST\n"...)
	b = append(b, path...)
	b = append(b, '\n')
	b = append(b, appID...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, timestampMillis, 10)
	b = append(b, '\n')
	b = append(b, nonce...)
	b = append(b, '\n')
	b = append(b, bodyHash...)
	return b
}

// BodyHash is the lowercase hex SHA-256 of b.
func BodyHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// NewNonce returns 32 lowercase hex characters from crypto/rand.
func NewNonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("awda: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// ValidNonce reports whether s is 32 lowercase hex characters.
func ValidNonce(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// HMACSigner signs and verifies with HMAC-SHA256 over a shared secret,
// encoded as lowercase hex.
type HMACSigner struct {
	secret []byte
}

// NewHMACSigner returns an HMAC-SHA256 signer/verifier. The secret must not
// be empty.
func NewHMACSigner(secret []byte) (*HMACSigner, error) {
	if len(secret) == 0 {
		return nil, errors.New("awda: empty HMAC secret")
	}
	return &HMACSigner{secret: append([]byte(nil), secret...)}, nil
}

func (s *HMACSigner) SignType() string { return SignTypeHMAC }

func (s *HMACSigner) Sign(sts []byte) (string, error) {
	m := hmac.New(sha256.New, s.secret)
	m.Write(sts)
	return hex.EncodeToString(m.Sum(nil)), nil
}

func (s *HMACSigner) Verify(sts []byte, signature string) error {
	got, err := hex.DecodeString(signature)
	if err != nil {
		return ErrBadSignature
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write(sts)
	if !hmac.Equal(m.Sum(nil), got) {
		return ErrBadSignature
	}
	return nil
}

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// RSASigner signs with SHA256withRSA (PKCS#1 v1.5), encoded as standard base64.
type RSASigner struct {
	key *rsa.PrivateKey
}

// NewRSASigner returns a signer for key, which must be at least MinRSABits.
func NewRSASigner(key *rsa.PrivateKey) (*RSASigner, error) {
	if key == nil || key.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("awda: RSA key must be at least %d bits", MinRSABits)
	}
	return &RSASigner{key: key}, nil
}

func (s *RSASigner) SignType() string { return SignTypeRSA }

func (s *RSASigner) Sign(sts []byte) (string, error) {
	sum := sha256.Sum256(sts)
	sig, err := rsa.SignPKCS1v15(nil, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("awda: rsa sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Public returns the verifier for this signer's public key.
func (s *RSASigner) Public() *RSAVerifier { return &RSAVerifier{key: &s.key.PublicKey} }

// RSAVerifier verifies SHA256withRSA signatures with a public key.
type RSAVerifier struct {
	key *rsa.PublicKey
}

// NewRSAVerifier returns a verifier for key, which must be at least MinRSABits.
func NewRSAVerifier(key *rsa.PublicKey) (*RSAVerifier, error) {
	if key == nil || key.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("awda: RSA key must be at least %d bits", MinRSABits)
	}
	return &RSAVerifier{key: key}, nil
}

func (v *RSAVerifier) SignType() string { return SignTypeRSA }

func (v *RSAVerifier) Verify(sts []byte, signature string) error {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return ErrBadSignature
	}
	sum := sha256.Sum256(sts)
	if rsa.VerifyPKCS1v15(v.key, crypto.SHA256, sum[:], sig) != nil {
		return ErrBadSignature
	}
	return nil
}

// ParseRSAPrivateKeyPEM reads a PKCS#1 or PKCS#8 PEM private key.
func ParseRSAPrivateKeyPEM(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("awda: no PEM block in private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("awda: parse private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("awda: private key is not RSA")
	}
	return rk, nil
}

// ParseRSAPublicKeyPEM reads a PKIX or PKCS#1 PEM public key.
func ParseRSAPublicKeyPEM(pemBytes []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("awda: no PEM block in public key")
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("awda: parse public key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("awda: public key is not RSA")
	}
	return rk, nil
}
