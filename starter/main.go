// Command starter is awdaflow's front door: the HTTP API the lending backend
// calls to start and drive loan applications, the receiver of AWDA's
// notifications (stored in a durable inbox, then signalled to the
// workflows), the codec server through which the Temporal UI and CLI read
// encrypted payloads, and a small CLI over that API.
//
//	starter serve                       run the server (fx application)
//	starter migrate                     apply the database migrations and exit
//	starter apply --file applicant.json start an application through the API
//	starter status REF                  show an application
//	starter list [--stage S] [--stuck]  list applications
//	starter retry REF                   ops: re-run the step a stuck loan is parked on
//	starter abandon REF                 ops: give a stuck loan up (it ends FAILED)
//	starter cancel REF                  withdraw an application for the borrower
//	starter reconcile report            ops: the latest reconciliation run's mismatches
//	starter inbox orphans|inspect|redeliver  ops: orphan AWDA notifications
//	starter erase REF --reason TEXT     ops: erase an applicant's personal data ([--force] while the loan runs)
//	starter keys reseal                 re-seal the data keys under the ring's primary key (DATABASE_URL, AWDAFLOW_KEYS)
//
// serve reads the shared settings of internal/config (TEMPORAL_*, AWDA_*,
// AWDAFLOW_KEYS, DATABASE_URL, LOG_*) and the starter's own (STARTER_*,
// AWDA_NOTIFY_*; see config.go), and traces when the standard OTEL_*
// variables ask for it (off by default: internal/tracing). migrate needs
// DATABASE_URL only. The client
// commands talk to a running server at STARTER_URL (default
// http://127.0.0.1:8080) with the token STARTER_API_TOKEN (default: the first
// of STARTER_API_TOKENS); they never talk to Temporal or the database. The
// operations commands (reconcile, inbox; ops.go) read and write the
// database directly, like migrate.
//
// Exit status: 0 success, 1 failure (the server's problem answer is printed
// to stderr), 2 bad usage or configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage: starter <command> [flags]

commands:
  serve                        run the HTTP API, webhook receiver and codec server
  migrate                      apply the database migrations (DATABASE_URL) and exit
  apply --file applicant.json  start an application through a running server
  status REF                   show an application
  list [--stage S] [--stuck true|false] [--limit N] [--cursor C]
  retry REF [--operator NAME] [--reason TEXT]
  abandon REF [--operator NAME] [--reason TEXT]
  cancel REF [--reason TEXT]
  reconcile report [--run ID] [--json]
  reconcile close REF --reason TEXT [--operator NAME]
  inbox orphans [--limit N] [--after ID] [--json]
  inbox inspect ID [--json]
  inbox redeliver (ID... | --all-orphans) --reason TEXT [--operator NAME]
  erase REF --reason TEXT [--operator NAME] [--force]
                               erase an applicant's personal data (refused while
                               the loan runs unless --force, which terminates it)
  keys reseal [--batch N]      re-seal every data key under the key ring's primary
                               key (DATABASE_URL, AWDAFLOW_KEYS), e.g. after a rotation

client commands use STARTER_URL (default http://127.0.0.1:8080) and
STARTER_API_TOKEN (default: the first of STARTER_API_TOKENS). The reconcile
and inbox commands read the database directly (DATABASE_URL; inbox inspect
also AWDAFLOW_KEYS) and print no personal data.
`

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(getenv, stderr)
	case "migrate":
		return migrate(getenv, stderr)
	case "keys":
		return keysCommand(rest, getenv, stdout, stderr)
	case "apply", "status", "list", "retry", "abandon", "cancel", "erase":
		return clientCommand(cmd, rest, getenv, stdout, stderr)
	case "reconcile", "inbox":
		return opsCommand(cmd, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "starter: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func serve(getenv func(string) string, stderr io.Writer) int {
	tty := isatty.IsTerminal(os.Stderr.Fd()) || isatty.IsCygwinTerminal(os.Stderr.Fd())
	cfg, err := config.LoadFrom(getenv, tty)
	sc, serr := loadStarter(getenv)
	if err != nil || serr != nil {
		// Both lists at once: every problem of the environment in one go.
		for _, e := range []error{err, serr} {
			if e != nil {
				fmt.Fprintf(stderr, "starter: %v\n", e)
			}
		}
		return 2
	}
	return serveWith(cfg, sc, stderr)
}

func serveWith(cfg *config.Config, sc *Starter, stderr io.Writer) int {
	app := newApp(cfg, sc)
	if err := app.Err(); err != nil {
		fmt.Fprintf(stderr, "starter: %v\n", err)
		return 1
	}
	startCtx, cancel := context.WithTimeout(context.Background(), cfg.Temporal.ConnectTimeout+2*time.Minute)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return 1 // fx has logged it and rolled back
	}
	sig := <-app.Wait()
	stopCtx, cancel := context.WithTimeout(context.Background(), sc.stopTimeout())
	defer cancel()
	if err := app.Stop(stopCtx); err != nil {
		return 1
	}
	return sig.ExitCode
}

func migrate(getenv func(string) string, stderr io.Writer) int {
	db := config.Database{URL: config.Secret(getenv(config.EnvDatabaseURL))}
	if db.URL.Empty() {
		fmt.Fprintf(stderr, "starter: %s is required\n", config.EnvDatabaseURL)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := store.Migrate(ctx, db.URL.Reveal()); err != nil {
		fmt.Fprintf(stderr, "starter: migrate %s: %v\n", db.Redacted(), err)
		return 1
	}
	fmt.Fprintf(stderr, "starter: %s is migrated\n", db.Redacted())
	return 0
}
