package awda

// This file is the assumed AWDA wire contract in Go: every path, header,
// code, status and field name lives here and nowhere else. When AWDA's
// per-endpoint document arrives at onboarding, adapting to it is a change to
// this file (and docs/awda-contract.md). See docs/awda-contract.md.

import "encoding/json"

// Environments.
const (
	BaseURLStaging    = "https://sea-staging.wolaidai.com"
	BaseURLProduction = "https://japi.maucash.id"
)

// PathPrefix is the common prefix of every partner interface.
const PathPrefix = "/api/partner/v1/"

// Interface paths (partner → AWDA). Every call is a POST.
const (
	PathUserRegister      = PathPrefix + "user/register"
	PathEligibleCheck     = PathPrefix + "user/eligible-check"
	PathAuthList          = PathPrefix + "auth/list"
	PathAuthPage          = PathPrefix + "auth/page"
	PathBankCardQuery     = PathPrefix + "bankcard/query"
	PathBankList          = PathPrefix + "bank/list"
	PathBankCardVerify    = PathPrefix + "bankcard/verify"
	PathImageToken        = PathPrefix + "image/token"
	PathImageUpload       = PathPrefix + "image/upload"
	PathImageUploadBase64 = PathPrefix + "image/upload-base64"
	PathLoanSubmit        = PathPrefix + "loan/submit"
	PathLoanAgreement     = PathPrefix + "loan/agreement"
	PathLoanSign          = PathPrefix + "loan/sign"
	PathLoanInfo          = PathPrefix + "loan/info"
	PathRepaymentVA       = PathPrefix + "repayment/va"
	PathRedirectURL       = PathPrefix + "redirect-url"
)

// Paths lists every outbound interface, in the order of the loan lifecycle.
var Paths = []string{
	PathUserRegister, PathEligibleCheck, PathAuthList, PathAuthPage,
	PathBankCardQuery, PathBankList, PathBankCardVerify,
	PathImageToken, PathImageUpload, PathImageUploadBase64,
	PathLoanSubmit, PathLoanAgreement, PathLoanSign, PathLoanInfo,
	PathRepaymentVA, PathRedirectURL,
}

// Request headers, on calls to AWDA and on AWDA's notifications alike.
const (
	HeaderAppID     = "X-Awda-App-Id"
	HeaderTimestamp = "X-Awda-Timestamp" // Unix milliseconds
	HeaderNonce     = "X-Awda-Nonce"     // 32 lowercase hex characters
	HeaderSignType  = "X-Awda-Sign-Type" // SignTypeHMAC or SignTypeRSA
	HeaderSign      = "X-Awda-Sign"
)

// Signature algorithms.
const (
	SignTypeHMAC = "HMAC-SHA256" // lowercase hex
	SignTypeRSA  = "RSA-SHA256"  // SHA256withRSA, PKCS#1 v1.5, standard base64
)

// Multipart form fields of PathImageUpload.
const (
	FormFieldToken     = "token"
	FormFieldImageType = "imageType"
	FormFieldFile      = "file"
)

// Code is AWDA's response code. The Chinese and English documents differ; this
// is their union.
type Code int

const (
	CodeSuccess           Code = 0
	CodeBusy              Code = 100
	CodeRequestTimeout    Code = 300
	CodeParamError        Code = 400
	CodeNetworkError      Code = 404
	CodeDataNotExist      Code = 600
	CodeUnknown           Code = 999
	CodeSystemBusy        Code = 1000
	CodeRepeatRequest     Code = 1001
	CodeInvalidToken      Code = 1002
	CodeTimestampExpired  Code = 1003
	CodeSignatureFailed   Code = 1004
	CodeMerchantInvalid   Code = 1005
	CodeParamEmpty        Code = 1006
	CodeParamInvalid      Code = 1007
	CodeUserExists        Code = 1008
	CodeUserNotExist      Code = 1009
	CodeOrderNotExist     Code = 1010
	CodeSystemBusy2       Code = 1011
	CodeAuthInfoFailed    Code = 1012
	MessageSuccess             = "success"
	TimestampWindowMillis      = 60_000 // AWDA processes only requests within 60 s
	NotificationAckCode   Code = CodeSuccess
)

