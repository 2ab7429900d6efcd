package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/internal/config"
)

// FuzzLoadFrom reads arbitrary values of the worker's environment (all but
// the file paths, which LoadFrom only stats). Properties:
//
//   - an error is a *config.Error whose every problem starts with the
//     variable(s) it is about;
//   - no secret (the Temporal API key, the AWDA HMAC secret, the key ring,
//     the database password: see dbPasswords) ever shows in the error, in
//     String(), in the zerolog object or in a %+v of the Config, unless the
//     same text was also given as a value that is not secret;
//   - what is accepted is sane (positive durations, non-negative counts, a
//     json or console log format, absolute http(s) AWDA URL, postgres URL);
//   - the loaded configuration, written back as an environment, loads to
//     the same configuration.
//
// One string stands for every count and one for every duration.
func FuzzLoadFrom(f *testing.F) {
	f.Add("temporal.internal:7233", "loans", apiKey, "https://awda.example/api/", "app-1", hmacSecret, keySpec,
		"postgres://awdaflow:"+dbPassword+"@db.internal:5432/awdaflow?sslmode=disable", ":9091", "CONSOLE", "Debug", "8", "90s", "false", false)
	f.Fuzz(func(t *testing.T, addr, namespace, key, baseURL, appID, hmac, keys, dbURL, httpAddr, logFormat, logLevel, count, dur, migrate string, tty bool) {
		vars := map[string]string{
			config.EnvTemporalAddress: addr, config.EnvTemporalNamespace: namespace, config.EnvTemporalAPIKey: key,
			config.EnvTemporalConnect: dur, config.EnvAWDABaseURL: baseURL, config.EnvAWDAAppID: appID,
			config.EnvAWDAHMACSecret: hmac, config.EnvAWDAHTTPTimeout: dur, config.EnvKeys: keys,
			config.EnvDatabaseURL: dbURL, config.EnvDatabaseMigrate: migrate, config.EnvHTTPAddr: httpAddr,
			config.EnvLogFormat: logFormat, config.EnvLogLevel: logLevel,
			config.EnvMaxActivities: count, config.EnvMaxWorkflowTasks: count, config.EnvActivityPollers: count,
			config.EnvWorkflowPollers: count, config.EnvStickyCacheSize: count,
			config.EnvWorkerStopTimeout: dur, config.EnvWorkerStartTimeout: dur,
		}
		c, err := config.LoadFrom(func(k string) string { return vars[k] }, tty)

		secrets := append([]string{key, hmac, keys}, dbPasswords(dbURL)...)
		public := []string{addr, namespace, baseURL, appID, httpAddr, logFormat, logLevel, count, dur, migrate}
		leaks := func(where, text string) {
			for _, s := range secrets {
				s = strings.TrimSpace(s)
				if len(s) < 6 || !strings.Contains(text, s) {
					continue
				}
				given := false
				for _, p := range public {
					given = given || strings.Contains(p, s)
				}
				if !given && !strings.Contains(fixedText, s) {
					t.Fatalf("%s shows a secret %q: %s", where, s, text)
				}
			}
		}

		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %T %v", err, err)
			}
			for _, p := range ce.Problems {
				if !namesVariable(p) {
					t.Fatalf("problem does not start with its variable: %q", p)
				}
			}
			leaks("the error", err.Error())
			return
		}

		var zl bytes.Buffer
		zlog := zerolog.New(&zl)
		zlog.Info().EmbedObject(c).Msg("config")
		leaks("String()", c.String())
		leaks("the zerolog object", zl.String())
		leaks("%+v", fmt.Sprintf("%+v %#v", *c, *c))
		leaks("Database.Redacted()", c.Database.Redacted())

		switch {
		case c.Temporal.ConnectTimeout <= 0 || c.AWDA.HTTPTimeout <= 0 || c.Worker.StopTimeout <= 0 || c.Worker.StartTimeout <= 0:
			t.Fatalf("a non-positive duration: %+v", *c)
		case c.Worker.MaxConcurrentActivities < 0 || c.Worker.StickyCacheSize <= 0:
			t.Fatalf("a negative count: %+v", c.Worker)
		case c.Log.Format != "json" && c.Log.Format != "console":
			t.Fatalf("log format %q", c.Log.Format)
		case !strings.HasPrefix(c.AWDA.BaseURL, "http://") && !strings.HasPrefix(c.AWDA.BaseURL, "https://"):
			t.Fatalf("AWDA base URL %q", c.AWDA.BaseURL)
		case !strings.HasPrefix(c.Database.URL.Reveal(), "postgres:") && !strings.HasPrefix(c.Database.URL.Reveal(), "postgresql:"):
			t.Fatalf("database URL scheme: %s", c.Database.Redacted())
		}

		// Written back as an environment, it loads to the same thing.
		back := map[string]string{
			config.EnvTemporalAddress: c.Temporal.Address, config.EnvTemporalNamespace: c.Temporal.Namespace,
			config.EnvTemporalAPIKey: c.Temporal.Env.APIKey.Reveal(), config.EnvTemporalConnect: c.Temporal.ConnectTimeout.String(),
			config.EnvTemporalCompression: c.Temporal.Compression,
			config.EnvAWDABaseURL:         c.AWDA.BaseURL, config.EnvAWDAAppID: c.AWDA.AppID, config.EnvAWDAHMACSecret: c.AWDA.HMACSecret.Reveal(),
			config.EnvAWDAHTTPTimeout: c.AWDA.HTTPTimeout.String(), config.EnvKeys: c.Keys.Reveal(),
			config.EnvDatabaseURL: c.Database.URL.Reveal(), config.EnvDatabaseMigrate: strconv.FormatBool(c.Database.Migrate),
			config.EnvHTTPAddr: c.HTTPAddr, config.EnvLogFormat: c.Log.Format, config.EnvLogLevel: c.Log.Level.String(),
			config.EnvMaxActivities: strconv.Itoa(c.Worker.MaxConcurrentActivities), config.EnvMaxWorkflowTasks: strconv.Itoa(c.Worker.MaxConcurrentWorkflowTasks),
			config.EnvActivityPollers: strconv.Itoa(c.Worker.ActivityPollers), config.EnvWorkflowPollers: strconv.Itoa(c.Worker.WorkflowPollers),
			config.EnvStickyCacheSize:   strconv.Itoa(c.Worker.StickyCacheSize),
			config.EnvWorkerStopTimeout: c.Worker.StopTimeout.String(), config.EnvWorkerStartTimeout: c.Worker.StartTimeout.String(),
		}
		c2, err := config.LoadFrom(func(k string) string { return back[k] }, tty)
		if err != nil {
			t.Fatalf("the loaded configuration does not load again: %v", err)
		}
		// Env is the variables as set, not what they mean: defaults written
		// back are set the second time.
		c.Temporal.Env, c2.Temporal.Env = config.TemporalEnv{}, config.TemporalEnv{}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("reloaded configuration differs:\n%s\n%s", c, c2)
		}
	})
}

