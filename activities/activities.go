package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/awdaflow/awdaflow/awda"
)

// AWDAClient is the part of *awda.Client the activities call. Each method
// makes exactly one signed attempt; retrying is Temporal's job.
type AWDAClient interface {
	Register(ctx context.Context, req *awda.RegisterRequest) (*awda.RegisterResponse, error)
	EligibleCheck(ctx context.Context, req *awda.EligibleCheckRequest) (*awda.EligibleCheckResponse, error)
	AuthList(ctx context.Context, req *awda.AuthListRequest) (*awda.AuthListResponse, error)
	AuthPage(ctx context.Context, req *awda.AuthPageRequest) (*awda.AuthPageResponse, error)
	BankCardQuery(ctx context.Context, req *awda.BankCardQueryRequest) (*awda.BankCardQueryResponse, error)
	BankList(ctx context.Context) (*awda.BankListResponse, error)
	BankCardVerify(ctx context.Context, req *awda.BankCardVerifyRequest) (*awda.BankCardVerifyResponse, error)
	ImageToken(ctx context.Context, req *awda.ImageTokenRequest) (*awda.ImageTokenResponse, error)
	ImageUpload(ctx context.Context, req *awda.ImageUploadRequest) (*awda.ImageUploadResponse, error)
	ImageUploadBase64(ctx context.Context, req *awda.ImageUploadBase64Request) (*awda.ImageUploadResponse, error)
	LoanSubmit(ctx context.Context, req *awda.LoanSubmitRequest) (*awda.LoanSubmitResponse, error)
	LoanAgreement(ctx context.Context, req *awda.LoanAgreementRequest) (*awda.LoanAgreementResponse, error)
	LoanSign(ctx context.Context, req *awda.LoanSignRequest) (*awda.LoanSignResponse, error)
	LoanInfo(ctx context.Context, req *awda.LoanInfoRequest) (*awda.LoanInfoResponse, error)
	RepaymentVA(ctx context.Context, req *awda.RepaymentVARequest) (*awda.RepaymentVAResponse, error)
	RedirectURL(ctx context.Context, req *awda.RedirectURLRequest) (*awda.RedirectURLResponse, error)
}

var _ AWDAClient = (*awda.Client)(nil)

// Activities are the loan workflow's activities. Register the struct with a
// worker (w.RegisterActivity(acts)); each exported method is an activity
// under its method name. Workflows call them through a typed nil pointer:
//
//	var a *activities.Activities
//	workflow.ExecuteActivity(ctx, a.Register, req)
type Activities struct {
	AWDA       AWDAClient
	Documents  DocumentStore
	Projection ProjectionWriter
	// Now is the clock used to judge upload-token expiry; time.Now when nil.
	Now func() time.Time
}

