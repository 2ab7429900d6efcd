//go:build integration

package ratelimit

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m)) }

// database is a migrated database and its URL.
func database(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	pool, url := testenv.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	return pool, url
}

// replica is a limiter on a pool of its own, as another process would have.
func replica(t *testing.T, url string, cfg Config) *Limiter {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l, err := New(pool, cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testConfig(read Limit) Config {
	return Config{
		Limits: map[awda.RateClass]Limit{
			awda.RateRead: read, awda.RateWrite: {PerSecond: 1000, Burst: 1000}, awda.RateUpload: {PerSecond: 1000, Burst: 1000},
		},
		MaxWait: 10 * time.Second, BusyStorm: 0.5, BusyBackoff: 5 * time.Second, BusyBackoffCap: 20 * time.Second, BusyDecay: time.Minute,
	}
}

// maxInWindow is the largest number of the sorted times that fall in one
// closed window [t, t+w].
func maxInWindow(ts []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for j < len(ts) && !ts[j].After(ts[i].Add(w)) {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

// Two replicas, each with its own pool and eight callers that never pause
// but once: all together on warm connections for 1.5 s, then, once every
// caller is done, idle for 0.4 s (so that a burst is allowed again), then
// all together again for 1.5 s. The
// slots they are given never number more than rate·W + burst in any window
// W, whatever the window.
func TestTwoReplicasShareOneLimit(t *testing.T) {
	_, url := database(t)
	// An emission interval (100 ms) far above a database round trip, so
	// that the database could hand out slots much faster than allowed.
	lim := Limit{PerSecond: 10, Burst: 5}
	var mu sync.Mutex
	var slots []time.Time
	perReplica := map[int]int{}
	ctx := context.Background()
	var ready, wg sync.WaitGroup
	start := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	for r := range 2 {
		l := replica(t, url, testConfig(lim))
		l.admitted = func(c awda.RateClass, slot time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if c == awda.RateRead {
				slots = append(slots, slot)
				perReplica[r]++
			}
		}
		for range 8 {
			ready.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A connection of its own, through the generous upload class.
				if err := l.Wait(ctx, awda.RateUpload); err != nil {
					t.Errorf("warm-up: %v", err)
				}
				ready.Done()
				for round := range 2 {
					<-start[round]
					for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
						if err := l.Wait(ctx, awda.RateRead); err != nil {
							t.Errorf("Wait: %v", err)
							return
						}
					}
					ready.Done()
				}
			}()
		}
	}
	for round := range 2 {
		ready.Wait()
		if round == 1 {
			time.Sleep(400 * time.Millisecond)
		}
		ready.Add(16)
		close(start[round])
	}
	wg.Wait()

	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	if len(slots) < 2*lim.Burst || perReplica[0] == 0 || perReplica[1] == 0 {
		t.Fatalf("%d slots (per replica %v): the test did not load the limiter", len(slots), perReplica)
	}
	for _, w := range []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, time.Second, 2 * time.Second} {
		bound := int(float64(lim.PerSecond)*w.Seconds()) + lim.Burst
		got := maxInWindow(slots, w)
		t.Logf("window %s: at most %d slots, bound %d", w, got, bound)
		if got > bound {
			t.Errorf("window %s holds %d slots, more than rate·W + burst = %d", w, got, bound)
		}
	}
	span := slots[len(slots)-1].Sub(slots[0])
	if total := len(slots); total > int(float64(lim.PerSecond)*span.Seconds())+lim.Burst {
		t.Errorf("%d slots over %s, more than the limit allows", total, span)
	}
	t.Logf("%d slots over %s (per replica %v)", len(slots), span.Round(time.Millisecond), perReplica)
}

type rowState struct {
	tat, pausedUntil time.Time
	backoff          time.Duration
	busyTotal        int64
}

func readRow(t *testing.T, pool *pgxpool.Pool, c awda.RateClass) rowState {
	t.Helper()
	var r rowState
	var ms int64
	if err := pool.QueryRow(context.Background(), `SELECT GREATEST(tat, 'epoch'), GREATEST(paused_until, 'epoch'), backoff_ms, busy_total
		FROM awda_rate_limit WHERE class = $1`,
		string(c)).Scan(&r.tat, &r.pausedUntil, &ms, &r.busyTotal); err != nil {
		t.Fatal(err)
	}
	r.backoff = time.Duration(ms) * time.Millisecond
	return r
}

// endPause moves the class's pause to have ended ago, as if that much time
// had passed.
func endPause(t *testing.T, pool *pgxpool.Pool, c awda.RateClass, ago time.Duration) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `UPDATE awda_rate_limit SET paused_until = clock_timestamp() - make_interval(secs => $2) WHERE class = $1`,
		string(c), ago.Seconds()); err != nil {
		t.Fatal(err)
	}
}

