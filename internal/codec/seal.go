package codec

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// sealVersion is the first byte of every sealed blob.
const sealVersion byte = 1

// Seal encrypts plaintext at rest (documents, webhook inbox payloads) under
// the primary key with AES-256-GCM. The blob is self-describing:
//
//	version (1 byte) | key ID length (1 byte) | key ID | nonce (12 bytes) | ciphertext+tag
//
// The header (version and key ID) and aad are both authenticated, so a blob
// only opens with the same aad: pass something that ties it to its place,
// such as "documents/"+id, so a row's ciphertext cannot be copied into
// another row. aad may be nil.
func (k *KeyRing) Seal(plaintext, aad []byte) ([]byte, error) {
	id := k.primary
	aead, err := k.aead(id)
	if err != nil {
		return nil, err
	}
	return sealWith(aead, id, plaintext, aad)
}

func sealWith(aead cipher.AEAD, id string, plaintext, aad []byte) ([]byte, error) {
	hlen := 2 + len(id)
	ns := aead.NonceSize()
	out := make([]byte, hlen+ns, hlen+ns+len(plaintext)+aead.Overhead())
	out[0] = sealVersion
	out[1] = byte(len(id))
	copy(out[2:], id)
	if _, err := rand.Read(out[hlen:]); err != nil {
		return nil, fmt.Errorf("codec: nonce: %w", err)
	}
	return aead.Seal(out, out[hlen:], plaintext, sealAAD(out[:hlen], aad)), nil
}

// Open decrypts a blob made by Seal with any key in the ring. It fails with
// ErrMalformed, ErrUnknownKey or ErrDecrypt (use errors.Is); a wrong aad is
// ErrDecrypt.
func (k *KeyRing) Open(sealed, aad []byte) ([]byte, error) {
	id, err := SealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	aead, err := k.aead(id)
	if err != nil {
		return nil, err
	}
	return openWith(aead, id, sealed, aad)
}

// SealedKeyID is the ID of the key a blob made by Seal (or
// DataKeys.SealFor) was sealed with.
func SealedKeyID(sealed []byte) (string, error) {
	if len(sealed) < 2 {
		return "", fmt.Errorf("%w: too short", ErrMalformed)
	}
	if sealed[0] != sealVersion {
		return "", fmt.Errorf("%w: unknown version %d", ErrMalformed, sealed[0])
	}
	hlen := 2 + int(sealed[1])
	if sealed[1] == 0 || len(sealed) < hlen {
		return "", fmt.Errorf("%w: bad key ID field", ErrMalformed)
	}
	id := string(sealed[2:hlen])
	if err := validKeyID(id); err != nil {
		return "", fmt.Errorf("%w: bad key ID field", ErrMalformed)
	}
	return id, nil
}

func openWith(aead cipher.AEAD, id string, sealed, aad []byte) ([]byte, error) {
	hlen := 2 + len(id)
	ns := aead.NonceSize()
	if len(sealed) < hlen+ns+aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	nonce := sealed[hlen : hlen+ns]
	pt, err := aead.Open(nil, nonce, sealed[hlen+ns:], sealAAD(sealed[:hlen], aad))
	if err != nil {
		return nil, fmt.Errorf("%w: sealed data under key ID %q did not authenticate (tampered, wrong key, or wrong associated data)", ErrDecrypt, id)
	}
	return pt, nil
}

// sealAAD authenticates the header together with the caller's aad. The
// header has a fixed layout, so header||aad is unambiguous.
func sealAAD(header, aad []byte) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	b = append(b, header...)
	return append(b, aad...)
}