// Envelope is every response body, and the partner's answer to a notification.
type Envelope struct {
	Code    Code            `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Dates on the wire are "YYYY-MM-DD"; instants are Unix milliseconds.
const DateLayout = "2006-01-02"

// ---- user ----

// RegisterRequest creates the AWDA user; it must succeed before anything else.
// On CodeUserExists the response data still carries the existing userId.
type RegisterRequest struct {
	PartnerUserID string `json:"partnerUserId"`
	Mobile        string `json:"mobile"`
	Name          string `json:"name"`
	NIK           string `json:"nik"`
	Email         string `json:"email,omitempty"`
	BirthDate     string `json:"birthDate"`
}

type RegisterResponse struct {
	UserID string `json:"userId"`
}

type EligibleCheckRequest struct {
	UserID string `json:"userId"`
}

type TenorOption struct {
	Tenor     int       `json:"tenor"`
	TenorUnit TenorUnit `json:"tenorUnit"`
}

type EligibleCheckResponse struct {
	Eligible  bool          `json:"eligible"`
	Reason    string        `json:"reason,omitempty"`
	MaxAmount int64         `json:"maxAmount"`
	Tenors    []TenorOption `json:"tenors"`
}

// ---- authorizations ----

type AuthStatus string

const (
	AuthNone    AuthStatus = "NONE"
	AuthPending AuthStatus = "PENDING"
	AuthSuccess AuthStatus = "SUCCESS"
	AuthFailed  AuthStatus = "FAILED"
	AuthExpired AuthStatus = "EXPIRED"
)

type AuthListRequest struct {
	UserID string `json:"userId"`
}

type AuthItem struct {
	AuthType string     `json:"authType"`
	Name     string     `json:"name"`
	Required bool       `json:"required"`
	Status   AuthStatus `json:"status"`
}

type AuthListResponse struct {
	Items []AuthItem `json:"items"`
}

type AuthPageRequest struct {
	UserID    string `json:"userId"`
	AuthType  string `json:"authType"`
	ReturnURL string `json:"returnUrl,omitempty"`
}

type AuthPageResponse struct {
	URL      string `json:"url"`
	ExpireAt int64  `json:"expireAt"`
}

// ---- bank cards ----

type CardStatus string

const (
	CardBound     CardStatus = "BOUND"
	CardVerifying CardStatus = "VERIFYING"
	CardFailed    CardStatus = "FAILED"
)

type BankCardQueryRequest struct {
	UserID string `json:"userId"`
}

type BankCard struct {
	BankCode        string     `json:"bankCode"`
	AccountNoMasked string     `json:"accountNoMasked"`
	Status          CardStatus `json:"status"`
}

type BankCardQueryResponse struct {
	Cards []BankCard `json:"cards"`
}

type BankListRequest struct{}

type Bank struct {
	BankCode        string `json:"bankCode"`
	BankName        string `json:"bankName"`
	AccountNoMinLen int    `json:"accountNoMinLen"`
	AccountNoMaxLen int    `json:"accountNoMaxLen"`
}

type BankListResponse struct {
	Banks []Bank `json:"banks"`
}

type BankCardVerifyRequest struct {
	UserID      string `json:"userId"`
	BankCode    string `json:"bankCode"`
	AccountNo   string `json:"accountNo"`
	AccountName string `json:"accountName"`
}

type BankCardVerifyResponse struct {
	Status     CardStatus `json:"status"`
	FailReason string     `json:"failReason,omitempty"`
}

// ---- images ----

type ImageType string

const (
	ImageKTP    ImageType = "KTP"
	ImageSelfie ImageType = "SELFIE"
	ImageOther  ImageType = "OTHER"
)

type ImageTokenRequest struct {
	UserID string `json:"userId"`
}

type ImageTokenResponse struct {
	Token    string `json:"token"`
	ExpireAt int64  `json:"expireAt"`
}

// ImageUploadRequest is sent as multipart/form-data (fields FormFieldToken,
// FormFieldImageType, FormFieldFile); the signature covers the sha256 of the
// file bytes in place of the body hash.
type ImageUploadRequest struct {
	Token     string
	ImageType ImageType
	FileName  string
	File      []byte
}

type ImageUploadResponse struct {
	ImageID string `json:"imageId"`
}

// ImageUploadBase64Request carries exactly one of Base64 and URL.
type ImageUploadBase64Request struct {
	UserID    string    `json:"userId"`
	ImageType ImageType `json:"imageType"`
	Base64    string    `json:"base64,omitempty"`
	URL       string    `json:"url,omitempty"`
}

// ---- loans ----

type TenorUnit string

const (
	TenorDay   TenorUnit = "DAY"
	TenorMonth TenorUnit = "MONTH"
)

type PersonalInfo struct {
	Gender        string `json:"gender"`        // MALE | FEMALE
	MaritalStatus string `json:"maritalStatus"` // SINGLE | MARRIED | DIVORCED | WIDOWED
	Education     string `json:"education,omitempty"`
	Religion      string `json:"religion,omitempty"`
	Email         string `json:"email,omitempty"`
	Province      string `json:"province"`
	City          string `json:"city"`
	District      string `json:"district,omitempty"`
	Address       string `json:"address"`
	PostalCode    string `json:"postalCode,omitempty"`
	Dependents    int    `json:"dependents"`
}

type IdentityInfo struct {
	NIK           string `json:"nik"`
	Name          string `json:"name"`
	BirthDate     string `json:"birthDate"`
	BirthPlace    string `json:"birthPlace,omitempty"`
	KTPImageID    string `json:"ktpImageId"`
	SelfieImageID string `json:"selfieImageId"`
}

type WorkInfo struct {
	Occupation     string `json:"occupation"`
	EmployerName   string `json:"employerName,omitempty"`
	EmployerPhone  string `json:"employerPhone,omitempty"`
	MonthlyIncome  int64  `json:"monthlyIncome"`
	YearsEmployed  int    `json:"yearsEmployed"`
	SalaryPayday   int    `json:"salaryPayday,omitempty"`
	IncomeCurrency string `json:"incomeCurrency,omitempty"`
}

type EmergencyContact struct {
	Name     string `json:"name"`
	Mobile   string `json:"mobile"`
	Relation string `json:"relation"` // PARENT | SPOUSE | SIBLING | FRIEND | COLLEAGUE | OTHER
}

// LoanSubmitRequest submits the application. OrderNo is the partner's
// idempotency key: the same OrderNo again answers CodeRepeatRequest with the
// existing loanNo in the data.
type LoanSubmitRequest struct {
	UserID            string             `json:"userId"`
	OrderNo           string             `json:"orderNo"`
	Amount            int64              `json:"amount"` // IDR
	Tenor             int                `json:"tenor"`
	TenorUnit         TenorUnit          `json:"tenorUnit"`
	Purpose           string             `json:"purpose"`
	Personal          PersonalInfo       `json:"personal"`
	Identity          IdentityInfo       `json:"identity"`
	Work              WorkInfo           `json:"work"`
	EmergencyContacts []EmergencyContact `json:"emergencyContacts"`
}

type LoanSubmitResponse struct {
	LoanNo string     `json:"loanNo"`
	Status LoanStatus `json:"status,omitempty"`
}

type LoanAgreementRequest struct {
	LoanNo string `json:"loanNo"`
}

type AgreementFees struct {
	AdminFee        int64   `json:"adminFee"`
	InterestRate    float64 `json:"interestRate"` // per tenor unit, e.g. 0.03 = 3 %
	TotalInterest   int64   `json:"totalInterest"`
	TotalRepayment  int64   `json:"totalRepayment"`
	DisbursedAmount int64   `json:"disbursedAmount"`
}

type LoanAgreementResponse struct {
	AgreementID string        `json:"agreementId"`
	Title       string        `json:"title"`
	ContentURL  string        `json:"contentUrl"`
	Fees        AgreementFees `json:"fees"`
}

type LoanSignRequest struct {
	LoanNo      string `json:"loanNo"`
	AgreementID string `json:"agreementId"`
	SignedAt    int64  `json:"signedAt"` // Unix ms
	ClientIP    string `json:"clientIp"`
}

type LoanSignResponse struct {
	Status LoanStatus `json:"status"`
}

// LoanInfoRequest looks a loan up by LoanNo or, when that is empty, by OrderNo.
type LoanInfoRequest struct {
	LoanNo  string `json:"loanNo,omitempty"`
	OrderNo string `json:"orderNo,omitempty"`
}

type InstallmentStatus string

const (
	InstallmentUnpaid  InstallmentStatus = "UNPAID"
	InstallmentPaid    InstallmentStatus = "PAID"
	InstallmentOverdue InstallmentStatus = "OVERDUE"
)

type Installment struct {
	Period     int               `json:"period"`
	DueDate    string            `json:"dueDate"` // DateLayout
	Principal  int64             `json:"principal"`
	Interest   int64             `json:"interest"`
	Fee        int64             `json:"fee"`
	PaidAmount int64             `json:"paidAmount"`
	Status     InstallmentStatus `json:"status"`
}

type LoanInfoResponse struct {
	LoanNo          string        `json:"loanNo"`
	OrderNo         string        `json:"orderNo"`
	Status          LoanStatus    `json:"status"`
	Amount          int64         `json:"amount"`
	DisbursedAmount int64         `json:"disbursedAmount"`
	DisbursedAt     int64         `json:"disbursedAt,omitempty"` // Unix ms
	Schedule        []Installment `json:"schedule"`
}

type RepaymentVARequest struct {
	LoanNo string `json:"loanNo"`
}

type RepaymentVAResponse struct {
	BankCode string `json:"bankCode"`
	VANumber string `json:"vaNumber"`
	Amount   int64  `json:"amount"`
	ExpireAt int64  `json:"expireAt"` // Unix ms
}

type PageType string

const (
	PageSignature       PageType = "SIGNATURE"
	PageLoanDetail      PageType = "LOAN_DETAIL"
	PageRepaymentDetail PageType = "REPAYMENT_DETAIL"
)

type RedirectURLRequest struct {
	UserID    string   `json:"userId"`
	LoanNo    string   `json:"loanNo"`
	PageType  PageType `json:"pageType"`
	ReturnURL string   `json:"returnUrl,omitempty"`
}

type RedirectURLResponse struct {
	URL string `json:"url"`
}

// ---- notifications (AWDA → partner) ----

// LoanStatus is a loan's status at AWDA.
type LoanStatus string

const (
	LoanSubmitted      LoanStatus = "SUBMITTED"
	LoanUnderReview    LoanStatus = "UNDER_REVIEW"
	LoanApproved       LoanStatus = "APPROVED"
	LoanRejected       LoanStatus = "REJECTED"
	LoanSigned         LoanStatus = "SIGNED"
	LoanDisbursing     LoanStatus = "DISBURSING"
	LoanDisbursed      LoanStatus = "DISBURSED"
	LoanDisburseFailed LoanStatus = "DISBURSE_FAILED"
	LoanRepaying       LoanStatus = "REPAYING"
	LoanOverdue        LoanStatus = "OVERDUE"
	LoanSettled        LoanStatus = "SETTLED"
	LoanCancelled      LoanStatus = "CANCELLED"
)

// LoanStatuses lists every status, in lifecycle order.
var LoanStatuses = []LoanStatus{
	LoanSubmitted, LoanUnderReview, LoanApproved, LoanRejected, LoanSigned,
	LoanDisbursing, LoanDisbursed, LoanDisburseFailed, LoanRepaying,
	LoanOverdue, LoanSettled, LoanCancelled,
}

// Rank orders statuses along the lifecycle so that a consumer can refuse to
// move a loan backwards. Alternatives at one step share a rank (APPROVED and
// REJECTED; DISBURSED and DISBURSE_FAILED; REPAYING and OVERDUE, which may
// alternate). Terminal statuses rank highest. Unknown statuses rank 0.
func (s LoanStatus) Rank() int {
	switch s {
	case LoanSubmitted:
		return 1
	case LoanUnderReview:
		return 2
	case LoanApproved, LoanRejected:
		return 3
	case LoanSigned:
		return 4
	case LoanDisbursing:
		return 5
	case LoanDisbursed, LoanDisburseFailed:
		return 6
	case LoanRepaying, LoanOverdue:
		return 7
	case LoanSettled, LoanCancelled:
		return 8
	}
	return 0
}

// Valid reports whether s is a status of the contract.
func (s LoanStatus) Valid() bool { return s.Rank() > 0 }

// Terminal reports whether no further status can follow s.
func (s LoanStatus) Terminal() bool {
	return s == LoanRejected || s == LoanSettled || s == LoanCancelled
}

// EventTypeLoanStatus is the only push event type of the contract.
const EventTypeLoanStatus = "LOAN_STATUS"

// LoanStatusEvent is AWDA's push notification of a loan status change.
type LoanStatusEvent struct {
	EventID    string     `json:"eventId"`
	EventType  string     `json:"eventType"`
	LoanNo     string     `json:"loanNo"`
	OrderNo    string     `json:"orderNo"`
	UserID     string     `json:"userId"`
	Status     LoanStatus `json:"status"`
	PrevStatus LoanStatus `json:"prevStatus,omitempty"`
	Period     int        `json:"period,omitempty"` // installment, for REPAYING/OVERDUE
	Amount     int64      `json:"amount,omitempty"`
	OccurredAt int64      `json:"occurredAt"` // Unix ms
}

// AuthorizationEvent is AWDA's authorization status callback.
type AuthorizationEvent struct {
	EventID    string     `json:"eventId"`
	UserID     string     `json:"userId"`
	AuthType   string     `json:"authType"`
	Status     AuthStatus `json:"status"` // SUCCESS | FAILED | EXPIRED
	OccurredAt int64      `json:"occurredAt"`
}
