package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/tools/stack"
)

// The webhook load: what the notifications are about. A realistic day at
// AWDA's end is mostly news about loans we know, some redeliveries of what
// it already sent (its retries), and a few about loans we never started
// (another system's, or ours before the row was written). Every body is a
// LOAN_STATUS event built from a real push of the same run (the settled
// loans of the throughput run: their loanNo, orderNo and userId), so the
// receiver and the routing see real identifiers:
//
//   - MixKnown: a new eventId about a known loan. Stored and acknowledged;
//     the forwarder then routes it by loanNo to its workflow and signals
//     it; the loan is closed (SETTLED), so Temporal answers NotFound and
//     the row becomes orphan: the whole path, including a Temporal round
//     trip, but no workflow task on the worker.
//   - MixRedelivery: an eventId stored before (an AWDA retry). The inbox
//     insert finds it and the answer is an acknowledgement, nothing else.
//   - MixUnknown: a loan no application has. Stored, routed in vain, left
//     pending until the orphan grace runs out.
//
// The acknowledgements are what is timed; the forwarder's delivery, which
// follows them, is measured apart (WaitInboxDrained).
const (
	MixKnown      = 0.70
	MixRedelivery = 0.20
	MixUnknown    = 0.10
)

// Notification is one body of the load and what kind it is.
type Notification struct {
	Kind string
	Body []byte
}

