// Package config reads the worker's configuration from environment variables,
// all of them here and nowhere else, and checks it before anything starts.
//
// Secrets (the AWDA HMAC secret, the Temporal API key, the payload key ring,
// the database password) are held as Secret values, which print as
// "[redacted]": a Config can be logged or printed whole. This package must
// never put a secret's value into an error message.
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
)

// Environment variables, with their defaults where they have one.
const (
	EnvTemporalAddress   = "TEMPORAL_ADDRESS"   // default DefaultTemporalAddress
	EnvTemporalNamespace = "TEMPORAL_NAMESPACE" // default "default"
	EnvTemporalTLSCert   = "TEMPORAL_TLS_CERT"  // client certificate file (PEM), for mTLS
	EnvTemporalTLSKey    = "TEMPORAL_TLS_KEY"   // its private key file (PEM)
	EnvTemporalTLSCA     = "TEMPORAL_TLS_CA"    // CA bundle file to verify the server; system roots when unset
	EnvTemporalTLSServer = "TEMPORAL_TLS_SERVER_NAME"
	EnvTemporalAPIKey    = "TEMPORAL_API_KEY" // Temporal Cloud API key (implies TLS)
	EnvTemporalConnect   = "TEMPORAL_CONNECT_TIMEOUT"
	// EnvTemporalCompression is the gRPC compression of the connection to
	// Temporal: "none" (default) or "gzip". Every payload is AES-GCM
	// encrypted and does not compress, so gzip mostly burns CPU on both
	// ends; turn it on for a slow link to a remote cluster.
	EnvTemporalCompression = "TEMPORAL_GRPC_COMPRESSION"

	EnvAWDABaseURL        = "AWDA_BASE_URL" // default awda.BaseURLStaging
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
)

// Defaults.
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

// Config is everything the worker reads from its environment.
type Config struct {
	Temporal Temporal
	AWDA     AWDA
	// Keys is the payload key ring spec (see codec.ParseKeyRing): it
	// encrypts Temporal payloads and data at rest.
	Keys     Secret
	Database Database
	HTTPAddr string // /healthz, /readyz, /metrics
	Log      Log
	Worker   Worker
}

// Temporal is how to reach the Temporal server.
type Temporal struct {
	Address        string
	Namespace      string
	TLSCertFile    string
	TLSKeyFile     string
	TLSCAFile      string
	TLSServerName  string
	APIKey         Secret
	ConnectTimeout time.Duration // how long startup waits for the server
	Compression    string        // CompressionNone or CompressionGzip
}

// gRPC compressions of the connection to Temporal.
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"
)

// TLS reports whether the connection uses TLS: with a client certificate,
// a CA, a server name or an API key (Temporal Cloud accepts keys over TLS only).
func (t Temporal) TLS() bool {
	return t.TLSCertFile != "" || t.TLSCAFile != "" || t.TLSServerName != "" || !t.APIKey.Empty()
}

// AWDA is how to reach and sign for AWDA. Exactly one of HMACSecret and
// RSAPrivateKeyFile is set.
type AWDA struct {
	BaseURL           string
	AppID             string
	HMACSecret        Secret
	RSAPrivateKeyFile string
	HTTPTimeout       time.Duration
}

// Database is the PostgreSQL the worker reads documents from and writes the
// read model to.
type Database struct {
	URL     Secret // postgres://… ; printed with the password masked
	Migrate bool   // apply migrations at startup (under an advisory lock)
}

// Log configures zerolog.
type Log struct {
	Format string // "json" or "console"
	Level  zerolog.Level
}

