package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/inbox"
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
	DefaultOrphanGrace     = 2 * time.Minute
)

// Starter is the starter's own configuration, next to config.Config.
type Starter struct {
	HTTPAddr     string
	APITokens    []config.Secret
	CodecTokens  []config.Secret
	CodecOrigins []string
	CodecOpen    bool

	BanksTTL         time.Duration
	MaxDocumentBytes int64
	UpdateTimeout    time.Duration
	ForwardInterval  time.Duration
	OrphanGrace      time.Duration
	RetryMaxBackoff  time.Duration
	ShutdownTimeout  time.Duration

	// Notification verification: AWDA's keys, every one accepted (list the
	// old and the new during a rotation).
	NotifyHMACSecrets []config.Secret
	NotifyRSAKeyFiles []string
	NotifyTolerance   time.Duration

	// Loan is the workflow configuration every started loan carries: only
	// the LOAN_* variables set, the rest zero (the workflow's defaults, as
	// the worker running the loan has them).
	Loan workflows.Config
}

// loadStarter reads the starter's variables through getenv. Its error lists
// every problem, each naming its variable, never a secret.
func loadStarter(getenv func(string) string) (*Starter, error) {
	var errs []string
	fail := func(name, msg string) { errs = append(errs, name+": "+msg) }
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		s := str(name, "")
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			fail(name, fmt.Sprintf("%q: want a duration such as 15s or 2m", s))
			return def
		}
		return d
	}
	list := func(name string) []string {
		var out []string
		for _, v := range strings.Split(getenv(name), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	secrets := func(name string) []config.Secret {
		var out []config.Secret
		for _, v := range list(name) {
			out = append(out, config.Secret(v))
		}
		return out
	}

	c := &Starter{
		HTTPAddr:          str(EnvHTTPAddr, DefaultHTTPAddr),
		APITokens:         secrets(EnvAPITokens),
		CodecTokens:       secrets(EnvCodecTokens),
		CodecOrigins:      strings.Split(str(EnvCodecOrigins, DefaultCodecOrigins), ","),
		BanksTTL:          dur(EnvBanksTTL, api.DefaultBanksTTL),
		UpdateTimeout:     dur(EnvUpdateTimeout, api.DefaultUpdateTimeout),
		ForwardInterval:   dur(EnvForwardEvery, inbox.DefaultInterval),
		OrphanGrace:       dur(EnvOrphanGrace, DefaultOrphanGrace),
		RetryMaxBackoff:   dur(EnvRetryMax, inbox.DefaultMaxBackoff),
		ShutdownTimeout:   dur(EnvShutdown, DefaultShutdownTimeout),
		NotifyHMACSecrets: secrets(EnvNotifySecrets),
		NotifyRSAKeyFiles: list(EnvNotifyRSAKeys),
		NotifyTolerance:   dur(EnvNotifyTolerate, awda.DefaultNotificationTolerance),
		MaxDocumentBytes:  api.DefaultMaxDocumentBytes,
	}
	for i := range c.CodecOrigins {
		c.CodecOrigins[i] = strings.TrimRight(strings.TrimSpace(c.CodecOrigins[i]), "/")
	}

	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
		fail(EnvHTTPAddr, fmt.Sprintf("%q: want host:port", c.HTTPAddr))
	}
	if len(c.APITokens) == 0 {
		fail(EnvAPITokens, "required: at least one bearer token for the /v1 API")
	}
	for _, t := range append(append([]config.Secret(nil), c.APITokens...), c.CodecTokens...) {
		if len(t.Reveal()) < 16 {
			fail(EnvAPITokens+"/"+EnvCodecTokens, "every token must be at least 16 characters")
			break
		}
	}
	if s := str(EnvCodecOpen, ""); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			fail(EnvCodecOpen, fmt.Sprintf("%q: want true or false", s))
		}
		c.CodecOpen = b
		if b && !loopback(host) {
			fail(EnvCodecOpen, "only allowed when "+EnvHTTPAddr+" is a loopback address: it serves decrypted personal data without a token")
		}
	}
	for _, o := range c.CodecOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			fail(EnvCodecOrigins, fmt.Sprintf("%q: want origins such as http://localhost:8233", o))
		}
	}
	if s := str(EnvMaxDocument, ""); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n > awda.MaxImageBytes {
			fail(EnvMaxDocument, fmt.Sprintf("%q: want 1 to %d bytes", s, awda.MaxImageBytes))
		} else {
			c.MaxDocumentBytes = n
		}
	}
	if len(c.NotifyHMACSecrets) == 0 && len(c.NotifyRSAKeyFiles) == 0 && getenv(config.EnvAWDAHMACSecret) != "" {
		// AWDA signs notifications with the merchant's HMAC secret unless it
		// was given an RSA key of its own.
		c.NotifyHMACSecrets = []config.Secret{config.Secret(getenv(config.EnvAWDAHMACSecret))}
	}
	if len(c.NotifyHMACSecrets) == 0 && len(c.NotifyRSAKeyFiles) == 0 {
		fail(EnvNotifySecrets+" or "+EnvNotifyRSAKeys, "required: the key(s) AWDA signs notifications with")
	}
	for _, f := range c.NotifyRSAKeyFiles {
		if _, err := readRSAPublicKey(f); err != nil {
			fail(EnvNotifyRSAKeys, err.Error())
		}
	}
	c.Loan = loadLoan(str, fail)
	if len(errs) > 0 {
		return nil, &config.Error{Problems: errs}
	}
	return c, nil
}