// Notifications builds n bodies in the mix above from the loan events the
// sandbox pushed (events of the loans in loanNos only; redeliveries reuse
// their eventIds as they are).
func Notifications(events []sandbox.Event, loanNos map[string]bool, n int, seed uint64) ([]Notification, error) {
	var pushed []awda.LoanStatusEvent
	for _, ev := range events {
		if ev.Loan != nil && loanNos[ev.Loan.LoanNo] {
			pushed = append(pushed, *ev.Loan)
		}
	}
	if len(pushed) == 0 {
		return nil, errors.New("webhooks: no pushed loan event to build notifications from")
	}
	rng := rand.New(rand.NewPCG(seed, 0x776562686f6f6b)) // "webhook"
	out := make([]Notification, n)
	for i := range out {
		// A redelivery carries the very body AWDA sent before.
		ev := pushed[rng.IntN(len(pushed))]
		kind := "redelivery"
		switch r := rng.Float64(); {
		case r < MixKnown:
			kind = "known"
			ev.EventID = fmt.Sprintf("bench-%d-%d", seed, i)
			ev.OccurredAt = time.Now().UnixMilli()
		case r < MixKnown+MixUnknown:
			kind = "unknown"
			ev.EventID = fmt.Sprintf("bench-%d-%d", seed, i)
			ev.LoanNo = "LN-BENCH-" + strconv.Itoa(i)
			ev.OrderNo = fmt.Sprintf("AFBENCH%023d", i)
			ev.UserID = "U-BENCH-" + strconv.Itoa(i)
			ev.OccurredAt = time.Now().UnixMilli()
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out[i] = Notification{Kind: kind, Body: b}
	}
	return out, nil
}

// BlastResult is one run of the load generator.
type BlastResult struct {
	Target      string                   `json:"target"`
	N           int                      `json:"n"`
	Concurrency int                      `json:"concurrency"`
	OK          int                      `json:"ok"` // HTTP 200
	Errors      int                      `json:"errors"`
	FirstError  string                   `json:"firstError,omitempty"`
	Elapsed     time.Duration            `json:"elapsedNs"`
	PerSecond   float64                  `json:"perSecond"`
	Latency     Latency                  `json:"latency"`
	ByKind      map[string]int           `json:"byKind,omitempty"`
	CPU         map[string]time.Duration `json:"cpuNs"`
	// Drain is the starter's forwarder working off what the run stored,
	// after the last acknowledgement (not part of Elapsed).
	Drain *Drain `json:"drain,omitempty"`
}

// Drain is the time the inbox forwarder took, after a run's last
// acknowledgement, to make a first delivery attempt for every row the run
// stored, and the CPU used meanwhile.
type Drain struct {
	Backlog   int                      `json:"backlog"` // rows not yet attempted when the run ended
	Elapsed   time.Duration            `json:"elapsedNs"`
	Done      bool                     `json:"done"` // false: timed out
	PerSecond float64                  `json:"perSecond"`
	CPU       map[string]time.Duration `json:"cpuNs"`
}

// WaitInboxDrained waits, at most timeout, until no inbox row is waiting
// for its first delivery attempt: every row is delivered, orphan, rejected,
// or pending with the outcome of an attempt recorded (a retry, such as a
// loan without an application within the orphan grace). A run's figures are
// read before it, so they do not count this time; the run that follows
// starts after it, so the forwarder's work does not weigh on it either.
func WaitInboxDrained(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) (*Drain, error) {
	const waiting = `SELECT count(*) FROM webhook_inbox WHERE status = 'pending' AND last_error = ''`
	d := &Drain{}
	cpu0, _ := stack.CPUTimes()
	began := time.Now()
	if err := pool.QueryRow(ctx, waiting).Scan(&d.Backlog); err != nil {
		return nil, err
	}
	for n := d.Backlog; n > 0; {
		if time.Since(began) > timeout {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if err := pool.QueryRow(ctx, waiting).Scan(&n); err != nil {
			return nil, err
		}
		d.Done = n == 0
	}
	d.Done = d.Done || d.Backlog == 0
	d.Elapsed = time.Since(began)
	cpu1, _ := stack.CPUTimes()
	d.CPU = stack.CPUDelta(cpu0, cpu1)
	if d.Done && d.Elapsed > 0 {
		d.PerSecond = float64(d.Backlog) / d.Elapsed.Seconds()
	}
	return d, nil
}

// Blast posts every notification to url, signed as AWDA signs them (a fresh
// timestamp and nonce each), concurrency at a time over kept-alive
// connections, and measures each request.
func Blast(ctx context.Context, target, url, appID string, signer awda.Signer, ns []Notification, concurrency int) (*BlastResult, error) {
	tr := &http.Transport{
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	res := &BlastResult{Target: target, N: len(ns), Concurrency: concurrency, ByKind: map[string]int{}}
	for _, n := range ns {
		res.ByKind[n.Kind]++
	}
	lat := make([]time.Duration, len(ns))
	var next atomic.Int64
	var okN, errN atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		errN.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	cpu0, _ := stack.CPUTimes()
	began := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ns) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ns[i].Body))
				if err == nil {
					err = awda.SignNotification(req, ns[i].Body, appID, signer, t0, "")
				}
				if err != nil {
					fail(err)
					continue
				}
				resp, err := hc.Do(req)
				if err != nil {
					fail(err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode == http.StatusOK {
					okN.Add(1)
				} else {
					fail(fmt.Errorf("HTTP %d", resp.StatusCode))
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(began)
	cpu1, _ := stack.CPUTimes()
	res.CPU = stack.CPUDelta(cpu0, cpu1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.OK, res.Errors = int(okN.Load()), int(errN.Load())
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	var ok []time.Duration
	for _, d := range lat {
		if d > 0 {
			ok = append(ok, d)
		}
	}
	res.Latency = Summarise(ok)
	res.PerSecond = float64(res.OK) / res.Elapsed.Seconds()
	return res, nil
}

// BareHandler is the webhook baseline: an HTTP server in this process that
// verifies nothing, parses nothing and does one pgx INSERT of the raw body
// into a scratch table of the same database (through a pool of the same
// default size as the starter's), then acknowledges as the starter does.
type BareHandler struct {
	URL  string
	pool *pgxpool.Pool
	srv  *http.Server
}

const bareTable = "bench_webhook_bare"

// StartBareHandler creates the scratch table and serves the handler on a
// loopback port.
func StartBareHandler(ctx context.Context, databaseURL string) (*BareHandler, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+bareTable+` (
		id bigserial PRIMARY KEY,
		received_at timestamptz NOT NULL DEFAULT now(),
		payload bytea NOT NULL)`); err != nil {
		pool.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pool.Close()
		return nil, err
	}
	b := &BareHandler{URL: "http://" + ln.Addr().String() + webhook.PathLoanStatus, pool: pool}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

func (b *BareHandler) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, awda.MaxNotificationBytes))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if _, err := b.pool.Exec(r.Context(), `INSERT INTO `+bareTable+` (payload) VALUES ($1)`, body); err != nil {
		http.Error(w, "insert", http.StatusServiceUnavailable)
		return
	}
	awda.WriteAck(w)
}

// Rows counts the rows the handler stored.
func (b *BareHandler) Rows(ctx context.Context) (int, error) {
	var n int
	err := b.pool.QueryRow(ctx, `SELECT count(*) FROM `+bareTable).Scan(&n)
	return n, err
}

// Close stops the server and drops the scratch table.
func (b *BareHandler) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.srv.Shutdown(ctx)
	_, derr := b.pool.Exec(ctx, `DROP TABLE IF EXISTS `+bareTable)
	b.pool.Close()
	return errors.Join(err, derr)
}

// InboxCounts counts the inbox rows by status.
func InboxCounts(ctx context.Context, pool *pgxpool.Pool) (map[string]int, error) {
	rows, err := pool.Query(ctx, `SELECT status, count(*) FROM webhook_inbox GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}
