package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

// Latency summarises durations (nearest-rank percentiles).
type Latency struct {
	N    int           `json:"n"`
	P50  time.Duration `json:"p50Ns"`
	P95  time.Duration `json:"p95Ns"`
	P99  time.Duration `json:"p99Ns"`
	Max  time.Duration `json:"maxNs"`
	Mean time.Duration `json:"meanNs"`
}

// Summarise computes a Latency.
func Summarise(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	pct := func(p float64) time.Duration {
		k := int(p/100*float64(len(ds)) + 0.999999)
		return ds[max(1, min(k, len(ds)))-1]
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{N: len(ds), P50: pct(50), P95: pct(95), P99: pct(99), Max: ds[len(ds)-1], Mean: sum / time.Duration(len(ds))}
}

// LoadResult is one throughput run: ours or the baseline.
type LoadResult struct {
	N            int           `json:"n"`
	Concurrency  int           `json:"concurrency"`
	PollInterval time.Duration `json:"pollIntervalNs"`
	// Completed is how many ended as expected (SETTLED, or completed for
	// the baseline).
	Completed int `json:"completed"`
	// Elapsed runs from the first request to the last completion seen.
	Elapsed   time.Duration `json:"elapsedNs"`
	PerSecond float64       `json:"perSecond"`
	// EndToEnd is each one's time from its first request to its end as the
	// driver saw it; Workflow its workflow's start to close in Temporal.
	EndToEnd Latency `json:"endToEnd"`
	Workflow Latency `json:"workflow"`
	// CPU is the CPU time each process used during the run.
	CPU map[string]time.Duration `json:"cpuNs"`
	// Outcomes counts how the applicants ended (ours only).
	Outcomes map[string]int `json:"outcomes,omitempty"`
	// Rounds is how many runs were merged into this one (see Merge).
	Rounds int `json:"rounds"`

	e2e, wf []time.Duration // the samples behind EndToEnd and Workflow
}

// Merge adds up runs made in turns (rounds): counts, time and CPU add up,
// latencies are summarised over every sample.
func Merge(rs ...*LoadResult) *LoadResult {
	out := &LoadResult{CPU: map[string]time.Duration{}}
	for _, r := range rs {
		if r == nil {
			continue
		}
		out.N += r.N
		out.Concurrency, out.PollInterval = r.Concurrency, r.PollInterval
		out.Completed += r.Completed
		out.Elapsed += r.Elapsed
		out.Rounds += max(1, r.Rounds)
		out.e2e = append(out.e2e, r.e2e...)
		out.wf = append(out.wf, r.wf...)
		for k, v := range r.CPU {
			out.CPU[k] += v
		}
		for k, v := range r.Outcomes {
			if out.Outcomes == nil {
				out.Outcomes = map[string]int{}
			}
			out.Outcomes[k] += v
		}
	}
	if out.Elapsed > 0 {
		out.PerSecond = float64(out.Completed) / out.Elapsed.Seconds()
	}
	out.EndToEnd, out.Workflow = Summarise(out.e2e), Summarise(out.wf)
	return out
}

// LoanOptions configure RunLoans and RunBaseline alike.
type LoanOptions struct {
	// Prefix names the applicants (the same people for the same prefix and
	// seed); RunID, when set, is added to their refs and to the baseline's
	// workflow IDs, which must differ from one run to the next on a server
	// that keeps closed workflows.
	Prefix       string
	RunID        string
	N            int
	Concurrency  int
	PollInterval time.Duration
	Seed         uint64
	Timeout      time.Duration // per applicant
}

// refPrefix starts the run's refs and baseline IDs: Prefix-RunID.
func (o LoanOptions) refPrefix() string {
	if o.RunID == "" {
		return o.Prefix
	}
	return o.Prefix + "-" + o.RunID
}

// RunLoans drives N happy-path applicants (3 monthly installments) through
// the public API with the demo driver and returns the run and the refs of
// the loans that settled.
func RunLoans(ctx context.Context, s *stack.Stack, o LoanOptions) (*LoadResult, []string, error) {
	do := s.DemoOptions(o.refPrefix())
	do.RunID = o.Prefix
	do.Plan = make([]demo.Scenario, o.N)
	for i := range do.Plan {
		do.Plan[i] = demo.Happy
	}
	do.Concurrency, do.PollInterval, do.Seed, do.Timeout = o.Concurrency, o.PollInterval, o.Seed, o.Timeout
	do.Tenors = []demo.Tenor{{Tenor: 3, Unit: awda.TenorMonth}}
	cpu0, _ := stack.CPUTimes()
	sum, err := demo.Run(ctx, do)
	cpu1, _ := stack.CPUTimes()
	if err != nil {
		return nil, nil, err
	}
	res := &LoadResult{N: o.N, Concurrency: o.Concurrency, PollInterval: o.PollInterval, Elapsed: sum.Elapsed,
		CPU: stack.CPUDelta(cpu0, cpu1), Outcomes: sum.ByOutcome()}
	var e2e []time.Duration
	var refs []string
	for _, r := range sum.Results {
		if r.Actual == string(workflows.StageSettled) {
			res.Completed++
			e2e = append(e2e, r.Duration)
			refs = append(refs, r.Ref)
		}
	}
	res.EndToEnd, res.e2e = Summarise(e2e), e2e
	res.PerSecond = float64(res.Completed) / sum.Elapsed.Seconds()
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = workflows.LoanWorkflowID(r)
	}
	wf, err := workflowDurations(ctx, s.Client, ids)
	if err != nil {
		return nil, nil, err
	}
	res.Workflow, res.wf, res.Rounds = Summarise(wf), wf, 1
	return res, refs, nil
}

