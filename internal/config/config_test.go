package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/config"
)

const (
	hmacSecret = "s3cr3t-hmac-value-4f9a"
	apiKey     = "tmprl-api-key-77c1"
	keySpec    = "k1=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	dbPassword = "pg-pass-91b2"
)

// env returns a getenv over the minimal valid environment plus overrides;
// an override of "" unsets the variable.
func env(overrides map[string]string) func(string) string {
	m := map[string]string{
		config.EnvAWDAAppID:      "app-1",
		config.EnvAWDAHMACSecret: hmacSecret,
		config.EnvKeys:           keySpec,
		config.EnvDatabaseURL:    "postgres://awdaflow:" + dbPassword + "@db.internal:5432/awdaflow?sslmode=disable",
	}
	for k, v := range overrides {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := config.LoadFrom(env(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"temporal address", c.Temporal.Address, "localhost:7233"},
		{"namespace", c.Temporal.Namespace, "default"},
		{"tls", c.Temporal.TLS(), false},
		{"connect timeout", c.Temporal.ConnectTimeout, 30 * time.Second},
		{"awda base url", c.AWDA.BaseURL, awda.BaseURLStaging},
		{"awda timeout", c.AWDA.HTTPTimeout, 15 * time.Second},
		{"sign type", c.AWDA.SignType(), awda.SignTypeHMAC},
		{"hmac secret", c.AWDA.HMACSecret.Reveal(), hmacSecret},
		{"keys", c.Keys.Reveal(), keySpec},
		{"migrate", c.Database.Migrate, true},
		{"http addr", c.HTTPAddr, "127.0.0.1:9091"},
		{"log format", c.Log.Format, "json"},
		{"log level", c.Log.Level, zerolog.InfoLevel},
		{"max activities", c.Worker.MaxConcurrentActivities, 0},
		{"sticky cache", c.Worker.StickyCacheSize, 1000},
		{"grpc compression", c.Temporal.Compression, "none"},
		{"stop timeout", c.Worker.StopTimeout, 30 * time.Second},
		{"start timeout", c.Worker.StartTimeout, 60 * time.Second},
		{"retention schedules", c.Retention.Schedules, true},
		{"retention documents", c.Retention.DocumentsDays, 90},
		{"retention inbox", c.Retention.InboxDays, 30},
		{"retention awda calls", c.Retention.AWDACallsDays, 90},
		{"retention unreferenced documents", c.Retention.UnreferencedDocumentsDays, 7},
		{"retention hour", c.Retention.HourUTC, 20},
		{"retention batch", c.Retention.BatchSize, 1000},
		{"reconcile schedule", c.Reconcile.ReconcileSchedule, true},
		{"reconcile hour", c.Reconcile.ReconcileHourUTC, 21},
		{"reconcile minute", c.Reconcile.ReconcileMinute, 30},
		{"reconcile batch", c.Reconcile.ReconcileBatchSize, 100},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}

	tty, err := config.LoadFrom(env(nil), true)
	if err != nil {
		t.Fatal(err)
	}
	if tty.Log.Format != "console" {
		t.Errorf("log format on a TTY = %q, want console", tty.Log.Format)
	}
}

// The Default* constants and the Env* names say what Config's tags say.
func TestVars(t *testing.T) {
	var names []string
	defaults := map[string]string{}
	for _, v := range config.Vars() {
		names = append(names, v.Name)
		defaults[v.Name] = v.Default
	}
	if got, want := strings.Join(names, " "), strings.Join(allVars, " "); got != want {
		t.Errorf("Vars() = %s\nwant      %s", got, want)
	}
	for name, want := range map[string]any{
		// TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE have no envDefault: a
		// profile file's values apply when they are unset (TestDefaults and
		// the profile tests hold the defaults).
		config.EnvTemporalAddress: "", config.EnvTemporalNamespace: "",
		config.EnvTemporalConnect: config.DefaultConnectTimeout, config.EnvWorkerDeployment: config.DefaultDeploymentName, config.EnvAWDAHTTPTimeout: config.DefaultAWDAHTTPTimeout,
		config.EnvHTTPAddr: config.DefaultHTTPAddr, config.EnvWorkerStopTimeout: config.DefaultStopTimeout,
		config.EnvStickyCacheSize: config.DefaultStickyCacheSize, config.EnvAWDABaseURL: awda.BaseURLStaging,
		config.EnvTemporalCompression: config.CompressionNone,
	} {
		if got := defaults[name]; got != fmt.Sprint(want) {
			t.Errorf("%s: envDefault %q, the constant says %v", name, got, want)
		}
	}
}

func TestOverrides(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca, rsaKey := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), filepath.Join(dir, "ca.pem"), filepath.Join(dir, "rsa.pem")
	for _, f := range []string{cert, key, ca, rsaKey} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.LoadFrom(env(map[string]string{
		config.EnvTemporalAddress:       "temporal.example:7233",
		config.EnvTemporalNamespace:     "loans",
		config.EnvTemporalTLSClientCert: cert,
		config.EnvTemporalTLSClientKey:  key,
		config.EnvTemporalTLSServerCA:   ca,
		config.EnvAWDABaseURL:           awda.BaseURLProduction + "/",
		config.EnvAWDAHMACSecret:        "",
		config.EnvAWDARSAKeyFile:        rsaKey,
		config.EnvAWDAHTTPTimeout:       "4s",
		config.EnvDatabaseMigrate:       "false",
		config.EnvLogFormat:             "CONSOLE",
		config.EnvLogLevel:              "debug",
		config.EnvMaxActivities:         "50",
		config.EnvWorkflowPollers:       "4",
		config.EnvStickyCacheSize:       "250",
		config.EnvTemporalCompression:   "gzip",
		config.EnvWorkerStopTimeout:     "1m",
		config.EnvHTTPAddr:              ":0",
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Temporal.TLS() || !c.Temporal.MTLS() || c.Temporal.Profile.Get().TLS.ClientCertPath != cert || c.Temporal.Namespace != "loans" || c.Temporal.Compression != config.CompressionGzip {
		t.Errorf("temporal = %+v", c.Temporal)
	}
	if c.AWDA.BaseURL != awda.BaseURLProduction || c.AWDA.SignType() != awda.SignTypeRSA || c.AWDA.HTTPTimeout != 4*time.Second {
		t.Errorf("awda = %+v", c.AWDA)
	}
	if c.Database.Migrate || c.Log.Format != "console" || c.Log.Level != zerolog.DebugLevel {
		t.Errorf("database/log = %+v %+v", c.Database, c.Log)
	}
	if c.Worker.MaxConcurrentActivities != 50 || c.Worker.WorkflowPollers != 4 || c.Worker.StopTimeout != time.Minute || c.Worker.StickyCacheSize != 250 {
		t.Errorf("worker = %+v", c.Worker)
	}
}

func TestAPIKeyImpliesTLS(t *testing.T) {
	c, err := config.LoadFrom(env(map[string]string{config.EnvTemporalAPIKey: apiKey}), false)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Temporal.TLS() {
		t.Error("an API key must turn TLS on")
	}
}

// Every bad value is reported at once, each problem naming its variable.
func TestBadValuesNameTheirVariable(t *testing.T) {
	cases := []struct {
		set  map[string]string
		vars []string
	}{
		{map[string]string{config.EnvAWDAAppID: ""}, []string{config.EnvAWDAAppID}},
		{map[string]string{config.EnvAWDAHMACSecret: ""}, []string{config.EnvAWDAHMACSecret + " or " + config.EnvAWDARSAKeyFile}},
		{map[string]string{config.EnvAWDARSAKeyFile: "/nonexistent/key.pem"}, []string{config.EnvAWDAHMACSecret + " and " + config.EnvAWDARSAKeyFile, config.EnvAWDARSAKeyFile}},
		{map[string]string{config.EnvKeys: ""}, []string{config.EnvKeys}},
		{map[string]string{config.EnvDatabaseURL: ""}, []string{config.EnvDatabaseURL}},
		{map[string]string{config.EnvDatabaseURL: "mysql://u:" + dbPassword + "@h/db"}, []string{config.EnvDatabaseURL}},
		{map[string]string{config.EnvTemporalAddress: "no-port"}, []string{config.EnvTemporalAddress}},
		{map[string]string{config.EnvTemporalTLSClientCert: "/x.pem"}, []string{config.EnvTemporalTLSClientCert + " and " + config.EnvTemporalTLSClientKey, config.EnvTemporalTLSClientCert}},
		{map[string]string{config.EnvTemporalTLSCert: "/x.pem"}, []string{config.EnvTemporalTLSCert + " and " + config.EnvTemporalTLSClientKey, config.EnvTemporalTLSCert}},
		{map[string]string{config.EnvTemporalTLS: "yes"}, []string{config.EnvTemporalTLS}},
		{map[string]string{config.EnvWorkerVersioning: "true", config.EnvWorkerBuildID: "", config.EnvWorkerDeployment: "a.b"}, []string{config.EnvWorkerDeployment, config.EnvWorkerBuildID}},
		{map[string]string{config.EnvAWDABaseURL: "sea-staging.wolaidai.com"}, []string{config.EnvAWDABaseURL}},
		{map[string]string{config.EnvAWDAHTTPTimeout: "15"}, []string{config.EnvAWDAHTTPTimeout}},
		{map[string]string{config.EnvAWDAHTTPTimeout: "-1s"}, []string{config.EnvAWDAHTTPTimeout}},
		{map[string]string{config.EnvLogFormat: "xml"}, []string{config.EnvLogFormat}},
		{map[string]string{config.EnvLogLevel: "loud"}, []string{config.EnvLogLevel}},
		{map[string]string{config.EnvMaxActivities: "-3"}, []string{config.EnvMaxActivities}},
		{map[string]string{config.EnvWorkflowPollers: "many"}, []string{config.EnvWorkflowPollers}},
		{map[string]string{config.EnvDatabaseMigrate: "maybe"}, []string{config.EnvDatabaseMigrate}},
		{map[string]string{config.EnvStickyCacheSize: "0"}, []string{config.EnvStickyCacheSize}},
		{map[string]string{config.EnvTemporalCompression: "zstd"}, []string{config.EnvTemporalCompression}},
		{map[string]string{config.EnvHTTPAddr: "localhost:99999"}, []string{config.EnvHTTPAddr}},
		{map[string]string{config.EnvRetentionDocuments: "0", config.EnvRetentionInbox: "30d", config.EnvRetentionHour: "24",
			config.EnvRetentionBatchSize: "-5", config.EnvRetentionSchedules: "sometimes"},
			[]string{config.EnvRetentionDocuments, config.EnvRetentionInbox, config.EnvRetentionHour, config.EnvRetentionBatchSize, config.EnvRetentionSchedules}},
		{map[string]string{config.EnvRetentionUnreferencedDocs: "0"}, []string{config.EnvRetentionUnreferencedDocs}},
		{map[string]string{config.EnvRetentionUnreferencedDocs: "-7"}, []string{config.EnvRetentionUnreferencedDocs}},
		{map[string]string{config.EnvReconcileHour: "-1", config.EnvReconcileMinute: "60", config.EnvReconcileBatchSize: "0",
			config.EnvReconcileSchedule: "daily"},
			[]string{config.EnvReconcileHour, config.EnvReconcileMinute, config.EnvReconcileBatchSize, config.EnvReconcileSchedule}},
		{map[string]string{config.EnvDataKeyCacheTTL: "2h", config.EnvDataKeyCacheSize: "0"},
			[]string{config.EnvDataKeyCacheTTL, config.EnvDataKeyCacheSize}},
		{
			map[string]string{config.EnvAWDAAppID: "", config.EnvKeys: "", config.EnvLogLevel: "loud"},
			[]string{config.EnvAWDAAppID, config.EnvKeys, config.EnvLogLevel},
		},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.set), func(t *testing.T) {
			_, err := config.LoadFrom(env(tc.set), false)
			if err == nil {
				t.Fatal("no error")
			}
			ce, ok := err.(*config.Error)
			if !ok {
				t.Fatalf("error %T, want *config.Error", err)
			}
			if len(ce.Problems) != len(tc.vars) {
				t.Fatalf("problems %q, want one for each of %q", ce.Problems, tc.vars)
			}
			for i, v := range tc.vars {
				if !strings.HasPrefix(ce.Problems[i], v+": ") {
					t.Errorf("problem %q does not start with %q", ce.Problems[i], v)
				}
			}
			if strings.Contains(err.Error(), dbPassword) {
				t.Errorf("error quotes the database password: %v", err)
			}
		})
	}
}

// No way of printing or logging a Config shows a secret.
func TestSecretsNeverPrinted(t *testing.T) {
	c, err := config.LoadFrom(env(map[string]string{config.EnvTemporalAPIKey: apiKey}), false)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	l := zerolog.New(&logged)
	l.Info().Object("config", c).Interface("any", c).Msg("config")
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String":       c.String(),
		"%v":           fmt.Sprintf("%v", c),
		"%+v":          fmt.Sprintf("%+v", *c),
		"%#v":          fmt.Sprintf("%#v", *c),
		"json":         string(js),
		"zerolog":      logged.String(),
		"secret %s":    fmt.Sprintf("%s %q %x %v", c.AWDA.HMACSecret, c.Keys, c.Temporal.Env.APIKey, c.Temporal.Profile),
		"config error": fmt.Sprint(config.LoadFrom(env(map[string]string{config.EnvDatabaseURL: "mysql://u:" + dbPassword + "@h/db"}), false)),
	}
	for name, out := range outputs {
		for _, secret := range []string{hmacSecret, apiKey, keySpec, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", dbPassword} {
			if strings.Contains(out, secret) {
				t.Errorf("%s output contains a secret:\n%s", name, out)
			}
		}
	}
	if !strings.Contains(c.String(), "database.url=postgres://awdaflow:xxxxx@db.internal:5432/awdaflow") {
		t.Errorf("String does not show the masked database URL: %s", c.String())
	}
	if !strings.Contains(c.String(), "awda.app_id=app-1") || !strings.Contains(c.String(), "temporal.api_key=[redacted]") {
		t.Errorf("String lacks the non-secret values or the redaction marker: %s", c.String())
	}
}
