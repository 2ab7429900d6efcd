// Package temporalx builds the Temporal client every awdaflow process uses
// (the worker, `starter serve`, the replay tool): Temporal's standard client
// configuration as internal/config reads it with the SDK's envconfig (a
// profile file, the TEMPORAL_* variables), the API key and the mTLS client
// certificate re-read when their files change, the SDK logging through
// zerolog, the SDK's metrics through OpenTelemetry, and — always — the
// encrypting data converter and failure converter of internal/codec, so that
// no payload or error message reaches Temporal in plain text.
package temporalx

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	temporalenv "go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
)

// NewKeyRing parses the key ring the configuration names (AWDAFLOW_KEYS). The
// same ring encrypts Temporal payloads and data at rest.
func NewKeyRing(cfg *config.Config) (*codec.KeyRing, error) {
	ring, err := codec.ParseKeyRing(cfg.Keys.Reveal())
	if err != nil {
		// codec's errors name the entry and key ID, never the key.
		return nil, fmt.Errorf("%s: %w", config.EnvKeys, err)
	}
	return ring, nil
}

// Options returns the client options for cfg: Temporal's standard client
// configuration (cfg.Profile, built by the SDK's envconfig), with the API
// key file and the client certificate files re-read when they change
// (Credentials), and ours: the encrypting converters, gRPC compression, the
// logger and metrics. logger and metrics may be nil (the SDK's defaults).
// The deprecated variables set are logged once per process, through logger.
func Options(cfg config.Temporal, ring *codec.KeyRing, logger log.Logger, mh client.MetricsHandler) (client.Options, error) {
	if ring == nil {
		return client.Options{}, errors.New("temporalx: a key ring is required: payloads are always encrypted")
	}
	// Never the profile's remote codec: payloads are encrypted here.
	profile := cfg.Profile.Get()
	o, err := profile.ToClientOptions(temporalenv.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal client configuration: %w", err)
	}
	o.Logger, o.MetricsHandler = logger, mh
	o.DataConverter, o.FailureConverter = codec.ClientOptions(ring)
	o.ConnectionOptions.GrpcCompression = GrpcCompression(cfg)
	if err := Credentials(&o, cfg, logger); err != nil {
		return client.Options{}, err
	}
	warnDeprecated(cfg, logger)
	return o, nil
}

// Credentials makes o's credentials reload: the client certificate from
// its files at each handshake, and the API key from TEMPORAL_API_KEY_FILE
// at each call (a key given as a value cannot change, and stays static).
// Certificates given as data (TEMPORAL_TLS_CLIENT_CERT_DATA) cannot change
// either, and stay as the SDK loaded them.
func Credentials(o *client.Options, cfg config.Temporal, logger log.Logger) error {
	p := cfg.Profile.Get()
	if tc := o.ConnectionOptions.TLS; tc != nil && p.TLS != nil && p.TLS.ClientCertPath != "" {
		get, err := ReloadingClientCertificate(p.TLS.ClientCertPath, p.TLS.ClientKeyPath, logger)
		if err != nil {
			return fmt.Errorf("temporal client certificate (%s, %s): %w", p.TLS.ClientCertPath, p.TLS.ClientKeyPath, err)
		}
		tc.Certificates, tc.GetClientCertificate = nil, get
	}
	if cfg.APIKeyFile != "" {
		creds, err := ReloadingAPIKey(cfg.APIKeyFile, logger)
		if err != nil {
			return fmt.Errorf("%s: %w", config.EnvTemporalAPIKeyFile, err)
		}
		o.Credentials = creds
	}
	return nil
}

// warned holds the deprecated variables already logged by this process.
var warned sync.Map

func warnDeprecated(cfg config.Temporal, logger log.Logger) {
	for _, rn := range cfg.Deprecated {
		if _, done := warned.LoadOrStore(rn.Old, true); done || logger == nil {
			continue
		}
		logger.Warn("Deprecated variable "+rn.Old+": set "+rn.New+" instead (same meaning)", "variable", rn.Old, "replacement", rn.New)
	}
}

// GrpcCompression is the SDK's setting for cfg.Compression (gzip unless
// "none"). Payloads are AES-GCM encrypted before they reach gRPC and do not
// compress, so by default nothing is compressed.
func GrpcCompression(cfg config.Temporal) client.GrpcCompression {
	if cfg.Compression == config.CompressionGzip {
		return &client.GrpcCompressionGzip{}
	}
	return &client.GrpcCompressionNone{}
}

// WaitHealthy checks the server's health until it answers or ctx ends,
// logging each failure, so that a worker started before its server (or
// while it restarts) waits instead of crashing.
func WaitHealthy(ctx context.Context, c client.Client, zl zerolog.Logger) error {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.CheckHealth(cctx, &client.CheckHealthRequest{})
		cancel()
		if err == nil {
			return nil
		}
		zl.Warn().Err(err).Int("attempt", attempt).Msg("temporal not reachable yet")
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal not reachable: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// Params are the dependencies of the client.
type Params struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    *config.Config
	Ring      *codec.KeyRing
	// DataKeys encrypt a loan's payloads under its applicant's data key
	// (storefx provides them); without them, the ring encrypts everything.
	DataKeys *codec.DataKeys `optional:"true"`
	Logger   log.Logger
	Zerolog  zerolog.Logger
	Metrics  *metrics.Metrics
	// Interceptors are the client interceptors contributed to the group
	// (tracing.Module's); none without it.
	Interceptors []interceptor.ClientInterceptor `group:"temporal.interceptors"`
}

// NewClient creates the client without connecting; the OnStart hook waits
// until the server is healthy (at most TEMPORAL_CONNECT_TIMEOUT), and the
// OnStop hook closes the client after everything started later has stopped.
func NewClient(p Params) (client.Client, error) {
	opts, err := Options(p.Config.Temporal, p.Ring, p.Logger, p.Metrics.TemporalHandler())
	if err != nil {
		return nil, err
	}
	codec.ConfigureClientWithKeys(&opts, p.Ring, p.DataKeys)
	AddInterceptors(&opts, p.Interceptors)
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, err
	}
	zl := p.Zerolog.With().Str("component", "temporal").Str("address", p.Config.Temporal.Address).Str("namespace", p.Config.Temporal.Namespace).Logger()
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, p.Config.Temporal.ConnectTimeout)
			defer cancel()
			if err := WaitHealthy(ctx, c, zl); err != nil {
				return err
			}
			zl.Info().Str("key_id", p.Ring.PrimaryKeyID()).Msg("temporal connected")
			return nil
		},
		OnStop: func(context.Context) error {
			c.Close()
			return nil
		},
	})
	return c, nil
}

// Module provides the key ring and the Temporal client.
var Module = fx.Module("temporal",
	fx.Provide(NewKeyRing, NewClient),
)