// fixedText is what the package prints whatever the input (a secret that
// happens to be one of these words is not a leak).
const fixedText = "invalid configuration: [redacted] xxxxx want a positive duration such as 15s or 2m want host:port bad port " +
	"want true or false want a non-negative integer want json or console want trace, debug, info, warn, error or disabled " +
	"required: the merchant id AWDA assigned one is required to sign requests set one, not both " +
	"required: payloads are always encrypted (keyID=base64(32 bytes)[,...], newest last) " +
	"required: postgres://user:password@host:port/db want a postgres:// or postgresql:// URL " +
	"want an absolute http(s) URL such as https://"

// dbPasswords returns what in a database URL is a password: the one
// PostgreSQL would get (as pgconn parses the URL), the userinfo password as
// net/url parses it, the value of any password or sslpassword parameter,
// and, in any spelling, the text between the first ':' after the scheme and
// the '@' (user:password@host, with or without the "//").
func dbPasswords(dbURL string) []string {
	var out []string
	if pc, err := pgconn.ParseConfig(dbURL); err == nil {
		out = append(out, pc.Password)
	}
	if u, err := url.Parse(dbURL); err == nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	if _, q, ok := strings.Cut(dbURL, "?"); ok {
		for _, kv := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
			k, v, _ := strings.Cut(kv, "=")
			if k, _ = url.QueryUnescape(k); k == "password" || k == "sslpassword" {
				out = append(out, v)
				if uv, err := url.QueryUnescape(v); err == nil {
					out = append(out, uv)
				}
			}
		}
	}
	if _, rest, ok := strings.Cut(dbURL, ":"); ok {
		rest = strings.TrimPrefix(rest, "//")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				out = append(out, pw)
			}
		}
	}
	return out
}

