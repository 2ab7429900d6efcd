package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/reconcile"
	"github.com/awdaflow/awdaflow/internal/store"
)

// The operations commands read the database directly, as migrate does
// (DATABASE_URL; AWDAFLOW_KEYS too, to open the inbox's sealed payloads):
// they are run by operations where the services run, not by the lending
// backend. None prints personal data: the read model and the inbox's
// metadata hold none, and inspect shows a payload's non-personal fields
// only (inbox.SafeFields).
//
//	starter reconcile report [--run ID] [--json]
//	starter reconcile close REF --reason TEXT [--operator NAME]
//	starter inbox orphans [--limit N] [--after ID] [--json]
//	starter inbox inspect ID [--json]
//	starter inbox redeliver (ID... | --all-orphans) --reason TEXT [--operator NAME]

const opsUsage = `operations commands (DATABASE_URL; inbox inspect also AWDAFLOW_KEYS):
  reconcile report [--run ID] [--json]     the latest reconciliation run's mismatches
  reconcile close REF --reason TEXT [--operator NAME]
                                           end a loan the reconciliation parked, once settled by hand
  inbox orphans [--limit N] [--after ID] [--json]
  inbox inspect ID [--json]                one row's metadata and its payload's non-personal fields
  inbox redeliver (ID... | --all-orphans) --reason TEXT [--operator NAME]
`

func opsCommand(cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "starter %s: a subcommand is required\n\n%s", cmd, opsUsage)
		return 2
	}
	name := cmd + " " + args[0]
	var fn func(context.Context, *opsEnv, []string) error
	switch name {
	case "reconcile report":
		fn = reconcileReport
	case "reconcile close":
		fn = reconcileClose
	case "inbox orphans":
		fn = inboxOrphans
	case "inbox inspect":
		fn = inboxInspect
	case "inbox redeliver":
		fn = inboxRedeliver
	default:
		fmt.Fprintf(stderr, "starter: unknown command %q\n\n%s", name, opsUsage)
		return 2
	}
	db := config.Database{URL: config.Secret(getenv(config.EnvDatabaseURL))}
	if db.URL.Empty() {
		fmt.Fprintf(stderr, "starter %s: %s is required\n", name, config.EnvDatabaseURL)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, db.URL.Reveal())
	if err != nil {
		fmt.Fprintf(stderr, "starter %s: %s: cannot open a pool with this URL\n", name, config.EnvDatabaseURL)
		return 2
	}
	defer pool.Close()
	env := &opsEnv{name: name, pool: pool, getenv: getenv, stdout: stdout, stderr: stderr}
	if err := fn(ctx, env, args[1:]); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "starter %s: %v\n\n%s", name, err, opsUsage)
			return 2
		}
		fmt.Fprintf(stderr, "starter %s: %v\n", name, err)
		return 1
	}
	return 0
}

// usageError is bad usage: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type opsEnv struct {
	name           string
	pool           *pgxpool.Pool
	getenv         func(string) string
	stdout, stderr io.Writer
}

// store opens the store; with keys, over the key ring of AWDAFLOW_KEYS
// (needed only to open sealed payloads).
func (e *opsEnv) store(keys bool) (*store.Store, error) {
	var sealer store.Sealer = noSealer{}
	if keys {
		spec := e.getenv(config.EnvKeys)
		if spec == "" {
			return nil, usageError{config.EnvKeys + " is required to open the inbox's payloads"}
		}
		ring, err := codec.ParseKeyRing(spec)
		if err != nil {
			return nil, usageError{config.EnvKeys + ": " + err.Error()}
		}
		sealer = ring
	}
	return store.New(e.pool, sealer), nil
}

// noSealer is the sealer of a command that reads no sealed value.
type noSealer struct{}

func (noSealer) Seal([]byte, []byte) ([]byte, error) { return nil, errors.New("starter: no key ring") }
func (noSealer) Open([]byte, []byte) ([]byte, error) { return nil, errors.New("starter: no key ring") }

// parseFlags parses fs from args with flags and positional arguments in
// any order, and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (e *opsEnv) writeJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// reportJSON is `reconcile report --json`.
type reportJSON struct {
	Run        *store.ReconcileRun `json:"run"`
	Counts     map[string]int      `json:"counts"`
	Mismatches []store.Mismatch    `json:"mismatches"`
}

