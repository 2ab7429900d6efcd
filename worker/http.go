package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/metrics"
	"github.com/awdaflow/awdaflow/internal/store"
)

// httpModule serves the operational endpoints. It is registered last so
// that it starts last (readiness means everything else is up) and stops
// first.
var httpModule = fx.Module("http",
	fx.Provide(newHTTPServer),
	fx.Invoke(func(*http.Server) {}),
)

// Health answers the probes: /healthz is the process being alive, /readyz
// that it is started and can reach Temporal and PostgreSQL.
type Health struct {
	Temporal client.Client
	Store    *store.Store
	ready    atomic.Bool
}

func (h *Health) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (h *Health) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !h.ready.Load() {
		http.Error(w, "not started\n", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := h.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		http.Error(w, "temporal unreachable\n", http.StatusServiceUnavailable)
		return
	}
	if err := h.Store.Ping(ctx); err != nil {
		http.Error(w, "database unreachable\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func newHTTPServer(lc fx.Lifecycle, cfg *config.Config, m *metrics.Metrics, c client.Client, st *store.Store, l zerolog.Logger) *http.Server {
	h := &Health{Temporal: c, Store: st}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
	}
	l = l.With().Str("component", "http").Logger()
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			// Listen here, not in the goroutine, so a taken port fails startup.
			ln, err := net.Listen("tcp", srv.Addr)
			if err != nil {
				return err
			}
			l.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz /readyz /metrics")
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					l.Error().Err(err).Msg("http server")
				}
			}()
			h.ready.Store(true)
			return nil
		},
		OnStop: func(ctx context.Context) error {
			h.ready.Store(false)
			return srv.Shutdown(ctx)
		},
	})
	return srv
}