// allVars are the package's variable names (TestVars holds them to the tags).
var allVars = []string{
	config.EnvTemporalConfigFile, config.EnvTemporalProfile, config.EnvTemporalAddress, config.EnvTemporalNamespace,
	config.EnvTemporalAPIKey, config.EnvTemporalTLS, config.EnvTemporalTLSClientCert, config.EnvTemporalTLSClientCertD,
	config.EnvTemporalTLSClientKey, config.EnvTemporalTLSClientKeyD, config.EnvTemporalTLSServerCA, config.EnvTemporalTLSServerCAD,
	config.EnvTemporalTLSServer, config.EnvTemporalTLSNoVerify, config.EnvTemporalAuthority,
	config.EnvTemporalTLSCert, config.EnvTemporalTLSKey, config.EnvTemporalTLSCA,
	config.EnvTemporalAPIKeyFile, config.EnvTemporalConnect,
	config.EnvTemporalCompression, config.EnvAWDABaseURL, config.EnvAWDAAppID, config.EnvAWDAHMACSecret,
	config.EnvAWDARSAKeyFile, config.EnvAWDAHTTPTimeout, config.EnvKeys, config.EnvDatabaseURL, config.EnvDatabaseMigrate,
	config.EnvHTTPAddr, config.EnvLogFormat, config.EnvLogLevel, config.EnvMaxActivities, config.EnvMaxWorkflowTasks,
	config.EnvActivityPollers, config.EnvWorkflowPollers, config.EnvStickyCacheSize, config.EnvWorkerStopTimeout,
	config.EnvWorkerStartTimeout, config.EnvWorkerVersioning, config.EnvWorkerDeployment, config.EnvWorkerBuildID,
	config.EnvRetentionSchedules, config.EnvRetentionDocuments, config.EnvRetentionInbox, config.EnvRetentionAWDACalls,
	config.EnvRetentionUnreferencedDocs, config.EnvRetentionHour, config.EnvRetentionBatchSize,
	config.EnvReconcileSchedule, config.EnvReconcileHour, config.EnvReconcileMinute, config.EnvReconcileBatchSize,
	config.EnvDataKeyCacheTTL, config.EnvDataKeyCacheSize,
	config.EnvRateLimit, config.EnvRateReadPerSecond, config.EnvRateReadBurst, config.EnvRateWritePerSecond,
	config.EnvRateWriteBurst, config.EnvRateUploadPerSec, config.EnvRateUploadBurst, config.EnvRateMaxWait,
	config.EnvRateBusyBase, config.EnvRateBusyCap, config.EnvRateBusyDecay, config.EnvRateBusyStorm,
}

func namesVariable(problem string) bool {
	for _, v := range allVars {
		if strings.HasPrefix(problem, v+": ") || strings.HasPrefix(problem, v+" and ") || strings.HasPrefix(problem, v+" or ") {
			return true
		}
	}
	return false
}
