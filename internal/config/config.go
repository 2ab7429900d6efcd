// Package config reads the configuration the worker and `starter serve`
// share (Temporal, the AWDA client, AWDAFLOW_KEYS, DATABASE_URL, LOG_*,
// WORKER_*) from environment variables and checks it before anything
// starts. The variables, their defaults and which are required are the
// struct tags of Config; envconfig (the one reader every binary uses, the
// starter's own settings and the sandbox command's included) parses them,
// and LoadFrom checks what tags cannot say, reporting every bad variable
// at once.
//
// Secrets (the AWDA HMAC secret, the Temporal API key, the payload key
// ring, the database URL with its password) are held as Secret values,
// which print as "[redacted]": a Config can be logged or printed whole.
// This package must never put a secret's value into an error message.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/config/envconfig"
)

// Names of the environment variables, for messages and for code that sets
// them (tests, tools). What reads them, with their defaults, is Config's
// tags; deploy's tests hold the two to each other.
// The Temporal ones are in temporal.go.
const (
	EnvAWDABaseURL        = "AWDA_BASE_URL"
	EnvAWDAAppID          = "AWDA_APP_ID"
	EnvAWDAHMACSecret     = "AWDA_HMAC_SECRET"
	EnvAWDARSAKeyFile     = "AWDA_RSA_PRIVATE_KEY_FILE"
	EnvAWDAHTTPTimeout    = "AWDA_HTTP_TIMEOUT"
	EnvKeys               = "AWDAFLOW_KEYS" // payload key ring: keyID=base64key[,keyID=base64key...], newest last
	EnvDatabaseURL        = "DATABASE_URL"
	EnvDatabaseMigrate    = "DATABASE_MIGRATE"
	EnvHTTPAddr           = "WORKER_HTTP_ADDR"
	EnvLogFormat          = "LOG_FORMAT"
	EnvLogLevel           = "LOG_LEVEL"
	EnvMaxActivities      = "WORKER_MAX_CONCURRENT_ACTIVITIES"
	EnvMaxWorkflowTasks   = "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS"
	EnvActivityPollers    = "WORKER_ACTIVITY_POLLERS"
	EnvWorkflowPollers    = "WORKER_WORKFLOW_POLLERS"
	EnvStickyCacheSize    = "WORKER_STICKY_CACHE_SIZE"
	EnvWorkerStopTimeout  = "WORKER_STOP_TIMEOUT"
	EnvWorkerStartTimeout = "WORKER_START_TIMEOUT"
	EnvWorkerVersioning   = "WORKER_VERSIONING"
	EnvWorkerDeployment   = "WORKER_DEPLOYMENT_NAME"
	EnvWorkerBuildID      = "WORKER_BUILD_ID"
)

// Defaults, for code that needs them outside a Config (tools, tests); the
// envDefault tags say the same (TestDefaults holds them to it).
const (
	DefaultTemporalAddress   = "localhost:7233"
	DefaultTemporalNamespace = "default"
	DefaultConnectTimeout    = 30 * time.Second
	DefaultAWDAHTTPTimeout   = 15 * time.Second
	DefaultHTTPAddr          = "127.0.0.1:9091"
	DefaultStopTimeout       = 30 * time.Second
	// DefaultStickyCacheSize is how many workflow executions a worker keeps
	// in memory (about 80 KiB each for a loan): enough for every loan that
	// is moving, while the many parked for months are replayed on demand.
	// The SDK's own default (10,000) costs some 800 MiB.
	DefaultStickyCacheSize = 1000
)

// Config is the configuration the worker and `starter serve` read from
// their environment.
type Config struct {
	Temporal Temporal
	AWDA     AWDA
	// Keys is the payload key ring spec (see codec.ParseKeyRing): it
	// encrypts Temporal payloads and data at rest.
	Keys     Secret `env:"AWDAFLOW_KEYS,required" envHelp:"payloads are always encrypted (keyID=base64(32 bytes)[,...], newest last)"`
	Database Database
	HTTPAddr string `env:"WORKER_HTTP_ADDR" envDefault:"127.0.0.1:9091"` // /healthz, /readyz, /metrics
	Log      Log
	Worker   Worker
	// Retention is read by the worker (retention.go).
	Retention Retention
	// Reconcile is read by the worker (reconcile.go).
	Reconcile Reconcile
	// DataKeys tunes the applicant data key cache (datakeys.go).
	DataKeys DataKeys
	// RateLimit paces every AWDA call of every process (ratelimit.go).
	RateLimit RateLimit
}

