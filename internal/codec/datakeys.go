package codec

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// DataKeyPrefix starts every data key ID ("dk_" and 32 hex digits). Ring key
// IDs may not start with it, so a key ID alone says which kind of key it is.
const DataKeyPrefix = "dk_"

// Defaults of DataKeysOptions.
const (
	DefaultDataKeyCacheTTL  = 30 * time.Second
	DefaultDataKeyCacheSize = 10_000
	// lookupTimeout bounds one key source call made from Encode or Decode,
	// which have no context of their own.
	lookupTimeout = 10 * time.Second
)

// ErrErased means the payload or row was encrypted under an applicant's
// data key that has since been destroyed by an erasure: it can never be
// read again. Its message names the key ID and the date, never the
// applicant.
var ErrErased = errors.New("codec: the applicant's personal data was erased")

// ErrNoDataKey is what a KeySource returns (wrapped or not) for an applicant
// or key ID it has no row for.
var ErrNoDataKey = errors.New("codec: no such data key")

// ErasedError is the error for data under an erased key (errors.Is(err,
// ErrErased)).
type ErasedError struct {
	KeyID    string
	ErasedAt time.Time
}

func (e *ErasedError) Error() string {
	return fmt.Sprintf("%v: data key %s was destroyed on %s", ErrErased, e.KeyID, e.ErasedAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrErased) true.
func (e *ErasedError) Is(target error) bool { return target == ErrErased }

// DataKeyRecord is a data key as stored: its material sealed by the key
// ring (Sealed is nil once erased). ApplicantRef is the lending backend's
// opaque ID; it never goes into an error or a log line from this package.
type DataKeyRecord struct {
	ID           string
	ApplicantRef string
	RingKeyID    string // the ring key that sealed it
	Sealed       []byte
	CreatedAt    time.Time
	ErasedAt     time.Time // zero while the key exists
}

// KeySource stores data keys (internal/store implements it on PostgreSQL).
type KeySource interface {
	// DataKeyByRef returns the applicant's key; ErrNoDataKey when it has
	// none.
	DataKeyByRef(ctx context.Context, ref string) (*DataKeyRecord, error)
	// DataKeyByID returns the key with this ID; ErrNoDataKey when none.
	DataKeyByID(ctx context.Context, id string) (*DataKeyRecord, error)
	// InsertDataKey stores rec unless the applicant has a key already, and
	// returns the applicant's key either way: of two creators racing, both
	// get the one that was stored first.
	InsertDataKey(ctx context.Context, rec DataKeyRecord) (*DataKeyRecord, error)
}

// DataKeysOptions configures NewDataKeys.
type DataKeysOptions struct {
	// ApplicantOf maps a workflow ID to the applicant whose data its payloads
	// hold (workflows.ApplicantRefOf for loans); ok false means the ring's
	// primary key encrypts them. Nil: no workflow is an applicant's.
	ApplicantOf func(workflowID string) (ref string, ok bool)
	// CacheTTL is how long an unsealed key (or an erased key's tombstone)
	// is reused before the source is asked again: an erasure made by
	// another process takes effect here within it. Zero means
	// DefaultDataKeyCacheTTL.
	CacheTTL time.Duration
	// CacheSize bounds the cache (keys, not bytes). Zero means
	// DefaultDataKeyCacheSize.
	CacheSize int
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// DataKeys gives each applicant an AES-256 data key of their own, sealed by
// the key ring and kept by a KeySource, so destroying one key makes that
// applicant's Temporal payloads, documents and inbox payloads unreadable
// while everyone else's stay readable. Unsealed keys are cached for a short
// TTL. Safe for concurrent use; a nil *DataKeys means "ring only".
type DataKeys struct {
	ring        *KeyRing
	src         KeySource
	applicantOf func(string) (string, bool)
	ttl         time.Duration
	size        int
	now         func() time.Time

	mu    sync.Mutex
	byID  map[string]*cachedKey
	byRef map[string]*cachedKey
}

type cachedKey struct {
	id, ref  string
	aead     cipher.AEAD // nil when erased
	erasedAt time.Time
	expires  time.Time
}

func (c *cachedKey) usable() error {
	if c.aead == nil {
		return &ErasedError{KeyID: c.id, ErasedAt: c.erasedAt}
	}
	return nil
}

// NewDataKeys returns the data keys of src, sealed under ring.
func NewDataKeys(ring *KeyRing, src KeySource, o DataKeysOptions) *DataKeys {
	d := &DataKeys{ring: ring, src: src, applicantOf: o.ApplicantOf, ttl: o.CacheTTL, size: o.CacheSize, now: o.Now,
		byID: map[string]*cachedKey{}, byRef: map[string]*cachedKey{}}
	if d.ttl <= 0 {
		d.ttl = DefaultDataKeyCacheTTL
	}
	if d.size <= 0 {
		d.size = DefaultDataKeyCacheSize
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Ring is the key ring that seals the data keys.
func (d *DataKeys) Ring() *KeyRing { return d.ring }

// IsDataKeyID reports whether id names a data key rather than a ring key.
func IsDataKeyID(id string) bool { return strings.HasPrefix(id, DataKeyPrefix) }

// NewDataKeyID returns a new random data key ID. It is not derived from the
// applicant, so it says nothing about them.
func NewDataKeyID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("codec: data key ID: %w", err)
	}
	return DataKeyPrefix + hex.EncodeToString(b), nil
}

// dataKeyAAD binds a sealed data key to its row: its ID and its applicant.
func dataKeyAAD(id, ref string) []byte { return []byte("awdaflow/data-key/v1/" + id + "/" + ref) }

// NewRecord makes a new data key for ref, sealed under the ring's primary
// key, ready for KeySource.InsertDataKey.
func (d *DataKeys) NewRecord(ref string) (DataKeyRecord, error) {
	id, err := NewDataKeyID()
	if err != nil {
		return DataKeyRecord{}, err
	}
	key := make([]byte, KeySize)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return DataKeyRecord{}, fmt.Errorf("codec: generating data key: %w", err)
	}
	sealed, err := d.ring.Seal(key, dataKeyAAD(id, ref))
	if err != nil {
		return DataKeyRecord{}, err
	}
	return DataKeyRecord{ID: id, ApplicantRef: ref, RingKeyID: d.ring.primary, Sealed: sealed}, nil
}

// Reseal opens rec's sealed key with any ring key and seals it again under
// the ring's primary key (key-ring rotation). An erased record has nothing
// to reseal and is returned unchanged.
func (d *DataKeys) Reseal(rec DataKeyRecord) (DataKeyRecord, error) {
	if rec.Sealed == nil {
		return rec, nil
	}
	key, err := d.ring.Open(rec.Sealed, dataKeyAAD(rec.ID, rec.ApplicantRef))
	if err != nil {
		return rec, fmt.Errorf("codec: data key %s: %w", rec.ID, err)
	}
	defer clear(key)
	sealed, err := d.ring.Seal(key, dataKeyAAD(rec.ID, rec.ApplicantRef))
	if err != nil {
		return rec, err
	}
	rec.Sealed, rec.RingKeyID = sealed, d.ring.primary
	return rec, nil
}

// ForApplicant returns ref's data key ID, creating the key when the
// applicant has none. An erased applicant's key is an *ErasedError: no new
// key is ever made for them.
func (d *DataKeys) ForApplicant(ctx context.Context, ref string) (string, error) {
	k, err := d.forApplicant(ctx, ref)
	if err != nil {
		return "", err
	}
	return k.id, k.usable()
}

func (d *DataKeys) forApplicant(ctx context.Context, ref string) (*cachedKey, error) {
	k, fresh := d.cached(d.byRef, ref)
	if fresh {
		return k, nil
	}
	rec, err := d.src.DataKeyByRef(ctx, ref)
	if errors.Is(err, ErrNoDataKey) {
		var created DataKeyRecord
		if created, err = d.NewRecord(ref); err == nil {
			rec, err = d.src.InsertDataKey(ctx, created)
		}
	}
	if err != nil {
		if k != nil {
			return k, nil // PostgreSQL is away: the key as last read (staleOnError)
		}
		return nil, fmt.Errorf("codec: applicant data key: %w", err)
	}
	return d.remember(rec)
}

func (d *DataKeys) byKeyID(ctx context.Context, id string) (*cachedKey, error) {
	k, fresh := d.cached(d.byID, id)
	if fresh {
		return k, nil
	}
	rec, err := d.src.DataKeyByID(ctx, id)
	if errors.Is(err, ErrNoDataKey) {
		return nil, fmt.Errorf("%w: data key %s does not exist", ErrUnknownKey, id)
	}
	if err != nil {
		if k != nil {
			return k, nil // PostgreSQL is away: the key as last read (staleOnError)
		}
		return nil, fmt.Errorf("codec: data key %s: %w", id, err)
	}
	return d.remember(rec)
}

// staleOnError is how long past its TTL a cached key still serves while the
// key source fails: a database outage does not stop the loans' workflow
// tasks at once. No erasure can commit while the database is away, so the
// key served is the key as it was, at most this much older.
const staleOnError = 10 * time.Minute

// cached returns the entry for k: fresh within the TTL; stale (fresh
// false) within staleOnError after it, for use only if the source fails;
// nil beyond (and then dropped).
func (d *DataKeys) cached(m map[string]*cachedKey, k string) (c *cachedKey, fresh bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c = m[k]
	if c == nil {
		return nil, false
	}
	now := d.now()
	if now.Before(c.expires) {
		return c, true
	}
	if now.Before(c.expires.Add(staleOnError)) {
		return c, false
	}
	delete(d.byID, c.id)
	delete(d.byRef, c.ref)
	return nil, false
}

// remember unseals rec and caches it.
func (d *DataKeys) remember(rec *DataKeyRecord) (*cachedKey, error) {
	c := &cachedKey{id: rec.ID, ref: rec.ApplicantRef, erasedAt: rec.ErasedAt}
	if rec.Sealed != nil && rec.ErasedAt.IsZero() {
		key, err := d.ring.Open(rec.Sealed, dataKeyAAD(rec.ID, rec.ApplicantRef))
		if err != nil {
			return nil, fmt.Errorf("codec: data key %s: %w", rec.ID, err)
		}
		c.aead, err = newAEAD(key)
		clear(key)
		if err != nil {
			return nil, fmt.Errorf("codec: data key %s: %w", rec.ID, err)
		}
	} else if c.erasedAt.IsZero() {
		return nil, fmt.Errorf("%w: data key %s has no key material", ErrMalformed, rec.ID)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if len(d.byID) >= d.size {
		d.evictLocked(now)
	}
	c.expires = now.Add(d.ttl)
	d.byID[c.id], d.byRef[c.ref] = c, c
	return c, nil
}

// evictLocked drops the expired entries, and when none had expired, an
// arbitrary tenth of the cache (map order), so a full cache never blocks.
func (d *DataKeys) evictLocked(now time.Time) {
	for id, c := range d.byID {
		if !now.Before(c.expires) { // stale entries go first
			delete(d.byID, id)
			delete(d.byRef, c.ref)
		}
	}
	for id, c := range d.byID {
		if len(d.byID) < d.size-d.size/10 {
			break
		}
		delete(d.byID, id)
		delete(d.byRef, c.ref)
	}
}

// Forget drops ref's key from this process's cache, as an erasure made here
// must take effect at once.
func (d *DataKeys) Forget(ref string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.byRef[ref]; c != nil {
		delete(d.byID, c.id)
		delete(d.byRef, ref)
	}
}

// Cached reports how many keys the cache holds (tests and metrics).
func (d *DataKeys) Cached() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.byID)
}

func lookupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), lookupTimeout)
}

// SealFor seals plaintext at rest under ref's data key (created when the
// applicant has none), in the format of KeyRing.Seal with the data key's ID
// in the header. An erased applicant gets an *ErasedError.
func (d *DataKeys) SealFor(ctx context.Context, ref string, plaintext, aad []byte) ([]byte, error) {
	k, err := d.forApplicant(ctx, ref)
	if err == nil {
		err = k.usable()
	}
	if err != nil {
		return nil, err
	}
	return sealWith(k.aead, k.id, plaintext, aad)
}

// Seal seals under the ring's primary key (KeyRing.Seal), for data that
// belongs to no applicant yet.
func (d *DataKeys) Seal(plaintext, aad []byte) ([]byte, error) { return d.ring.Seal(plaintext, aad) }

// Open opens a blob made by Seal or SealFor: the key ID in its header says
// whether a ring key or a data key opens it. Under an erased data key it
// fails with an *ErasedError.
func (d *DataKeys) Open(sealed, aad []byte) ([]byte, error) {
	id, err := SealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	if !IsDataKeyID(id) {
		return d.ring.Open(sealed, aad)
	}
	ctx, cancel := lookupContext()
	defer cancel()
	k, err := d.byKeyID(ctx, id)
	if err == nil {
		err = k.usable()
	}
	if err != nil {
		return nil, err
	}
	return openWith(k.aead, id, sealed, aad)
}
