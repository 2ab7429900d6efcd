package testenv

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
)

// The activities' other ports, in memory: the read model and the document
// store the loan workflow's tests and the simulator run with (internal/store
// has the PostgreSQL ones, tested on their own).

var (
	_ activities.AWDAClient       = (*awda.Client)(nil)
	_ activities.DocumentStore    = (*Documents)(nil)
	_ activities.ProjectionWriter = (*Projections)(nil)
)

// Documents is an in-memory DocumentStore.
type Documents struct {
	mu   sync.Mutex
	docs map[string]activities.Document
	err  []error
}

// NewDocuments returns a store holding docs.
func NewDocuments(docs ...activities.Document) *Documents {
	d := &Documents{docs: map[string]activities.Document{}}
	for _, doc := range docs {
		d.docs[doc.ID] = doc
	}
	return d
}

// Fail queues errors for the next reads.
func (d *Documents) Fail(errs ...error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = append(d.err, errs...)
}

func (d *Documents) GetDocument(_ context.Context, id string) (*activities.Document, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.err) > 0 {
		err := d.err[0]
		d.err = d.err[1:]
		return nil, err
	}
	doc, ok := d.docs[id]
	if !ok {
		return nil, activities.ErrDocumentNotFound
	}
	doc.Bytes = append([]byte(nil), doc.Bytes...)
	return &doc, nil
}

// Projections records every accepted projection write and, like the real
// writer, ignores a write whose Seq is not newer than the stored one. It
// keeps the trail as the real writer does: each entry once per workflow and
// Seq (the first write wins), from every write that succeeds, late ones
// included.
type Projections struct {
	mu     sync.Mutex
	rows   map[string]activities.ApplicationProjection
	writes []activities.ApplicationProjection
	trails map[string]map[int64]activities.TrailEntry
	fail   int
}

// NewProjections returns an empty writer.
func NewProjections() *Projections {
	return &Projections{rows: map[string]activities.ApplicationProjection{}, trails: map[string]map[int64]activities.TrailEntry{}}
}

// ErrStoreUnavailable is what a failing Projections returns.
var ErrStoreUnavailable = errors.New("testenv: store unavailable")

// FailNext makes the next n writes fail with ErrStoreUnavailable.
func (p *Projections) FailNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail += n
}

// Heal makes writes succeed again.
func (p *Projections) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = 0
}

func (p *Projections) UpsertApplication(_ context.Context, a activities.ApplicationProjection) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return ErrStoreUnavailable
	}
	for _, e := range a.Trail {
		if e.Seq <= 0 {
			continue
		}
		tr := p.trails[a.WorkflowID]
		if tr == nil {
			tr = map[int64]activities.TrailEntry{}
			p.trails[a.WorkflowID] = tr
		}
		if _, ok := tr[e.Seq]; !ok {
			tr[e.Seq] = e
		}
	}
	if cur, ok := p.rows[a.WorkflowID]; ok && a.Seq <= cur.Seq {
		return nil
	}
	p.rows[a.WorkflowID] = a
	p.writes = append(p.writes, a)
	return nil
}

// Row returns the stored projection of a workflow.
func (p *Projections) Row(workflowID string) (activities.ApplicationProjection, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.rows[workflowID]
	return r, ok
}

// Writes returns every accepted write, in order.
func (p *Projections) Writes() []activities.ApplicationProjection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]activities.ApplicationProjection(nil), p.writes...)
}

// Trail returns the stored trail of a workflow, oldest first (by Seq).
func (p *Projections) Trail(workflowID string) []activities.TrailEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]activities.TrailEntry, 0, len(p.trails[workflowID]))
	for _, e := range p.trails[workflowID] {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b activities.TrailEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}
