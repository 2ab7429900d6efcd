package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/rs/zerolog"
)

// AdminPrefix is where the unsigned admin API lives.
const AdminPrefix = "/_sandbox/"

// H5Prefix is where the borrower-facing pages the sandbox links to live.
const H5Prefix = "/h5/"

// maxBodyBytes bounds one request: a 10 MiB image in base64 plus the rest.
const maxBodyBytes = 16 << 20

// Seed streams: one seeded generator per purpose, so that, say, a fault
// draw never shifts the ids.
const (
	streamIDs = iota + 1
	streamFaults
	streamDelays
	streamNonces
)

// Server is the AWDA sandbox. It is an http.Handler serving the sixteen
// partner interfaces, the H5 pages it links to and (unless disabled) the
// admin API. Start runs its background work (push delivery, autopilot) and
// Close stops it. All methods are safe for concurrent use.
type Server struct {
	cfg        Config
	clock      func() time.Time
	skew       atomic.Int64 // nanoseconds
	hmac       *awda.HMACSigner
	rsa        *awda.RSAVerifier
	pushSigner awda.Signer
	pushHTTP   *http.Client
	log        zerolog.Logger
	routes     map[string]handler
	admin      http.Handler
	api        http.Handler
	h5         http.Handler

	mu        sync.Mutex
	st        *state
	stats     *statsData
	nonces    *nonceCache
	faults    map[string]Fault
	delivery  Delivery
	rngIDs    *rand.Rand
	rngFaults *rand.Rand
	rngDelays *rand.Rand
	rngNonces *rand.Rand
	gen       uint64 // bumped by Reset; stale background work checks it
	push      pushState
	pushSem   chan struct{} // bounds concurrent deliveries
	autoTasks int           // autopilot steps scheduled and not yet run
	verdicts  []cardVerdict // scripted bankcard/verify answers (QueueCardVerdicts)

	sched     *scheduler
	closing   chan struct{}
	closeOnce sync.Once
	persist   *persister // Config.StateFile (persist.go)
}

