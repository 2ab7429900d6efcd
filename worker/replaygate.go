package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mattn/go-isatty"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/temporalx"
	"github.com/awdaflow/awdaflow/workflows"
)

// replayGateCommand is the subcommand that gates a rollout: `worker
// replay-gate` replays every running loan against the workflow code of this
// binary and exits non-zero if any would break (docs/operations.md,
// "Replay histories before a deploy").
const replayGateCommand = "replay-gate"

// Exit statuses of `worker replay-gate`.
const (
	gatePass  = 0 // every history replayed
	gateFail  = 1 // a history failed to replay, or the gate could not finish (listing, -max, -timeout)
	gateUsage = 2 // bad flags or configuration
)

// DefaultGateQuery selects the loans a deploy could break: the running ones.
const DefaultGateQuery = `WorkflowType = "` + workflows.WorkflowName + `" AND ExecutionStatus = "Running"`

// gateFlags are the command line of `worker replay-gate`.
type gateFlags struct {
	gateOptions
	timeout time.Duration
	files   []string
}

func parseGateFlags(args []string, stderr io.Writer) (*gateFlags, error) {
	f := &gateFlags{}
	fs := flag.NewFlagSet("worker "+replayGateCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.Query, "query", DefaultGateQuery, "visibility query selecting the workflows to replay (not with files)")
	fs.IntVar(&f.Max, "max", 0, "fail, without replaying, if the query matches more than this many workflows (0: no cap)")
	fs.IntVar(&f.PageSize, "page-size", 500, "workflows per visibility page")
	fs.IntVar(&f.Parallel, "parallel", 4, "histories fetched and replayed at once")
	fs.BoolVar(&f.Verbose, "v", false, "print a line for every workflow that passes, too")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "fail if the gate has not finished after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: worker replay-gate [flags]            replay every running LoanApplication (TEMPORAL_*, AWDAFLOW_KEYS)")
		fmt.Fprintln(stderr, "       worker replay-gate [flags] FILE.json... replay exported histories (AWDAFLOW_KEYS)")
		fmt.Fprintln(stderr, "exit 0: every history replays; 1: one failed (its workflow ID is printed) or the gate could not finish; 2: bad usage")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	f.files = fs.Args()
	var bad []string
	if f.Max < 0 {
		bad = append(bad, "-max must be 0 (no cap) or more")
	}
	if f.PageSize < 1 || f.PageSize > 1000 {
		bad = append(bad, "-page-size must be 1 to 1000")
	}
	if f.Parallel < 1 {
		bad = append(bad, "-parallel must be 1 or more")
	}
	if f.timeout <= 0 {
		bad = append(bad, "-timeout must be positive")
	}
	if strings.TrimSpace(f.Query) == "" {
		bad = append(bad, "-query must not be empty")
	}
	if len(bad) > 0 {
		err := errors.New(strings.Join(bad, "; "))
		fmt.Fprintf(stderr, "worker %s: %v\n", replayGateCommand, err)
		return nil, err
	}
	return f, nil
}

// replayGate is `worker replay-gate`: it replays the running loans of the
// cluster the worker's configuration names (or the history files given) and
// returns the exit status. It prints workflow IDs, event and command types
// and a summary, never a payload.
func replayGate(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f, err := parseGateFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return gatePass
	}
	if err != nil {
		return gateUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()

	var res *gateResult
	if len(f.files) > 0 {
		ring, err := codec.ParseKeyRing(getenv(config.EnvKeys))
		if err != nil {
			fmt.Fprintf(stderr, "worker %s: %s: %v\n", replayGateCommand, config.EnvKeys, err)
			return gateUsage
		}
		var done func()
		f.Keys, done = gateDataKeys(getenv, ring)
		defer done()
		res = replayFiles(ring, f.files, f.gateOptions, stdout)
	} else {
		c, namespace, ring, code := dialForGate(ctx, getenv, stderr)
		if c == nil {
			return code
		}
		defer c.Close()
		var done func()
		f.Keys, done = gateDataKeys(getenv, ring)
		defer done()
		res, err = runGate(ctx, c, namespace, ring, f.gateOptions, stdout)
		if err != nil {
			// The summary line of a gate that could not finish.
			fmt.Fprintf(stdout, "replay-gate: FAIL: %v\n", err)
			return gateFail
		}
	}
	fmt.Fprintln(stdout, res.summary())
	if len(res.Failed) > 0 {
		return gateFail
	}
	return gatePass
}

// gateEnv is the worker's environment for the gate, which needs only the
// Temporal connection and AWDAFLOW_KEYS: the AWDA and database settings the
// worker requires are given placeholders when absent, so that `make
// replay-gate` runs from an operator's shell, while the Job that runs with
// the worker's whole environment reads the very same variables the worker
// does (a worker that would connect is a gate that connects).
func gateEnv(getenv func(string) string) func(string) string {
	placeholders := map[string]string{
		config.EnvAWDAAppID:   "replay-gate",
		config.EnvDatabaseURL: "postgres://replay-gate@127.0.0.1:1/unused",
	}
	if getenv(config.EnvAWDAHMACSecret) == "" && getenv(config.EnvAWDARSAKeyFile) == "" {
		placeholders[config.EnvAWDAHMACSecret] = "replay-gate-unused"
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return placeholders[k]
	}
}

// dialForGate connects to Temporal with the worker's configuration and
// codec; on failure it returns a nil client and the exit status.
func dialForGate(ctx context.Context, getenv func(string) string, stderr io.Writer) (client.Client, string, *codec.KeyRing, int) {
	isTTY := isatty.IsTerminal(os.Stderr.Fd())
	cfg, err := config.LoadFrom(gateEnv(getenv), isTTY)
	if err != nil {
		fmt.Fprintf(stderr, "worker %s: %v\n", replayGateCommand, err)
		return nil, "", nil, gateUsage
	}
	ring, err := temporalx.NewKeyRing(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "worker %s: %v\n", replayGateCommand, err)
		return nil, "", nil, gateUsage
	}
	opts, err := temporalx.Options(cfg.Temporal, ring, quietSDKLogger(stderr), nil)
	if err != nil {
		fmt.Fprintf(stderr, "worker %s: %v\n", replayGateCommand, err)
		return nil, "", nil, gateUsage
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Temporal.ConnectTimeout)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "worker %s: dialing %s: %v\n", replayGateCommand, cfg.Temporal.Address, err)
		return nil, "", nil, gateFail
	}
	return c, cfg.Temporal.Namespace, ring, gatePass
}

// gateDataKeys reads the applicants' data keys from DATABASE_URL, when set,
// so that the loans' payloads under them decode; the pool connects lazily.
// Without it only ring payloads decode. done closes the pool.
func gateDataKeys(getenv func(string) string, ring *codec.KeyRing) (*codec.DataKeys, func()) {
	url := getenv(config.EnvDatabaseURL)
	if url == "" {
		return nil, func() {}
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		return nil, func() {}
	}
	return codec.NewDataKeys(ring, store.New(pool, ring), codec.DataKeysOptions{}), pool.Close
}
