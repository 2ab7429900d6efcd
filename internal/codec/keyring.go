package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// KeySize is the length in bytes of every key in a ring (AES-256).
const KeySize = 32

// maxKeyIDLen bounds a key ID so it fits the one-byte length field of a
// sealed blob and stays readable in payload metadata.
const maxKeyIDLen = 64

var (
	// ErrUnknownKey means the data was encrypted under a key ID that is not in
	// the ring (for example an old key was removed before its data was
	// re-encrypted).
	ErrUnknownKey = errors.New("codec: unknown encryption key")
	// ErrDecrypt means authentication failed: the ciphertext, its key ID or
	// its associated data were altered, or it was sealed with another key
	// under the same ID.
	ErrDecrypt = errors.New("codec: decryption failed")
	// ErrMalformed means the input is not something this package produced.
	ErrMalformed = errors.New("codec: malformed ciphertext")
)

// KeyRing holds the AES-256-GCM keys used for Temporal payloads and for data
// at rest. The primary key (the last one in the spec) encrypts; every key in
// the ring decrypts. To rotate without downtime, append a new key to the spec
// and roll it out everywhere; remove an old key only once nothing encrypted
// under it is still needed.
//
// A KeyRing is safe for concurrent use. It never exposes key material: its
// String and GoString methods print key IDs only.
type KeyRing struct {
	primary string
	ids     []string // in spec order
	aeads   map[string]cipher.AEAD
}

// ParseKeyRing parses a comma-separated list of `keyID=base64(32 bytes)`
// entries, e.g. "k2025=…,k2026=…". The last entry is the primary key. Key IDs
// are 1-64 characters from [A-Za-z0-9._-] and must be unique. The key is
// standard or URL-safe base64, padded or not. Errors name the entry and key
// ID but never include key material.
func ParseKeyRing(spec string) (*KeyRing, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("codec: empty key ring spec (want keyID=base64key[,keyID=base64key...])")
	}
	entries := strings.Split(spec, ",")
	k := &KeyRing{aeads: make(map[string]cipher.AEAD, len(entries))}
	for i, entry := range entries {
		n := i + 1
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("codec: key ring entry %d is empty", n)
		}
		id, material, ok := strings.Cut(entry, "=")
		id = strings.TrimSpace(id)
		if !ok {
			return nil, fmt.Errorf("codec: key ring entry %d: missing '=' between key ID and key", n)
		}
		if err := validRingKeyID(id); err != nil {
			return nil, fmt.Errorf("codec: key ring entry %d: %w", n, err)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("codec: key ring entry %d: duplicate key ID %s", n, quoteID(id))
		}
		key, err := decodeKey(strings.TrimSpace(material))
		if err != nil {
			return nil, fmt.Errorf("codec: key ring entry %d (key ID %s): %w", n, quoteID(id), err)
		}
		aead, err := newAEAD(key)
		clear(key)
		if err != nil {
			return nil, fmt.Errorf("codec: key ring entry %d (key ID %s): %w", n, quoteID(id), err)
		}
		k.aeads[id] = aead
		k.ids = append(k.ids, id)
		k.primary = id
	}
	return k, nil
}

// GenerateKeySpec returns one key ring entry, "keyID=base64(32 random bytes)",
// to append to an existing spec (with a comma) or to use alone.
func GenerateKeySpec(keyID string) (string, error) {
	if err := validRingKeyID(keyID); err != nil {
		return "", fmt.Errorf("codec: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("codec: generating key: %w", err)
	}
	defer clear(key)
	return keyID + "=" + base64.StdEncoding.EncodeToString(key), nil
}

// PrimaryKeyID is the ID of the key that encrypts new data.
func (k *KeyRing) PrimaryKeyID() string { return k.primary }

// KeyIDs lists every key ID in the ring, in spec order (primary last).
func (k *KeyRing) KeyIDs() []string { return append([]string(nil), k.ids...) }

// String prints key IDs only, so a KeyRing that ends up in a log line or an
// error message leaks nothing.
func (k *KeyRing) String() string {
	if k == nil {
		return "codec.KeyRing(nil)"
	}
	return fmt.Sprintf("codec.KeyRing{keys: %s, primary: %s}", strings.Join(k.ids, ","), k.primary)
}

// GoString is String, for %#v.
func (k *KeyRing) GoString() string { return k.String() }

func (k *KeyRing) aead(id string) (cipher.AEAD, error) {
	a, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: key ID %q is not in the ring (have %s)", ErrUnknownKey, id, strings.Join(k.ids, ","))
	}
	return a, nil
}

// validRingKeyID is validKeyID for a ring key: its ID may not look like a
// data key's, since a key ID alone says which kind decrypts.
func validRingKeyID(id string) error {
	if IsDataKeyID(id) {
		return fmt.Errorf("key ID %s starts with %q, which is reserved for applicant data keys", quoteID(id), DataKeyPrefix)
	}
	return validKeyID(id)
}

func validKeyID(id string) error {
	if id == "" {
		return errors.New("empty key ID")
	}
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("key ID longer than %d characters", maxKeyIDLen)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("key ID %s has a character outside [A-Za-z0-9._-]", quoteID(id))
		}
	}
	return nil
}

// quoteID quotes a key ID for an error message, unless it holds a run of
// base64 long enough to be a key (43 characters): then it most likely is
// one, pasted without its ID ("k1=…,<key>=" cuts the second key at its
// padding and takes it for an ID), and must not be printed.
func quoteID(id string) string {
	run := 0
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_' {
			if run++; run >= 43 {
				return "(not shown: it looks like a key)"
			}
		} else {
			run = 0
		}
	}
	return strconv.Quote(id)
}

func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty key")
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				n := len(b)
				clear(b)
				return nil, fmt.Errorf("key must decode to %d bytes, got %d", KeySize, n)
			}
			return b, nil
		}
	}
	// The base64 error would quote the offending input; say only what is wrong.
	return nil, errors.New("key is not valid base64")
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}