// New validates cfg and returns a stopped Server: requests are served at
// once, while pushes and autopilot steps wait for Start.
func New(cfg Config) (*Server, error) {
	if cfg.AppID == "" {
		return nil, errors.New("sandbox: AppID is required")
	}
	if len(cfg.HMACSecret) == 0 && cfg.PartnerPublicKey == nil {
		return nil, errors.New("sandbox: HMACSecret or PartnerPublicKey is required")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, closing: make(chan struct{}), sched: newScheduler()}
	if err := s.initSigners(); err != nil {
		return nil, err
	}
	if err := s.cfg.normalizeWebhookURLs(); err != nil {
		return nil, err
	}
	s.clock = cfg.Clock
	if s.clock == nil {
		s.clock = time.Now
	}
	s.skew.Store(int64(cfg.ClockSkew))
	if err := s.cfg.applyDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.Delivery.validate(); err != nil {
		return nil, errors.New("sandbox: delivery: " + err.Error())
	}
	faults, err := normalizeFaults(cfg.Faults)
	if err != nil {
		return nil, errors.New("sandbox: " + err.Error())
	}
	s.pushHTTP = cfg.PushHTTPClient
	if s.pushHTTP == nil {
		s.pushHTTP = &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	s.routes = apiRoutes()
	s.mu.Lock()
	s.resetLocked()
	s.faults = faults
	s.delivery = cfg.Delivery.withDefaults()
	s.pushSem = make(chan struct{}, s.delivery.Workers)
	s.mu.Unlock()
	if err := s.loadState(); err != nil {
		return nil, err
	}
	s.h5 = s.h5Mux()
	s.api = http.HandlerFunc(s.serveAPIOrH5)
	s.admin = s.adminMux()
	return s, nil
}

// initSigners sets up the verifiers of partner requests (HMAC and/or RSA)
// and the signer of pushes.
func (s *Server) initSigners() error {
	cfg := s.cfg
	if len(cfg.HMACSecret) > 0 {
		h, err := awda.NewHMACSigner(cfg.HMACSecret)
		if err != nil {
			return err
		}
		s.hmac = h
	}
	if cfg.PartnerPublicKey != nil {
		v, err := awda.NewRSAVerifier(cfg.PartnerPublicKey)
		if err != nil {
			return err
		}
		s.rsa = v
	}
	s.pushSigner = cfg.PushSigner
	if s.pushSigner == nil && s.hmac != nil {
		s.pushSigner = s.hmac
	}
	if s.pushSigner == nil && (cfg.LoanStatusWebhookURL != "" || cfg.AuthWebhookURL != "") {
		return errors.New("sandbox: PushSigner is required to push without an HMACSecret")
	}
	return nil
}

// normalizeWebhookURLs checks the push targets and gives a bare host the
// path "/", which is what the request line says and the signature covers.
func (cfg *Config) normalizeWebhookURLs() error {
	for _, u := range []*string{&cfg.LoanStatusWebhookURL, &cfg.AuthWebhookURL} {
		if *u == "" {
			continue
		}
		p, err := url.Parse(*u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return errors.New("sandbox: webhook URLs must be absolute http(s) URLs")
		}
		if p.Path == "" {
			p.Path = "/"
			*u = p.String()
		}
	}
	return nil
}

// applyDefaults fills the zero values of cfg and checks the amounts and
// the autopilot's delays.
func (cfg *Config) applyDefaults() error {
	if cfg.MaxAmount == 0 {
		cfg.MaxAmount = 10_000_000
	}
	if cfg.MaxAmount < 0 {
		return errors.New("sandbox: MaxAmount must be positive")
	}
	if len(cfg.Tenors) == 0 {
		cfg.Tenors = Tenors
	}
	if cfg.ImageTokenTTL == 0 {
		cfg.ImageTokenTTL = 10 * time.Minute
	}
	if cfg.AuthPageTTL == 0 {
		cfg.AuthPageTTL = 30 * time.Minute
	}
	if cfg.VATTL == 0 {
		cfg.VATTL = 24 * time.Hour
	}
	if len(cfg.AuthTypes) == 0 {
		cfg.AuthTypes = DefaultAuthTypes
	}
	if cfg.NonceCacheSize <= 0 {
		cfg.NonceCacheSize = 1 << 18
	}
	a := &cfg.Autopilot
	if a.MinDelay < 0 || a.MaxDelay < 0 || (a.MaxDelay > 0 && a.MaxDelay < a.MinDelay) {
		return errors.New("sandbox: autopilot delays must satisfy 0 <= min <= max")
	}
	if a.MinDelay == 0 && a.MaxDelay == 0 && !a.NoDelay {
		a.MinDelay, a.MaxDelay = DefaultAutopilotMinDelay, DefaultAutopilotMaxDelay
	}
	return nil
}

// apiRoutes maps each partner interface to its handler.
func apiRoutes() map[string]handler {
	return map[string]handler{
		awda.PathUserRegister:      (*Server).register,
		awda.PathEligibleCheck:     (*Server).eligibleCheck,
		awda.PathAuthList:          (*Server).authList,
		awda.PathAuthPage:          (*Server).authPage,
		awda.PathBankCardQuery:     (*Server).bankCardQuery,
		awda.PathBankList:          (*Server).bankList,
		awda.PathBankCardVerify:    (*Server).bankCardVerify,
		awda.PathImageToken:        (*Server).imageToken,
		awda.PathImageUpload:       (*Server).imageUpload,
		awda.PathImageUploadBase64: (*Server).imageUploadBase64,
		awda.PathLoanSubmit:        (*Server).loanSubmit,
		awda.PathLoanAgreement:     (*Server).loanAgreement,
		awda.PathLoanSign:          (*Server).loanSign,
		awda.PathLoanInfo:          (*Server).loanInfo,
		awda.PathRepaymentVA:       (*Server).repaymentVA,
		awda.PathRedirectURL:       (*Server).redirectURL,
	}
}

// resetLocked forgets all state, statistics, nonces and pending work and
// reseeds the generators, so that the same calls yield the same ids again.
func (s *Server) resetLocked() {
	seed := s.cfg.Seed
	s.gen++
	s.st = newState()
	s.stats = newStatsData()
	s.nonces = newNonceCache(s.cfg.NonceCacheSize)
	s.rngIDs = rand.New(rand.NewPCG(seed, streamIDs))
	s.rngFaults = rand.New(rand.NewPCG(seed, streamFaults))
	s.rngDelays = rand.New(rand.NewPCG(seed, streamDelays))
	s.rngNonces = rand.New(rand.NewPCG(seed, streamNonces))
	s.push = newPushState()
	s.autoTasks = 0
}

// Start runs push delivery and the autopilot. Work queued before Start
// (pushes of requests already served) goes out now.
func (s *Server) Start() {
	s.sched.start()
	s.startPersist()
}

// Close stops background work, drops pending pushes and autopilot steps,
// and releases requests held by timeout faults; with Config.StateFile it
// writes the state a last time. It does not close listeners: shut your
// http.Server (or httptest.Server) down as well.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.sched.shutdown()
	return s.stopPersist()
}

