// Command awda-sandbox runs the AWDA sandbox (package sandbox) as a server:
// the sixteen partner interfaces, the H5 pages and the admin API.
//
// Every flag has an environment fallback; flags win. With no configuration
// at all it listens on 127.0.0.1:8089 with appId "awda-sandbox-app" and a
// development HMAC secret, which it warns about.
//
//	go run ./awda/sandbox/cmd/awda-sandbox -autopilot -loan-webhook-url http://127.0.0.1:8080/webhooks/awda/loan-status
//
// See awda/sandbox/README.md for every flag and variable.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/rs/zerolog"
)

// Development defaults, for a sandbox nobody configured. Never production.
const (
	DefaultAddr       = "127.0.0.1:8089"
	DefaultAppID      = "awda-sandbox-app"
	DefaultHMACSecret = "awda-sandbox-dev-secret"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "awda-sandbox:", err)
		os.Exit(1)
	}
}

// options is the parsed configuration.
type options struct {
	addr, adminAddr               string
	appID, secret                 string
	partnerKeyFile, pushKeyFile   string
	loanHook, authHook, publicURL string
	seed                          uint64
	autopilot                     bool
	apMin, apMax                  time.Duration
	dup, maxAttempts              int
	pushDelayMin, pushDelayMax    time.Duration
	reorder                       bool
	retryBase, retryMax, skew     time.Duration
	faults                        string
	maxAmount                     int64
	allowRemote                   bool
	logFormat, logLevel           string
	shutdownGrace                 time.Duration
	stateFile                     string
}

// envDefault is a flag's default: its environment variable when set.
type envDefault struct {
	getenv func(string) string
	errs   []error
}

func (e *envDefault) str(key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

func (e *envDefault) dur(key string, def time.Duration) time.Duration {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", key, err))
	}
	return d
}

func (e *envDefault) integer(key string, def int64) int64 {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", key, err))
	}
	return n
}

