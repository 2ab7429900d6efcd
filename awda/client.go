package awda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// maxResponseBytes bounds what the client reads of one answer.
const maxResponseBytes = 8 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the environment host, BaseURLStaging or BaseURLProduction
	// (or a sandbox). Required.
	BaseURL string
	// AppID is the merchant id AWDA assigned. Required.
	AppID string
	// Signer signs every request. Required.
	Signer Signer
	// HTTPClient defaults to a client with a 15 s timeout that does not
	// follow redirects (a redirect would be a second attempt, and would carry
	// the signed headers to another URL).
	HTTPClient *http.Client
	// Clock gives the request timestamp; defaults to time.Now.
	Clock func() time.Time
	// Nonce makes the per-request nonce; defaults to NewNonce.
	Nonce func() string
	// Observers see every attempt (after the answer or the failure). They
	// must not block. See ZerologObserver.
	Observers []Observer
	// Limiter, when set, paces every attempt (Wait before it) and hears of
	// AWDA's busy answers (Busy after one). Nil: no limit, as for the
	// sandbox and unit tests. An attempt the limiter refuses is not sent
	// and no observer sees it.
	Limiter Limiter
}

// CallInfo describes one attempt, for logs, metrics and audit. It carries no
// request or response body, so no personal data.
type CallInfo struct {
	Endpoint   string
	Nonce      string
	Code       Code // AWDA's code, 0 on success or when there was no AWDA answer
	HTTPStatus int
	Latency    time.Duration
	Err        *Error // nil on success
}

// Outcome is a low-cardinality label for metrics: "ok" or the error class.
func (ci CallInfo) Outcome() string {
	if ci.Err == nil {
		return "ok"
	}
	return ci.Err.Class.String()
}

// Observer is called once per attempt with the call's context.
type Observer func(ctx context.Context, info CallInfo)

// Client calls AWDA's partner interfaces. Every method makes exactly one
// signed HTTP attempt with a fresh timestamp and nonce: it never retries.
// Retrying is the caller's decision (Temporal activities retry the classes
// for which ErrorClass.Retryable is true). A Client is safe for concurrent use.
type Client struct {
	baseURL   string
	appID     string
	signer    Signer
	http      *http.Client
	clock     func() time.Time
	nonce     func() string
	observers []Observer
	limiter   Limiter
}