// loanKnob is one LOAN_* variable: its workflows.Config field and that
// field's JSON name, by which Config.Validate names it.
type loanKnob struct {
	env, field string
	dur        func(*workflows.Config) *time.Duration
	count      func(*workflows.Config) *int
}

var loanKnobs = []loanKnob{
	{env: EnvLoanPollInterval, field: "pollInterval", dur: func(c *workflows.Config) *time.Duration { return &c.PollInterval }},
	{env: EnvLoanPollBackoffCap, field: "pollBackoffCap", dur: func(c *workflows.Config) *time.Duration { return &c.PollBackoffCap }},
	{env: EnvLoanReviewDeadline, field: "reviewDeadline", dur: func(c *workflows.Config) *time.Duration { return &c.ReviewDeadline }},
	{env: EnvLoanDisbursementDeadline, field: "disbursementDeadline", dur: func(c *workflows.Config) *time.Duration { return &c.DisbursementDeadline }},
	{env: EnvLoanCardVerifyDeadline, field: "cardVerifyDeadline", dur: func(c *workflows.Config) *time.Duration { return &c.CardVerifyDeadline }},
	{env: EnvLoanAuthDeadline, field: "authorizationDeadline", dur: func(c *workflows.Config) *time.Duration { return &c.AuthorizationDeadline }},
	{env: EnvLoanBankCardDeadline, field: "bankCardDeadline", dur: func(c *workflows.Config) *time.Duration { return &c.BankCardDeadline }},
	{env: EnvLoanAgreementDeadline, field: "agreementDeadline", dur: func(c *workflows.Config) *time.Duration { return &c.AgreementDeadline }},
	{env: EnvLoanOverduePollInterval, field: "overduePollInterval", dur: func(c *workflows.Config) *time.Duration { return &c.OverduePollInterval }},
	{env: EnvLoanRetryBudget, field: "retryBudget", dur: func(c *workflows.Config) *time.Duration { return &c.RetryBudget }},
	{env: EnvLoanCallTimeout, field: "callTimeout", dur: func(c *workflows.Config) *time.Duration { return &c.CallTimeout }},
	{env: EnvLoanContinueAsNewEvents, field: "continueAsNewEvents", count: func(c *workflows.Config) *int { return &c.ContinueAsNewEvents }},
}

// loadLoan reads the LOAN_* variables: each must parse (a positive
// duration, a positive integer), and the configuration a loan would run
// with — these values over the workflow's defaults — must pass
// workflows.Config.Validate, whose complaints name the variable to change.
func loadLoan(str func(name, def string) string, fail func(name, msg string)) workflows.Config {
	var c workflows.Config
	set := map[string]bool{}
	for _, k := range loanKnobs {
		s := str(k.env, "")
		if s == "" {
			continue
		}
		if k.dur != nil {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				fail(k.env, fmt.Sprintf("%q: want a positive duration such as 10m, 6h or 336h", s))
				continue
			}
			*k.dur(&c) = d
		} else {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				fail(k.env, fmt.Sprintf("%q: want a positive integer", s))
				continue
			}
			*k.count(&c) = n
		}
		set[k.field] = true
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
		field, msg, _ := strings.Cut(p.Error(), " ")
		name := field
		for _, k := range loanKnobs {
			if k.field == field {
				name = k.env
				if !set[field] {
					msg += " (unset: the default " + defaultOf(k) + ")"
				}
			}
			// "must not be below pollInterval": name the variable, and its
			// default when it is not set.
			other := k.env
			if k.field != field && !set[k.field] {
				other += " (default " + defaultOf(k) + ")"
			}
			msg = regexp.MustCompile(`\b`+k.field+`\b`).ReplaceAllString(msg, other)
		}
		fail(name, msg)
	}
	return c
}

func defaultOf(k loanKnob) string {
	d := workflows.DefaultConfig()
	if k.dur != nil {
		return k.dur(&d).String()
	}
	return strconv.Itoa(*k.count(&d))
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