func (e *envDefault) boolean(key string, def bool) bool {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %w", key, err))
	}
	return b
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	env := &envDefault{getenv: getenv}
	o := &options{}
	fs := flag.NewFlagSet("awda-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", env.str("SANDBOX_ADDR", DefaultAddr), "listen address of the partner interfaces, H5 pages and (without -admin-addr) the admin API [SANDBOX_ADDR]")
	fs.StringVar(&o.adminAddr, "admin-addr", env.str("SANDBOX_ADMIN_ADDR", ""), "separate listen address for the admin API; empty: the main listener [SANDBOX_ADMIN_ADDR]")
	fs.StringVar(&o.appID, "app-id", env.str("AWDA_APP_ID", DefaultAppID), "the partner's appId [AWDA_APP_ID]")
	fs.StringVar(&o.secret, "hmac-secret", env.str("AWDA_HMAC_SECRET", ""), "shared HMAC-SHA256 secret; prefer the variable [AWDA_HMAC_SECRET] (default: a development secret unless an RSA key is given)")
	fs.StringVar(&o.partnerKeyFile, "partner-public-key-file", env.str("AWDA_PARTNER_PUBLIC_KEY_FILE", ""), "PEM public key verifying RSA-SHA256 requests [AWDA_PARTNER_PUBLIC_KEY_FILE]")
	fs.StringVar(&o.pushKeyFile, "push-private-key-file", env.str("AWDA_PUSH_PRIVATE_KEY_FILE", ""), "PEM private key (AWDA's) signing pushes with RSA-SHA256; default: HMAC with the secret [AWDA_PUSH_PRIVATE_KEY_FILE]")
	fs.StringVar(&o.loanHook, "loan-webhook-url", env.str("SANDBOX_LOAN_WEBHOOK_URL", ""), "where loan status pushes go [SANDBOX_LOAN_WEBHOOK_URL]")
	fs.StringVar(&o.authHook, "auth-webhook-url", env.str("SANDBOX_AUTH_WEBHOOK_URL", ""), "where authorization callbacks go [SANDBOX_AUTH_WEBHOOK_URL]")
	fs.StringVar(&o.publicURL, "public-url", env.str("SANDBOX_PUBLIC_URL", ""), "base URL of H5 links; default: the request's host [SANDBOX_PUBLIC_URL]")
	fs.Uint64Var(&o.seed, "seed", uint64(env.integer("SANDBOX_SEED", 0)), "seed of ids, fault draws and delays; 0: a new one from the clock, logged at startup [SANDBOX_SEED]")
	fs.BoolVar(&o.autopilot, "autopilot", env.boolean("SANDBOX_AUTOPILOT", false), "move authorizations and loans along by the documented rules [SANDBOX_AUTOPILOT]")
	fs.DurationVar(&o.apMin, "autopilot-min-delay", env.dur("SANDBOX_AUTOPILOT_MIN_DELAY", sandbox.DefaultAutopilotMinDelay), "shortest autopilot step [SANDBOX_AUTOPILOT_MIN_DELAY]")
	fs.DurationVar(&o.apMax, "autopilot-max-delay", env.dur("SANDBOX_AUTOPILOT_MAX_DELAY", sandbox.DefaultAutopilotMaxDelay), "longest autopilot step; 0 and 0: no delay [SANDBOX_AUTOPILOT_MAX_DELAY]")
	fs.IntVar(&o.dup, "push-duplicates", int(env.integer("SANDBOX_PUSH_DUPLICATES", 0)), "extra copies of every push [SANDBOX_PUSH_DUPLICATES]")
	fs.DurationVar(&o.pushDelayMin, "push-delay-min", env.dur("SANDBOX_PUSH_DELAY_MIN", 0), "shortest push delay [SANDBOX_PUSH_DELAY_MIN]")
	fs.DurationVar(&o.pushDelayMax, "push-delay-max", env.dur("SANDBOX_PUSH_DELAY_MAX", 0), "longest push delay [SANDBOX_PUSH_DELAY_MAX]")
	fs.BoolVar(&o.reorder, "push-reorder", env.boolean("SANDBOX_PUSH_REORDER", false), "let pushes of one loan overtake each other [SANDBOX_PUSH_REORDER]")
	fs.DurationVar(&o.retryBase, "push-retry-base", env.dur("SANDBOX_PUSH_RETRY_BASE", sandbox.DefaultRetryBase), "first push retry backoff [SANDBOX_PUSH_RETRY_BASE]")
	fs.DurationVar(&o.retryMax, "push-retry-max", env.dur("SANDBOX_PUSH_RETRY_MAX", sandbox.DefaultRetryMax), "longest push retry backoff [SANDBOX_PUSH_RETRY_MAX]")
	fs.IntVar(&o.maxAttempts, "push-max-attempts", int(env.integer("SANDBOX_PUSH_MAX_ATTEMPTS", 0)), "give a push up after that many attempts; 0: never [SANDBOX_PUSH_MAX_ATTEMPTS]")
	fs.DurationVar(&o.skew, "clock-skew", env.dur("SANDBOX_CLOCK_SKEW", 0), "initial clock skew [SANDBOX_CLOCK_SKEW]")
	fs.StringVar(&o.faults, "faults", env.str("SANDBOX_FAULTS", ""), `initial fault rules as JSON, e.g. {"*":{"busyRate":0.2}} [SANDBOX_FAULTS]`)
	fs.Int64Var(&o.maxAmount, "max-amount", env.integer("SANDBOX_MAX_AMOUNT", 10_000_000), "eligible maximum amount in IDR [SANDBOX_MAX_AMOUNT]")
	fs.BoolVar(&o.allowRemote, "admin-allow-remote", env.boolean("SANDBOX_ADMIN_ALLOW_REMOTE", false), "let non-loopback clients use the admin API [SANDBOX_ADMIN_ALLOW_REMOTE]")
	fs.StringVar(&o.logFormat, "log-format", env.str("SANDBOX_LOG_FORMAT", ""), "json or console; default: console on a terminal [SANDBOX_LOG_FORMAT]")
	fs.StringVar(&o.logLevel, "log-level", env.str("SANDBOX_LOG_LEVEL", "info"), "debug, info, warn or error [SANDBOX_LOG_LEVEL]")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", env.dur("SANDBOX_SHUTDOWN_GRACE", 5*time.Second), "how long in-flight requests may finish on shutdown [SANDBOX_SHUTDOWN_GRACE]")
	fs.StringVar(&o.stateFile, "state-file", env.str("SANDBOX_STATE_FILE", ""), "keep users, loans and pending pushes in this file across restarts; empty: forget them on exit [SANDBOX_STATE_FILE]")
	if err := errors.Join(env.errs...); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.seed == 0 {
		// A sandbox restarted alone must not hand out the loan numbers and
		// event IDs of its previous life again (the partner already has
		// them); a run is reproduced by passing the seed it logged.
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

func newLogger(o *options, stderr io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(o.logLevel)
	if err != nil {
		return zerolog.Logger{}, err
	}
	format := o.logFormat
	if format == "" {
		format = "json"
		if f, ok := stderr.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "console"
			}
		}
	}
	var w io.Writer
	switch format {
	case "json":
		w = stderr
	case "console":
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly}
	default:
		return zerolog.Logger{}, fmt.Errorf("log format %q: want json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", "awda-sandbox").Logger(), nil
}

