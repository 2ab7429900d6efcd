package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/workflows"
)

// gateOptions shape one run of the replay gate.
type gateOptions struct {
	// Query selects the workflows (DefaultGateQuery).
	Query string
	// PageSize is the visibility page size; every page is read.
	PageSize int
	// Max fails the gate, before any replay, when more workflows match
	// (0: no cap). It never stops the gate early with a pass.
	Max int
	// Parallel histories are fetched and replayed at once.
	Parallel int
	// Verbose prints a line for every workflow that passes too.
	Verbose bool
	// Keys decode the payloads under applicants' data keys (nil: ring
	// payloads only). They have no ApplicantOf, so replaying never creates
	// a key.
	Keys *codec.DataKeys
	// Register registers the workflow code to replay against; nil
	// registers the loan workflow as the worker does. Tests register a
	// deliberately changed one.
	Register func(worker.WorkflowRegistry)
}

func (o gateOptions) register(r worker.WorkflowRegistry) {
	if o.Register != nil {
		o.Register(r)
		return
	}
	r.RegisterWorkflow(workflows.LoanApplication)
}

// gateResult is what a run of the gate found.
type gateResult struct {
	// IDs are the workflows replayed (workflow IDs; file names for files
	// that held no readable history), oldest first; Failed those that
	// failed, in the same order.
	IDs    []string
	Failed []string
	// Oldest is the start time of the oldest history replayed.
	Oldest time.Time
	// Pages of visibility results read.
	Pages int
}

// summary is the gate's last line.
func (r *gateResult) summary() string {
	oldest := "-"
	if !r.Oldest.IsZero() {
		oldest = r.Oldest.UTC().Format(time.RFC3339)
	}
	verdict := "PASS"
	if len(r.Failed) > 0 {
		verdict = "FAIL"
	}
	return fmt.Sprintf("replay-gate: %s: replayed %d, failed %d, oldest started at %s", verdict, len(r.IDs), len(r.Failed), oldest)
}

// execution is one run the query matched.
type execution struct {
	id, runID string
	start     time.Time
}

// runGate lists every workflow the query matches, oldest first, and
// replays each one's history with the worker's encrypting data converter
// (ring): histories are read as stored and decrypted in memory only. An error means the gate could not finish
// (listing failed, -max exceeded, ctx ended): that fails the rollout as a
// failed replay does.
func runGate(ctx context.Context, c client.Client, namespace string, ring *codec.KeyRing, o gateOptions, out io.Writer) (*gateResult, error) {
	execs, pages, err := listOldestFirst(ctx, c, namespace, o)
	if err != nil {
		return nil, err
	}
	res := &gateResult{Pages: pages}
	if len(execs) > 0 {
		res.Oldest = execs[0].start
	}
	rp := &historyReplayer{opts: o, out: out}
	rp.dc, rp.fc = codec.ClientOptionsWithKeys(ring, o.Keys)
	errs := make([]error, len(execs))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, e := range execs {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = rp.replayExecution(ctx, c, e)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gave up before every history was replayed (-timeout): %w", err)
	}
	for i, e := range execs {
		res.IDs = append(res.IDs, e.id)
		if errs[i] != nil {
			res.Failed = append(res.Failed, e.id)
		}
	}
	return res, nil
}

// listOldestFirst reads every page of the query and sorts the runs by start
// time. Temporal's SQL visibility (PostgreSQL, MySQL, SQLite: the dev server
// and the lane) refuses ORDER BY and lists the running workflows newest
// first, so the order is made here, in memory: an ID, a run ID and a time a
// workflow, some 100 bytes, 10 MB for 100,000 running loans.
func listOldestFirst(ctx context.Context, c client.Client, namespace string, o gateOptions) ([]execution, int, error) {
	var out []execution
	seen := map[string]bool{}
	var token []byte
	pages := 0
	for {
		page, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: o.Query, PageSize: int32(o.PageSize), NextPageToken: token,
		})
		if err != nil {
			return nil, pages, fmt.Errorf("listing %q (page %d): %w", o.Query, pages+1, err)
		}
		pages++
		for _, e := range page.GetExecutions() {
			x := execution{id: e.GetExecution().GetWorkflowId(), runID: e.GetExecution().GetRunId(), start: e.GetStartTime().AsTime()}
			if seen[x.runID] { // a run that moved between pages while we read
				continue
			}
			seen[x.runID] = true
			out = append(out, x)
			if o.Max > 0 && len(out) > o.Max {
				return nil, pages, fmt.Errorf("more than -max %d workflows match %q: the gate replays all of them or fails; raise -max or drop it", o.Max, o.Query)
			}
		}
		if token = page.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	slices.SortStableFunc(out, func(a, b execution) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out, pages, nil
}

// historyReplayer replays one history at a time with a fresh replayer.
type historyReplayer struct {
	opts gateOptions
	dc   converter.DataConverter
	fc   converter.FailureConverter

	mu  sync.Mutex
	out io.Writer
}

