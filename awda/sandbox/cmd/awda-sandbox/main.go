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
	"syscall"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/config/envconfig"
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

// options is the parsed configuration: each field's variable and default
// in its tag (read by envconfig, as the worker's and the starter's are),
// and a flag of the same meaning, which wins.
type options struct {
	Addr           string           `env:"SANDBOX_ADDR" envDefault:"127.0.0.1:8089"` // DefaultAddr
	AdminAddr      string           `env:"SANDBOX_ADMIN_ADDR"`
	AppID          string           `env:"AWDA_APP_ID" envDefault:"awda-sandbox-app"` // DefaultAppID
	Secret         envconfig.Secret `env:"AWDA_HMAC_SECRET"`                          // default: DefaultHMACSecret unless a partner key is given
	PartnerKeyFile string           `env:"AWDA_PARTNER_PUBLIC_KEY_FILE"`
	PushKeyFile    string           `env:"AWDA_PUSH_PRIVATE_KEY_FILE"`
	LoanHook       string           `env:"SANDBOX_LOAN_WEBHOOK_URL"`
	AuthHook       string           `env:"SANDBOX_AUTH_WEBHOOK_URL"`
	PublicURL      string           `env:"SANDBOX_PUBLIC_URL"`
	Seed           uint64           `env:"SANDBOX_SEED"`
	Autopilot      bool             `env:"SANDBOX_AUTOPILOT"`
	APMin          time.Duration    `env:"SANDBOX_AUTOPILOT_MIN_DELAY" envDefault:"100ms"` // sandbox.DefaultAutopilotMinDelay
	APMax          time.Duration    `env:"SANDBOX_AUTOPILOT_MAX_DELAY" envDefault:"500ms"` // sandbox.DefaultAutopilotMaxDelay
	Dup            int              `env:"SANDBOX_PUSH_DUPLICATES"`
	PushDelayMin   time.Duration    `env:"SANDBOX_PUSH_DELAY_MIN"`
	PushDelayMax   time.Duration    `env:"SANDBOX_PUSH_DELAY_MAX"`
	Reorder        bool             `env:"SANDBOX_PUSH_REORDER"`
	RetryBase      time.Duration    `env:"SANDBOX_PUSH_RETRY_BASE" envDefault:"250ms"` // sandbox.DefaultRetryBase
	RetryMax       time.Duration    `env:"SANDBOX_PUSH_RETRY_MAX" envDefault:"15s"`    // sandbox.DefaultRetryMax
	MaxAttempts    int              `env:"SANDBOX_PUSH_MAX_ATTEMPTS"`
	Skew           time.Duration    `env:"SANDBOX_CLOCK_SKEW"`
	Faults         string           `env:"SANDBOX_FAULTS"`
	MaxAmount      int64            `env:"SANDBOX_MAX_AMOUNT" envDefault:"10000000"`
	AllowRemote    bool             `env:"SANDBOX_ADMIN_ALLOW_REMOTE"`
	LogFormat      string           `env:"SANDBOX_LOG_FORMAT"`
	LogLevel       string           `env:"SANDBOX_LOG_LEVEL" envDefault:"info"`
	ShutdownGrace  time.Duration    `env:"SANDBOX_SHUTDOWN_GRACE" envDefault:"5s"`
	StateFile      string           `env:"SANDBOX_STATE_FILE"`
}

