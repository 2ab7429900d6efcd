package sandbox

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/rs/zerolog"
)

// Config configures a Server. Only AppID and one way to verify requests
// (HMACSecret or PartnerPublicKey) are required; everything else has a
// documented default.
type Config struct {
	// AppID is the merchant id the partner signs with. Requests carrying any
	// other X-Awda-App-Id answer 1005. Pushes carry it too.
	AppID string
	// HMACSecret verifies requests signed with HMAC-SHA256 and, unless
	// PushSigner is set, signs pushes.
	HMACSecret []byte
	// PartnerPublicKey verifies requests signed with RSA-SHA256.
	PartnerPublicKey *rsa.PublicKey
	// PushSigner signs pushes (AWDA's key). Defaults to HMAC-SHA256 with
	// HMACSecret; use awda.NewRSASigner for AWDA's RSA key.
	PushSigner awda.Signer

	// LoanStatusWebhookURL receives LoanStatusEvent pushes and AuthWebhookURL
	// receives AuthorizationEvent callbacks. Empty: the event is recorded
	// (Events, stats "undeliverable") but not sent.
	LoanStatusWebhookURL string
	AuthWebhookURL       string

	// Seed makes ids, fault draws and delays reproducible.
	Seed uint64
	// Clock is the sandbox's idea of now (timestamps, expiries, dates).
	// Defaults to time.Now. Delays (autopilot steps, push backoff, fault
	// latency) are always real durations, whatever the clock says.
	Clock func() time.Time
	// ClockSkew is added to Clock; SetClockSkew changes it at run time.
	ClockSkew time.Duration

	// Autopilot moves authorizations and loans along without anybody
	// calling the admin API. Off by default.
	Autopilot Autopilot
	// Delivery shapes push delivery (duplicates, delays, reordering,
	// retry backoff). SetDelivery changes it at run time.
	Delivery Delivery
	// Faults are the initial fault rules, keyed by "*" or an interface path
	// (full, "/api/partner/v1/loan/submit", or short, "loan/submit").
	Faults map[string]Fault

	// MaxAmount is the eligible maximum (IDR) returned by eligible-check;
	// larger submissions are rejected by the autopilot. Default 10,000,000.
	MaxAmount int64
	// Tenors are the tenors eligible-check offers and loan/submit accepts.
	// Default: the package's Tenors.
	Tenors []awda.TenorOption
	// ImageTokenTTL (default 10 min), AuthPageTTL (default 30 min) and VATTL
	// (default 24 h) bound upload tokens, authorization pages and VAs, on
	// the sandbox clock.
	ImageTokenTTL time.Duration
	AuthPageTTL   time.Duration
	VATTL         time.Duration
	// AuthTypes are the authorizations every user has. Default: EKYC and
	// TELCO required, BPJS optional.
	AuthTypes []AuthType
	// SkipPrerequisites lets loan/submit through without the required
	// authorizations and a bound bank card (both are checked by default).
	SkipPrerequisites bool

	// PublicURL is the base of the H5 links (auth pages, agreements,
	// redirect URLs). Default: the scheme and Host of the request.
	PublicURL string

	// DisableAdmin removes the /_sandbox/ admin API from ServeHTTP.
	DisableAdmin bool
	// AdminAllowRemote lets non-loopback clients use the admin API and the
	// H5 pages' actions. By default only loopback peers may.
	AdminAllowRemote bool

	// NonceCacheSize bounds the replay cache (default 1<<18 entries). When
	// full, the oldest nonce is forgotten first.
	NonceCacheSize int
	// PushHTTPClient delivers pushes. Default: 5 s timeout, no redirects.
	PushHTTPClient *http.Client
	// StateFile keeps users, loans and pending pushes across restarts
	// (persist.go): loaded by New, written atomically every second while
	// it changes and by Close. Empty: everything is forgotten on exit.
	StateFile string

	// Logger receives operational logs (endpoint, code, loanNo, eventId;
	// never personal data). The zero value logs nothing.
	Logger zerolog.Logger
}

// AuthType is one authorization a borrower may have to grant.
type AuthType struct {
	AuthType string `json:"authType"`
	Name     string `json:"name"`
	Required bool   `json:"required"`
}

// DefaultAuthTypes are used when Config.AuthTypes is empty.
var DefaultAuthTypes = []AuthType{
	{AuthType: "EKYC", Name: "e-KYC face and identity verification", Required: true},
	{AuthType: "TELCO", Name: "Mobile operator data", Required: true},
	{AuthType: "BPJS", Name: "BPJS Ketenagakerjaan employment data", Required: false},
}

// Autopilot settings. Each step waits a delay drawn uniformly from
// [MinDelay, MaxDelay] (seeded). When both are zero the defaults 100 ms–500 ms
// apply, unless NoDelay is set (every step at once, for benchmarks).
type Autopilot struct {
	Enabled  bool
	MinDelay time.Duration
	MaxDelay time.Duration
	NoDelay  bool
	// HoldRepayments stops the autopilot at DISBURSED: the installments
	// are repaid only when the back office moves the loan (Advance), e.g.
	// every loan at one due moment (make bench-due).
	HoldRepayments bool
}

