package webhook

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/awdaflow/awdaflow/internal/store"
)

// inserter writes the receiver's rows by group commit. A request queues its
// entry and waits for the outcome; a writer takes what is queued (at most
// maxBatch entries) and stores it with one statement
// (store.InsertInboxBatch), and at most maxWriters write at once. A writer
// is started when an entry finds the queue without one to spare, and ends
// when the queue is empty: alone, an entry is written at once, as by a
// single INSERT; under a burst, the requests that arrive while a statement
// runs share the next one, and a round trip and a commit serve many.
type inserter struct {
	store      *store.Store
	maxBatch   int
	maxWriters int
	timeout    time.Duration
	stored     func() // after a batch that stored a new row

	mu      sync.Mutex
	queue   []*queued
	writers int
}

type queued struct {
	entry     store.InboxEntry
	at        time.Time
	abandoned atomic.Bool        // its request gave up waiting
	done      chan insertOutcome // buffered: a writer never waits for the request
}

type insertOutcome struct {
	inserted bool
	err      error
}

// insert stores e (see store.InsertInbox) and reports whether it is new.
// An error means the row may or may not be stored: the notification must
// not be acknowledged.
func (in *inserter) insert(ctx context.Context, e store.InboxEntry) (bool, error) {
	q := &queued{entry: e, at: time.Now(), done: make(chan insertOutcome, 1)}
	in.mu.Lock()
	in.queue = append(in.queue, q)
	start := in.writers < in.maxWriters
	if start {
		in.writers++
	}
	in.mu.Unlock()
	if start {
		go in.write()
	}
	select {
	case out := <-q.done:
		return out.inserted, out.err
	case <-ctx.Done():
		q.abandoned.Store(true) // skipped unless a writer has it already
		return false, ctx.Err()
	}
}

// write stores batches until the queue is empty.
func (in *inserter) write() {
	var (
		batch   []*queued
		entries []store.InboxEntry
		times   []time.Time
	)
	for {
		in.mu.Lock()
		n := min(len(in.queue), in.maxBatch)
		if n == 0 {
			in.writers--
			in.queue = nil // let the array go
			in.mu.Unlock()
			return
		}
		batch = append(batch[:0], in.queue[:n]...)
		clear(in.queue[:n])
		in.queue = in.queue[n:]
		in.mu.Unlock()

		entries, times = entries[:0], times[:0]
		live := batch[:0]
		for _, q := range batch {
			if !q.abandoned.Load() {
				live = append(live, q)
				entries, times = append(entries, q.entry), append(times, q.at)
			}
		}
		if len(live) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
		res, err := in.store.InsertInboxBatch(ctx, entries, times)
		cancel()
		newRows := false
		for i, q := range live {
			if err != nil {
				q.done <- insertOutcome{err: err}
				continue
			}
			q.done <- insertOutcome{inserted: res[i].Inserted}
			newRows = newRows || res[i].Inserted
		}
		if newRows && in.stored != nil {
			in.stored()
		}
	}
}
