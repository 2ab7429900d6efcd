// Command demo drives N applicants through a running starter's public API the
// way a lending backend and its borrowers would, against the AWDA sandbox on
// autopilot, with live progress and a summary table. It is a tool (make run
// starts it); the production starter binary does not contain it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/awdaflow/awdaflow/tools/demo"
)

// DefaultSandboxAdminURL is where `go run ./awda/sandbox/cmd/awda-sandbox`
// serves its admin API by default.
const DefaultSandboxAdminURL = "http://127.0.0.1:8089"

// The starter's client settings (starter/config.go), read the same way.
const (
	EnvURL       = "STARTER_URL"
	EnvAPIToken  = "STARTER_API_TOKEN"
	EnvAPITokens = "STARTER_API_TOKENS"
	DefaultURL   = "http://127.0.0.1:8080"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the command without the process: args exclude the program name.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return demoCommand(args, getenv, stdout, stderr)
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

const demoUsage = `usage: demo [flags]

Runs N applicants through a running starter's public API the way a lending
backend and its borrowers would (documents, application, bank card,
signature), against the AWDA sandbox on autopilot, with a mix of scenarios
each with an expected outcome; shows live progress and a summary table.
Exits 1 if any applicant did not end as expected.

flags:
`

// demoCommand runs `starter demo`.
func demoCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f, code := parseDemoFlags(args, getenv, stdout, stderr)
	if f == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	adminURL, ok := sandboxAdminURL(ctx, f.sbAdmin, f.sbAdminExplicit, stderr)
	if !ok {
		return 2
	}

	o := demo.Options{
		APIURL: f.apiURL, Token: f.token, SandboxAdminURL: adminURL,
		N: f.n, Concurrency: f.conc, Mix: f.mix, Seed: f.seed, RunID: f.runID,
		PollInterval: f.poll, Timeout: f.timeout, WaitReady: f.waitReady,
	}
	if adminURL == "" {
		o.Mix = f.mix.Without(demo.Scenario.NeedsSandboxAdmin)
	}
	plan := demo.Plan(f.n, o.Mix, f.seed)
	if f.n > 0 && len(plan) > 0 {
		o.Plan = plan
	}
	fmt.Fprintf(stdout, "demo: %d applicants against %s, %d at a time; scenarios %s\n", f.n, f.apiURL, f.conc, planString(plan))

	disp := newDisplay(f.mode, stdout)
	o.OnProgress = disp.update
	sum, err := demo.Run(ctx, o)
	disp.close()
	if sum == nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout)
	_ = sum.WriteTable(stdout)
	if adminURL != "" {
		sandboxStats(stdout, adminURL)
	}
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
	}
	if bad := sum.Mismatches(); len(bad) > 0 {
		fmt.Fprintf(stdout, "\n%d of %d applicants did not end as expected\n", len(bad), len(sum.Results))
		return 1
	}
	fmt.Fprintf(stdout, "\nevery applicant ended as expected\n")
	return 0
}

// demoFlags are the demo's flags, checked.
type demoFlags struct {
	n, conc                       int
	apiURL, token, sbAdmin, runID string
	sbAdminExplicit               bool // -sandbox-admin was given
	mix                           demo.Mix
	seed                          uint64
	timeout, poll, waitReady      time.Duration
	mode                          string // live, lines or none
}

// parseDemoFlags reads and checks the flags; nil and the exit code when
// the demo must not run.
func parseDemoFlags(args []string, getenv func(string) string, stdout, stderr io.Writer) (*demoFlags, int) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, demoUsage)
		fs.PrintDefaults()
	}
	var f demoFlags
	fs.IntVar(&f.n, "n", 20, "number of applicants")
	fs.IntVar(&f.conc, "concurrency", 10, "applicants in flight at once")
	fs.StringVar(&f.apiURL, "api", envOr(getenv, EnvURL, DefaultURL), "base URL of the starter (env "+EnvURL+")")
	fs.StringVar(&f.token, "token", "", "API bearer token (default: "+EnvAPIToken+", else the first of "+EnvAPITokens+")")
	fs.StringVar(&f.sbAdmin, "sandbox-admin", DefaultSandboxAdminURL, "base URL of the AWDA sandbox's admin API (\"none\": without it; the disbursefail scenario is left out)")
	mixFlag := fs.String("mix", demo.DefaultMix.String(), "scenario weights, scenario=weight,… (scenarios: "+scenarioList()+")")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the scenario plan and the generated applicants")
	fs.StringVar(&f.runID, "run-id", "", "tells this run's applicants from earlier ones (default: from the clock)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "longest an applicant may take to reach a terminal state")
	fs.DurationVar(&f.poll, "poll", 500*time.Millisecond, "how often each application's status is read")
	fs.DurationVar(&f.waitReady, "wait-ready", time.Minute, "how long to wait for the starter's /readyz first")
	progress := fs.String("progress", "auto", "auto (live on a terminal, lines otherwise), live, lines or none")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, 0
		}
		return nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo: unexpected arguments %v\n", fs.Args())
		return nil, 2
	}
	if f.token = demoToken(f.token, getenv); f.token == "" {
		fmt.Fprintf(stderr, "demo: set -token, %s or %s\n", EnvAPIToken, EnvAPITokens)
		return nil, 2
	}
	var err error
	if f.mix, err = demo.ParseMix(*mixFlag); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return nil, 2
	}
	if f.mode = progressMode(*progress, stdout); f.mode == "" {
		fmt.Fprintf(stderr, "demo: -progress %q: want auto, live, lines or none\n", *progress)
		return nil, 2
	}
	fs.Visit(func(fl *flag.Flag) { f.sbAdminExplicit = f.sbAdminExplicit || fl.Name == "sandbox-admin" })
	return &f, 0
}