// Now is the sandbox clock: Config.Clock plus the current skew.
func (s *Server) Now() time.Time { return s.clock().Add(time.Duration(s.skew.Load())) }

// ClockSkew returns the current skew.
func (s *Server) ClockSkew() time.Duration { return time.Duration(s.skew.Load()) }

// SetClockSkew shifts the sandbox clock; requests whose timestamps end up
// more than 60 s away answer 1003.
func (s *Server) SetClockSkew(d time.Duration) { s.skew.Store(int64(d)) }

// ServeHTTP serves the partner interfaces, the H5 pages and, unless
// Config.DisableAdmin, the admin API under /_sandbox/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, AdminPrefix) && !s.cfg.DisableAdmin {
		s.admin.ServeHTTP(w, r)
		return
	}
	s.api.ServeHTTP(w, r)
}

// APIHandler serves the partner interfaces and the H5 pages only, for a
// listener of its own.
func (s *Server) APIHandler() http.Handler { return s.api }

// AdminHandler serves the admin API only, for a listener of its own.
func (s *Server) AdminHandler() http.Handler { return s.admin }

// handler serves one interface. It runs without Server.mu held.
type handler func(s *Server, c *call) result

// call is one authenticated request.
type call struct {
	r    *http.Request
	path string
	raw  []byte
	form *uploadForm // image/upload only
	now  time.Time
}

type uploadForm struct {
	fields  map[string]string
	file    []byte
	hasFile bool
}

type result struct {
	code awda.Code
	msg  string
	data any
}

func ok(data any) result { return result{code: awda.CodeSuccess, msg: awda.MessageSuccess, data: data} }

func fail(code awda.Code, msg string) result { return result{code: code, msg: msg} }