// NewClient validates cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("awda: BaseURL is required")
	}
	if !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, errors.New("awda: BaseURL must start with http:// or https://")
	}
	if cfg.AppID == "" {
		return nil, errors.New("awda: AppID is required")
	}
	if cfg.Signer == nil {
		return nil, errors.New("awda: Signer is required")
	}
	c := &Client{
		baseURL:   strings.TrimRight(cfg.BaseURL, "/"),
		appID:     cfg.AppID,
		signer:    cfg.Signer,
		http:      cfg.HTTPClient,
		clock:     cfg.Clock,
		nonce:     cfg.Nonce,
		observers: cfg.Observers,
		limiter:   cfg.Limiter,
	}
	if c.http == nil {
		c.http = &http.Client{
			Timeout: 15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	if c.nonce == nil {
		c.nonce = NewNonce
	}
	return c, nil
}

// AppID returns the merchant id the client signs with.
func (c *Client) AppID() string { return c.appID }

// do sends req as JSON to path and returns the answer's data, or nil and
// the error. It is a function, not a method, because methods cannot have
// type parameters. Res comes first so that a call names only the answer's
// type and the compiler infers the request's: do[LoanInfoResponse](...).
func do[Res, Req any](ctx context.Context, c *Client, path string, req Req) (*Res, error) {
	out, err := doKeep[Res](ctx, c, path, req)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// doKeep is do for the interfaces whose error answers carry data
// (CodeUserExists and CodeRepeatRequest carry the existing userId and
// loanNo): it returns what was decoded together with the error, never nil.
func doKeep[Res, Req any](ctx context.Context, c *Client, path string, req Req) (*Res, error) {
	out := new(Res)
	body, err := json.Marshal(req)
	if err != nil {
		return out, &Error{Class: ClassValidation, Endpoint: path, Message: "encode request: " + err.Error()}
	}
	return out, c.send(ctx, path, body, "application/json", BodyHash(body), out)
}

// BuildRequest returns the signed HTTP request for a JSON body, exactly as the
// client sends it. Exported for benchmarks and tools that need the wire bytes.
func (c *Client) BuildRequest(ctx context.Context, path string, body []byte, contentType, bodyHash, nonce string) (*http.Request, error) {
	ts := c.clock().UnixMilli()
	sig, err := c.signer.Sign(StringToSign(path, c.appID, ts, nonce, bodyHash))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	h := req.Header
	h[HeaderContentType] = []string{contentType}
	h[textproto.CanonicalMIMEHeaderKey(HeaderAppID)] = []string{c.appID}
	h[textproto.CanonicalMIMEHeaderKey(HeaderTimestamp)] = []string{fmt.Sprint(ts)}
	h[textproto.CanonicalMIMEHeaderKey(HeaderNonce)] = []string{nonce}
	h[textproto.CanonicalMIMEHeaderKey(HeaderSignType)] = []string{c.signer.SignType()}
	h[textproto.CanonicalMIMEHeaderKey(HeaderSign)] = []string{sig}
	return req, nil
}

// HeaderContentType is the canonical Content-Type header key.
const HeaderContentType = "Content-Type"

func (c *Client) send(ctx context.Context, path string, body []byte, contentType, bodyHash string, out any) (retErr error) {
	class := RateClassOf(path)
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx, class); err != nil {
			return limiterError(path, err)
		}
	}
	nonce := c.nonce()
	info := CallInfo{Endpoint: path, Nonce: nonce}
	start := time.Now()
	defer func() {
		info.Latency = time.Since(start)
		if retErr != nil {
			if e, ok := AsError(retErr); ok {
				info.Err = e
				info.Code = e.Code
			}
		}
		if c.limiter != nil && info.Err != nil && info.Err.Class == ClassBusy {
			c.limiter.Busy(ctx, class)
		}
		for _, o := range c.observers {
			o(ctx, info)
		}
	}()

	req, err := c.BuildRequest(ctx, path, body, contentType, bodyHash, nonce)
	if err != nil {
		return &Error{Class: ClassConfiguration, Endpoint: path, Nonce: nonce, Err: err}
	}
	res, err := c.http.Do(req)
	if err != nil {
		return &Error{Class: ClassTimeout, Endpoint: path, Nonce: nonce, Err: scrubURLError(err)}
	}
	defer res.Body.Close()
	info.HTTPStatus = res.StatusCode
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return &Error{Class: ClassTimeout, Endpoint: path, Nonce: nonce, HTTPStatus: res.StatusCode, Err: err}
	}
	if res.StatusCode != http.StatusOK {
		return &Error{Class: classOfHTTPStatus(res.StatusCode), Endpoint: path, Nonce: nonce, HTTPStatus: res.StatusCode}
	}
	if len(raw) > maxResponseBytes {
		return &Error{Class: ClassUnknown, Endpoint: path, Nonce: nonce, HTTPStatus: res.StatusCode, Message: "response too large"}
	}
	code, msg, err := DecodeResponse(raw, out)
	if err != nil {
		return &Error{Class: ClassUnknown, Endpoint: path, Nonce: nonce, HTTPStatus: res.StatusCode, Code: code, Err: err}
	}
	if code != CodeSuccess {
		return &Error{Class: ClassOfCode(code), Code: code, Message: RedactMessage(msg), Endpoint: path, Nonce: nonce, HTTPStatus: res.StatusCode}
	}
	if rc, ok := out.(requiredChecker); ok {
		if f := rc.missingRequired(); f != "" {
			return &Error{Class: ClassUnknown, Endpoint: path, Nonce: nonce, HTTPStatus: res.StatusCode, Err: errors.New("successful answer lacks " + f)}
		}
	}
	return nil
}

// requiredChecker is implemented by responses whose success is meaningless
// without an identifier the caller goes on to store.
type requiredChecker interface{ missingRequired() string }

func (r *RegisterResponse) missingRequired() string {
	if r.UserID == "" {
		return "userId"
	}
	return ""
}

func (r *LoanSubmitResponse) missingRequired() string {
	if r.LoanNo == "" {
		return "loanNo"
	}
	return ""
}

// scrubURLError drops the URL from a *url.Error (it holds only host and path,
// but a proxy or a future GET could put data there) and keeps the cause.
func scrubURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

func classOfHTTPStatus(status int) ErrorClass {
	switch {
	case status == http.StatusTooManyRequests:
		return ClassBusy
	case status >= 500, status == http.StatusRequestTimeout:
		return ClassTimeout
	case status >= 300:
		return ClassConfiguration // wrong URL or method, or a redirect
	}
	return ClassUnknown
}