// demoToken is the -token flag, else EnvAPIToken, else the first of
// EnvAPITokens; "" when none is set.
func demoToken(flagValue string, getenv func(string) string) string {
	token := flagValue
	if token == "" {
		token = getenv(EnvAPIToken)
	}
	if token == "" {
		if ts := strings.Split(getenv(EnvAPITokens), ","); strings.TrimSpace(ts[0]) != "" {
			token = strings.TrimSpace(ts[0])
		}
	}
	return token
}

// progressMode resolves -progress: auto is live on a terminal, lines
// otherwise; "" for a mode it does not know.
func progressMode(progress string, stdout io.Writer) string {
	mode := progress
	if mode == "auto" {
		mode = "lines"
		if f, ok := stdout.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
			mode = "live"
		}
	}
	if !slices.Contains([]string{"live", "lines", "none"}, mode) {
		return ""
	}
	return mode
}

// sandboxAdminURL checks the sandbox admin API, which is optional: without
// it, the scenarios that need it are left out ("" returned), but an
// explicit -sandbox-admin must answer (ok false otherwise).
func sandboxAdminURL(ctx context.Context, adminURL string, explicit bool, stderr io.Writer) (string, bool) {
	if adminURL == "none" || adminURL == "" {
		return "", true
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := demo.NewSandboxAdmin(adminURL, nil).Healthy(hctx)
	cancel()
	if err == nil {
		return adminURL, true
	}
	if explicit {
		fmt.Fprintf(stderr, "demo: the sandbox admin API at %s does not answer: %v\n", adminURL, err)
		return "", false
	}
	fmt.Fprintf(stderr, "demo: no sandbox admin API at %s; leaving out the scenarios that need it\n", adminURL)
	return "", true
}

func newDisplay(mode string, stdout io.Writer) display {
	switch mode {
	case "live":
		return newLiveDisplay(stdout)
	case "lines":
		return &lineDisplay{w: stdout, every: 5 * time.Second}
	default:
		return nopDisplay{}
	}
}

// sandboxStats prints the sandbox's count of loans and duplicate orderNos
// (none expected: one per applicant), if its admin API answers.
func sandboxStats(stdout io.Writer, adminURL string) {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	st, serr := demo.NewSandboxAdmin(adminURL, nil).Stats(sctx)
	cancel()
	if serr == nil {
		dups := "none"
		if len(st.DuplicateOrderNos) > 0 {
			dups = strings.Join(st.DuplicateOrderNos, ", ")
		}
		fmt.Fprintf(stdout, "sandbox: %d loans in all, duplicate orderNos: %s\n", st.Loans, dups)
	}
}

func scenarioList() string {
	var s []string
	for _, sc := range demo.Scenarios {
		s = append(s, string(sc))
	}
	return strings.Join(s, ", ")
}

func planString(plan []demo.Scenario) string {
	c := demo.Count(plan)
	var parts []string
	for _, sc := range demo.Scenarios {
		if c[sc] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", sc, c[sc]))
		}
	}
	return strings.Join(parts, ", ")
}

// ---- progress displays ----

type display interface {
	update(demo.Progress)
	close()
}

type nopDisplay struct{}

func (nopDisplay) update(demo.Progress) {}
func (nopDisplay) close()               {}

