package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/config/envconfig"
	"github.com/awdaflow/awdaflow/workflows"
)

// The starter's own environment variables. The shared ones (Temporal, AWDA
// client, AWDAFLOW_KEYS, DATABASE_URL, LOG_*) are internal/config's.
const (
	EnvHTTPAddr       = "STARTER_HTTP_ADDR"  // default DefaultHTTPAddr
	EnvAPITokens      = "STARTER_API_TOKENS" // bearer tokens of the lending backend (and ops), comma-separated; required
	EnvCodecTokens    = "STARTER_CODEC_TOKENS"
	EnvCodecOrigins   = "STARTER_CODEC_ORIGINS" // Temporal UI origins for CORS; default DefaultCodecOrigins
	EnvCodecOpen      = "STARTER_CODEC_ALLOW_UNAUTHENTICATED"
	EnvBanksTTL       = "STARTER_BANKS_TTL"
	EnvMaxDocument    = "STARTER_MAX_DOCUMENT_BYTES"
	EnvUpdateTimeout  = "STARTER_UPDATE_TIMEOUT"
	EnvForwardEvery   = "STARTER_FORWARD_INTERVAL"
	EnvOrphanGrace    = "STARTER_ORPHAN_GRACE"
	EnvRetryMax       = "STARTER_RETRY_MAX_BACKOFF"
	EnvShutdown       = "STARTER_SHUTDOWN_TIMEOUT"
	EnvDrainDelay     = "STARTER_DRAIN_DELAY"
	EnvNotifySecrets  = "AWDA_NOTIFY_HMAC_SECRETS"    // AWDA's notification HMAC secrets, comma-separated (rotation); default AWDA_HMAC_SECRET
	EnvNotifyRSAKeys  = "AWDA_NOTIFY_RSA_PUBLIC_KEYS" // AWDA's notification RSA public key files (PEM), comma-separated
	EnvNotifyTolerate = "AWDA_NOTIFY_TOLERANCE"

	// The loan workflow's knobs, put into every workflow the starter starts
	// (workflows.Config); unset keeps the workflow's default.
	EnvLoanPollInterval         = "LOAN_POLL_INTERVAL"
	EnvLoanPollBackoffCap       = "LOAN_POLL_BACKOFF_CAP"
	EnvLoanReviewDeadline       = "LOAN_REVIEW_DEADLINE"
	EnvLoanDisbursementDeadline = "LOAN_DISBURSEMENT_DEADLINE"
	EnvLoanCardVerifyDeadline   = "LOAN_CARD_VERIFY_DEADLINE"
	EnvLoanAuthDeadline         = "LOAN_AUTHORIZATION_DEADLINE"
	EnvLoanBankCardDeadline     = "LOAN_BANK_CARD_DEADLINE"
	EnvLoanAgreementDeadline    = "LOAN_AGREEMENT_DEADLINE"
	EnvLoanOverduePollInterval  = "LOAN_OVERDUE_POLL_INTERVAL"
	EnvLoanDueCheckJitter       = "LOAN_DUE_CHECK_JITTER"
	EnvLoanRetryBudget          = "LOAN_RETRY_BUDGET"
	EnvLoanCallTimeout          = "LOAN_CALL_TIMEOUT"
	EnvLoanContinueAsNewEvents  = "LOAN_CONTINUE_AS_NEW_EVENTS"

	// The CLI's client commands (apply, status, retry, …).
	EnvURL      = "STARTER_URL"       // default DefaultURL
	EnvAPIToken = "STARTER_API_TOKEN" // default: the first of STARTER_API_TOKENS
)

// Defaults.
const (
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultURL             = "http://127.0.0.1:8080"
	DefaultCodecOrigins    = "http://localhost:8233,http://127.0.0.1:8233"
	DefaultShutdownTimeout = 20 * time.Second
	DefaultDrainDelay      = 5 * time.Second
	DefaultOrphanGrace     = 2 * time.Minute
)

