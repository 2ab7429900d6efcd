package inbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Forwarder delivers the pending notifications: when woken (the webhook
// receiver wakes it for every notification it stores), every Interval, and
// at once on Start, it claims the due rows in batches and hands each batch
// to the Deliverer, until none is due. Several forwarders (one per starter
// replica) share the inbox safely: a claim leases its rows
// (store.ClaimPendingBy: FOR UPDATE SKIP LOCKED, then a lease of
// store.InboxLease), the Deliverer signals none of them past the lease
// (LeaseMargin), and an outcome is recorded only while the claim is still
// the row's latest (InboxOutcome.Attempt). So two replicas never signal a
// row at once; a row is signalled again only when the outcome of an earlier
// attempt was lost (a replica died, or PostgreSQL was away, between the
// signal and its record), and the workflow drops an eventId it has seen.
//
// One forwarder delivers a workflow's notifications in the order they were
// stored: a batch is delivered in ID order within a workflow, and the next
// batch is claimed only once the last one is recorded.
type Forwarder struct {
	Deliverer *Deliverer
	Log       zerolog.Logger
	// Interval between polls when nothing wakes it (DefaultInterval): what
	// retries wait for at most, beyond their backoff.
	Interval time.Duration
	// Batch is the most rows claimed at once (DefaultBatch).
	Batch int
	// Busy, when set, tells whether notifications are being received at
	// this moment (webhook.Receiver.Busy). Ingestion comes first: before
	// each batch the forwarder waits for a moment when it is not busy, at
	// most MaxDefer (DefaultMaxDefer), and if it is still busy then, it
	// claims at most BusyBatch rows (DefaultBusyBatch). Under a burst,
	// delivery lags, with a trickle of BusyBatch per MaxDefer so that it
	// never stops, rather than take the CPU that AWDA's requests need (a
	// full batch of signals at once would show in their latency); the
	// inbox is durable, and the backlog is delivered when the burst ends.
	Busy      func() bool
	MaxDefer  time.Duration
	BusyBatch int

	wakeOnce sync.Once
	wake     chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Defaults of a Forwarder.
const (
	DefaultInterval  = 2 * time.Second
	DefaultBatch     = 100
	DefaultMaxDefer  = time.Second
	DefaultBusyBatch = 20
)

func (f *Forwarder) interval() time.Duration {
	if f.Interval > 0 {
		return f.Interval
	}
	return DefaultInterval
}

func (f *Forwarder) wakeChan() chan struct{} {
	f.wakeOnce.Do(func() { f.wake = make(chan struct{}, 1) })
	return f.wake
}

// Start runs the forwarder in the background until Stop. It does not block.
func (f *Forwarder) Start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go f.loop(ctx, f.done, f.wakeChan())
}

// Stop ends the loop and waits for the batch in flight, at most until ctx
// ends; what is left stays pending for the next start.
func (f *Forwarder) Stop(ctx context.Context) error {
	f.mu.Lock()
	cancel, done := f.cancel, f.done
	f.cancel = nil
	f.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wake asks for a poll now: a notification was stored, or Temporal came
// back. It never blocks, and wakes that come while a poll runs make one
// more poll, not one each. Safe before Start and after Stop.
func (f *Forwarder) Wake() {
	select {
	case f.wakeChan() <- struct{}{}:
	default:
	}
}

func (f *Forwarder) loop(ctx context.Context, done chan struct{}, wake chan struct{}) {
	defer close(done)
	t := time.NewTimer(0) // at startup: deliver what an earlier process left
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		if _, err := f.RunOnce(ctx); err != nil && !errors.Is(err, context.Canceled) {
			f.Log.Warn().Str("component", "inbox").Str("error_type", errType(err)).Msg("forwarder: claiming pending notifications failed")
		}
		t.Reset(f.interval())
	}
}

// RunOnce delivers every notification due now, batch after batch, and
// returns how many it attempted.
func (f *Forwarder) RunOnce(ctx context.Context) (int, error) {
	batch := f.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	total := 0
	for {
		busy, err := f.yield(ctx)
		if err != nil {
			return total, err
		}
		n := batch
		if busy {
			n = min(n, f.busyBatch())
		}
		items, err := f.Deliverer.Store.ClaimPendingBy(ctx, f.Deliverer.Replica, n, f.Deliverer.now())
		if err != nil {
			return total, err
		}
		// A failure to record is logged by Deliver; the rows come back
		// after their lease.
		_, _ = f.Deliverer.Deliver(ctx, items)
		total += len(items)
		if len(items) < n {
			return total, nil
		}
	}
}

func (f *Forwarder) busyBatch() int {
	if f.BusyBatch > 0 {
		return f.BusyBatch
	}
	return DefaultBusyBatch
}

// yield waits while Busy reports true, at most MaxDefer, and reports
// whether it is still busy.
func (f *Forwarder) yield(ctx context.Context) (bool, error) {
	if f.Busy == nil || !f.Busy() {
		return false, ctx.Err()
	}
	limit := f.MaxDefer
	if limit <= 0 {
		limit = DefaultMaxDefer
	}
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-tick.C:
		}
		if !f.Busy() {
			return false, nil
		}
		if !time.Now().Before(deadline) {
			return true, nil
		}
	}
}