// Default autopilot step delays.
const (
	DefaultAutopilotMinDelay = 100 * time.Millisecond
	DefaultAutopilotMaxDelay = 500 * time.Millisecond
)

// Delivery shapes how pushes reach the webhooks.
type Delivery struct {
	// Duplicates is the number of extra copies of every event (same body and
	// eventId, freshly signed). 0: each event once.
	Duplicates int
	// DelayMin and DelayMax delay every delivery by a uniform draw.
	DelayMin time.Duration
	DelayMax time.Duration
	// Reorder stops keeping a loan's (or a user's) events in order: each
	// delivery goes out on its own after its delay, so later events can
	// overtake earlier ones. By default events of one subject are delivered
	// one after another, the next only once the previous is acknowledged.
	Reorder bool
	// RetryBase and RetryMax bound the exponential backoff between attempts
	// (base·2^(n-1), ±20 % seeded jitter, capped at max). Defaults 250 ms and
	// 15 s.
	RetryBase time.Duration
	RetryMax  time.Duration
	// MaxAttempts gives up on a delivery after that many attempts
	// (0: never; AWDA retries until acknowledged).
	MaxAttempts int
	// Workers bounds concurrent deliveries (default 16).
	Workers int
}

// Delivery defaults.
const (
	DefaultRetryBase = 250 * time.Millisecond
	DefaultRetryMax  = 15 * time.Second
	DefaultWorkers   = 16
)

type deliveryJSON struct {
	Duplicates  int   `json:"duplicates,omitempty"`
	DelayMinMs  int64 `json:"delayMinMs,omitempty"`
	DelayMaxMs  int64 `json:"delayMaxMs,omitempty"`
	Reorder     bool  `json:"reorder,omitempty"`
	RetryBaseMs int64 `json:"retryBaseMs,omitempty"`
	RetryMaxMs  int64 `json:"retryMaxMs,omitempty"`
	MaxAttempts int   `json:"maxAttempts,omitempty"`
	Workers     int   `json:"workers,omitempty"`
}

// MarshalJSON writes durations as milliseconds (the admin API's format).
func (d Delivery) MarshalJSON() ([]byte, error) {
	return json.Marshal(deliveryJSON{
		Duplicates: d.Duplicates, DelayMinMs: d.DelayMin.Milliseconds(), DelayMaxMs: d.DelayMax.Milliseconds(),
		Reorder: d.Reorder, RetryBaseMs: d.RetryBase.Milliseconds(), RetryMaxMs: d.RetryMax.Milliseconds(),
		MaxAttempts: d.MaxAttempts, Workers: d.Workers,
	})
}

// UnmarshalJSON reads durations as milliseconds.
func (d *Delivery) UnmarshalJSON(b []byte) error {
	var j deliveryJSON
	if err := strictUnmarshal(b, &j); err != nil {
		return err
	}
	*d = Delivery{
		Duplicates: j.Duplicates, DelayMin: ms(j.DelayMinMs), DelayMax: ms(j.DelayMaxMs), Reorder: j.Reorder,
		RetryBase: ms(j.RetryBaseMs), RetryMax: ms(j.RetryMaxMs), MaxAttempts: j.MaxAttempts, Workers: j.Workers,
	}
	return nil
}

func (d Delivery) validate() error {
	switch {
	case d.Duplicates < 0 || d.Duplicates > 100:
		return errors.New("duplicates must be 0..100")
	case d.DelayMin < 0 || d.DelayMax < 0 || (d.DelayMax > 0 && d.DelayMax < d.DelayMin):
		return errors.New("delay range must be 0 <= min <= max")
	case d.RetryBase < 0 || d.RetryMax < 0:
		return errors.New("retry backoff must not be negative")
	case d.MaxAttempts < 0 || d.Workers < 0:
		return errors.New("maxAttempts and workers must not be negative")
	}
	return nil
}

func (d Delivery) withDefaults() Delivery {
	if d.RetryBase == 0 {
		d.RetryBase = DefaultRetryBase
	}
	if d.RetryMax == 0 {
		d.RetryMax = DefaultRetryMax
	}
	if d.RetryMax < d.RetryBase {
		d.RetryMax = d.RetryBase
	}
	if d.Workers == 0 {
		d.Workers = DefaultWorkers
	}
	return d
}

// Fault is an injection rule for one interface (or "*" for all that have no
// rule of their own). Draws are seeded. A request first waits its latency,
// then passes the signature, timestamp and nonce checks, and only then may
// be answered busy, forced or held.
type Fault struct {
	// BusyRate answers this share of requests with a busy code drawn from
	// BusyCodes (default 100, 1000, 1011).
	BusyRate  float64
	BusyCodes []awda.Code
	// TimeoutRate holds this share of requests for TimeoutHold (default
	// 60 s) or until the client goes away; if the client is still there
	// afterwards it gets code 300. TimeoutApplied is the share of those
	// timeouts in which the request took effect before the answer was lost
	// (the case idempotency keys exist for).
	TimeoutRate    float64
	TimeoutHold    time.Duration
	TimeoutApplied float64
	// Latency before anything else: uniform in [LatencyMin, LatencyMax] when
	// LatencyMax > 0; otherwise LatencyMean ± LatencyJitter (normal, never
	// below zero); otherwise LatencyMin.
	LatencyMin    time.Duration
	LatencyMax    time.Duration
	LatencyMean   time.Duration
	LatencyJitter time.Duration
	// ForceCode answers this code to a ForceRate share of requests (default
	// all of them when ForceCode is set).
	ForceCode awda.Code
	ForceRate float64
}