// gRPC compressions of the connection to Temporal.
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"
)

// AWDA is how to reach and sign for AWDA. Exactly one of HMACSecret and
// RSAPrivateKeyFile is set.
type AWDA struct {
	BaseURL           string        `env:"AWDA_BASE_URL" envDefault:"https://sea-staging.wolaidai.com"` // awda.BaseURLStaging; no trailing slash
	AppID             string        `env:"AWDA_APP_ID,required" envHelp:"the merchant id AWDA assigned"`
	HMACSecret        Secret        `env:"AWDA_HMAC_SECRET"`
	RSAPrivateKeyFile string        `env:"AWDA_RSA_PRIVATE_KEY_FILE"`
	HTTPTimeout       time.Duration `env:"AWDA_HTTP_TIMEOUT" envDefault:"15s"`
}

// Database is the PostgreSQL the worker and the starter keep their data in
// (documents, the read model, the inbox).
type Database struct {
	// URL is postgres://…; Redacted (and so String) masks its password.
	URL     Secret `env:"DATABASE_URL,required" envHelp:"postgres://user:password@host:port/db"`
	Migrate bool   `env:"DATABASE_MIGRATE" envDefault:"true"` // apply migrations at startup (under an advisory lock)
}

// Log configures zerolog.
type Log struct {
	Format string        `env:"LOG_FORMAT"` // "json" or "console"; default console when stderr is a terminal, else json
	Level  zerolog.Level `env:"LOG_LEVEL" envDefault:"info"`
}

// Worker holds the Temporal worker's knobs. Zero in one of the first four
// means the SDK's default.
type Worker struct {
	MaxConcurrentActivities    int           `env:"WORKER_MAX_CONCURRENT_ACTIVITIES"`
	MaxConcurrentWorkflowTasks int           `env:"WORKER_MAX_CONCURRENT_WORKFLOW_TASKS"`
	ActivityPollers            int           `env:"WORKER_ACTIVITY_POLLERS"`
	WorkflowPollers            int           `env:"WORKER_WORKFLOW_POLLERS"`
	StickyCacheSize            int           `env:"WORKER_STICKY_CACHE_SIZE" envDefault:"1000"`
	StopTimeout                time.Duration `env:"WORKER_STOP_TIMEOUT" envDefault:"30s"` // how long in-flight activities get on shutdown
	// StartTimeout is how long startup may take in all (waiting for
	// Temporal and PostgreSQL); default TEMPORAL_CONNECT_TIMEOUT + 30s.
	StartTimeout time.Duration `env:"WORKER_START_TIMEOUT"`
	// Versioning opts the worker into Worker Versioning (see versioning.go):
	// it polls as version DeploymentName.BuildID and gets tasks only once
	// that version is current (or ramping). Off by default.
	Versioning     bool   `env:"WORKER_VERSIONING" envDefault:"false"`
	DeploymentName string `env:"WORKER_DEPLOYMENT_NAME" envDefault:"awdaflow"` // DefaultDeploymentName
	// BuildID defaults to the binary's version (BinaryBuildID).
	BuildID string `env:"WORKER_BUILD_ID"`
}

// Vars lists the variables Config reads, with their defaults.
func Vars() []envconfig.Var { return envconfig.Vars(Config{}) }

// Module supplies cfg to the application.
func Module(cfg *Config) fx.Option {
	return fx.Module("config", fx.Supply(cfg))
}

// Load reads the process environment. Its error lists every problem found,
// each naming its variable.
func Load() (*Config, error) {
	return LoadFrom(os.Getenv, isatty.IsTerminal(os.Stderr.Fd()) || isatty.IsCygwinTerminal(os.Stderr.Fd()))
}

// LoadFrom reads the configuration through getenv; stderrIsTTY chooses the
// default log format. Its error is an *Error listing every problem, each
// naming its variable. The variables read by prefix
// (TEMPORAL_GRPC_META_*) are those the process environment names, their
// values read through getenv; LoadEnviron takes them from a list.
func LoadFrom(getenv func(string) string, stderrIsTTY bool) (*Config, error) {
	return load(getenv, os.Environ(), stderrIsTTY)
}

// LoadEnviron reads the configuration from environ ("NAME=value" entries,
// as os.Environ returns them), the variables read by prefix included.
func LoadEnviron(environ []string, stderrIsTTY bool) (*Config, error) {
	m := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return load(func(k string) string { return m[k] }, environ, stderrIsTTY)
}