func (s *Server) serveAPIOrH5(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, H5Prefix) {
		s.h5.ServeHTTP(w, r)
		return
	}
	s.serveAPI(w, r)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	h, known := s.routes[path]
	if r.Method != http.MethodPost {
		s.countHTTP(path, known, http.StatusMethodNotAllowed)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: every AWDA interface is POST", http.StatusMethodNotAllowed)
		return
	}
	if !known {
		s.countHTTP(path, known, http.StatusNotFound)
		http.Error(w, "no such AWDA interface", http.StatusNotFound)
		return
	}
	plan := s.drawFaults(path)
	if plan.latency > 0 && !s.sleep(r.Context(), plan.latency) {
		s.count(path, codeGone)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		s.answer(w, path, fail(awda.CodeParamError, "request body unreadable or larger than 16 MiB"))
		return
	}
	c := &call{r: r, path: path, raw: raw}
	bodyHash := awda.BodyHash(raw)
	if path == awda.PathImageUpload {
		if f, ok := parseUpload(r.Header.Get(awda.HeaderContentType), raw); ok {
			c.form = f
			bodyHash = awda.BodyHash(f.file)
		}
	}
	c.now = s.Now()
	if res, ok := s.authenticate(r, path, bodyHash, c.now); !ok {
		s.answer(w, path, res)
		return
	}
	switch {
	case plan.force != 0:
		s.noteFault(func(f *FaultStats) { f.Forced++ })
		s.answer(w, path, fail(plan.force, "forced by sandbox fault"))
		return
	case plan.busy != 0:
		s.noteFault(func(f *FaultStats) { f.Busy++ })
		s.answer(w, path, fail(plan.busy, "system busy (sandbox fault)"))
		return
	case plan.timeout:
		s.noteFault(func(f *FaultStats) { f.Timeouts++ })
		if plan.applied {
			s.noteFault(func(f *FaultStats) { f.TimeoutsApplied++ })
			_ = h(s, c) // took effect; the answer is lost
		}
		if s.sleep(r.Context(), plan.hold) {
			s.answer(w, path, fail(awda.CodeRequestTimeout, "request timeout (sandbox fault)"))
		} else {
			s.count(path, codeGone)
		}
		return
	}
	s.answer(w, path, h(s, c))
}

// codeGone counts requests whose client left before the answer.
const codeGone awda.Code = -1

// sleep waits d, or less if the client leaves or the sandbox closes; it
// reports whether the whole time passed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// authenticate applies the checks in order: an unknown appId (1005; a
// missing one is an unsigned request, 1004), sign headers and signature
// (1004), timestamp (1003), nonce (1001). The nonce is consumed
// only by a request whose signature and timestamp pass.
func (s *Server) authenticate(r *http.Request, path, bodyHash string, now time.Time) (result, bool) {
	h := r.Header
	appID := h.Get(awda.HeaderAppID)
	tsRaw, nonce, signType, sig := h.Get(awda.HeaderTimestamp), h.Get(awda.HeaderNonce), h.Get(awda.HeaderSignType), h.Get(awda.HeaderSign)
	if appID == "" {
		// No appId at all is an unsigned request, not a wrong merchant.
		return fail(awda.CodeSignatureFailed, "signature check failed: missing X-Awda-App-Id"), false
	}
	if appID != s.cfg.AppID {
		return fail(awda.CodeMerchantInvalid, "merchant appId invalid"), false
	}
	if tsRaw == "" || nonce == "" || signType == "" || sig == "" {
		return fail(awda.CodeSignatureFailed, "signature check failed: missing X-Awda-Timestamp, X-Awda-Nonce, X-Awda-Sign-Type or X-Awda-Sign"), false
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil || ts <= 0 {
		return fail(awda.CodeSignatureFailed, "signature check failed: X-Awda-Timestamp is not Unix milliseconds"), false
	}
	if !awda.ValidNonce(nonce) {
		return fail(awda.CodeSignatureFailed, "signature check failed: X-Awda-Nonce is not 32 lowercase hex characters"), false
	}
	var v awda.Verifier
	switch signType {
	case awda.SignTypeHMAC:
		if s.hmac != nil {
			v = s.hmac
		}
	case awda.SignTypeRSA:
		if s.rsa != nil {
			v = s.rsa
		}
	}
	if v == nil {
		return fail(awda.CodeSignatureFailed, "signature check failed: sign type not accepted for this appId"), false
	}
	if v.Verify(awda.StringToSign(path, appID, ts, nonce, bodyHash), sig) != nil {
		return fail(awda.CodeSignatureFailed, "signature check failed"), false
	}
	nowMs := now.UnixMilli()
	if d := ts - nowMs; d > awda.TimestampWindowMillis || d < -awda.TimestampWindowMillis {
		return fail(awda.CodeTimestampExpired, "timestamp wrong or expired: only requests within 60 s are processed"), false
	}
	s.mu.Lock()
	fresh := s.nonces.use(appID+"/"+nonce, nowMs, ts, awda.TimestampWindowMillis)
	s.mu.Unlock()
	if !fresh {
		return fail(awda.CodeRepeatRequest, "repeat request: nonce already used"), false
	}
	return result{}, true
}

// parseUpload reads an image/upload multipart body. It fails on anything
// that is not multipart/form-data; a missing file part is not a failure
// (the handler answers 1006).
func parseUpload(contentType string, raw []byte) (*uploadForm, bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, false
	}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	f := &uploadForm{fields: map[string]string{}}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return f, true
		}
		if err != nil {
			return nil, false
		}
		b, err := io.ReadAll(io.LimitReader(p, maxBodyBytes))
		if err != nil {
			return nil, false
		}
		if p.FormName() == awda.FormFieldFile {
			f.file, f.hasFile = b, true
		} else if p.FormName() != "" {
			f.fields[p.FormName()] = string(b)
		}
	}
}