// A busy storm heard by one replica pauses the class for the other: its
// next call is refused (the pause is longer than its maximum wait), it
// knows the class is paused, and other classes go on. The backoff doubles
// while the storm goes on after each pause, stays put during one, stops at
// the cap, and starts again from the base after the decay.
func TestBusyStormPausesTheWholeFleet(t *testing.T) {
	pool, url := database(t)
	a := replica(t, url, testConfig(Limit{PerSecond: 100, Burst: 10}))
	cfgB := testConfig(Limit{PerSecond: 100, Burst: 10})
	cfgB.MaxWait = time.Second
	b := replica(t, url, cfgB)
	ctx := context.Background()

	if err := b.Wait(ctx, awda.RateRead); err != nil {
		t.Fatalf("before the storm: %v", err)
	}
	// Two busy answers are not a storm yet; the third is.
	a.Busy(ctx, awda.RateRead)
	a.Busy(ctx, awda.RateRead)
	if r := readRow(t, pool, awda.RateRead); r.backoff != 0 || r.busyTotal != 2 {
		t.Fatalf("after two busy answers: %+v, want no pause", r)
	}
	a.Busy(ctx, awda.RateRead)
	row := readRow(t, pool, awda.RateRead)
	if row.backoff != 5*time.Second || row.busyTotal != 3 {
		t.Fatalf("after three busy answers: %+v, want a 5s backoff", row)
	}
	if err := b.Wait(ctx, awda.RateRead); !errors.Is(err, awda.ErrRateLimited) {
		t.Fatalf("the other replica during the pause: %v, want ErrRateLimited", err)
	}
	if !b.pausedNow()[awda.RateRead] || b.pausedNow()[awda.RateWrite] {
		t.Errorf("the other replica's paused gauge: %v, want read only", b.pausedNow())
	}
	if err := b.Wait(ctx, awda.RateWrite); err != nil {
		t.Errorf("writes during a read pause: %v", err)
	}
	if after := readRow(t, pool, awda.RateRead); !after.tat.Equal(row.tat) {
		t.Errorf("a refused call moved tat from %s to %s", row.tat, after.tat)
	}
	if !row.tat.After(row.pausedUntil) {
		t.Errorf("tat %s not past the pause's end %s: calls would burst after it", row.tat, row.pausedUntil)
	}

	// More busy answers during the pause (calls made before it) change nothing.
	b.Busy(ctx, awda.RateRead)
	if r := readRow(t, pool, awda.RateRead); r.backoff != 5*time.Second || !r.pausedUntil.Equal(row.pausedUntil) || r.busyTotal != 4 {
		t.Errorf("a busy answer during the pause changed it: %+v", r)
	}
	// Busy again right after each pause: 10s, 20s, then the 20s cap.
	for _, want := range []time.Duration{10 * time.Second, 20 * time.Second, 20 * time.Second} {
		endPause(t, pool, awda.RateRead, time.Second)
		b.Busy(ctx, awda.RateRead)
		if r := readRow(t, pool, awda.RateRead); r.backoff != want {
			t.Errorf("backoff %s, want %s", r.backoff, want)
		}
	}
	// After a quiet spell longer than the decay: the base again.
	endPause(t, pool, awda.RateRead, 2*time.Minute)
	a.Busy(ctx, awda.RateRead)
	if r := readRow(t, pool, awda.RateRead); r.backoff != 5*time.Second {
		t.Errorf("after the decay: backoff %s, want the base 5s", r.backoff)
	}
}

// A waiting call returns as soon as its context ends; a call whose slot lies
// beyond its deadline returns at once without taking the slot.
func TestWaitEndsWithItsContext(t *testing.T) {
	pool, url := database(t)
	cfg := testConfig(Limit{PerSecond: 10, Burst: 1})
	cfg.MaxWait, cfg.BusyBackoff, cfg.BusyBackoffCap = time.Hour, time.Hour, time.Hour
	l := replica(t, url, cfg)
	for range 3 { // a storm: the next slot is an hour away
		l.Busy(context.Background(), awda.RateRead)
	}

	before := readRow(t, pool, awda.RateRead)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, awda.RateRead) }()
	// The call takes its slot (tat moves) and sleeps; then it is
	// cancelled.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if readRow(t, pool, awda.RateRead).tat.After(before.tat) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call never took its slot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after its context was cancelled")
	}

	tat := readRow(t, pool, awda.RateRead).tat
	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer dcancel()
	if err := l.Wait(dctx, awda.RateRead); !errors.Is(err, awda.ErrRateLimited) {
		t.Errorf("slot beyond the deadline: %v, want ErrRateLimited", err)
	}
	if after := readRow(t, pool, awda.RateRead).tat; !after.Equal(tat) {
		t.Errorf("a refused call moved tat from %s to %s", tat, after)
	}
}

// A class the migration did not seed gets its row on first use.
func TestUnseededClass(t *testing.T) {
	pool, url := database(t)
	cfg := testConfig(Limit{PerSecond: 10, Burst: 2})
	cfg.Limits["bulk"] = Limit{PerSecond: 1, Burst: 1}
	l := replica(t, url, cfg)
	if err := l.Wait(context.Background(), "bulk"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM awda_rate_limit WHERE class = 'bulk' AND tat > now()`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("row for the new class: %d, %v", n, err)
	}
}

// Busy answers to a third of the calls, as a flaky AWDA gives (or the
// sandbox's faults in tools/e2e and tools/chaos), pause nothing: Temporal
// retries them. Answers to most calls do.
func TestIsolatedBusyAnswersDoNotPause(t *testing.T) {
	pool, url := database(t)
	l := replica(t, url, testConfig(Limit{PerSecond: 1000, Burst: 1000}))
	ctx := context.Background()
	for i := range 60 {
		if err := l.Wait(ctx, awda.RateRead); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			l.Busy(ctx, awda.RateRead)
		}
	}
	if r := readRow(t, pool, awda.RateRead); r.backoff != 0 || r.busyTotal != 20 {
		t.Fatalf("a third of the calls busy: %+v, want 20 counted and no pause", r)
	}
	for range 60 {
		l.Busy(ctx, awda.RateRead)
	}
	if r := readRow(t, pool, awda.RateRead); r.backoff != 5*time.Second || !r.pausedUntil.After(time.Now()) {
		t.Fatalf("then every call busy: %+v, want a pause", r)
	}
}