// RunBaseline drives N baseline workflows of the given shape the way the
// demo drives loans: at most Concurrency at once, each started, then its
// status read every PollInterval (±20 %), the update it waits for sent, until
// it is closed.
func RunBaseline(ctx context.Context, c client.Client, shape Shape, o LoanOptions) (*LoadResult, error) {
	if err := shape.check(); err != nil {
		return nil, err
	}
	res := &LoadResult{N: o.N, Concurrency: o.Concurrency, PollInterval: o.PollInterval}
	e2e := make([]time.Duration, o.N)
	errs := make([]error, o.N)
	ids := make([]string, o.N)
	cpu0, _ := stack.CPUTimes()
	began := time.Now()
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for i := range o.N {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		ids[i] = fmt.Sprintf("bench:%s-%05d", o.refPrefix(), i+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			errs[i] = driveBaseline(ctx, c, ids[i], shape, o)
			e2e[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(began)
	cpu1, _ := stack.CPUTimes()
	res.CPU = stack.CPUDelta(cpu0, cpu1)
	var ok []time.Duration
	var okIDs []string
	var firstErr error
	for i, err := range errs {
		if err == nil {
			ok, okIDs = append(ok, e2e[i]), append(okIDs, ids[i])
		} else if firstErr == nil {
			firstErr = err
		}
	}
	res.Completed = len(ok)
	if res.Completed == 0 {
		return nil, fmt.Errorf("baseline: nothing completed: %w", firstErr)
	}
	res.EndToEnd, res.e2e = Summarise(ok), ok
	res.PerSecond = float64(res.Completed) / res.Elapsed.Seconds()
	wf, err := workflowDurations(ctx, c, okIDs)
	if err != nil {
		return nil, err
	}
	res.Workflow, res.wf, res.Rounds = Summarise(wf), wf, 1
	if firstErr != nil {
		return res, fmt.Errorf("baseline: %d of %d failed; the first: %w", o.N-res.Completed, o.N, firstErr)
	}
	return res, nil
}

// check refuses a shape the baseline could not walk: every group of
// signals must follow an activity, which sends them.
func (s Shape) check() error {
	if len(s) == 0 {
		return errors.New("baseline: empty shape")
	}
	for i := 0; i < len(s); i++ {
		if s[i] != StepSignal {
			continue
		}
		j := i
		for j > 0 && s[j-1] == StepSignal {
			j--
		}
		if j == 0 || (s[j-1] != StepActivity && s[j-1] != StepLocalActivity) {
			return fmt.Errorf("baseline: shape %s: the signal at %d follows no activity", s, i)
		}
	}
	return nil
}

func driveBaseline(ctx context.Context, c client.Client, id string, shape Shape, o LoanOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: BaselineTaskQueue},
		BaselineWorkflowName, BaselineInput{Shape: shape}); err != nil {
		return err
	}
	for {
		resp, err := c.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
			WorkflowID: id, QueryType: BaselineQuery,
			QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
		})
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("%s: %w", id, ctx.Err())
		case err != nil:
			// As the demo does with a failed read: try again next poll.
		case resp.QueryRejected != nil:
			if st := resp.QueryRejected.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				return fmt.Errorf("%s: ended %s", id, st)
			}
			return nil
		default:
			var st BaselineStatus
			if err := resp.QueryResult.Get(&st); err != nil {
				return err
			}
			if st.WaitingForUpdate >= 0 {
				h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
					WorkflowID: id, UpdateName: BaselineUpdate, Args: []any{st.WaitingForUpdate},
					WaitForStage: client.WorkflowUpdateStageCompleted,
				})
				if err == nil {
					err = h.Get(ctx, nil)
				}
				if err != nil && ctx.Err() != nil {
					return fmt.Errorf("%s: %w", id, ctx.Err())
				}
			}
		}
		d := time.Duration(float64(o.PollInterval) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", id, ctx.Err())
		case <-time.After(d):
		}
	}
}