// countsLine prints the non-zero counts of the stages in order.
func countsLine(p demo.Progress, terminal bool) string {
	var parts []string
	for _, st := range demo.StageOrder() {
		if isOutcome(st) != terminal || st == demo.StageWaiting {
			continue
		}
		if c := p.Stages[st]; c > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", st, c))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "  ")
}

func isOutcome(st string) bool {
	switch st {
	case "SETTLED", "REJECTED", "INELIGIBLE", "CANCELLED", "EXPIRED", "FAILED",
		demo.OutcomeStuck, demo.OutcomeTimeout, demo.OutcomeError, demo.OutcomeAborted:
		return true
	}
	return false
}

func bar(done, total, width int) string {
	if total <= 0 {
		return strings.Repeat("░", width)
	}
	k := done * width / total
	return strings.Repeat("█", k) + strings.Repeat("░", width-k)
}

// liveDisplay redraws a few lines in place (at most ten times a second) and
// prints notable events above them.
type liveDisplay struct {
	w    io.Writer
	mu   sync.Mutex
	last demo.Progress
	have bool
	logs []string
	// lines drawn last time (to move the cursor back over).
	drawn int
	stop  chan struct{}
	done  chan struct{}
}

func newLiveDisplay(w io.Writer) *liveDisplay {
	d := &liveDisplay{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-d.stop:
				d.draw()
				return
			case <-t.C:
				d.draw()
			}
		}
	}()
	return d
}

func (d *liveDisplay) update(p demo.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last, d.have = p, true
	if line := notable(p.Event); line != "" {
		d.logs = append(d.logs, line)
	}
}

func (d *liveDisplay) close() {
	close(d.stop)
	<-d.done
}

func (d *liveDisplay) draw() {
	d.mu.Lock()
	p, have, logs := d.last, d.have, d.logs
	d.logs = nil
	d.mu.Unlock()
	if !have {
		return
	}
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn) // back to the first line of the block
	}
	for _, l := range logs {
		b.WriteString("\r\x1b[2K" + l + "\n")
	}
	block := []string{
		fmt.Sprintf("%s %d/%d done, %d as expected, %d stuck, %s", bar(p.Done, p.Total, 30), p.Done, p.Total, p.Matched, p.Stuck,
			p.Elapsed.Round(100*time.Millisecond)),
		"  in progress: " + countsLine(p, false),
		"  finished:    " + countsLine(p, true),
	}
	for _, l := range block {
		b.WriteString("\r\x1b[2K" + l + "\n")
	}
	d.drawn = len(block)
	_, _ = io.WriteString(d.w, b.String())
}

// notable is the line an event deserves above the live display, if any:
// ops actions, stuck loans, and applicants that did not end as expected.
func notable(ev demo.Event) string {
	switch ev.Kind {
	case demo.EventStuck:
		return fmt.Sprintf("  %s (%s) stuck: %s", ev.Ref, ev.Scenario, oneLine(ev.Detail, 100))
	case demo.EventAction:
		if strings.HasPrefix(ev.Detail, "ops:") || strings.HasPrefix(ev.Detail, "borrower cancelled") ||
			strings.HasPrefix(ev.Detail, "bank card refused") {
			return fmt.Sprintf("  %s (%s) %s", ev.Ref, ev.Scenario, oneLine(ev.Detail, 100))
		}
	case demo.EventDone:
		if want := string(ev.Scenario.Expected()); ev.Stage != want {
			return fmt.Sprintf("  %s (%s) ended %s, expected %s", ev.Ref, ev.Scenario, ev.Stage, want)
		}
	}
	return ""
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}

// lineDisplay prints a line per finished applicant and the counts every so
// often, for logs and pipes.
type lineDisplay struct {
	w     io.Writer
	every time.Duration
	mu    sync.Mutex
	next  time.Duration
	last  demo.Progress
}

func (d *lineDisplay) update(p demo.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = p
	ev := p.Event
	switch {
	case ev.Kind == demo.EventDone:
		mark := "ok"
		if ev.Stage != string(ev.Scenario.Expected()) {
			mark = "MISMATCH, expected " + string(ev.Scenario.Expected())
		}
		fmt.Fprintf(d.w, "[%*d/%d] %s (%s) %s: %s\n", len(fmt.Sprint(p.Total)), p.Done, p.Total, ev.Ref, ev.Scenario, ev.Stage, mark)
	case notable(ev) != "":
		fmt.Fprintln(d.w, strings.TrimSpace(notable(ev)))
	}
	if p.Elapsed >= d.next {
		d.next = p.Elapsed + d.every
		fmt.Fprintf(d.w, "%s  %d/%d done  in progress: %s\n", p.Elapsed.Round(time.Second), p.Done, p.Total, countsLine(p, false))
	}
}

func (d *lineDisplay) close() {}