func reconcileReport(ctx context.Context, e *opsEnv, args []string) error {
	fs := flag.NewFlagSet(e.name, flag.ContinueOnError)
	runID := fs.String("run", "", "the run to report (default: the latest)")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError{"unexpected arguments " + strings.Join(pos, " ")}
	}
	st, _ := e.store(false)
	var run *store.ReconcileRun
	var err error
	if *runID != "" {
		run, err = st.ReconcileRunByID(ctx, *runID)
	} else {
		run, err = st.LatestReconcileRun(ctx)
	}
	if errors.Is(err, store.ErrNotFound) {
		return errors.New("no reconciliation run recorded yet (schedule " + reconcile.ScheduleID + ")")
	}
	if err != nil {
		return err
	}
	ms, err := st.ReconcileMismatches(ctx, run.RunID)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, m := range ms {
		counts[m.Kind]++
	}
	if *asJSON {
		if ms == nil {
			ms = []store.Mismatch{}
		}
		return e.writeJSON(reportJSON{Run: run, Counts: counts, Mismatches: ms})
	}
	printReport(e.stdout, run, counts, ms)
	return nil
}

func printReport(w io.Writer, run *store.ReconcileRun, counts map[string]int, ms []store.Mismatch) {
	finished := "still running"
	if run.FinishedAt != nil {
		finished = "finished " + run.FinishedAt.UTC().Format(time.RFC3339) + " (" + run.FinishedAt.Sub(run.StartedAt).Round(time.Second).String() + ")"
	}
	fmt.Fprintf(w, "run %s: started %s, %s; %d active loans checked; %d mismatches\n",
		run.RunID, run.StartedAt.UTC().Format(time.RFC3339), finished, run.Checked, len(ms))
	if len(ms) == 0 {
		return
	}
	kinds := slices.Sorted(maps.Keys(counts))
	for _, k := range kinds {
		fmt.Fprintf(w, "  %s: %d\n", k, counts[k])
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tAPPLICANT\tTEMPORAL\tREAD MODEL\tAWDA\tACTION\tRESOLVED\tREASON")
	for _, m := range ms {
		resolved := "-"
		if m.ResolvedAt != nil {
			resolved = m.ResolvedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Kind, m.ApplicantRef, dash(m.TemporalValue),
			dash(m.ReadModelValue), dash(m.AWDAValue), m.Action, resolved, m.Reason)
	}
	_ = tw.Flush()
}

// reconcileClose ends a read-model row the reconciliation parked (no open
// workflow will ever end it) once operations have settled the loan by hand.
func reconcileClose(ctx context.Context, e *opsEnv, args []string) error {
	fs := flag.NewFlagSet(e.name, flag.ContinueOnError)
	operator := fs.String("operator", e.getenv("USER"), "who closes it (recorded; default $USER)")
	reason := fs.String("reason", "", "how it was settled (recorded; required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return usageError{"one applicant ref is required"}
	case strings.TrimSpace(*reason) == "":
		return usageError{"--reason is required: it is recorded"}
	case strings.TrimSpace(*operator) == "":
		return usageError{"--operator is required (no $USER): it is recorded"}
	}
	st, _ := e.store(false)
	err = st.CloseParkedApplication(ctx, pos[0], reconcile.ParkStep, strings.TrimSpace(*operator), strings.TrimSpace(*reason))
	if errors.Is(err, store.ErrNotParked) {
		return fmt.Errorf("%s is not a loan the reconciliation parked (stuck on step %q, not terminal): nothing done", pos[0], reconcile.ParkStep)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: FAILED (closed by %s: %s)\n", pos[0], strings.TrimSpace(*operator), strings.TrimSpace(*reason))
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func inboxOrphans(ctx context.Context, e *opsEnv, args []string) error {
	fs := flag.NewFlagSet(e.name, flag.ContinueOnError)
	limit := fs.Int("limit", 100, "rows to list")
	after := fs.Int64("after", 0, "list rows with an ID above this (the last ID of the previous page)")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError{"unexpected arguments " + strings.Join(pos, " ")}
	}
	if *limit <= 0 || *limit > 10_000 {
		return usageError{"--limit must be from 1 to 10000"}
	}
	st, _ := e.store(false)
	rows, err := st.OrphanInbox(ctx, *after, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		if rows == nil {
			rows = []store.InboxRow{}
		}
		return e.writeJSON(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(e.stdout, "no orphan notifications")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSOURCE\tEVENT ID\tLOAN NO\tAWDA USER\tRECEIVED\tATTEMPTS\tREASON")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Source, r.EventID, dash(r.LoanNo), dash(r.UserID),
			r.ReceivedAt.UTC().Format(time.RFC3339), r.Attempts, r.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rows) == *limit {
		fmt.Fprintf(e.stdout, "more: --after %d\n", rows[len(rows)-1].ID)
	}
	return nil
}

// inspectJSON is `inbox inspect --json`.
type inspectJSON struct {
	store.InboxRow
	Payload      map[string]any               `json:"payload,omitempty"`
	PayloadError string                       `json:"payloadError,omitempty"`
	Redeliveries []store.InboxRedeliveryAudit `json:"redeliveries,omitempty"`
}

func inboxInspect(ctx context.Context, e *opsEnv, args []string) error {
	fs := flag.NewFlagSet(e.name, flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"one inbox row ID is required"}
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError{"inbox row ID " + strconv.Quote(pos[0]) + " is not a positive integer"}
	}
	st, err := e.store(true)
	if err != nil {
		return err
	}
	row, payload, err := st.InboxRowByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no inbox row %d", id)
	}
	out := inspectJSON{InboxRow: row}
	if errors.Is(err, store.ErrInboxPayloadErased) {
		out.PayloadError = "erased with the applicant's personal data"
	} else if err != nil {
		out.PayloadError = "the payload does not open with " + config.EnvKeys + " (a key missing from the ring?)"
	} else if out.Payload, err = inbox.SafeFields(row.Source, payload); err != nil {
		out.PayloadError = err.Error()
	}
	if out.Redeliveries, err = st.InboxRedeliveries(ctx, id); err != nil {
		return err
	}
	if *asJSON {
		return e.writeJSON(out)
	}
	printInspect(e.stdout, out)
	return nil
}

func printInspect(w io.Writer, in inspectJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	r := in.InboxRow
	fmt.Fprintf(tw, "id\t%d\nsource\t%s\nevent id\t%s\nloan no\t%s\nawda user\t%s\nstatus\t%s\nattempts\t%d\n",
		r.ID, r.Source, r.EventID, dash(r.LoanNo), dash(r.UserID), r.Status, r.Attempts)
	fmt.Fprintf(tw, "reason\t%s\nworkflow\t%s\nreceived\t%s\n", dash(r.Reason), dash(r.WorkflowID), r.ReceivedAt.UTC().Format(time.RFC3339))
	if r.DeliveredAt != nil {
		fmt.Fprintf(tw, "delivered\t%s\n", r.DeliveredAt.UTC().Format(time.RFC3339))
	}
	if in.PayloadError != "" {
		fmt.Fprintf(tw, "payload\t(not shown: %s)\n", in.PayloadError)
	}
	for _, k := range slices.Sorted(maps.Keys(in.Payload)) {
		fmt.Fprintf(tw, "payload.%s\t%v\n", k, in.Payload[k])
	}
	for _, a := range in.Redeliveries {
		fmt.Fprintf(tw, "redelivered\t%s by %s from %s after %d attempts: %s\n", a.At.UTC().Format(time.RFC3339),
			a.Operator, a.FromStatus, a.Attempts, a.Reason)
	}
	_ = tw.Flush()
}

func inboxRedeliver(ctx context.Context, e *opsEnv, args []string) error {
	fs := flag.NewFlagSet(e.name, flag.ContinueOnError)
	all := fs.Bool("all-orphans", false, "every orphan row")
	operator := fs.String("operator", e.getenv("USER"), "who asks (audited; default $USER)")
	reason := fs.String("reason", "", "why (audited; required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *all == (len(pos) > 0):
		return usageError{"give inbox row IDs or --all-orphans, not both or neither"}
	case strings.TrimSpace(*reason) == "":
		return usageError{"--reason is required: it is audited"}
	case strings.TrimSpace(*operator) == "":
		return usageError{"--operator is required (no $USER): it is audited"}
	}
	st, _ := e.store(false)
	var ids []int64
	for _, p := range pos {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return usageError{"inbox row ID " + strconv.Quote(p) + " is not a positive integer"}
		}
		ids = append(ids, id)
	}
	if *all {
		if ids, err = st.AllOrphanIDs(ctx); err != nil {
			return err
		}
	}
	res, err := st.Redeliver(ctx, ids, *operator, *reason)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range res {
		if r.Redelivered {
			n++
			fmt.Fprintf(e.stdout, "%d: %s -> pending\n", r.ID, r.FromStatus)
		} else {
			fmt.Fprintf(e.stdout, "%d: not redelivered: %s\n", r.ID, r.Reason)
		}
	}
	fmt.Fprintf(e.stdout, "%d of %d rows pending again; the forwarder routes them at its next claim\n", n, len(res))
	if n < len(res) {
		return fmt.Errorf("%d rows not redelivered", len(res)-n)
	}
	return nil
}