// workflowDurations reads each workflow's start-to-close time from
// Temporal.
func workflowDurations(ctx context.Context, c client.Client, ids []string) ([]time.Duration, error) {
	out := make([]time.Duration, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d, err := c.DescribeWorkflow(ctx, id, "")
			if err != nil {
				errs[i] = err
				return
			}
			info := d.RawResponse.GetWorkflowExecutionInfo()
			out[i] = info.GetCloseTime().AsTime().Sub(info.GetStartTime().AsTime())
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// HistoryCost is what a happy-path loan's history weighs.
type HistoryCost struct {
	Loans  int     `json:"loans"`
	Events Spread  `json:"events"`
	Bytes  Spread  `json:"bytes"`
	Shape  Shape   `json:"shape"`
	Shapes int     `json:"distinctShapes"`
	Kinds  []Count `json:"eventTypes"` // of the loan whose shape is used, by type
}

// Spread is the minimum, median and maximum of a count.
type Spread struct {
	Min    int `json:"min"`
	Median int `json:"median"`
	Max    int `json:"max"`
}

// Count is a named count.
type Count struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func spread(v []int) Spread {
	v = slices.Clone(v)
	slices.Sort(v)
	return Spread{Min: v[0], Median: v[len(v)/2], Max: v[len(v)-1]}
}

// MeasureHistories reads the histories of settled loans: events and bytes
// (each event's encoded size, payloads encrypted as stored), and the shape
// most of them share.
func MeasureHistories(ctx context.Context, c client.Client, refs []string) (*HistoryCost, error) {
	if len(refs) == 0 {
		return nil, errors.New("history: no settled loan")
	}
	type one struct {
		events, bytes int
		shape         Shape
		hist          []*historypb.HistoryEvent
	}
	all := make([]one, len(refs))
	errs := make([]error, len(refs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, ref := range refs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			it := c.GetWorkflowHistory(ctx, workflows.LoanWorkflowID(ref), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			var o one
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					errs[i] = err
					return
				}
				o.events++
				o.bytes += proto.Size(ev)
				o.hist = append(o.hist, ev)
			}
			o.shape = ShapeOf(o.hist)
			all[i] = o
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	hc := &HistoryCost{Loans: len(all)}
	var events, bytes []int
	shapes := map[Shape]int{}
	for _, o := range all {
		events, bytes = append(events, o.events), append(bytes, o.bytes)
		shapes[o.shape]++
	}
	hc.Events, hc.Bytes, hc.Shapes = spread(events), spread(bytes), len(shapes)
	for sh, n := range shapes {
		if n > shapes[hc.Shape] || (n == shapes[hc.Shape] && sh < hc.Shape) {
			hc.Shape = sh
		}
	}
	for _, o := range all {
		if o.shape != hc.Shape {
			continue
		}
		kinds := map[string]int{}
		for _, ev := range o.hist {
			kinds[ev.GetEventType().String()]++
		}
		for k, n := range kinds {
			hc.Kinds = append(hc.Kinds, Count{k, n})
		}
		slices.SortFunc(hc.Kinds, func(a, b Count) int { return b.N - a.N })
		break
	}
	return hc, nil
}
