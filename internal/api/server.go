package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/store"
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
	s.handler = s.outer(mux)
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
		{"POST /v1/documents", auth(s.uploadDocument)},
		{"GET /v1/banks", auth(s.listBanks)},

		{"POST /webhooks/awda/loan-status", webhooks},
		{"POST /webhooks/awda/authorization", webhooks},

		{"GET /healthz", http.HandlerFunc(s.healthz)},
		{"GET /readyz", http.HandlerFunc(s.readyz)},
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

// readyz answers 200 when PostgreSQL and Temporal both answer, 503 otherwise,
// naming which one failed (never the error text, which may carry hosts).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "temporal": "ok"}
	ok := true
	if err := s.store.Ping(ctx); err != nil {
		checks["database"] = "unreachable"
		ok = false
	}
	if _, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"] = "unreachable"
		ok = false
	}
	status := http.StatusOK
	state := "ready"
	if !ok {
		status = http.StatusServiceUnavailable
		state = "unavailable"
	}
	writeJSON(w, status, map[string]any{"status": state, "checks": checks})
}