// loadOptions reads the environment through getenv, every bad variable
// reported at once.
func loadOptions(getenv func(string) string) (*options, error) {
	r := envconfig.NewReader(getenv)
	o := &options{}
	r.Parse(o)
	return o, r.Err()
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o, err := loadOptions(getenv)
	if err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet("awda-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Addr, "addr", o.Addr, "listen address of the partner interfaces, H5 pages and (without -admin-addr) the admin API [SANDBOX_ADDR]")
	fs.StringVar(&o.AdminAddr, "admin-addr", o.AdminAddr, "separate listen address for the admin API; empty: the main listener [SANDBOX_ADMIN_ADDR]")
	fs.StringVar(&o.AppID, "app-id", o.AppID, "the partner's appId [AWDA_APP_ID]")
	fs.TextVar(&o.Secret, "hmac-secret", o.Secret, "shared HMAC-SHA256 secret; prefer the variable [AWDA_HMAC_SECRET] (default: a development secret unless an RSA key is given)")
	fs.StringVar(&o.PartnerKeyFile, "partner-public-key-file", o.PartnerKeyFile, "PEM public key verifying RSA-SHA256 requests [AWDA_PARTNER_PUBLIC_KEY_FILE]")
	fs.StringVar(&o.PushKeyFile, "push-private-key-file", o.PushKeyFile, "PEM private key (AWDA's) signing pushes with RSA-SHA256; default: HMAC with the secret [AWDA_PUSH_PRIVATE_KEY_FILE]")
	fs.StringVar(&o.LoanHook, "loan-webhook-url", o.LoanHook, "where loan status pushes go [SANDBOX_LOAN_WEBHOOK_URL]")
	fs.StringVar(&o.AuthHook, "auth-webhook-url", o.AuthHook, "where authorization callbacks go [SANDBOX_AUTH_WEBHOOK_URL]")
	fs.StringVar(&o.PublicURL, "public-url", o.PublicURL, "base URL of H5 links; default: the request's host [SANDBOX_PUBLIC_URL]")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of ids, fault draws and delays; 0: a new one from the clock, logged at startup [SANDBOX_SEED]")
	fs.BoolVar(&o.Autopilot, "autopilot", o.Autopilot, "move authorizations and loans along by the documented rules [SANDBOX_AUTOPILOT]")
	fs.DurationVar(&o.APMin, "autopilot-min-delay", o.APMin, "shortest autopilot step [SANDBOX_AUTOPILOT_MIN_DELAY]")
	fs.DurationVar(&o.APMax, "autopilot-max-delay", o.APMax, "longest autopilot step; 0 and 0: no delay [SANDBOX_AUTOPILOT_MAX_DELAY]")
	fs.IntVar(&o.Dup, "push-duplicates", o.Dup, "extra copies of every push [SANDBOX_PUSH_DUPLICATES]")
	fs.DurationVar(&o.PushDelayMin, "push-delay-min", o.PushDelayMin, "shortest push delay [SANDBOX_PUSH_DELAY_MIN]")
	fs.DurationVar(&o.PushDelayMax, "push-delay-max", o.PushDelayMax, "longest push delay [SANDBOX_PUSH_DELAY_MAX]")
	fs.BoolVar(&o.Reorder, "push-reorder", o.Reorder, "let pushes of one loan overtake each other [SANDBOX_PUSH_REORDER]")
	fs.DurationVar(&o.RetryBase, "push-retry-base", o.RetryBase, "first push retry backoff [SANDBOX_PUSH_RETRY_BASE]")
	fs.DurationVar(&o.RetryMax, "push-retry-max", o.RetryMax, "longest push retry backoff [SANDBOX_PUSH_RETRY_MAX]")
	fs.IntVar(&o.MaxAttempts, "push-max-attempts", o.MaxAttempts, "give a push up after that many attempts; 0: never [SANDBOX_PUSH_MAX_ATTEMPTS]")
	fs.DurationVar(&o.Skew, "clock-skew", o.Skew, "initial clock skew [SANDBOX_CLOCK_SKEW]")
	fs.StringVar(&o.Faults, "faults", o.Faults, `initial fault rules as JSON, e.g. {"*":{"busyRate":0.2}} [SANDBOX_FAULTS]`)
	fs.Int64Var(&o.MaxAmount, "max-amount", o.MaxAmount, "eligible maximum amount in IDR [SANDBOX_MAX_AMOUNT]")
	fs.BoolVar(&o.AllowRemote, "admin-allow-remote", o.AllowRemote, "let non-loopback clients use the admin API [SANDBOX_ADMIN_ALLOW_REMOTE]")
	fs.StringVar(&o.LogFormat, "log-format", o.LogFormat, "json or console; default: console on a terminal [SANDBOX_LOG_FORMAT]")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error [SANDBOX_LOG_LEVEL]")
	fs.DurationVar(&o.ShutdownGrace, "shutdown-grace", o.ShutdownGrace, "how long in-flight requests may finish on shutdown [SANDBOX_SHUTDOWN_GRACE]")
	fs.StringVar(&o.StateFile, "state-file", o.StateFile, "keep users, loans and pending pushes in this file across restarts; empty: forget them on exit [SANDBOX_STATE_FILE]")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.Seed == 0 {
		// A sandbox restarted alone must not hand out the loan numbers and
		// event IDs of its previous life again (the partner already has
		// them); a run is reproduced by passing the seed it logged.
		o.Seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

func newLogger(o *options, stderr io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(o.LogLevel)
	if err != nil {
		return zerolog.Logger{}, err
	}
	format := o.LogFormat
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
		AppID:                o.AppID,
		LoanStatusWebhookURL: o.LoanHook,
		AuthWebhookURL:       o.AuthHook,
		Seed:                 o.Seed,
		ClockSkew:            o.Skew,
		Autopilot:            sandbox.Autopilot{Enabled: o.Autopilot, MinDelay: o.APMin, MaxDelay: o.APMax, NoDelay: o.APMin == 0 && o.APMax == 0},
		Delivery: sandbox.Delivery{
			Duplicates: o.Dup, DelayMin: o.PushDelayMin, DelayMax: o.PushDelayMax, Reorder: o.Reorder,
			RetryBase: o.RetryBase, RetryMax: o.RetryMax, MaxAttempts: o.MaxAttempts,
		},
		MaxAmount:        o.MaxAmount,
		PublicURL:        o.PublicURL,
		AdminAllowRemote: o.AllowRemote,
		StateFile:        o.StateFile,
		Logger:           log,
	}
	if o.PartnerKeyFile != "" {
		pem, err := os.ReadFile(o.PartnerKeyFile)
		if err != nil {
			return cfg, err
		}
		if cfg.PartnerPublicKey, err = awda.ParseRSAPublicKeyPEM(pem); err != nil {
			return cfg, err
		}
	}
	if !o.Secret.Empty() {
		cfg.HMACSecret = []byte(o.Secret.Reveal())
	} else if cfg.PartnerPublicKey == nil {
		log.Warn().Msg("no AWDA_HMAC_SECRET or partner key given: using the development HMAC secret; never expose this sandbox")
		cfg.HMACSecret = []byte(DefaultHMACSecret)
	}
	if o.PushKeyFile != "" {
		pem, err := os.ReadFile(o.PushKeyFile)
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
	if o.Faults != "" {
		if err := json.Unmarshal([]byte(o.Faults), &cfg.Faults); err != nil {
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

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	apiServer := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	servers := []*http.Server{apiServer}
	listeners := []net.Listener{ln}
	adminAddr := ""
	if o.AdminAddr != "" {
		aln, err := net.Listen("tcp", o.AdminAddr)
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
	log.Info().Str("addr", ln.Addr().String()).Str("admin_addr", adminAddr).Str("app_id", cfg.AppID).
		Bool("autopilot", cfg.Autopilot.Enabled).Uint64("seed", cfg.Seed).
		Str("loan_webhook", cfg.LoanStatusWebhookURL).Str("auth_webhook", cfg.AuthWebhookURL).
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
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownGrace)
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
	log.Info().Int("users", st.Users).Int("loans", st.Loans).Int("pushes_pending", st.Pushes.Pending).Msg("stopped")
	return nil
}