func (o *options) config(log zerolog.Logger) (sandbox.Config, error) {
	cfg := sandbox.Config{
		AppID:                o.appID,
		LoanStatusWebhookURL: o.loanHook,
		AuthWebhookURL:       o.authHook,
		Seed:                 o.seed,
		ClockSkew:            o.skew,
		Autopilot:            sandbox.Autopilot{Enabled: o.autopilot, MinDelay: o.apMin, MaxDelay: o.apMax, NoDelay: o.apMin == 0 && o.apMax == 0},
		Delivery: sandbox.Delivery{
			Duplicates: o.dup, DelayMin: o.pushDelayMin, DelayMax: o.pushDelayMax, Reorder: o.reorder,
			RetryBase: o.retryBase, RetryMax: o.retryMax, MaxAttempts: o.maxAttempts,
		},
		MaxAmount:        o.maxAmount,
		PublicURL:        o.publicURL,
		AdminAllowRemote: o.allowRemote,
		StateFile:        o.stateFile,
		Logger:           log,
	}
	if o.partnerKeyFile != "" {
		pem, err := os.ReadFile(o.partnerKeyFile)
		if err != nil {
			return cfg, err
		}
		if cfg.PartnerPublicKey, err = awda.ParseRSAPublicKeyPEM(pem); err != nil {
			return cfg, err
		}
	}
	if o.secret != "" {
		cfg.HMACSecret = []byte(o.secret)
	} else if cfg.PartnerPublicKey == nil {
		log.Warn().Msg("no AWDA_HMAC_SECRET or partner key given: using the development HMAC secret; never expose this sandbox")
		cfg.HMACSecret = []byte(DefaultHMACSecret)
	}
	if o.pushKeyFile != "" {
		pem, err := os.ReadFile(o.pushKeyFile)
		if err != nil {
			return cfg, err
		}
		key, err := awda.ParseRSAPrivateKeyPEM(pem)
		if err != nil {
			return cfg, err
		}
		if cfg.PushSigner, err = awda.NewRSASigner(key); err != nil {
			return cfg, err
		}
	}
	if o.faults != "" {
		if err := json.Unmarshal([]byte(o.faults), &cfg.Faults); err != nil {
			return cfg, fmt.Errorf("SANDBOX_FAULTS: %w", err)
		}
	}
	return cfg, nil
}

// run serves until ctx ends. ready, when not nil, learns the bound
// addresses (admin is empty when it shares the main listener).
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr, adminAddr string)) error {
	o, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	cfg, err := o.config(log)
	if err != nil {
		return err
	}
	srv, err := sandbox.New(cfg)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	apiServer := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	servers := []*http.Server{apiServer}
	listeners := []net.Listener{ln}
	adminAddr := ""
	if o.adminAddr != "" {
		aln, err := net.Listen("tcp", o.adminAddr)
		if err != nil {
			ln.Close()
			return err
		}
		apiServer.Handler = srv.APIHandler()
		servers = append(servers, &http.Server{Handler: srv.AdminHandler(), ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, aln)
		adminAddr = aln.Addr().String()
	}

	srv.Start()
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(listeners[i]) }()
	}
	log.Info().Str("addr", ln.Addr().String()).Str("adminAddr", adminAddr).Str("appId", cfg.AppID).
		Bool("autopilot", cfg.Autopilot.Enabled).Uint64("seed", cfg.Seed).
		Str("loanWebhook", cfg.LoanStatusWebhookURL).Str("authWebhook", cfg.AuthWebhookURL).
		Msg("AWDA sandbox listening")
	if ready != nil {
		ready(ln.Addr().String(), adminAddr)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info().Msg("shutting down")
	// Close the sandbox first: it releases requests held by timeout faults,
	// so that the HTTP shutdown below does not wait for them.
	if err := srv.Close(); err != nil {
		log.Error().Err(err).Msg("closing the sandbox")
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil {
			log.Warn().Err(err).Msg("HTTP shutdown")
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	st := srv.Stats()
	log.Info().Int("users", st.Users).Int("loans", st.Loans).Int("pushesPending", st.Pushes.Pending).Msg("stopped")
	return nil
}
