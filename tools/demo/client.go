package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/workflows"
)

// Client calls the starter's public /v1 API as a lending backend does: a
// bearer token, JSON bodies, problem+json errors. It is safe for concurrent
// use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client of the API at baseURL (http://127.0.0.1:8080).
// hc may be nil: a client with a timeout above the API's update timeout is
// used.
func NewClient(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: hc}
}

// BaseURL is the API's base URL.
func (c *Client) BaseURL() string { return c.base }

// APIError is an answer other than the one expected: the HTTP status and
// the API's problem (whose details never quote submitted values).
type APIError struct {
	Op      string
	Status  int
	Problem api.Problem
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Op, e.Status)
	if e.Problem.Detail != "" {
		b.WriteString(": " + e.Problem.Detail)
	} else if e.Problem.Title != "" {
		b.WriteString(": " + e.Problem.Title)
	}
	for _, fe := range e.Problem.Errors {
		fmt.Fprintf(&b, "; %s: %s", fe.Field, fe.Detail)
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later: the API or
// one of its dependencies is unavailable (502, 503), did not answer in time
// (504), or asks to slow down (429).
func (e *APIError) Temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Temporary reports whether err is worth retrying: a temporary API answer or
// a transport failure (connection refused while the starter restarts, a
// timeout). A cancelled ctx is not.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// IsStatus reports whether err is an APIError with this HTTP status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

func (c *Client) do(ctx context.Context, op, method, path, contentType string, body []byte, hdr http.Header, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		ae := &APIError{Op: op, Status: resp.StatusCode}
		_ = json.Unmarshal(b, &ae.Problem)
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: undecodable answer: %w", op, err)
	}
	return nil
}

func (c *Client) doJSON(ctx context.Context, op, method, path string, in any, hdr http.Header, want int, out any) error {
	var body []byte
	ct := ""
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
		ct = "application/json"
	}
	return c.do(ctx, op, method, path, ct, body, hdr, want, out)
}

// UploadDocument stores an image (POST /v1/documents) and returns its
// document ID: as multipart/form-data, or with asJSON as base64 in JSON.
func (c *Client) UploadDocument(ctx context.Context, t awda.ImageType, applicantRef, fileName string, data []byte, asJSON bool) (api.DocumentResponse, error) {
	var out api.DocumentResponse
	if asJSON {
		in := api.DocumentUpload{ImageType: t, Base64: base64.StdEncoding.EncodeToString(data), FileName: fileName, ApplicantRef: applicantRef}
		err := c.doJSON(ctx, "upload document", http.MethodPost, "/v1/documents", in, nil, http.StatusCreated, &out)
		return out, err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("imageType", string(t))
	if applicantRef != "" {
		_ = mw.WriteField("applicantRef", applicantRef)
	}
	fw, err := mw.CreateFormFile("file", fileName)
	if err != nil {
		return out, err
	}
	_, _ = fw.Write(data)
	if err := mw.Close(); err != nil {
		return out, err
	}
	err = c.do(ctx, "upload document", http.MethodPost, "/v1/documents", mw.FormDataContentType(), buf.Bytes(), nil, http.StatusCreated, &out)
	return out, err
}

// CreateApplication starts an application (POST /v1/applications). The
// same request again answers the same application (Created false).
func (c *Client) CreateApplication(ctx context.Context, req *api.ApplicationRequest) (api.CreatedResponse, error) {
	var out api.CreatedResponse
	err := c.doJSON(ctx, "create application", http.MethodPost, "/v1/applications", req, nil, http.StatusAccepted, &out)
	return out, err
}

// Application reads an application (GET /v1/applications/{ref}).
func (c *Client) Application(ctx context.Context, ref string) (api.ApplicationView, error) {
	var out api.ApplicationView
	err := c.do(ctx, "get application", http.MethodGet, "/v1/applications/"+url.PathEscape(ref), "", nil, nil, http.StatusOK, &out)
	return out, err
}

// ListApplications reads one page of applications (GET /v1/applications).
// query holds stage, stuck, limit and cursor; nil lists the first page.
func (c *Client) ListApplications(ctx context.Context, query url.Values) (api.ListResponse, error) {
	var out api.ListResponse
	path := "/v1/applications"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	err := c.do(ctx, "list applications", http.MethodGet, path, "", nil, nil, http.StatusOK, &out)
	return out, err
}

func idempotency(key string) http.Header {
	if key == "" {
		return nil
	}
	return http.Header{api.HeaderIdempotencyKey: []string{key}}
}

// verdict sends a bank card or a signature. An accepted one answers 200; a
// refused one 422 with the verdict inside the problem, returned as the
// verdict together with the *APIError.
func (c *Client) verdict(ctx context.Context, op, path, key string, in any) (api.Verdict, error) {
	var v api.Verdict
	err := c.doJSON(ctx, op, http.MethodPost, path, in, idempotency(key), http.StatusOK, &v)
	var ae *APIError
	if errors.As(err, &ae) && ae.Problem.Verdict != nil {
		v = *ae.Problem.Verdict
	}
	return v, err
}

// SubmitBankCard submits the borrower's card (POST …/bank-card) and waits
// for the workflow's verdict. key (optional) is the Idempotency-Key: the
// same key again gets the first submission's verdict.
func (c *Client) SubmitBankCard(ctx context.Context, ref, key string, card api.BankCardRequest) (api.Verdict, error) {
	return c.verdict(ctx, "submit bank card", "/v1/applications/"+url.PathEscape(ref)+"/bank-card", key, card)
}

// Sign signs the agreement on offer (POST …/signature).
func (c *Client) Sign(ctx context.Context, ref, key string, in api.SignatureRequest) (api.Verdict, error) {
	return c.verdict(ctx, "sign agreement", "/v1/applications/"+url.PathEscape(ref)+"/signature", key, in)
}

// Cancel withdraws the application for the borrower (POST …/cancel).
func (c *Client) Cancel(ctx context.Context, ref, reason string) error {
	return c.doJSON(ctx, "cancel", http.MethodPost, "/v1/applications/"+url.PathEscape(ref)+"/cancel",
		workflows.CancelRequest{Reason: reason}, nil, http.StatusAccepted, nil)
}

// Retry is operations re-running the step a stuck loan is parked on
// (POST …/retry).
func (c *Client) Retry(ctx context.Context, ref, operator, reason string) error {
	return c.doJSON(ctx, "retry", http.MethodPost, "/v1/applications/"+url.PathEscape(ref)+"/retry",
		workflows.RetryRequest{Operator: operator, Reason: reason}, nil, http.StatusAccepted, nil)
}

// Ready asks the starter's /readyz (no token): nil when PostgreSQL and
// Temporal both answer.
func (c *Client) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return &APIError{Op: "readyz", Status: resp.StatusCode}
	}
	return nil
}
