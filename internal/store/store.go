package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/awdaflow/awdaflow/internal/codec"
)

// Sealer encrypts and decrypts values at rest. The aad (additional
// authenticated data) binds a ciphertext to the row it belongs to, so a sealed
// value copied into another row does not open. codec.KeyRing implements it.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// ErrNotFound is returned when the row asked for does not exist.
var ErrNotFound = errors.New("store: not found")

// Store is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	sealer Sealer
	keys   *codec.DataKeys // nil: everything under the ring (UseDataKeys)
	now    func() time.Time

	auditOnce sync.Once
	audit     atomic.Pointer[AuditRecorder]
}

// New returns a Store over pool. The caller owns the pool (and closes it after
// Store.Close).
func New(pool *pgxpool.Pool, sealer Sealer) *Store {
	return &Store{pool: pool, sealer: sealer, now: time.Now}
}

// Pool returns the underlying pool, for callers that need a query this
// package does not offer.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// Close flushes the audit rows still buffered by AuditObserver. It does not
// close the pool.
func (s *Store) Close() {
	if r := s.audit.Load(); r != nil {
		r.Close()
	}
}