func load(getenv func(string) string, environ []string, stderrIsTTY bool) (*Config, error) {
	r := envconfig.NewReader(getenv)
	c := &Config{}
	r.Parse(c)
	c.Temporal.Env.GRPCMeta = grpcMeta(getenv, environ)
	c.Temporal.resolve(r)
	if !r.Set(EnvWorkerBuildID) {
		c.Worker.BuildID = BinaryBuildID()
	}
	c.AWDA.BaseURL = strings.TrimRight(c.AWDA.BaseURL, "/")
	c.Log.Format = strings.ToLower(c.Log.Format)
	if c.Log.Format == "" {
		c.Log.Format = "json"
		if stderrIsTTY {
			c.Log.Format = "console"
		}
	}
	if !r.Set(EnvWorkerStartTimeout) {
		c.Worker.StartTimeout = c.Temporal.ConnectTimeout + 30*time.Second
	}
	c.AWDA.check(r)
	c.check(r)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Error lists every problem of a configuration, each naming its variable(s).
type Error = envconfig.Error

const positiveDuration = "a positive duration such as 15s or 2m"

func (a *AWDA) check(r *envconfig.Reader) {
	if u, err := url.Parse(a.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Fail(EnvAWDABaseURL, "want an absolute http(s) URL such as "+awda.BaseURLStaging)
	}
	switch {
	case a.HMACSecret.Empty() && a.RSAPrivateKeyFile == "":
		r.Fail(EnvAWDAHMACSecret+" or "+EnvAWDARSAKeyFile, "one is required to sign requests")
	case !a.HMACSecret.Empty() && a.RSAPrivateKeyFile != "":
		r.Fail(EnvAWDAHMACSecret+" and "+EnvAWDARSAKeyFile, "set one, not both")
	}
	file(r, EnvAWDARSAKeyFile, a.RSAPrivateKeyFile)
	r.Want(EnvAWDAHTTPTimeout, a.HTTPTimeout > 0, positiveDuration)
}

// check checks the rest: the database, the HTTP address, logs, the worker.
func (c *Config) check(r *envconfig.Reader) {
	if u := c.Database.URL; !u.Empty() {
		if u, err := url.Parse(u.Reveal()); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Opaque != "" || u.Fragment != "" {
			// Not quoting the value: it carries a password.
			r.Fail(EnvDatabaseURL, "want a postgres:// or postgresql:// URL")
		}
	}
	hostPort(r, EnvHTTPAddr, c.HTTPAddr)
	if c.Log.Format != "json" && c.Log.Format != "console" {
		r.Fail(EnvLogFormat, fmt.Sprintf("%q: want json or console", c.Log.Format))
	}
	r.Want(EnvLogLevel, c.Log.Level != zerolog.NoLevel, "trace, debug, info, warn, error or disabled")
	w := c.Worker
	r.Want(EnvMaxActivities, w.MaxConcurrentActivities >= 0, "a non-negative integer")
	r.Want(EnvMaxWorkflowTasks, w.MaxConcurrentWorkflowTasks >= 0, "a non-negative integer")
	r.Want(EnvActivityPollers, w.ActivityPollers >= 0, "a non-negative integer")
	r.Want(EnvWorkflowPollers, w.WorkflowPollers >= 0, "a non-negative integer")
	r.Want(EnvStickyCacheSize, w.StickyCacheSize > 0, "a positive integer")
	r.Want(EnvWorkerStopTimeout, w.StopTimeout > 0, positiveDuration)
	r.Want(EnvWorkerStartTimeout, w.StartTimeout > 0, positiveDuration)
	w.checkVersioning(r)
	c.Retention.check(r)
	c.Reconcile.check(r)
	c.DataKeys.check(r)
	c.RateLimit.check(r)
}

// hostPort checks a listen or dial address; an empty host means all
// interfaces, which is allowed.
func hostPort(r *envconfig.Reader, name, v string) {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		r.Fail(name, fmt.Sprintf("%q: want host:port", v))
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		r.Fail(name, fmt.Sprintf("%q: bad port", v))
	}
}

func file(r *envconfig.Reader, name, path string) {
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.Fail(name, fmt.Sprintf("%s: no such file", path))
	case err != nil:
		r.Fail(name, fmt.Sprintf("%s: %v", path, errors.Unwrap(err)))
	case fi.IsDir():
		r.Fail(name, fmt.Sprintf("%s: is a directory", path))
	}
}

