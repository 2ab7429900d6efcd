package inbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Forwarder delivers the pending notifications: every Interval (and at
// once on Start) it claims the due rows in batches and hands each to the
// Deliverer. Several forwarders (one per starter replica) share the inbox
// safely: a claim leases its rows (store.ClaimPending).
type Forwarder struct {
	Deliverer *Deliverer
	Log       zerolog.Logger
	// Interval between polls (DefaultInterval).
	Interval time.Duration
	// Batch is the most rows claimed at once (DefaultBatch).
	Batch int
	// AttemptTimeout bounds one delivery (DefaultAttemptTimeout).
	AttemptTimeout time.Duration

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}
}

// Defaults of a Forwarder.
const (
	DefaultInterval       = 2 * time.Second
	DefaultBatch          = 100
	DefaultAttemptTimeout = 10 * time.Second
)

func (f *Forwarder) interval() time.Duration {
	if f.Interval > 0 {
		return f.Interval
	}
	return DefaultInterval
}

// Start runs the forwarder in the background until Stop. It does not block.
func (f *Forwarder) Start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done, f.wake = cancel, make(chan struct{}), make(chan struct{}, 1)
	go f.loop(ctx, f.done, f.wake)
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

// Wake asks for a poll now (for instance after Temporal came back).
func (f *Forwarder) Wake() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wake != nil {
		select {
		case f.wake <- struct{}{}:
		default:
		}
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
	timeout := f.AttemptTimeout
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	total := 0
	for {
		items, err := f.Deliverer.Store.ClaimPending(ctx, batch, f.Deliverer.now())
		if err != nil {
			return total, err
		}
		for _, it := range items {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			actx, cancel := context.WithTimeout(ctx, timeout)
			_, _ = f.Deliverer.Deliver(actx, it)
			cancel()
			total++
		}
		if len(items) < batch {
			return total, nil
		}
	}
}
