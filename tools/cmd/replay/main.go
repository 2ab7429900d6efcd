// Command replay replays loan workflow histories against the workflow code
// of this checkout, before it is deployed: a change that would make a
// running loan non-deterministic fails here instead of in production.
//
// From a Temporal cluster (the histories of the loans the query matches):
//
//	TEMPORAL_ADDRESS=… TEMPORAL_NAMESPACE=… AWDAFLOW_KEYS=… \
//	  cd tools && go run ./cmd/replay -query 'ExecutionStatus = "Running"' -limit 500
//
// or from exported files (`temporal workflow show -w loan:REF -o json > h.json`,
// encrypted as stored; never export decoded histories, they hold personal
// data):
//
//	AWDAFLOW_KEYS=… cd tools && go run ./cmd/replay h1.json h2.json
//
// The connection settings are internal/config's: Temporal's standard client
// configuration (a TEMPORAL_PROFILE of TEMPORAL_CONFIG_FILE, TEMPORAL_ADDRESS,
// TEMPORAL_TLS_*, TEMPORAL_API_KEY, …; docs/configuration.md); AWDAFLOW_KEYS must
// hold every key the histories were encrypted with. It prints one line per
// workflow (its ID, never a payload) and exits 1 if any replay failed, 2 on
// bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
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
	"github.com/awdaflow/awdaflow/internal/temporalx"
	"github.com/awdaflow/awdaflow/workflows"
)

// DefaultQuery selects the loans a deploy could break: the running ones.
const DefaultQuery = `WorkflowType = "` + workflows.WorkflowName + `" AND ExecutionStatus = "Running"`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	query := fs.String("query", DefaultQuery, "visibility query selecting the workflows to replay (ignored with files)")
	limit := fs.Int("limit", 200, "replay at most this many workflows from the cluster")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: replay [-query Q] [-limit N]   replay from the cluster (TEMPORAL_*)")
		fmt.Fprintln(stderr, "       replay FILE.json...            replay exported histories")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ring, err := codec.ParseKeyRing(getenv(config.EnvKeys))
	if err != nil {
		fmt.Fprintf(stderr, "replay: %s: %v\n", config.EnvKeys, err)
		return 2
	}
	dc, fc := codec.ClientOptions(ring)
	r := &replayer{dc: dc, fc: fc, out: stdout}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if fs.NArg() > 0 {
		for _, path := range fs.Args() {
			h, err := readHistory(path)
			if err != nil {
				r.fail(path, err)
				continue
			}
			r.replay(path, h)
		}
	} else if err := r.fromCluster(ctx, getenv, ring, *query, *limit); err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d replayed, %d failed\n", r.ok+r.failed, r.failed)
	if r.failed > 0 || r.ok == 0 {
		if r.ok+r.failed == 0 {
			fmt.Fprintln(stderr, "replay: nothing to replay")
		}
		return 1
	}
	return 0
}

type replayer struct {
	dc         converter.DataConverter
	fc         converter.FailureConverter
	out        io.Writer
	ok, failed int
}

func (r *replayer) fail(name string, err error) {
	r.failed++
	fmt.Fprintf(r.out, "FAIL %s: %v\n", name, err)
}

// replay runs one history through a fresh replayer with the encrypting data
// converter, under the history's own workflow ID (the orderNo derives from
// it).
func (r *replayer) replay(name string, h *historypb.History) {
	events := h.GetEvents()
	if len(events) == 0 || events[0].GetWorkflowExecutionStartedEventAttributes() == nil {
		r.fail(name, errors.New("not a workflow history (no WorkflowExecutionStarted first)"))
		return
	}
	started := events[0].GetWorkflowExecutionStartedEventAttributes()
	if t := started.GetWorkflowType().GetName(); t != workflows.WorkflowName {
		r.fail(name, fmt.Errorf("workflow type %q, not %s", t, workflows.WorkflowName))
		return
	}
	id, err := r.workflowID(started.GetInput())
	if err != nil {
		r.fail(name, err)
		return
	}
	rp, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: r.dc, FailureConverter: r.fc})
	if err != nil {
		r.fail(name, err)
		return
	}
	rp.RegisterWorkflow(workflows.LoanApplication)
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := rp.ReplayWorkflowHistoryWithOptions(logger, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: id, RunID: started.GetOriginalExecutionRunId()},
	}); err != nil {
		r.fail(id, err)
		return
	}
	r.ok++
	fmt.Fprintf(r.out, "ok   %s (%d events)\n", id, len(events))
}

// workflowID derives the workflow ID from the applicant ref of the
// (encrypted) input, which every run carries, continued-as-new ones too.
func (r *replayer) workflowID(input *commonpb.Payloads) (string, error) {
	var in workflows.LoanApplicationInput
	if err := r.dc.FromPayloads(input, &in); err != nil {
		return "", fmt.Errorf("reading the input (is %s missing a key the history uses?): %w", config.EnvKeys, err)
	}
	if in.ApplicantRef == "" {
		return "", errors.New("the input has no applicant ref")
	}
	return workflows.LoanWorkflowID(in.ApplicantRef), nil
}

// fromCluster replays the histories of up to limit workflows the query
// matches, with the connection settings of internal/config.
func (r *replayer) fromCluster(ctx context.Context, getenv func(string) string, ring *codec.KeyRing, query string, limit int) error {
	tc, err := config.LoadTemporal(getenv)
	if err != nil {
		return err
	}
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	opts, err := temporalx.Options(tc, ring, logger, nil)
	if err != nil {
		return err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("dialing %s: %w", tc.Address, err)
	}
	defer c.Close()

	var token []byte
	for n := 0; n < limit; {
		page, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: tc.Namespace, Query: query, PageSize: int32(min(limit-n, 100)), NextPageToken: token,
		})
		if err != nil {
			return fmt.Errorf("listing %q: %w", query, err)
		}
		for _, e := range page.GetExecutions() {
			if n == limit {
				break
			}
			n++
			id, runID := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
			h := &historypb.History{}
			it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					h = nil
					r.fail(id, fmt.Errorf("reading its history: %w", err))
					break
				}
				h.Events = append(h.Events, ev)
			}
			if h != nil {
				r.replay(id, h)
			}
		}
		if token = page.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return nil
}

func readHistory(path string) (*historypb.History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return client.HistoryFromJSON(f, client.HistoryJSONOptions{})
}
