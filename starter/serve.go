package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/awdafx"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/inbox"
	"github.com/awdaflow/awdaflow/internal/logging"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/ratelimit"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/storefx"
	"github.com/awdaflow/awdaflow/internal/temporalx"
	"github.com/awdaflow/awdaflow/internal/tracing"
	"github.com/awdaflow/awdaflow/internal/webhook"
	"github.com/awdaflow/awdaflow/workflows"
)

const serviceName = "starter"

// newApp wires `starter serve`. Modules come in dependency order and the
// HTTP server last: fx stops in reverse, so the server drains first (turns
// unready, serves on for the drain delay, stops taking requests and lets
// those in flight finish), then the forwarder finishes its batch, then the
// store, the pool and the Temporal client close, and the tracer provider
// flushes the last spans.
func newApp(cfg *config.Config, sc *Starter, extra ...fx.Option) *fx.App {
	return fx.New(
		config.Module(cfg),
		fx.Supply(sc),
		logging.Module(serviceName),
		logging.FxLogger,
		tracing.Module(serviceName),
		metrics.Module,
		temporalModule,
		storefx.Module,
		ratelimit.Module,
		awdafx.Module,
		inboxModule,
		fx.Invoke(instrumentLoans),
		httpModule,
		fx.Options(extra...),
		fx.StartTimeout(cfg.Temporal.ConnectTimeout+2*time.Minute),
		fx.StopTimeout(sc.stopTimeout()),
	)
}

// ---- temporal ----

// temporalModule provides the key ring and a Temporal client with the
// encrypting converters. Unlike the worker's, its start does not wait for
// the server: the webhook receiver must store and acknowledge AWDA's
// notifications while Temporal is away (the forwarder delivers them later).
// /readyz/webhooks does not ask Temporal; /readyz/api and /readyz do.
var temporalModule = fx.Module("temporal",
	fx.Provide(temporalx.NewKeyRing, newTemporalClient),
)

func newTemporalClient(lc fx.Lifecycle, cfg *config.Config, ring *codec.KeyRing, keys *codec.DataKeys, logger log.Logger, m *metrics.Metrics,
	tr *tracing.Tracing, zl zerolog.Logger) (client.Client, error) {
	opts, err := temporalx.Options(cfg.Temporal, ring, logger, m.TemporalHandler())
	if err != nil {
		return nil, err
	}
	// A loan's payloads under its applicant's data key.
	codec.ConfigureClientWithKeys(&opts, ring, keys)
	ti, err := tr.TemporalInterceptor() // nil when tracing is off
	if err != nil {
		return nil, err
	}
	temporalx.AddInterceptors(&opts, []interceptor.ClientInterceptor{ti})
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, err
	}
	zl = zl.With().Str("component", "temporal").Str("address", cfg.Temporal.Address).Str("namespace", cfg.Temporal.Namespace).Logger()
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
				zl.Warn().Msg("temporal not reachable at startup; serving anyway (notifications are kept until it returns)")
				return nil
			}
			zl.Info().Str("key_id", ring.PrimaryKeyID()).Msg("temporal connected")
			return nil
		},
		OnStop: func(context.Context) error {
			c.Close()
			return nil
		},
	})
	return c, nil
}

// ---- inbox ----

// inboxModule provides the deliverer, the forwarder and the webhook
// receiver, which wakes the forwarder for every notification it stores. The
// forwarder starts after the store (delivering what an earlier process left
// pending) and stops before it, after the HTTP server has drained.
var inboxModule = fx.Module("inbox",
	fx.Provide(newDeliverer, newForwarder, newReceiver),
)

func newDeliverer(sc *Starter, st *store.Store, c client.Client, m *metrics.Metrics, tr *tracing.Tracing, l zerolog.Logger) (*inbox.Deliverer, error) {
	d := &inbox.Deliverer{Store: st, Temporal: c, Log: l, OrphanGrace: sc.OrphanGrace, MaxBackoff: sc.RetryMaxBackoff,
		Replica: replicaName(sc.HTTPAddr)}
	if tr.Enabled() {
		d.Tracer = tr.Tracer()
	}
	if sc.RetryMaxBackoff > 0 && sc.RetryMaxBackoff < inbox.DefaultMinBackoff {
		d.MinBackoff = sc.RetryMaxBackoff
	}
	return d, d.Instrument(m.MeterProvider())
}

// replicaName names this replica in the inbox rows it claims: the host's
// name (a pod's or a container's) and the port it serves on, which tell
// replicas apart on one machine too.
func replicaName(httpAddr string) string {
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(httpAddr)
	return net.JoinHostPort(host, port)
}

