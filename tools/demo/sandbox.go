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
	"github.com/awdaflow/awdaflow/awda/sandbox"
)

// SandboxAdmin calls the AWDA sandbox's admin API (/_sandbox/…), which
// plays AWDA's back office: it moves loans, injects faults and counts what
// happened. A real lending backend has no such thing; the demo uses it for
// the DisburseFail scenario (AWDA disbursing again) and for its summary.
// It speaks the sandbox's own admin types and routes (package sandbox):
// the demo is a tool, and tools may link the sandbox.
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

// do calls route (one of the sandbox.Admin* patterns, "METHOD /path" with
// an optional {loanNo}) with in as its JSON body, and decodes the answer
// into out.
func (s *SandboxAdmin) do(ctx context.Context, route, loanNo string, in, out any) error {
	method, path, _ := strings.Cut(route, " ")
	path = strings.Replace(path, "{loanNo}", url.PathEscape(loanNo), 1)
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

// Healthy checks the sandbox's health route.
func (s *SandboxAdmin) Healthy(ctx context.Context) error {
	return s.do(ctx, sandbox.AdminHealth, "", nil, nil)
}

// Stats reads the sandbox's statistics.
func (s *SandboxAdmin) Stats(ctx context.Context) (*sandbox.Stats, error) {
	var st sandbox.Stats
	if err := s.do(ctx, sandbox.AdminStats, "", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Advance moves a loan to status along the sandbox's state machine, pushing
// every step, as AWDA's back office would.
func (s *SandboxAdmin) Advance(ctx context.Context, loanNo string, status awda.LoanStatus) error {
	return s.do(ctx, sandbox.AdminAdvanceLoan, loanNo, sandbox.AdvanceRequest{Status: status}, nil)
}

// LoanStatus reads a loan's current status.
func (s *SandboxAdmin) LoanStatus(ctx context.Context, loanNo string) (awda.LoanStatus, error) {
	var v sandbox.LoanView
	if err := s.do(ctx, sandbox.AdminGetLoan, loanNo, nil, &v); err != nil {
		return "", err
	}
	return v.Info.Status, nil
}

// SetFaults replaces every fault rule (keys "*" or interface paths such as
// "loan/submit").
func (s *SandboxAdmin) SetFaults(ctx context.Context, rules map[string]sandbox.Fault) error {
	if rules == nil {
		rules = map[string]sandbox.Fault{}
	}
	return s.do(ctx, sandbox.AdminSetFaults, "", sandbox.FaultsRequest{Endpoints: rules}, nil)
}

// ClearFaults removes every fault rule.
func (s *SandboxAdmin) ClearFaults(ctx context.Context) error {
	return s.do(ctx, sandbox.AdminSetFaults, "", sandbox.FaultsRequest{Clear: true}, nil)
}