// Starter is the starter's own configuration, next to config.Config: the
// STARTER_* and AWDA_NOTIFY_* variables, their defaults and which are
// required in its tags (the LOAN_* ones in loanVars'), read by
// loadStarter.
type Starter struct {
	HTTPAddr string `env:"STARTER_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	// APITokens are the bearer tokens of the lending backend (and ops).
	APITokens   []config.Secret `env:"STARTER_API_TOKENS,required" envHelp:"at least one bearer token for the /v1 API"`
	CodecTokens []config.Secret `env:"STARTER_CODEC_TOKENS"`
	// CodecOrigins are the Temporal UI origins the codec server lets in (CORS).
	CodecOrigins []string `env:"STARTER_CODEC_ORIGINS" envDefault:"http://localhost:8233,http://127.0.0.1:8233"`
	CodecOpen    bool     `env:"STARTER_CODEC_ALLOW_UNAUTHENTICATED"`

	BanksTTL         time.Duration `env:"STARTER_BANKS_TTL" envDefault:"10m"`               // api.DefaultBanksTTL
	MaxDocumentBytes int64         `env:"STARTER_MAX_DOCUMENT_BYTES" envDefault:"10485760"` // api.DefaultMaxDocumentBytes
	UpdateTimeout    time.Duration `env:"STARTER_UPDATE_TIMEOUT" envDefault:"60s"`          // api.DefaultUpdateTimeout
	ForwardInterval  time.Duration `env:"STARTER_FORWARD_INTERVAL" envDefault:"2s"`         // inbox.DefaultInterval
	OrphanGrace      time.Duration `env:"STARTER_ORPHAN_GRACE" envDefault:"2m"`             // DefaultOrphanGrace
	RetryMaxBackoff  time.Duration `env:"STARTER_RETRY_MAX_BACKOFF" envDefault:"5m"`        // inbox.DefaultMaxBackoff
	ShutdownTimeout  time.Duration `env:"STARTER_SHUTDOWN_TIMEOUT" envDefault:"20s"`        // DefaultShutdownTimeout
	// DrainDelay is how long, on SIGTERM, the starter answers 503 on every
	// readiness path while still serving, before it closes its listener:
	// the time load balancers need to notice and stop sending.
	DrainDelay time.Duration `env:"STARTER_DRAIN_DELAY" envDefault:"5s"` // DefaultDrainDelay

	// Notification verification: AWDA's keys, every one accepted (list the
	// old and the new during a rotation). Without any, the merchant's HMAC
	// secret (AWDA_HMAC_SECRET, internal/config's variable), with which
	// AWDA signs unless it was given an RSA key of its own.
	NotifyHMACSecrets  []config.Secret `env:"AWDA_NOTIFY_HMAC_SECRETS"`
	NotifyRSAKeyFiles  []string        `env:"AWDA_NOTIFY_RSA_PUBLIC_KEYS"`           // PEM files
	NotifyTolerance    time.Duration   `env:"AWDA_NOTIFY_TOLERANCE" envDefault:"5m"` // awda.DefaultNotificationTolerance
	MerchantHMACSecret config.Secret   `env:"AWDA_HMAC_SECRET"`

	// Loan is the workflow configuration every started loan carries: only
	// the LOAN_* variables set, the rest zero (the workflow's defaults, as
	// the worker running the loan has them).
	Loan workflows.Config `env:"-"`
}

// loadStarter reads the starter's variables through getenv. Its error (a
// *config.Error) lists every problem, each naming its variable, never a
// secret.
func loadStarter(getenv func(string) string) (*Starter, error) {
	r := envconfig.NewReader(getenv)
	c := &Starter{}
	r.Parse(c)
	for i, o := range c.CodecOrigins {
		c.CodecOrigins[i] = strings.TrimRight(strings.TrimSpace(o), "/")
	}
	for i, f := range c.NotifyRSAKeyFiles {
		c.NotifyRSAKeyFiles[i] = strings.TrimSpace(f)
	}
	c.NotifyRSAKeyFiles = slices.DeleteFunc(c.NotifyRSAKeyFiles, func(f string) bool { return f == "" })
	if len(c.NotifyHMACSecrets) == 0 && len(c.NotifyRSAKeyFiles) == 0 && !c.MerchantHMACSecret.Empty() {
		c.NotifyHMACSecrets = []config.Secret{c.MerchantHMACSecret}
	}
	c.check(r)
	c.Loan = loadLoan(r)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// check checks what the tags cannot say.
func (c *Starter) check(r *envconfig.Reader) {
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{EnvBanksTTL, c.BanksTTL}, {EnvUpdateTimeout, c.UpdateTimeout}, {EnvForwardEvery, c.ForwardInterval},
		{EnvOrphanGrace, c.OrphanGrace}, {EnvRetryMax, c.RetryMaxBackoff}, {EnvShutdown, c.ShutdownTimeout},
		{EnvDrainDelay, c.DrainDelay}, {EnvNotifyTolerate, c.NotifyTolerance}} {
		r.Want(d.name, d.d >= 0, "a duration such as 15s or 2m")
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
		r.Fail(EnvHTTPAddr, fmt.Sprintf("%q: want host:port", c.HTTPAddr))
	}
	r.Require(EnvAPITokens, len(c.APITokens) > 0)
	for _, t := range slices.Concat(c.APITokens, c.CodecTokens) {
		if len(t.Reveal()) < 16 {
			r.Fail(EnvAPITokens+"/"+EnvCodecTokens, "every token must be at least 16 characters")
			break
		}
	}
	if c.CodecOpen && !loopback(host) {
		r.Fail(EnvCodecOpen, "only allowed when "+EnvHTTPAddr+" is a loopback address: it serves decrypted personal data without a token")
	}
	for _, o := range c.CodecOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			r.Fail(EnvCodecOrigins, fmt.Sprintf("%q: want origins such as http://localhost:8233", o))
		}
	}
	r.Want(EnvMaxDocument, c.MaxDocumentBytes > 0 && c.MaxDocumentBytes <= awda.MaxImageBytes, fmt.Sprintf("1 to %d bytes", awda.MaxImageBytes))
	if len(c.NotifyHMACSecrets) == 0 && len(c.NotifyRSAKeyFiles) == 0 {
		r.Fail(EnvNotifySecrets+" or "+EnvNotifyRSAKeys, "required: the key(s) AWDA signs notifications with")
	}
	for _, f := range c.NotifyRSAKeyFiles {
		if _, err := readRSAPublicKey(f); err != nil {
			r.Fail(EnvNotifyRSAKeys, err.Error())
		}
	}
}

// loanVars are the LOAN_* variables, each read into the field of
// workflows.Config of the same name (loanKnobs fails at start-up on a name
// that is not one); unset keeps the workflow's default.
type loanVars struct {
	PollInterval          time.Duration `env:"LOAN_POLL_INTERVAL"`
	PollBackoffCap        time.Duration `env:"LOAN_POLL_BACKOFF_CAP"`
	ReviewDeadline        time.Duration `env:"LOAN_REVIEW_DEADLINE"`
	DisbursementDeadline  time.Duration `env:"LOAN_DISBURSEMENT_DEADLINE"`
	CardVerifyDeadline    time.Duration `env:"LOAN_CARD_VERIFY_DEADLINE"`
	AuthorizationDeadline time.Duration `env:"LOAN_AUTHORIZATION_DEADLINE"`
	BankCardDeadline      time.Duration `env:"LOAN_BANK_CARD_DEADLINE"`
	AgreementDeadline     time.Duration `env:"LOAN_AGREEMENT_DEADLINE"`
	OverduePollInterval   time.Duration `env:"LOAN_OVERDUE_POLL_INTERVAL"`
	DueCheckJitter        time.Duration `env:"LOAN_DUE_CHECK_JITTER"`
	RetryBudget           time.Duration `env:"LOAN_RETRY_BUDGET"`
	CallTimeout           time.Duration `env:"LOAN_CALL_TIMEOUT"`
	ContinueAsNewEvents   int           `env:"LOAN_CONTINUE_AS_NEW_EVENTS"`
}

// loanKnob is one LOAN_* variable: its workflows.Config field and that
// field's JSON name, by which Config.Validate names it.
type loanKnob struct {
	env, name, field string
}

var loanKnobs = knobsOf(reflect.TypeFor[loanVars]())

func knobsOf(t reflect.Type) []loanKnob {
	wf := reflect.TypeFor[workflows.Config]()
	var out []loanKnob
	for i := range t.NumField() {
		f := t.Field(i)
		w, ok := wf.FieldByName(f.Name)
		if !ok || w.Type != f.Type {
			panic("loanVars." + f.Name + " is not a field of workflows.Config of the same type")
		}
		json, _, _ := strings.Cut(w.Tag.Get("json"), ",")
		out = append(out, loanKnob{env: f.Tag.Get("env"), name: f.Name, field: json})
	}
	return out
}

// loadLoan reads the LOAN_* variables: each must be positive (a duration,
// an integer), and the configuration a loan would run with — these values
// over the workflow's defaults — must pass workflows.Config.Validate, whose
// complaints name the variable to change.
func loadLoan(r *envconfig.Reader) workflows.Config {
	var vars loanVars
	r.Parse(&vars)
	var c workflows.Config
	src, dst := reflect.ValueOf(vars), reflect.ValueOf(&c).Elem()
	set := map[string]bool{}
	for i, k := range loanKnobs {
		v := src.Field(i)
		want := "a positive duration such as 10m, 6h or 336h"
		if v.Kind() == reflect.Int {
			want = "a positive integer"
		}
		r.Want(k.env, v.Int() > 0 || !r.Set(k.env), want)
		if v.Int() > 0 {
			dst.FieldByName(k.name).Set(v)
			set[k.field] = true
		}
	}
	err := c.WithDefaults().Validate()
	if err == nil {
		return c
	}
	var problems []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		problems = j.Unwrap()
	} else {
		problems = []error{err}
	}
	for _, p := range problems {
		name, msg := loanProblem(p, set)
		r.Fail(name, msg)
	}
	return c
}

// loanProblem names the variables in one of Validate's complaints ("field
// must not be below otherField"), each with its default when it is unset.
func loanProblem(p error, set map[string]bool) (name, msg string) {
	field, msg, _ := strings.Cut(p.Error(), " ")
	name = field
	for _, k := range loanKnobs {
		if k.field == field {
			name = k.env
			if !set[field] {
				msg += " (unset: the default " + defaultOf(k) + ")"
			}
		}
		other := k.env
		if k.field != field && !set[k.field] {
			other += " (default " + defaultOf(k) + ")"
		}
		msg = regexp.MustCompile(`\b`+k.field+`\b`).ReplaceAllString(msg, other)
	}
	return name, msg
}

func defaultOf(k loanKnob) string {
	return fmt.Sprint(reflect.ValueOf(workflows.DefaultConfig()).FieldByName(k.name).Interface())
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func readRSAPublicKey(path string) (*awda.RSAVerifier, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	key, err := awda.ParseRSAPublicKeyPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA public key (PEM)", path)
	}
	return awda.NewRSAVerifier(key)
}

// stopTimeout bounds the whole stop of `starter serve`: the drain delay, the
// HTTP server's shutdown, then the forwarder's last batch and the rest.
func (c *Starter) stopTimeout() time.Duration {
	return c.DrainDelay + c.ShutdownTimeout + 15*time.Second
}

// Verifier builds the notification verifier for appID.
func (c *Starter) Verifier(appID string) (*awda.NotificationVerifier, error) {
	v := &awda.NotificationVerifier{AppID: appID, Tolerance: c.NotifyTolerance}
	for _, s := range c.NotifyHMACSecrets {
		h, err := awda.NewHMACSigner([]byte(s.Reveal()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvNotifySecrets, err)
		}
		v.Keys = append(v.Keys, h)
	}
	for _, f := range c.NotifyRSAKeyFiles {
		k, err := readRSAPublicKey(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvNotifyRSAKeys, err)
		}
		v.Keys = append(v.Keys, k)
	}
	return v, nil
}

func reveal(ss []config.Secret) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Reveal()
	}
	return out
}