func newForwarder(lc fx.Lifecycle, sc *Starter, d *inbox.Deliverer, l zerolog.Logger) *inbox.Forwarder {
	f := &inbox.Forwarder{Deliverer: d, Log: l, Interval: sc.ForwardInterval}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { f.Start(); return nil },
		OnStop:  f.Stop,
	})
	return f
}

// newReceiver wakes the forwarder for the rows it stores, and the forwarder
// defers to it while it is busy.
func newReceiver(cfg *config.Config, sc *Starter, st *store.Store, f *inbox.Forwarder, m *metrics.Metrics, l zerolog.Logger) (*webhook.Receiver, error) {
	v, err := sc.Verifier(cfg.AWDA.AppID)
	if err != nil {
		return nil, err
	}
	rc := &webhook.Receiver{Verifier: v, Store: st, Wake: f.Wake, Log: l}
	f.Busy = rc.Busy
	return rc, rc.Instrument(m.MeterProvider())
}

// ---- business gauges ----

// instrumentLoans reports the read model's open and stuck loans by stage on
// /metrics. Every starter replica reports the same database-wide figures
// (the alert rules take their max()); the worker does not report them.
func instrumentLoans(m *metrics.Metrics, st *store.Store) error {
	stages := make([]string, len(workflows.Stages))
	for i, s := range workflows.Stages {
		stages[i] = string(s)
	}
	return m.InstrumentLoans(st, stages)
}

// ---- http ----

// httpModule serves everything on one listener. It is registered last so
// that it starts last and stops (drains) first.
var httpModule = fx.Module("http",
	fx.Provide(newAPI, newHTTPServer),
	fx.Invoke(func(*http.Server) {}),
)

func newAPI(sc *Starter, st *store.Store, c client.Client, ac *awda.Client, ring *codec.KeyRing, keys *codec.DataKeys,
	rc *webhook.Receiver, _ *inbox.Forwarder, m *metrics.Metrics, tr *tracing.Tracing, l zerolog.Logger) (*api.Server, error) {
	return api.New(api.Options{
		Store:    st,
		Temporal: c,
		Banks:    ac,
		Tokens:   reveal(sc.APITokens),
		Logger:   l,
		Webhooks: rc,
		Codec: codec.NewHandler(ring, codec.HandlerOptions{
			BearerTokens:         reveal(sc.CodecTokens),
			AllowedOrigins:       sc.CodecOrigins,
			AllowUnauthenticated: sc.CodecOpen,
			DataKeys:             keys,
		}),
		Metrics:          m.Handler(),
		MeterProvider:    m.MeterProvider(),
		Tracing:          tr,
		BanksTTL:         sc.BanksTTL,
		MaxDocumentBytes: sc.MaxDocumentBytes,
		UpdateTimeout:    sc.UpdateTimeout,
		LoanConfig:       sc.Loan,
	})
}

// Listener is the starter's bound listener, for tests that start the app on
// port 0 and need the address.
type Listener struct{ net.Listener }

func newHTTPServer(lc fx.Lifecycle, sc *Starter, h *api.Server, l zerolog.Logger) (*http.Server, *Listener) {
	srv := &http.Server{
		Addr:              sc.HTTPAddr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a 10 MiB document over a slow link
		WriteTimeout:      sc.UpdateTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	ln := &Listener{}
	l = l.With().Str("component", "http").Logger()
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			// Listen here, not in the goroutine, so a taken port fails startup.
			nl, err := net.Listen("tcp", srv.Addr)
			if err != nil {
				return err
			}
			ln.Listener = nl
			l.Info().Str("addr", nl.Addr().String()).Msg("starter serving")
			go func() {
				if err := srv.Serve(nl); err != nil && !errors.Is(err, http.ErrServerClosed) {
					l.Error().Err(err).Msg("http server")
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error { return drain(ctx, srv, h, sc, l) },
	})
	return srv, ln
}

// drain stops the server in two steps. First it turns unready (every
// readiness path answers 503) and goes on serving for sc.DrainDelay: load
// balancers and Kubernetes take a probe period or two to notice, and a
// listener closed at once would refuse what they still send (AWDA's pushes
// among it). Then it closes the listener and lets the requests in flight
// finish, for at most sc.ShutdownTimeout.
func drain(ctx context.Context, srv *http.Server, h *api.Server, sc *Starter, l zerolog.Logger) error {
	h.BeginDrain()
	l.Info().Dur("drain_delay", sc.DrainDelay).Msg("draining: unready, still serving until the drain delay is over")
	t := time.NewTimer(sc.DrainDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done(): // fx's stop timeout: shut down at once
	}
	l.Info().Msg("draining: closing the listener; the requests in flight finish")
	ctx, cancel := context.WithTimeout(ctx, sc.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(ctx)
}