// DecodeResponse parses an AWDA answer. It returns the code and message and,
// when out is not nil and the answer carries data, decodes the data into out.
// Data is decoded for non-zero codes too: CodeUserExists and
// CodeRepeatRequest carry the existing userId and loanNo.
//
// An answer without a "code" is not an AWDA envelope: it must never be taken
// for success.
func DecodeResponse(raw []byte, out any) (Code, string, error) {
	var env struct {
		Code    *Code           `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	// json.Unmarshal, unlike a Decoder, rejects trailing data.
	if err := json.Unmarshal(raw, &env); err != nil {
		return 0, "", errors.New("response is not an AWDA envelope")
	}
	if env.Code == nil {
		return 0, "", errors.New("response has no code")
	}
	if out != nil && len(env.Data) > 0 && !bytes.Equal(env.Data, []byte("null")) {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return *env.Code, env.Message, fmt.Errorf("response data does not match the contract (code %d)", int(*env.Code))
		}
	}
	return *env.Code, env.Message, nil
}

func validationError(path, field, reason string) error {
	fe := &FieldError{Field: field, Reason: reason, Empty: strings.HasSuffix(reason, "required")}
	return &Error{Class: ClassValidation, Endpoint: path, Field: field, Message: reason, Err: fe}
}

// ---- the sixteen interfaces ----

// Register creates the AWDA user. On CodeUserExists it returns the existing
// user's id together with an error for which IsUserExists is true.
func (c *Client) Register(ctx context.Context, req *RegisterRequest) (*RegisterResponse, error) {
	r, err := req.normalized()
	if err != nil {
		return nil, withEndpoint(err, PathUserRegister)
	}
	out, err := doKeep[RegisterResponse](ctx, c, PathUserRegister, r)
	if err != nil && !(IsUserExists(err) && out.UserID != "") {
		return nil, err
	}
	return out, err
}

// EligibleCheck verifies the customer.
func (c *Client) EligibleCheck(ctx context.Context, req *EligibleCheckRequest) (*EligibleCheckResponse, error) {
	if req == nil || req.UserID == "" {
		return nil, validationError(PathEligibleCheck, "userId", "required")
	}
	return do[EligibleCheckResponse](ctx, c, PathEligibleCheck, req)
}

// AuthList lists the authorizations and the user's status for each.
func (c *Client) AuthList(ctx context.Context, req *AuthListRequest) (*AuthListResponse, error) {
	if req == nil || req.UserID == "" {
		return nil, validationError(PathAuthList, "userId", "required")
	}
	return do[AuthListResponse](ctx, c, PathAuthList, req)
}

// AuthPage returns the third-party authorization page's URL.
func (c *Client) AuthPage(ctx context.Context, req *AuthPageRequest) (*AuthPageResponse, error) {
	if err := req.validate(); err != nil {
		return nil, withEndpoint(err, PathAuthPage)
	}
	return do[AuthPageResponse](ctx, c, PathAuthPage, req)
}

// BankCardQuery returns the user's bank cards.
func (c *Client) BankCardQuery(ctx context.Context, req *BankCardQueryRequest) (*BankCardQueryResponse, error) {
	if req == nil || req.UserID == "" {
		return nil, validationError(PathBankCardQuery, "userId", "required")
	}
	return do[BankCardQueryResponse](ctx, c, PathBankCardQuery, req)
}

// BankList returns the banks a card can be bound at.
func (c *Client) BankList(ctx context.Context) (*BankListResponse, error) {
	return do[BankListResponse](ctx, c, PathBankList, BankListRequest{})
}

// BankCardVerify binds the card that receives the disbursement.
func (c *Client) BankCardVerify(ctx context.Context, req *BankCardVerifyRequest) (*BankCardVerifyResponse, error) {
	if err := req.validate(); err != nil {
		return nil, withEndpoint(err, PathBankCardVerify)
	}
	return do[BankCardVerifyResponse](ctx, c, PathBankCardVerify, req)
}

// ImageToken returns a token for ImageUpload.
func (c *Client) ImageToken(ctx context.Context, req *ImageTokenRequest) (*ImageTokenResponse, error) {
	if req == nil || req.UserID == "" {
		return nil, validationError(PathImageToken, "userId", "required")
	}
	return do[ImageTokenResponse](ctx, c, PathImageToken, req)
}

// ImageUpload sends the file as multipart/form-data with the token. The
// signature covers the sha256 of the file bytes.
func (c *Client) ImageUpload(ctx context.Context, req *ImageUploadRequest) (*ImageUploadResponse, error) {
	if err := req.validate(); err != nil {
		return nil, withEndpoint(err, PathImageUpload)
	}
	body, contentType, err := EncodeImageUpload(req)
	if err != nil {
		return nil, &Error{Class: ClassValidation, Endpoint: PathImageUpload, Message: "encode multipart: " + err.Error()}
	}
	var out ImageUploadResponse
	if err := c.send(ctx, PathImageUpload, body, contentType, BodyHash(req.File), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EncodeImageUpload renders the multipart body of an image upload.
func EncodeImageUpload(req *ImageUploadRequest) ([]byte, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField(FormFieldToken, req.Token); err != nil {
		return nil, "", err
	}
	if err := mw.WriteField(FormFieldImageType, string(req.ImageType)); err != nil {
		return nil, "", err
	}
	// The name goes into a part header, where a control character makes the
	// whole form unparseable for a strict server (Go's own refuses it, and
	// the request then fails its signature check): the name may come from a
	// borrower's upload, so such characters are dropped.
	name := strings.Map(dropControl, req.FileName)
	if name == "" {
		name = strings.Map(dropControl, strings.ToLower(string(req.ImageType))) + ".jpg"
	}
	fw, err := mw.CreateFormFile(FormFieldFile, name)
	if err != nil {
		return nil, "", err
	}
	if _, err := fw.Write(req.File); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

func dropControl(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return -1
	}
	return r
}

// ImageUploadBase64 uploads an image as base64 or by URL.
func (c *Client) ImageUploadBase64(ctx context.Context, req *ImageUploadBase64Request) (*ImageUploadResponse, error) {
	if err := req.validate(); err != nil {
		return nil, withEndpoint(err, PathImageUploadBase64)
	}
	return do[ImageUploadResponse](ctx, c, PathImageUploadBase64, req)
}

// LoanSubmit submits the application. On CodeRepeatRequest (the same
// OrderNo again) it returns the existing loanNo together with an error for
// which IsDuplicate is true.
func (c *Client) LoanSubmit(ctx context.Context, req *LoanSubmitRequest) (*LoanSubmitResponse, error) {
	r, err := req.normalized()
	if err != nil {
		return nil, withEndpoint(err, PathLoanSubmit)
	}
	out, err := doKeep[LoanSubmitResponse](ctx, c, PathLoanSubmit, r)
	if err != nil && !(IsDuplicate(err) && out.LoanNo != "") {
		return nil, err
	}
	return out, err
}

// LoanAgreement returns the loan's agreement.
func (c *Client) LoanAgreement(ctx context.Context, req *LoanAgreementRequest) (*LoanAgreementResponse, error) {
	if req == nil || req.LoanNo == "" {
		return nil, validationError(PathLoanAgreement, "loanNo", "required")
	}
	return do[LoanAgreementResponse](ctx, c, PathLoanAgreement, req)
}

// LoanSign signs the agreement, which confirms the disbursement.
func (c *Client) LoanSign(ctx context.Context, req *LoanSignRequest) (*LoanSignResponse, error) {
	if err := req.validate(); err != nil {
		return nil, withEndpoint(err, PathLoanSign)
	}
	return do[LoanSignResponse](ctx, c, PathLoanSign, req)
}

// LoanInfo returns the loan, with its schedule once disbursed.
func (c *Client) LoanInfo(ctx context.Context, req *LoanInfoRequest) (*LoanInfoResponse, error) {
	if req == nil || (req.LoanNo == "" && req.OrderNo == "") {
		return nil, validationError(PathLoanInfo, "loanNo", "loanNo or orderNo is required")
	}
	return do[LoanInfoResponse](ctx, c, PathLoanInfo, req)
}

// RepaymentVA returns the virtual account for repayment.
func (c *Client) RepaymentVA(ctx context.Context, req *RepaymentVARequest) (*RepaymentVAResponse, error) {
	if req == nil || req.LoanNo == "" {
		return nil, validationError(PathRepaymentVA, "loanNo", "required")
	}
	return do[RepaymentVAResponse](ctx, c, PathRepaymentVA, req)
}

// RedirectURL returns the URL of an H5 page (signature, loan or repayment detail).
func (c *Client) RedirectURL(ctx context.Context, req *RedirectURLRequest) (*RedirectURLResponse, error) {
	if err := req.validate(); err != nil {
		return nil, withEndpoint(err, PathRedirectURL)
	}
	return do[RedirectURLResponse](ctx, c, PathRedirectURL, req)
}

func withEndpoint(err error, path string) error {
	if e, ok := AsError(err); ok && e.Endpoint == "" {
		e.Endpoint = path
	}
	return err
}