// decode reads the JSON body strictly: a Content-Type other than
// application/json, anything but a JSON object, unknown fields, wrong types
// and trailing data answer 400.
func decode(c *call, v any) *result {
	if mt, _, err := mime.ParseMediaType(c.r.Header.Get(awda.HeaderContentType)); err != nil || mt != "application/json" {
		r := fail(awda.CodeParamError, "parameter error: Content-Type must be application/json")
		return &r
	}
	if t := bytes.TrimLeft(c.raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		r := fail(awda.CodeParamError, "parameter error: body is not a JSON object")
		return &r
	}
	dec := json.NewDecoder(bytes.NewReader(c.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		r := fail(awda.CodeParamError, "parameter error: body is not a JSON object of this interface")
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			r.msg = "parameter error: wrong type for " + ute.Field
		} else if strings.HasPrefix(err.Error(), "json: unknown field ") {
			r.msg = "parameter error: " + strings.TrimPrefix(err.Error(), "json: ")
		}
		return &r
	}
	if dec.More() {
		r := fail(awda.CodeParamError, "parameter error: trailing data after the JSON body")
		return &r
	}
	return nil
}

// fieldFail turns a Validate() error into 1006 or 1007.
func fieldFail(err error) result {
	if fe, ok := awda.AsFieldError(err); ok {
		if fe.Empty {
			return fail(fe.Code(), "parameter must not be empty: "+fe.Field)
		}
		return fail(fe.Code(), "parameter invalid: "+fe.Field+": "+fe.Reason)
	}
	return fail(awda.CodeParamInvalid, "parameter invalid: "+err.Error())
}

func missingField(field string) result {
	return fail(awda.CodeParamEmpty, "parameter must not be empty: "+field)
}

func invalidField(field, reason string) result {
	return fail(awda.CodeParamInvalid, "parameter invalid: "+field+": "+reason)
}

func (s *Server) answer(w http.ResponseWriter, path string, res result) {
	env := awda.Envelope{Code: res.code, Message: res.msg}
	if res.data != nil {
		b, err := json.Marshal(res.data)
		if err != nil {
			env = awda.Envelope{Code: awda.CodeUnknown, Message: "unknown error"}
		} else {
			env.Data = b
		}
	}
	body, _ := json.Marshal(env)
	s.count(path, env.Code)
	w.Header().Set(awda.HeaderContentType, "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	if env.Code != awda.CodeSuccess {
		s.log.Debug().Str("endpoint", path).Int("code", int(env.Code)).Msg("sandbox answered an error code")
	}
}

// publicBase is the scheme://host the H5 links point at.
func (s *Server) publicBase(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