// New returns the activities over their dependencies.
func New(client AWDAClient, docs DocumentStore, proj ProjectionWriter) *Activities {
	return &Activities{AWDA: client, Documents: docs, Projection: proj}
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// RegisterResult is the AWDA user behind an applicant.
type RegisterResult struct {
	UserID string `json:"userId"`
	// Existing is true when AWDA answered 1008: the user was registered
	// before (by an earlier attempt or run), and UserID is that user.
	Existing bool `json:"existing,omitempty"`
}

// Register creates the AWDA user. AWDA's 1008 (user exists) with the existing
// userId is success.
func (a *Activities) Register(ctx context.Context, req awda.RegisterRequest) (*RegisterResult, error) {
	res, err := a.AWDA.Register(ctx, &req)
	if awda.IsUserExists(err) && res != nil && res.UserID != "" {
		return &RegisterResult{UserID: res.UserID, Existing: true}, nil
	}
	if err != nil {
		return nil, temporalError(err)
	}
	return &RegisterResult{UserID: res.UserID}, nil
}

// EligibleCheck asks AWDA whether the user may borrow. AWDA's reason is
// passed through awda.RedactMessage, since it becomes part of the read model.
func (a *Activities) EligibleCheck(ctx context.Context, req awda.EligibleCheckRequest) (*awda.EligibleCheckResponse, error) {
	res, err := a.AWDA.EligibleCheck(ctx, &req)
	if err != nil {
		return nil, temporalError(err)
	}
	res.Reason = awda.RedactMessage(res.Reason)
	return res, nil
}

// AuthList lists the authorizations and the user's status for each.
func (a *Activities) AuthList(ctx context.Context, req awda.AuthListRequest) (*awda.AuthListResponse, error) {
	res, err := a.AWDA.AuthList(ctx, &req)
	return res, temporalError(err)
}

// AuthPage returns the URL of one authorization's third-party page.
func (a *Activities) AuthPage(ctx context.Context, req awda.AuthPageRequest) (*awda.AuthPageResponse, error) {
	res, err := a.AWDA.AuthPage(ctx, &req)
	return res, temporalError(err)
}

// BankCardQuery lists the user's bank cards (account numbers masked by AWDA).
func (a *Activities) BankCardQuery(ctx context.Context, req awda.BankCardQueryRequest) (*awda.BankCardQueryResponse, error) {
	res, err := a.AWDA.BankCardQuery(ctx, &req)
	return res, temporalError(err)
}

// BankList returns the banks a card may belong to.
func (a *Activities) BankList(ctx context.Context) (*awda.BankListResponse, error) {
	res, err := a.AWDA.BankList(ctx)
	return res, temporalError(err)
}

// BankCardVerify binds the card that receives the disbursement. AWDA's
// FailReason is redacted: it is shown to the borrower and kept in the state.
func (a *Activities) BankCardVerify(ctx context.Context, req awda.BankCardVerifyRequest) (*awda.BankCardVerifyResponse, error) {
	res, err := a.AWDA.BankCardVerify(ctx, &req)
	if err != nil {
		return nil, temporalError(err)
	}
	res.FailReason = awda.RedactMessage(res.FailReason)
	return res, nil
}

// LoanSubmitResult is the loan AWDA holds for an orderNo.
type LoanSubmitResult struct {
	LoanNo string          `json:"loanNo,omitempty"`
	Status awda.LoanStatus `json:"status,omitempty"`
	// Duplicate is true when AWDA answered 1001: a loan with this orderNo
	// exists already (an earlier attempt reached AWDA). LoanNo is AWDA's
	// answer when it gave one; the workflow reconciles by LoanInfo(orderNo).
	Duplicate bool `json:"duplicate,omitempty"`
}

// LoanSubmit submits the application under the workflow's orderNo. The same
// orderNo again is AWDA's 1001, reported as a Duplicate result, not an error.
func (a *Activities) LoanSubmit(ctx context.Context, req awda.LoanSubmitRequest) (*LoanSubmitResult, error) {
	res, err := a.AWDA.LoanSubmit(ctx, &req)
	if awda.IsDuplicate(err) {
		out := &LoanSubmitResult{Duplicate: true}
		if res != nil {
			out.LoanNo = res.LoanNo
			out.Status = res.Status
		}
		return out, nil
	}
	if err != nil {
		return nil, temporalError(err)
	}
	return &LoanSubmitResult{LoanNo: res.LoanNo, Status: res.Status}, nil
}

// LoanAgreement returns the loan's agreement.
func (a *Activities) LoanAgreement(ctx context.Context, req awda.LoanAgreementRequest) (*awda.LoanAgreementResponse, error) {
	res, err := a.AWDA.LoanAgreement(ctx, &req)
	return res, temporalError(err)
}

// LoanSign signs the agreement, which confirms the disbursement.
func (a *Activities) LoanSign(ctx context.Context, req awda.LoanSignRequest) (*awda.LoanSignResponse, error) {
	res, err := a.AWDA.LoanSign(ctx, &req)
	return res, temporalError(err)
}

// LoanInfo returns the loan, by loanNo or by orderNo, with its schedule once
// disbursed.
func (a *Activities) LoanInfo(ctx context.Context, req awda.LoanInfoRequest) (*awda.LoanInfoResponse, error) {
	res, err := a.AWDA.LoanInfo(ctx, &req)
	return res, temporalError(err)
}

// RepaymentVA returns the virtual account the borrower repays into.
func (a *Activities) RepaymentVA(ctx context.Context, req awda.RepaymentVARequest) (*awda.RepaymentVAResponse, error) {
	res, err := a.AWDA.RepaymentVA(ctx, &req)
	return res, temporalError(err)
}

// RedirectURL returns the URL of an AWDA H5 page (e.g. the signature page).
func (a *Activities) RedirectURL(ctx context.Context, req awda.RedirectURLRequest) (*awda.RedirectURLResponse, error) {
	res, err := a.AWDA.RedirectURL(ctx, &req)
	return res, temporalError(err)
}

// UpsertProjection writes the read model of one application and the
// projection's Trail (the transitions not written yet) as they are. It runs
// as a local activity while the loan moves (two history events fewer per
// transition) and as a regular one for the final write, which must land.
// Idempotent: the writer ignores a row whose Seq is not newer and stores each
// trail entry once by (WorkflowID, Seq), so retries, repeats and reordering
// are safe, and a late write still adds its entries. Without a
// ProjectionWriter it does nothing.
func (a *Activities) UpsertProjection(ctx context.Context, p ApplicationProjection) error {
	if a.Projection == nil {
		return nil
	}
	if p.WorkflowID == "" || p.Seq <= 0 {
		return invalidInput("projection needs a workflow ID and a positive Seq")
	}
	if err := a.Projection.UpsertApplication(ctx, p); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return temporal.NewApplicationError("upsert application projection: "+err.Error(), ErrTypeProjection)
	}
	return nil
}
