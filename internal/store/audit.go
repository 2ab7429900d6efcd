package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/activity"

	"github.com/awdaflow/awdaflow/awda"
)

// CallRecord is one AWDA call attempt, as audited in awda_calls. It carries no
// request or response data.
type CallRecord struct {
	Endpoint     string
	Code         int    // AWDA's code; 0 on success or with no AWDA answer
	Outcome      string // "ok" or the error class (awda.CallInfo.Outcome)
	HTTPStatus   int    // 0 with no HTTP answer
	Latency      time.Duration
	Nonce        string
	WorkflowID   string // empty outside an activity
	ActivityType string
	Attempt      int // the activity attempt, from 1; 0 outside an activity
	CalledAt     time.Time
}

// RecordCall writes one audit row synchronously. Most callers want the
// asynchronous AuditObserver instead.
func (s *Store) RecordCall(ctx context.Context, r CallRecord) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO awda_calls (endpoint, code, outcome, http_status, latency_ms, nonce, workflow_id, activity_type, attempt, called_at)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), NULLIF($8, ''), NULLIF($9, 0), $10)`,
		callValues(r)...)
	if err != nil {
		return fmt.Errorf("store: record call: %w", err)
	}
	return nil
}

var callColumns = []string{"endpoint", "code", "outcome", "http_status", "latency_ms", "nonce",
	"workflow_id", "activity_type", "attempt", "called_at"}

func callValues(r CallRecord) []any {
	return []any{r.Endpoint, r.Code, r.Outcome, r.HTTPStatus,
		float64(r.Latency) / float64(time.Millisecond), r.Nonce,
		r.WorkflowID, r.ActivityType, r.Attempt, r.CalledAt}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CallRecordFromInfo builds the audit record of an attempt observed with ctx;
// inside a Temporal activity it names the workflow, activity and attempt.
func CallRecordFromInfo(ctx context.Context, info awda.CallInfo, at time.Time) CallRecord {
	r := CallRecord{
		Endpoint:   info.Endpoint,
		Code:       int(info.Code),
		Outcome:    info.Outcome(),
		HTTPStatus: info.HTTPStatus,
		Latency:    info.Latency,
		Nonce:      info.Nonce,
		CalledAt:   at.Add(-info.Latency),
	}
	if activity.IsActivity(ctx) {
		ai := activity.GetInfo(ctx)
		r.WorkflowID = ai.WorkflowExecution.ID
		r.ActivityType = ai.ActivityType.Name
		r.Attempt = int(ai.Attempt)
	}
	return r
}

// AuditObserver returns an awda.Observer that audits every AWDA attempt into
// awda_calls without ever blocking the call: records go through a bounded
// buffer to a background writer that inserts them in batches, and a record
// that finds the buffer full is dropped and counted. Every call returns an
// observer feeding the same writer (started on first call, with that call's
// logger); Store.Close flushes it.
func (s *Store) AuditObserver(log zerolog.Logger) awda.Observer {
	s.auditOnce.Do(func() { s.audit.Store(NewAuditRecorder(s, log, 0)) })
	return s.audit.Load().Observe
}

// AuditDropped returns how many audit records AuditObserver has dropped.
func (s *Store) AuditDropped() uint64 {
	if r := s.audit.Load(); r != nil {
		return r.Dropped()
	}
	return 0
}

// AuditRecorder is the asynchronous writer behind AuditObserver.
type AuditRecorder struct {
	store   *Store
	log     zerolog.Logger
	ch      chan CallRecord
	quit    chan struct{}
	done    chan struct{}
	closing atomic.Bool
	once    sync.Once
	dropped atomic.Uint64
	failed  atomic.Uint64
}

const (
	defaultAuditBuffer = 4096
	auditBatch         = 256
	// auditLinger is how long the writer waits for more records after the
	// first of a batch: one COPY per burst of calls instead of one per call
	// (a loan's calls come in bursts). Close still writes everything.
	auditLinger = 200 * time.Millisecond
)

// NewAuditRecorder starts a recorder writing to s with a buffer of size
// records (0 for the default, 4096). Close it to flush.
func NewAuditRecorder(s *Store, log zerolog.Logger, size int) *AuditRecorder {
	if size <= 0 {
		size = defaultAuditBuffer
	}
	r := &AuditRecorder{
		store: s,
		log:   log,
		ch:    make(chan CallRecord, size),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go r.run()
	return r
}

// Observe is an awda.Observer. It never blocks.
func (r *AuditRecorder) Observe(ctx context.Context, info awda.CallInfo) {
	r.Record(CallRecordFromInfo(ctx, info, time.Now()))
}

// Record queues rec, or drops it if the buffer is full or the recorder
// closed.
func (r *AuditRecorder) Record(rec CallRecord) {
	if r.closing.Load() {
		r.dropped.Add(1)
		return
	}
	select {
	case r.ch <- rec:
	default:
		r.dropped.Add(1)
	}
}

// Dropped is the number of records dropped because the buffer was full or
// the recorder closed.
func (r *AuditRecorder) Dropped() uint64 { return r.dropped.Load() }

// Failed is the number of records lost to database errors.
func (r *AuditRecorder) Failed() uint64 { return r.failed.Load() }

// Close writes what is buffered and stops the writer. Records arriving after
// Close are dropped.
func (r *AuditRecorder) Close() {
	r.once.Do(func() {
		r.closing.Store(true)
		close(r.quit)
	})
	<-r.done
}

func (r *AuditRecorder) run() {
	defer close(r.done)
	batch := make([]CallRecord, 0, auditBatch)
	for {
		select {
		case rec := <-r.ch:
			batch = append(batch[:0], rec)
			batch = r.linger(batch)
			r.write(batch)
		case <-r.quit:
			for {
				batch = r.fill(batch[:0])
				if len(batch) == 0 {
					return
				}
				r.write(batch)
			}
		}
	}
}

// linger adds records as they come, for at most auditLinger or until the
// batch is full or the recorder closes.
func (r *AuditRecorder) linger(batch []CallRecord) []CallRecord {
	t := time.NewTimer(auditLinger)
	defer t.Stop()
	for len(batch) < auditBatch {
		select {
		case rec := <-r.ch:
			batch = append(batch, rec)
		case <-t.C:
			return batch
		case <-r.quit:
			return r.fill(batch)
		}
	}
	return batch
}

// fill adds what is waiting in the buffer, up to a full batch, without
// waiting.
func (r *AuditRecorder) fill(batch []CallRecord) []CallRecord {
	for len(batch) < auditBatch {
		select {
		case rec := <-r.ch:
			batch = append(batch, rec)
		default:
			return batch
		}
	}
	return batch
}

func (r *AuditRecorder) write(batch []CallRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows := make([][]any, len(batch))
	for i, rec := range batch {
		v := callValues(rec)
		v[6], v[7] = nullable(rec.WorkflowID), nullable(rec.ActivityType)
		if rec.Attempt == 0 {
			v[8] = nil
		}
		rows[i] = v
	}
	if _, err := r.store.pool.CopyFrom(ctx, pgx.Identifier{"awda_calls"}, callColumns, pgx.CopyFromRows(rows)); err != nil {
		r.failed.Add(uint64(len(batch)))
		r.log.Warn().Err(err).Int("records", len(batch)).Msg("awda call audit: write failed; records lost")
	}
}
