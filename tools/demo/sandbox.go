package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// SandboxAdmin calls the AWDA sandbox's admin API (/_sandbox/…), which
// plays AWDA's back office: it moves loans, injects faults and counts what
// happened. A real lending backend has no such thing; the demo uses it for
// the DisburseFail scenario (AWDA disbursing again) and for its summary.
// The types here mirror the admin API's JSON (awda/sandbox/README.md) so
// that binaries using the demo need not link the sandbox itself.
type SandboxAdmin struct {
	base string
	http *http.Client
}

// NewSandboxAdmin returns a client of the sandbox whose admin API is served
// at baseURL (the sandbox's address, or its -admin-addr when separate).
func NewSandboxAdmin(baseURL string, hc *http.Client) *SandboxAdmin {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &SandboxAdmin{base: strings.TrimRight(baseURL, "/"), http: hc}
}

// SandboxStats is the part of GET /_sandbox/stats the demo reads.
type SandboxStats struct {
	Calls                 map[string]map[string]int `json:"calls"`
	SubmitCallsByOrderNo  map[string]int            `json:"submitCallsByOrderNo"`
	LoansByOrderNo        map[string]int            `json:"loansByOrderNo"`
	LoansByUserID         map[string]int            `json:"loansByUserId"`
	DuplicateOrderNos     []string                  `json:"duplicateOrderNos"`
	UsersWithSeveralLoans []string                  `json:"usersWithSeveralLoans"`
	Users                 int                       `json:"users"`
	Loans                 int                       `json:"loans"`
	LoansByStatus         map[string]int            `json:"loansByStatus"`
	Pushes                struct {
		Events       int `json:"events"`
		Deliveries   int `json:"deliveries"`
		Sent         int `json:"sent"`
		Acknowledged int `json:"acknowledged"`
		Failed       int `json:"failed"`
		Pending      int `json:"pending"`
	} `json:"pushes"`
	Faults struct {
		Busy            int `json:"busy"`
		Forced          int `json:"forced"`
		Timeouts        int `json:"timeouts"`
		TimeoutsApplied int `json:"timeoutsApplied"`
	} `json:"faults"`
	AutopilotPending int `json:"autopilotPending"`
}

// Fault is one fault rule of the admin API (durations in milliseconds).
type Fault struct {
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

func (s *SandboxAdmin) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return fmt.Errorf("sandbox %s %s: HTTP %d %s", method, path, resp.StatusCode, e.Error)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("sandbox %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Healthy checks GET /_sandbox/healthz.
func (s *SandboxAdmin) Healthy(ctx context.Context) error {
	return s.do(ctx, http.MethodGet, "/_sandbox/healthz", nil, nil)
}

// Stats reads GET /_sandbox/stats.
func (s *SandboxAdmin) Stats(ctx context.Context) (*SandboxStats, error) {
	var st SandboxStats
	if err := s.do(ctx, http.MethodGet, "/_sandbox/stats", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Advance moves a loan to status along the sandbox's state machine, pushing
// every step (POST /_sandbox/loans/{loanNo}/status), as AWDA's back office
// would.
func (s *SandboxAdmin) Advance(ctx context.Context, loanNo string, status awda.LoanStatus) error {
	return s.do(ctx, http.MethodPost, "/_sandbox/loans/"+url.PathEscape(loanNo)+"/status",
		map[string]awda.LoanStatus{"status": status}, nil)
}

// LoanStatus reads a loan's current status (GET /_sandbox/loans/{loanNo}).
func (s *SandboxAdmin) LoanStatus(ctx context.Context, loanNo string) (awda.LoanStatus, error) {
	var v struct {
		Info awda.LoanInfoResponse `json:"info"`
	}
	if err := s.do(ctx, http.MethodGet, "/_sandbox/loans/"+url.PathEscape(loanNo), nil, &v); err != nil {
		return "", err
	}
	return v.Info.Status, nil
}

// SetFaults replaces every fault rule (keys "*" or interface paths such as
// "loan/submit").
func (s *SandboxAdmin) SetFaults(ctx context.Context, rules map[string]Fault) error {
	if rules == nil {
		rules = map[string]Fault{}
	}
	return s.do(ctx, http.MethodPost, "/_sandbox/faults", map[string]any{"endpoints": rules}, nil)
}

// ClearFaults removes every fault rule.
func (s *SandboxAdmin) ClearFaults(ctx context.Context) error {
	return s.do(ctx, http.MethodPost, "/_sandbox/faults", map[string]bool{"clear": true}, nil)
}
