package api

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
	"github.com/awdaflow/awdaflow/internal/tracing"
	"github.com/awdaflow/awdaflow/workflows"
)

// BankLister is the part of *awda.Client that GET /v1/banks needs.
type BankLister interface {
	BankList(ctx context.Context) (*awda.BankListResponse, error)
}

// Options are the dependencies and limits of a Server.
type Options struct {
	Store    *store.Store  // required
	Temporal client.Client // required; dialled with the encrypting converters
	Banks    BankLister    // required for GET /v1/banks
	// Tokens are the bearer tokens accepted on every /v1 route. With none,
	// every /v1 request is refused.
	Tokens []string
	Logger zerolog.Logger

	// Webhooks serves the two AWDA notification routes
	// (webhook.PathLoanStatus, webhook.PathAuthorization). Optional.
	Webhooks http.Handler
	// Codec is the codec server (codec.NewHandler), mounted at
	// codec.PathPrefix+"/". Optional.
	Codec http.Handler
	// Metrics serves GET /metrics (the Prometheus registry). Optional.
	Metrics http.Handler
	// MeterProvider receives the HTTP request metrics. Optional.
	MeterProvider metric.MeterProvider
	// Tracing, when on, makes a server span of every request but the
	// probes and scrapes, named by its route. Optional.
	Tracing *tracing.Tracing

	// TaskQueue the loan workflows start on; workflows.TaskQueue when empty.
	TaskQueue string
	// BanksTTL is how long the AWDA bank list is cached (DefaultBanksTTL).
	BanksTTL time.Duration
	// MaxDocumentBytes bounds one uploaded document (DefaultMaxDocumentBytes).
	MaxDocumentBytes int64
	// UpdateTimeout bounds the wait for the workflow's verdict on a bank card
	// or a signature (DefaultUpdateTimeout).
	UpdateTimeout time.Duration
	// QueryTimeout bounds the status query before the read model answers
	// instead (DefaultQueryTimeout).
	QueryTimeout time.Duration
	// LoanConfig goes into every loan workflow the server starts
	// (LoanApplicationInput.Config): the deployment's knobs, zero fields
	// keeping the workflow's defaults. The caller validates it.
	LoanConfig workflows.Config
}

// Defaults of Options.
const (
	DefaultBanksTTL         = 10 * time.Minute
	DefaultMaxDocumentBytes = awda.MaxImageBytes
	DefaultUpdateTimeout    = 60 * time.Second
	DefaultQueryTimeout     = 5 * time.Second
	// MaxJSONBytes bounds every JSON request body but the base64 upload.
	MaxJSONBytes = 256 << 10
)

// Server is the starter's HTTP API: the lending backend's front door, the
// AWDA webhooks, probes, metrics and the codec server on one listener.
type Server struct {
	store     *store.Store
	temporal  client.Client
	log       zerolog.Logger
	tokens    tokenSet
	taskQueue string
	banks     *bankCache
	maxDoc    int64
	updateTO  time.Duration
	queryTO   time.Duration
	loanCfg   workflows.Config
	metrics   *httpMetrics
	routes    []route
	mux       *http.ServeMux
	handler   http.Handler
	draining  atomic.Bool
}

type route struct {
	pattern string
	handler http.Handler
}

// Routes returns the patterns the server serves, exactly as registered on
// its http.ServeMux ("METHOD /path/{wildcard}"). docs/openapi.yaml documents
// exactly these; a test holds the two together.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.pattern
	}
	return out
}

// New builds the server.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Temporal == nil {
		return nil, errors.New("api: a store and a Temporal client are required")
	}
	s := &Server{
		store:     o.Store,
		temporal:  o.Temporal,
		log:       o.Logger.With().Str("component", "api").Logger(),
		tokens:    newTokenSet(o.Tokens),
		taskQueue: o.TaskQueue,
		maxDoc:    o.MaxDocumentBytes,
		updateTO:  o.UpdateTimeout,
		queryTO:   o.QueryTimeout,
		loanCfg:   o.LoanConfig,
	}
	if s.taskQueue == "" {
		s.taskQueue = workflows.TaskQueue
	}
	if s.maxDoc <= 0 || s.maxDoc > awda.MaxImageBytes {
		s.maxDoc = DefaultMaxDocumentBytes
	}
	if s.updateTO <= 0 {
		s.updateTO = DefaultUpdateTimeout
	}
	if s.queryTO <= 0 {
		s.queryTO = DefaultQueryTimeout
	}
	ttl := o.BanksTTL
	if ttl <= 0 {
		ttl = DefaultBanksTTL
	}
	s.banks = &bankCache{src: o.Banks, ttl: ttl, now: time.Now}
	m, err := newHTTPMetrics(o.MeterProvider)
	if err != nil {
		return nil, err
	}
	s.metrics = m

	s.routes = s.newRoutes(o)
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.pattern, rt.handler)
	}

	s.mux = mux
	s.handler = o.Tracing.Handler(s.outer(mux), untraced)
	return s, nil
}