// replayExecution fetches a run's history and replays it.
func (r *historyReplayer) replayExecution(ctx context.Context, c client.Client, e execution) error {
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, e.id, e.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			err = fmt.Errorf("reading its history: %w", err)
			r.report(e.id, 0, err)
			return err
		}
		h.Events = append(h.Events, ev)
	}
	err := r.replay(h, e.id, e.runID)
	r.report(e.id, len(h.Events), err)
	return err
}

// replay runs a history through a fresh replayer, under the run's own
// workflow ID and run ID (the orderNo is derived from the ID).
func (r *historyReplayer) replay(h *historypb.History, id, runID string) error {
	rp, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: r.dc, FailureConverter: r.fc})
	if err != nil {
		return err
	}
	r.opts.register(rp)
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	return rp.ReplayWorkflowHistoryWithOptions(logger, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: id, RunID: runID},
	})
}

// report prints one workflow's verdict: always a failure, a pass with
// Verbose.
func (r *historyReplayer) report(id string, events int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		fmt.Fprintf(r.out, "FAIL %s: %s\n", id, describe(err))
	} else if r.opts.Verbose {
		fmt.Fprintf(r.out, "ok   %s (%d events)\n", id, events)
	}
}

var (
	// names in the SDK's rendering of events and commands: activity,
	// timer, marker and signal names, which are identifiers of our code.
	nameField = regexp.MustCompile(`\b(?:Name|TimerId|MarkerName|SignalName):([A-Za-z0-9_.-]+)`)
	spaces    = regexp.MustCompile(`\s+`)
)

// describe renders a replay error without the payloads the SDK prints with
// a mismatching event or command (encrypted, but no business of a rollout
// log): the text outside parentheses, the names found inside them, at most
// 400 characters.
func describe(err error) string {
	msg := err.Error()
	var b strings.Builder
	depth := 0
	for _, r := range msg {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	text := strings.TrimSpace(spaces.ReplaceAllString(b.String(), " "))
	var names []string
	for _, m := range nameField.FindAllStringSubmatch(msg, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	if len(names) > 0 {
		text += " [names: " + strings.Join(names, ", ") + "]"
	}
	if r := []rune(text); len(r) > 400 {
		text = string(r[:400]) + "…"
	}
	return text
}

// replayFiles replays exported histories (`temporal workflow show -o json`,
// encrypted as stored), oldest first.
func replayFiles(ring *codec.KeyRing, files []string, o gateOptions, out io.Writer) *gateResult {
	r := &historyReplayer{opts: o, out: out}
	r.dc, r.fc = codec.ClientOptionsWithKeys(ring, o.Keys)
	type loaded struct {
		name, id string
		h        *historypb.History
		start    time.Time
		err      error
	}
	var all []loaded
	for _, path := range files {
		l := loaded{name: path, id: path}
		l.h, l.err = readHistory(path)
		if l.err == nil {
			var id string
			if id, l.start, l.err = r.identify(l.h); l.err == nil {
				l.id = id
			}
		}
		all = append(all, l)
	}
	slices.SortStableFunc(all, func(a, b loaded) int { return a.start.Compare(b.start) })
	res := &gateResult{}
	for _, l := range all {
		err := l.err
		if err == nil {
			err = r.replay(l.h, l.id, l.h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetOriginalExecutionRunId())
			if res.Oldest.IsZero() || l.start.Before(res.Oldest) {
				res.Oldest = l.start
			}
		}
		r.report(l.id, len(l.h.GetEvents()), err)
		res.IDs = append(res.IDs, l.id)
		if err != nil {
			res.Failed = append(res.Failed, l.id)
		}
	}
	return res
}

// identify checks that h is a loan's history and derives its workflow ID
// from the applicant ref of its (encrypted) input, which every run carries,
// continued-as-new ones too.
func (r *historyReplayer) identify(h *historypb.History) (string, time.Time, error) {
	events := h.GetEvents()
	if len(events) == 0 || events[0].GetWorkflowExecutionStartedEventAttributes() == nil {
		return "", time.Time{}, errors.New("not a workflow history (no WorkflowExecutionStarted first)")
	}
	started := events[0].GetWorkflowExecutionStartedEventAttributes()
	if t := started.GetWorkflowType().GetName(); t != workflows.WorkflowName {
		return "", time.Time{}, fmt.Errorf("workflow type %q, not %s", t, workflows.WorkflowName)
	}
	id, err := r.workflowID(started.GetInput())
	return id, events[0].GetEventTime().AsTime(), err
}

func (r *historyReplayer) workflowID(input *commonpb.Payloads) (string, error) {
	var in workflows.LoanApplicationInput
	if err := r.dc.FromPayloads(input, &in); err != nil {
		return "", fmt.Errorf("reading the input (is %s missing a key the history uses?): %w", config.EnvKeys, err)
	}
	if in.ApplicantRef == "" {
		return "", errors.New("the input has no applicant ref")
	}
	return workflows.LoanWorkflowID(in.ApplicantRef), nil
}

func readHistory(path string) (*historypb.History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return client.HistoryFromJSON(f, client.HistoryJSONOptions{})
}

// quietSDKLogger passes the SDK client's warnings and errors on to w.
func quietSDKLogger(w io.Writer) log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})))
}