// Worker holds the Temporal worker's knobs; zero means the SDK's default.
type Worker struct {
	MaxConcurrentActivities    int
	MaxConcurrentWorkflowTasks int
	ActivityPollers            int
	WorkflowPollers            int
	StickyCacheSize            int
	StopTimeout                time.Duration // how long in-flight activities get on shutdown
	StartTimeout               time.Duration // how long startup may take in all
}

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
// default log format.
func LoadFrom(getenv func(string) string, stderrIsTTY bool) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{}

	c.Temporal = Temporal{
		Address:        r.str(EnvTemporalAddress, DefaultTemporalAddress),
		Namespace:      r.str(EnvTemporalNamespace, DefaultTemporalNamespace),
		TLSCertFile:    r.str(EnvTemporalTLSCert, ""),
		TLSKeyFile:     r.str(EnvTemporalTLSKey, ""),
		TLSCAFile:      r.str(EnvTemporalTLSCA, ""),
		TLSServerName:  r.str(EnvTemporalTLSServer, ""),
		APIKey:         Secret(r.str(EnvTemporalAPIKey, "")),
		ConnectTimeout: r.duration(EnvTemporalConnect, DefaultConnectTimeout),
		Compression:    r.str(EnvTemporalCompression, CompressionNone),
	}
	r.hostPort(EnvTemporalAddress, c.Temporal.Address)
	if comp := c.Temporal.Compression; comp != CompressionNone && comp != CompressionGzip {
		r.fail(EnvTemporalCompression, fmt.Sprintf("%q: want %q or %q", comp, CompressionNone, CompressionGzip))
	}
	if (c.Temporal.TLSCertFile == "") != (c.Temporal.TLSKeyFile == "") {
		r.fail(EnvTemporalTLSCert+" and "+EnvTemporalTLSKey, "set both (client certificate and its key) or neither")
	}
	if c.Temporal.TLSCertFile != "" && !c.Temporal.APIKey.Empty() {
		r.fail(EnvTemporalAPIKey, "set either an API key or a client certificate ("+EnvTemporalTLSCert+"), not both")
	}
	r.file(EnvTemporalTLSCert, c.Temporal.TLSCertFile)
	r.file(EnvTemporalTLSKey, c.Temporal.TLSKeyFile)
	r.file(EnvTemporalTLSCA, c.Temporal.TLSCAFile)

	c.AWDA = AWDA{
		BaseURL:           strings.TrimRight(r.str(EnvAWDABaseURL, awda.BaseURLStaging), "/"),
		AppID:             r.str(EnvAWDAAppID, ""),
		HMACSecret:        Secret(r.raw(EnvAWDAHMACSecret)),
		RSAPrivateKeyFile: r.str(EnvAWDARSAKeyFile, ""),
		HTTPTimeout:       r.duration(EnvAWDAHTTPTimeout, DefaultAWDAHTTPTimeout),
	}
	if u, err := url.Parse(c.AWDA.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(EnvAWDABaseURL, "want an absolute http(s) URL such as "+awda.BaseURLStaging)
	}
	if c.AWDA.AppID == "" {
		r.fail(EnvAWDAAppID, "required: the merchant id AWDA assigned")
	}
	switch {
	case c.AWDA.HMACSecret.Empty() && c.AWDA.RSAPrivateKeyFile == "":
		r.fail(EnvAWDAHMACSecret+" or "+EnvAWDARSAKeyFile, "one is required to sign requests")
	case !c.AWDA.HMACSecret.Empty() && c.AWDA.RSAPrivateKeyFile != "":
		r.fail(EnvAWDAHMACSecret+" and "+EnvAWDARSAKeyFile, "set one, not both")
	}
	r.file(EnvAWDARSAKeyFile, c.AWDA.RSAPrivateKeyFile)

	c.Keys = Secret(r.raw(EnvKeys))
	if c.Keys.Empty() {
		r.fail(EnvKeys, "required: payloads are always encrypted (keyID=base64(32 bytes)[,...], newest last)")
	}

	c.Database = Database{
		URL:     Secret(r.raw(EnvDatabaseURL)),
		Migrate: r.boolean(EnvDatabaseMigrate, true),
	}
	if c.Database.URL.Empty() {
		r.fail(EnvDatabaseURL, "required: postgres://user:password@host:port/db")
	} else if u, err := url.Parse(c.Database.URL.Reveal()); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Opaque != "" || u.Fragment != "" {
		// Not quoting the value: it carries a password.
		r.fail(EnvDatabaseURL, "want a postgres:// or postgresql:// URL")
	}

	c.HTTPAddr = r.str(EnvHTTPAddr, DefaultHTTPAddr)
	r.hostPort(EnvHTTPAddr, c.HTTPAddr)

	defaultFormat := "json"
	if stderrIsTTY {
		defaultFormat = "console"
	}
	c.Log.Format = strings.ToLower(r.str(EnvLogFormat, defaultFormat))
	if c.Log.Format != "json" && c.Log.Format != "console" {
		r.fail(EnvLogFormat, fmt.Sprintf("%q: want json or console", c.Log.Format))
	}
	c.Log.Level = zerolog.InfoLevel
	if s := r.str(EnvLogLevel, ""); s != "" {
		lvl, err := zerolog.ParseLevel(strings.ToLower(s))
		if err != nil || lvl == zerolog.NoLevel {
			r.fail(EnvLogLevel, fmt.Sprintf("%q: want trace, debug, info, warn, error or disabled", s))
		} else {
			c.Log.Level = lvl
		}
	}

	c.Worker = Worker{
		MaxConcurrentActivities:    r.count(EnvMaxActivities),
		MaxConcurrentWorkflowTasks: r.count(EnvMaxWorkflowTasks),
		ActivityPollers:            r.count(EnvActivityPollers),
		WorkflowPollers:            r.count(EnvWorkflowPollers),
		StickyCacheSize:            r.countOr(EnvStickyCacheSize, DefaultStickyCacheSize),
		StopTimeout:                r.duration(EnvWorkerStopTimeout, DefaultStopTimeout),
	}
	// Startup waits for Temporal (and PostgreSQL) at most this long in all.
	c.Worker.StartTimeout = r.duration(EnvWorkerStartTimeout, c.Temporal.ConnectTimeout+30*time.Second)

	if len(r.errs) > 0 {
		return nil, &Error{Problems: r.errs}
	}
	return c, nil
}

