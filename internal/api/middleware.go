package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/awdaflow/awdaflow/internal/httpbody"
	"github.com/awdaflow/awdaflow/internal/tracing"
	"github.com/awdaflow/awdaflow/workflows"
)

// HeaderRequestID carries the request ID: taken from the request when it is
// a sane token, generated otherwise, and echoed on every answer.
const HeaderRequestID = "X-Request-Id"

type ctxKey int

const requestIDKey ctxKey = 0

// RequestIDFrom returns the request ID the middleware stored in ctx.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// saneRequestID accepts 1 to 128 characters of [A-Za-z0-9._:-], so that a
// client cannot smuggle data (or log injection) into our logs.
func saneRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// recorder remembers the status and size of an answer, and reads what is
// left of the request body before a refusal goes out (refuse).
type recorder struct {
	http.ResponseWriter
	body   *trackedBody
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		if code >= 400 {
			r.refuse()
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

// refuse reads what the handler left of the request body before its refusal
// (4xx, 5xx) is written, so that the client reads the answer rather than a
// reset: a body over a route's limit (413) above all, but also a 401 or a
// 415 on an upload the handler never looked at (see internal/httpbody). A
// client that asked first (Expect: 100-continue) and was never told to
// continue has sent no body: nothing to read, and asking for it would only
// make it send.
func (r *recorder) refuse() {
	if r.body == nil || (!r.body.started && r.body.expectContinue) {
		return
	}
	httpbody.DiscardRest(r.ResponseWriter, r.body)
}

// trackedBody is the request body as the handlers see it; it notes whether
// they began to read it.
type trackedBody struct {
	io.ReadCloser
	expectContinue bool
	started        bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.started = true
	return b.ReadCloser.Read(p)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// httpMetrics counts answers by route pattern, method and status: the route
// is the mux pattern ("GET /v1/applications/{ref}"), never the path, so no
// applicant ref becomes a label.
type httpMetrics struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
}

func newHTTPMetrics(mp metric.MeterProvider) (*httpMetrics, error) {
	if mp == nil {
		return nil, nil
	}
	meter := mp.Meter("github.com/awdaflow/awdaflow/internal/api")
	req, err := meter.Int64Counter("awdaflow.http.requests",
		metric.WithDescription("HTTP requests served by the starter, by route, method and status code"))
	if err != nil {
		return nil, err
	}
	dur, err := meter.Float64Histogram("awdaflow.http.request.duration", metric.WithUnit("s"),
		metric.WithDescription("HTTP request latency by route"))
	if err != nil {
		return nil, err
	}
	return &httpMetrics{requests: req, duration: dur}, nil
}

// outer wraps the whole server: request ID, panic recovery, problem answers
// for unknown routes, the access log and the metrics; and, before any
// refusal, it reads what the handler left of the body (recorder.refuse). The access log names
// the route, status, size and latency, the workflow of a /v1/applications/{ref}
// route and the trace; never a body, a query string or a header value (the
// Authorization header least of all).
func (s *Server) outer(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(HeaderRequestID)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		rec := &recorder{ResponseWriter: w}
		if r.Body != nil && r.Body != http.NoBody {
			rec.body = &trackedBody{ReadCloser: r.Body, expectContinue: strings.EqualFold(r.Header.Get("Expect"), "100-continue")}
			r.Body = rec.body
		}

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Str("request_id", id).Str("route", r.Pattern).Msgf("panic serving request: %T", v)
				if rec.status == 0 {
					problem(rec, r, http.StatusInternalServerError, TypeInternal, "internal error")
				}
			}
			s.access(r, rec, id, start)
		}()

		if _, pattern := mux.Handler(r); pattern == "" {
			s.unrouted(rec, r, mux)
			return
		}
		mux.ServeHTTP(rec, r)
	})
}

// unrouted answers 404 or 405 as problems (ServeMux would answer text).
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := mux.Handler(r2); p != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		if slices.Contains(allowed, http.MethodGet) {
			allowed = append(allowed, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		problem(w, r, http.StatusMethodNotAllowed, TypeMethodNotAllow, "method not allowed on this resource")
		return
	}
	problem(w, r, http.StatusNotFound, TypeNotFound, "no such resource")
}

func (s *Server) access(r *http.Request, rec *recorder, id string, start time.Time) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	route := r.Pattern
	if route == "" {
		route = "unrouted"
	}
	if s.metrics != nil {
		attrs := metric.WithAttributes(
			attribute.String("route", route),
			attribute.String("method", r.Method),
			attribute.String("code", strconv.Itoa(status)),
		)
		s.metrics.requests.Add(r.Context(), 1, attrs)
		s.metrics.duration.Record(r.Context(), elapsed.Seconds(), metric.WithAttributes(attribute.String("route", route)))
	}
	tracing.SetRoute(trace.SpanFromContext(r.Context()), r.Pattern)
	if untraced(r) {
		return // probes and scrapes would drown the log
	}
	var ev *zerolog.Event
	switch {
	case status >= 500:
		ev = s.log.Warn()
	case status < 300 && strings.HasPrefix(r.URL.Path, "/webhooks/"):
		// AWDA's acknowledged notifications come by the thousand and each
		// is in webhook_inbox already; refusals stay at info.
		ev = s.log.Debug()
	default:
		ev = s.log.Info()
	}
	ev = ev.Ctx(r.Context()) // trace_id and span_id (logging.TraceHook)
	if ref := r.PathValue("ref"); ref != "" {
		ev = ev.Str("workflow_id", workflows.LoanWorkflowID(ref))
	}
	ev.Str("request_id", id).
		Str("method", r.Method).
		Str("route", route).
		Str("path", r.URL.Path).
		Int("status", status).
		Int64("bytes", rec.bytes).
		Dur("duration", elapsed).
		Msg("http request")
}

// untraced tells the probes and scrapes, which are neither traced nor
// logged: they would drown the rest.
func untraced(r *http.Request) bool {
	p := r.URL.Path
	return p == "/healthz" || p == "/metrics" || p == PathReady || strings.HasPrefix(p, PathReady+"/")
}

// tokenSet holds bearer tokens as SHA-256 sums, compared in constant time
// against every entry.
type tokenSet [][sha256.Size]byte

func newTokenSet(tokens []string) tokenSet {
	var ts tokenSet
	for _, t := range tokens {
		if t = strings.TrimSpace(t); t != "" {
			ts = append(ts, sha256.Sum256([]byte(t)))
		}
	}
	return ts
}

func (ts tokenSet) allows(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for i := range ts {
		match |= subtle.ConstantTimeCompare(got[:], ts[i][:])
	}
	return match == 1
}

// authenticated refuses requests without one of the API tokens (401).
func (s *Server) authenticated(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.tokens.allows(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="awdaflow"`)
			problem(w, r, http.StatusUnauthorized, TypeUnauthorized, "a valid bearer token is required")
			return
		}
		h(w, r)
	}
}