// newRoutes is the API's routing table; a handler o leaves out answers that
// it is not configured.
func (s *Server) newRoutes(o Options) []route {
	webhooks := o.Webhooks
	if webhooks == nil {
		webhooks = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			problem(w, r, http.StatusServiceUnavailable, TypeUnavailable, "webhooks are not configured")
		})
	}
	metricsH := o.Metrics
	if metricsH == nil {
		metricsH = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			problem(w, r, http.StatusNotFound, TypeNotFound, "metrics are not configured")
		})
	}
	codecH := o.Codec
	if codecH == nil {
		codecH = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			problem(w, r, http.StatusNotFound, TypeNotFound, "the codec server is not configured")
		})
	}

	auth := s.authenticated
	return []route{
		{"POST /v1/applications", auth(s.createApplication)},
		{"GET /v1/applications", auth(s.listApplications)},
		{"GET /v1/applications/{ref}", auth(s.getApplication)},
		{"POST /v1/applications/{ref}/bank-card", auth(s.submitBankCard)},
		{"POST /v1/applications/{ref}/signature", auth(s.signAgreement)},
		{"POST /v1/applications/{ref}/cancel", auth(s.cancelApplication)},
		{"POST /v1/applications/{ref}/retry", auth(signal(s, workflows.RetrySignal, decodeRetry))},
		{"POST /v1/applications/{ref}/abandon", auth(signal(s, workflows.AbandonSignal, decodeAbandon))},
		{"POST /v1/applicants/{ref}/erasure", auth(s.eraseApplicant)},
		{"POST /v1/documents", auth(s.uploadDocument)},
		{"GET /v1/banks", auth(s.listBanks)},

		{"POST /webhooks/awda/loan-status", webhooks},
		{"POST /webhooks/awda/authorization", webhooks},

		{"GET /healthz", http.HandlerFunc(s.healthz)},
		{"GET " + PathReady, s.readiness(s.checkDatabase(), s.checkTemporal())},
		{"GET " + PathReadyWebhooks, s.readiness(s.checkDatabase())},
		{"GET " + PathReadyAPI, s.readiness(s.checkDatabase(), s.checkTemporal())},
		{"GET /metrics", metricsH},

		// The codec handler does its own auth and CORS; browsers preflight.
		{"POST " + codec.PathPrefix + "/encode", codecH},
		{"POST " + codec.PathPrefix + "/decode", codecH},
		{"OPTIONS " + codec.PathPrefix + "/encode", codecH},
		{"OPTIONS " + codec.PathPrefix + "/decode", codecH},
	}
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readiness paths. Each answers 200 when the dependencies its part of the
// server needs answer, 503 otherwise or once the server drains (BeginDrain),
// with a Readiness body naming which failed (never the error text, which
// may carry hosts).
const (
	// PathReady is everything: PostgreSQL and Temporal.
	PathReady = "/readyz"
	// PathReadyWebhooks is AWDA's notifications: PostgreSQL only. They are
	// stored in the inbox and signalled later by the forwarder, so a
	// Temporal outage must not take the receiver out of a load balancer.
	PathReadyWebhooks = "/readyz/webhooks"
	// PathReadyAPI is the /v1 API: PostgreSQL and Temporal.
	PathReadyAPI = "/readyz/api"
)

// Readiness is the body of a readiness answer. Status is "ready",
// "unavailable" or "draining" (then Checks is empty); Checks maps each
// dependency checked ("database", "temporal") to "ok" or "unreachable".
type Readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// readyTimeout bounds each dependency's check.
const readyTimeout = 3 * time.Second

// BeginDrain turns every readiness path to 503 ("draining") for good, so
// that load balancers stop sending new requests, while the server goes on
// serving those that still come. The starter calls it on SIGTERM, before
// it waits STARTER_DRAIN_DELAY and closes its listener.
func (s *Server) BeginDrain() { s.draining.Store(true) }

// check is one dependency a readiness path needs.
type check struct {
	name string
	ping func(context.Context) error
}

func (s *Server) checkDatabase() check { return check{"database", s.store.Ping} }

func (s *Server) checkTemporal() check {
	return check{"temporal", func(ctx context.Context) error {
		_, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}}
}

// readiness serves a readiness path over checks, run concurrently so that a
// dependency that hangs costs readyTimeout once, not once per dependency.
func (s *Server) readiness(checks ...check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			writeJSON(w, http.StatusServiceUnavailable, Readiness{Status: "draining"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		errs := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, c := range checks {
			wg.Go(func() { errs[i] = c.ping(ctx) })
		}
		wg.Wait()
		out := Readiness{Status: "ready", Checks: map[string]string{}}
		status := http.StatusOK
		for i, c := range checks {
			out.Checks[c.name] = "ok"
			if errs[i] != nil {
				out.Checks[c.name] = "unreachable"
				out.Status, status = "unavailable", http.StatusServiceUnavailable
			}
		}
		// A drain that began during the checks wins.
		if s.draining.Load() {
			out, status = Readiness{Status: "draining"}, http.StatusServiceUnavailable
		}
		writeJSON(w, status, out)
	}
}