// Secret is a configuration value that must never be printed (see
// envconfig.Secret): String, GoString and MarshalText say "[redacted]", or
// "" when unset; Reveal returns the value.
type Secret = envconfig.Secret

const redacted = envconfig.Redacted

// String prints the configuration with every secret redacted and the
// database URL's password masked.
func (c *Config) String() string {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s=%v ", k, v) }
	kv("temporal.address", c.Temporal.Address)
	kv("temporal.namespace", c.Temporal.Namespace)
	kv("temporal.tls", c.Temporal.TLS())
	kv("temporal.mtls", c.Temporal.MTLS())
	kv("temporal.api_key", c.Temporal.Env.APIKey)
	kv("temporal.api_key_file", c.Temporal.APIKeyFile)
	kv("temporal.grpc_compression", c.Temporal.Compression)
	kv("awda.base_url", c.AWDA.BaseURL)
	kv("awda.app_id", c.AWDA.AppID)
	kv("awda.sign_type", c.AWDA.SignType())
	kv("awda.http_timeout", c.AWDA.HTTPTimeout)
	kv("keys", c.Keys)
	kv("database.url", c.Database.Redacted())
	kv("database.migrate", c.Database.Migrate)
	kv("http_addr", c.HTTPAddr)
	kv("log.format", c.Log.Format)
	kv("log.level", c.Log.Level)
	kv("worker.max_activities", c.Worker.MaxConcurrentActivities)
	kv("worker.max_workflow_tasks", c.Worker.MaxConcurrentWorkflowTasks)
	kv("worker.activity_pollers", c.Worker.ActivityPollers)
	kv("worker.workflow_pollers", c.Worker.WorkflowPollers)
	kv("worker.sticky_cache", c.Worker.StickyCacheSize)
	kv("worker.stop_timeout", c.Worker.StopTimeout)
	kv("worker.versioning", c.Worker.Versioning)
	kv("worker.deployment", c.Worker.DeploymentName)
	kv("worker.build_id", c.Worker.BuildID)
	return strings.TrimSpace(b.String())
}

// MarshalZerologObject logs the main settings: whether the secrets are set,
// never their values, and the database URL with its password masked.
func (c *Config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("temporal_address", c.Temporal.Address).
		Str("temporal_namespace", c.Temporal.Namespace).
		Bool("temporal_tls", c.Temporal.TLS()).
		Bool("temporal_api_key", c.Temporal.HasAPIKey()).
		Bool("temporal_mtls", c.Temporal.MTLS()).
		Str("awda_base_url", c.AWDA.BaseURL).
		Str("awda_app_id", c.AWDA.AppID).
		Str("awda_sign_type", c.AWDA.SignType()).
		Dur("awda_http_timeout", c.AWDA.HTTPTimeout).
		Str("database_url", c.Database.Redacted()).
		Bool("database_migrate", c.Database.Migrate).
		Str("http_addr", c.HTTPAddr).
		Str("log_format", c.Log.Format).
		Str("log_level", c.Log.Level.String()).
		Int("worker_max_activities", c.Worker.MaxConcurrentActivities).
		Int("worker_max_workflow_tasks", c.Worker.MaxConcurrentWorkflowTasks).
		Dur("worker_stop_timeout", c.Worker.StopTimeout).
		Bool("worker_versioning", c.Worker.Versioning).
		Str("worker_deployment", c.Worker.DeploymentName).
		Str("worker_build_id", c.Worker.BuildID)
}

// SignType is the algorithm the configured key signs with.
func (a AWDA) SignType() string {
	if a.RSAPrivateKeyFile != "" {
		return awda.SignTypeRSA
	}
	return awda.SignTypeHMAC
}

// Redacted is the database URL with its password masked.
func (d Database) Redacted() string {
	u, err := url.Parse(d.URL.Reveal())
	if err != nil || u.Opaque != "" || u.Fragment != "" {
		// "postgres:user:password@host" parses with everything opaque, and
		// "postgres:#:password@" with everything in the fragment.
		return redacted
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		// A query net/url cannot split (a ';' in it) could hide a password
		// that u.Query() would not see.
		u.RawQuery = "xxxxx"
	}
	for _, k := range []string{"password", "sslpassword"} {
		if q := u.Query(); q.Has(k) {
			q.Set(k, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}