// DefaultTimeoutHold is how long a timeout fault holds a request, longer
// than any sensible client timeout.
const DefaultTimeoutHold = 60 * time.Second

type faultJSON struct {
	BusyRate        float64     `json:"busyRate,omitempty"`
	BusyCodes       []awda.Code `json:"busyCodes,omitempty"`
	TimeoutRate     float64     `json:"timeoutRate,omitempty"`
	TimeoutHoldMs   int64       `json:"timeoutHoldMs,omitempty"`
	TimeoutApplied  float64     `json:"timeoutApplied,omitempty"`
	LatencyMinMs    int64       `json:"latencyMinMs,omitempty"`
	LatencyMaxMs    int64       `json:"latencyMaxMs,omitempty"`
	LatencyMeanMs   int64       `json:"latencyMeanMs,omitempty"`
	LatencyJitterMs int64       `json:"latencyJitterMs,omitempty"`
	ForceCode       awda.Code   `json:"forceCode,omitempty"`
	ForceRate       float64     `json:"forceRate,omitempty"`
}

// MarshalJSON writes durations as milliseconds (the admin API's format).
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{
		BusyRate: f.BusyRate, BusyCodes: f.BusyCodes, TimeoutRate: f.TimeoutRate,
		TimeoutHoldMs: f.TimeoutHold.Milliseconds(), TimeoutApplied: f.TimeoutApplied,
		LatencyMinMs: f.LatencyMin.Milliseconds(), LatencyMaxMs: f.LatencyMax.Milliseconds(),
		LatencyMeanMs: f.LatencyMean.Milliseconds(), LatencyJitterMs: f.LatencyJitter.Milliseconds(),
		ForceCode: f.ForceCode, ForceRate: f.ForceRate,
	})
}

// UnmarshalJSON reads durations as milliseconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := strictUnmarshal(b, &j); err != nil {
		return err
	}
	*f = Fault{
		BusyRate: j.BusyRate, BusyCodes: j.BusyCodes, TimeoutRate: j.TimeoutRate,
		TimeoutHold: ms(j.TimeoutHoldMs), TimeoutApplied: j.TimeoutApplied,
		LatencyMin: ms(j.LatencyMinMs), LatencyMax: ms(j.LatencyMaxMs),
		LatencyMean: ms(j.LatencyMeanMs), LatencyJitter: ms(j.LatencyJitterMs),
		ForceCode: j.ForceCode, ForceRate: j.ForceRate,
	}
	return nil
}

func rate(name string, v float64) error {
	if v < 0 || v > 1 {
		return fmt.Errorf("%s must be within 0..1", name)
	}
	return nil
}

func (f Fault) validate() error {
	for _, r := range []struct {
		n string
		v float64
	}{{"busyRate", f.BusyRate}, {"timeoutRate", f.TimeoutRate}, {"timeoutApplied", f.TimeoutApplied}, {"forceRate", f.ForceRate}} {
		if err := rate(r.n, r.v); err != nil {
			return err
		}
	}
	if f.TimeoutHold < 0 || f.LatencyMin < 0 || f.LatencyMax < 0 || f.LatencyMean < 0 || f.LatencyJitter < 0 {
		return errors.New("durations must not be negative")
	}
	if f.LatencyMax > 0 && f.LatencyMax < f.LatencyMin {
		return errors.New("latencyMax must not be below latencyMin")
	}
	if f.BusyRate+f.TimeoutRate > 1 {
		return errors.New("busyRate + timeoutRate must not exceed 1")
	}
	if f.ForceCode < 0 {
		return errors.New("forceCode must not be negative")
	}
	return nil
}

// normalizeFaults checks rules and keys them by "*" or full interface path.
func normalizeFaults(in map[string]Fault) (map[string]Fault, error) {
	out := make(map[string]Fault, len(in))
	for k, f := range in {
		key := k
		if key != "*" {
			if !strings.HasPrefix(key, "/") {
				key = awda.PathPrefix + strings.TrimPrefix(key, "/")
			}
			if !knownPath(key) {
				return nil, fmt.Errorf("fault key %q: not an interface path or \"*\"", k)
			}
		}
		if err := f.validate(); err != nil {
			return nil, fmt.Errorf("fault %q: %w", k, err)
		}
		out[key] = f
	}
	return out, nil
}

func knownPath(p string) bool {
	for _, q := range awda.Paths {
		if p == q {
			return true
		}
	}
	return false
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}