// Error lists every problem of a configuration, one per variable.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

type reader struct {
	getenv func(string) string
	errs   []string
}

func (r *reader) fail(name, msg string) { r.errs = append(r.errs, name+": "+msg) }

// raw returns the variable as set (secrets keep their exact bytes).
func (r *reader) raw(name string) string { return r.getenv(name) }

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.fail(name, fmt.Sprintf("%q: want a positive duration such as 15s or 2m", s))
		return def
	}
	return d
}

// count reads a non-negative integer; unset is 0 (the SDK's default).
func (r *reader) count(name string) int { return r.integer(name, 0, 0) }

// countOr reads a positive integer; unset is def.
func (r *reader) countOr(name string, def int) int { return r.integer(name, 1, def) }

// integer reads an integer of at least min; unset is def.
func (r *reader) integer(name string, least, def int) int {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		want := "a non-negative integer"
		if least > 0 {
			want = "a positive integer"
		}
		r.fail(name, fmt.Sprintf("%q: want %s", s, want))
		return def
	}
	return n
}

func (r *reader) boolean(name string, def bool) bool {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		r.fail(name, fmt.Sprintf("%q: want true or false", s))
		return def
	}
	return b
}

func (r *reader) hostPort(name, v string) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("%q: want host:port", v))
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		r.fail(name, fmt.Sprintf("%q: bad port", v))
	}
	_ = host // empty host means all interfaces, which is allowed
}

func (r *reader) file(name, path string) {
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		r.fail(name, fmt.Sprintf("%s: no such file", path))
	case err != nil:
		r.fail(name, fmt.Sprintf("%s: %v", path, errors.Unwrap(err)))
	case fi.IsDir():
		r.fail(name, fmt.Sprintf("%s: is a directory", path))
	}
}

// Secret is a configuration value that must never be printed. Its String,
// GoString, MarshalText and MarshalJSON all say "[redacted]" (or "" when
// unset); Reveal returns the value for the one place that needs it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Empty reports whether the secret is unset.
func (s Secret) Empty() bool { return s == "" }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText keeps encoders (JSON, zerolog's Interface) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String prints the configuration with every secret redacted and the
// database URL's password masked.
func (c *Config) String() string {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s=%v ", k, v) }
	kv("temporal.address", c.Temporal.Address)
	kv("temporal.namespace", c.Temporal.Namespace)
	kv("temporal.tls", c.Temporal.TLS())
	kv("temporal.mtls", c.Temporal.TLSCertFile != "")
	kv("temporal.api_key", c.Temporal.APIKey)
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
	return strings.TrimSpace(b.String())
}

// MarshalZerologObject logs the configuration as String prints it.
func (c *Config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("temporal_address", c.Temporal.Address).
		Str("temporal_namespace", c.Temporal.Namespace).
		Bool("temporal_tls", c.Temporal.TLS()).
		Bool("temporal_api_key", !c.Temporal.APIKey.Empty()).
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
		Dur("worker_stop_timeout", c.Worker.StopTimeout)
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
