package activities_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/testenv"
)

const (
	testNIK    = "3171014501900001" // women's day+40: 05-01-1990
	testMobile = "081234567890"
	testName   = "Siti Rahmawati"
)

func registerReq() awda.RegisterRequest {
	return awda.RegisterRequest{PartnerUserID: "app-42", Mobile: testMobile, Name: testName, NIK: testNIK, BirthDate: "1990-01-05"}
}

type fixture struct {
	env   *testsuite.TestActivityEnvironment
	awda  *testenv.AWDA
	docs  *testenv.Documents
	proj  *testenv.Projections
	acts  *activities.Activities
	clock *clock
}

// clock is a settable clock for token expiry.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.UnixMilli(c.t.Load()) }
func (c *clock) add(d time.Duration) { c.t.Add(d.Milliseconds()) }
func newClock(t time.Time) *clock    { c := &clock{}; c.t.Store(t.UnixMilli()); return c }

// newFixture runs the activities over the real client against the AWDA
// sandbox in process (its loan/submit prerequisites off: these tests are
// about the activities, not AWDA's rules), on a clock of the test's own.
func newFixture(t *testing.T, configure ...func(*sandbox.Config)) *fixture {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	clk := newClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	cfg := sandbox.Config{Clock: clk.now, SkipPrerequisites: true}
	for _, c := range configure {
		c(&cfg)
	}
	a, err := testenv.NewAWDA(cfg)
	require.NoError(t, err)
	f := &fixture{
		env:   s.NewTestActivityEnvironment(),
		awda:  a,
		docs:  testenv.NewDocuments(activities.Document{ID: "doc-ktp", ContentType: "image/jpeg", FileName: "ktp.jpg", Bytes: []byte("\xff\xd8ktp-bytes")}, activities.Document{ID: "doc-selfie", ContentType: "image/jpeg", FileName: "selfie.jpg", Bytes: []byte("\xff\xd8selfie-bytes")}),
		proj:  testenv.NewProjections(),
		clock: clk,
	}
	f.acts = activities.New(a.Client, f.docs, f.proj)
	f.acts.Now = clk.now
	f.env.RegisterActivity(f.acts)
	return f
}

func (f *fixture) userID(t *testing.T) string {
	t.Helper()
	v, err := f.env.ExecuteActivity(f.acts.Register, registerReq())
	require.NoError(t, err)
	var r activities.RegisterResult
	require.NoError(t, v.Get(&r))
	return r.UserID
}

// appError returns the application error an activity failed with.
func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err)
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "not an application error: %v", err)
	return ae
}

func TestRegisterTreatsUserExistsAsSuccess(t *testing.T) {
	f := newFixture(t)
	first := f.userID(t)

	v, err := f.env.ExecuteActivity(f.acts.Register, registerReq())
	require.NoError(t, err)
	var again activities.RegisterResult
	require.NoError(t, v.Get(&again))
	require.Equal(t, first, again.UserID)
	require.True(t, again.Existing)
	require.Equal(t, 2, f.awda.Calls(awda.PathUserRegister))
}

func TestRegisterUserExistsWithoutUserIDIsNonRetryable(t *testing.T) {
	f := newFixture(t)
	f.awda.FailCodes(awda.PathUserRegister, awda.CodeUserExists)
	_, err := f.env.ExecuteActivity(f.acts.Register, registerReq())
	ae := appError(t, err)
	require.Equal(t, "user_exists", ae.Type())
	require.True(t, ae.NonRetryable())
}

func TestErrorClassesMapToTemporalErrors(t *testing.T) {
	cases := []struct {
		code      awda.Code
		typ       string
		retryable bool
	}{
		{awda.CodeBusy, "busy", true},
		{awda.CodeSystemBusy, "busy", true},
		{awda.CodeSystemBusy2, "busy", true},
		{awda.CodeRequestTimeout, "timeout", true},
		{awda.CodeNetworkError, "timeout", true},
		{awda.CodeTimestampExpired, "stale_timestamp", true},
		{awda.CodeInvalidToken, "invalid_token", true},
		{awda.CodeParamError, "validation", false},
		{awda.CodeParamEmpty, "validation", false},
		{awda.CodeParamInvalid, "validation", false},
		{awda.CodeSignatureFailed, "configuration", false},
		{awda.CodeMerchantInvalid, "configuration", false},
		{awda.CodeDataNotExist, "not_found", false},
		{awda.CodeUserNotExist, "not_found", false},
		{awda.CodeOrderNotExist, "not_found", false},
		{awda.CodeAuthInfoFailed, "authorization", false},
		{awda.CodeUnknown, "unknown", false},
		{awda.CodeRepeatRequest, "duplicate", false},
		{awda.CodeUserExists, "user_exists", false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(int(c.code)), func(t *testing.T) {
			f := newFixture(t)
			uid := f.userID(t)
			f.awda.FailCodes(awda.PathEligibleCheck, c.code)
			_, err := f.env.ExecuteActivity(f.acts.EligibleCheck, awda.EligibleCheckRequest{UserID: uid})
			ae := appError(t, err)
			require.Equal(t, c.typ, ae.Type())
			require.Equal(t, !c.retryable, ae.NonRetryable())
			require.Contains(t, ae.Error(), fmt.Sprintf("code %d", int(c.code)))
			if !c.retryable {
				require.Contains(t, activities.NonRetryableErrorTypes, c.typ)
			} else {
				require.NotContains(t, activities.NonRetryableErrorTypes, c.typ)
			}
		})
	}
}

func TestTransportFailureIsRetryable(t *testing.T) {
	f := newFixture(t)
	f.awda.FailTransport(awda.PathBankList, errors.New("dial tcp: connection refused"))
	_, err := f.env.ExecuteActivity(f.acts.BankList)
	ae := appError(t, err)
	require.Equal(t, "timeout", ae.Type())
	require.False(t, ae.NonRetryable())

	v, err := f.env.ExecuteActivity(f.acts.BankList)
	require.NoError(t, err)
	var banks awda.BankListResponse
	require.NoError(t, v.Get(&banks))
	require.NotEmpty(t, banks.Banks)
}

// eligibility answers every eligibility check with res (the sandbox's
// reason quotes no personal data; AWDA's might).
type eligibility struct {
	activities.AWDAClient
	res awda.EligibleCheckResponse
}

func (e eligibility) EligibleCheck(context.Context, *awda.EligibleCheckRequest) (*awda.EligibleCheckResponse, error) {
	return &e.res, nil
}

func TestEligibleCheckRedactsReason(t *testing.T) {
	f := newFixture(t)
	uid := f.userID(t)
	f.acts.AWDA = eligibility{AWDAClient: f.acts.AWDA, res: awda.EligibleCheckResponse{Reason: "blacklisted: mobile 081234567890 matched"}}
	v, err := f.env.ExecuteActivity(f.acts.EligibleCheck, awda.EligibleCheckRequest{UserID: uid})
	require.NoError(t, err)
	var res awda.EligibleCheckResponse
	require.NoError(t, v.Get(&res))
	require.False(t, res.Eligible)
	require.NotContains(t, res.Reason, "081234567890")
	require.Contains(t, res.Reason, "blacklisted")
}

func TestLoanSubmitDuplicateIsReportedNotFailed(t *testing.T) {
	f := newFixture(t)
	uid := f.userID(t)
	ids := f.upload(t, uid, activities.UploadStream)
	req := submitReq(uid, "AF-order-1", ids)

	v, err := f.env.ExecuteActivity(f.acts.LoanSubmit, req)
	require.NoError(t, err)
	var first activities.LoanSubmitResult
	require.NoError(t, v.Get(&first))
	require.NotEmpty(t, first.LoanNo)
	require.False(t, first.Duplicate)

	v, err = f.env.ExecuteActivity(f.acts.LoanSubmit, req)
	require.NoError(t, err)
	var again activities.LoanSubmitResult
	require.NoError(t, v.Get(&again))
	require.True(t, again.Duplicate)
	require.Equal(t, first.LoanNo, again.LoanNo)
	require.Equal(t, 1, f.awda.Loans())
	require.Equal(t, 2, f.awda.Submissions("AF-order-1"))

	// 1001 without a loanNo in the data is still a Duplicate result: the
	// workflow reconciles by LoanInfo(orderNo).
	f.awda.FailCodes(awda.PathLoanSubmit, awda.CodeRepeatRequest)
	v, err = f.env.ExecuteActivity(f.acts.LoanSubmit, req)
	require.NoError(t, err)
	var bare activities.LoanSubmitResult
	require.NoError(t, v.Get(&bare))
	require.True(t, bare.Duplicate)
	require.Empty(t, bare.LoanNo)
}

func submitReq(uid, orderNo string, images map[awda.ImageType]string) awda.LoanSubmitRequest {
	return awda.LoanSubmitRequest{
		UserID: uid, OrderNo: orderNo, Amount: 3_000_000, Tenor: 3, TenorUnit: awda.TenorMonth, Purpose: "WORKING_CAPITAL",
		Personal: awda.PersonalInfo{Gender: "FEMALE", MaritalStatus: "SINGLE", Province: "DKI Jakarta", City: "Jakarta Selatan", Address: "Jl. Contoh 1"},
		Identity: awda.IdentityInfo{NIK: testNIK, Name: testName, BirthDate: "1990-01-05", KTPImageID: images[awda.ImageKTP], SelfieImageID: images[awda.ImageSelfie]},
		Work:     awda.WorkInfo{Occupation: "EMPLOYEE", MonthlyIncome: 8_000_000},
		EmergencyContacts: []awda.EmergencyContact{
			{Name: "Budi", Mobile: "081298765432", Relation: "SIBLING"},
		},
	}
}

var bothDocs = []activities.DocumentRef{{Type: awda.ImageKTP, DocumentID: "doc-ktp"}, {Type: awda.ImageSelfie, DocumentID: "doc-selfie"}}

func (f *fixture) upload(t *testing.T, uid string, m activities.UploadMethod) map[awda.ImageType]string {
	t.Helper()
	v, err := f.env.ExecuteActivity(f.acts.UploadDocuments, activities.UploadDocumentsInput{UserID: uid, Method: m, Documents: bothDocs})
	require.NoError(t, err)
	var res activities.UploadDocumentsResult
	require.NoError(t, v.Get(&res))
	out := map[awda.ImageType]string{}
	for _, im := range res.Images {
		require.NotEmpty(t, im.ImageID)
		out[im.Type] = im.ImageID
	}
	require.Len(t, out, 2)
	return out
}

func TestUploadDocumentsByStreamUsesOneToken(t *testing.T) {
	f := newFixture(t)
	uid := f.userID(t)
	var beats atomic.Int32
	f.env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
		var ims []activities.UploadedImage
		if d.Get(&ims) == nil && len(ims) > 0 && ims[0].ImageID != "" {
			beats.Add(1)
		}
	})
	ids := f.upload(t, uid, activities.UploadStream)
	require.NotEqual(t, ids[awda.ImageKTP], ids[awda.ImageSelfie])
	require.Equal(t, 1, f.awda.Calls(awda.PathImageToken))
	require.Equal(t, 2, f.awda.Calls(awda.PathImageUpload))
	require.Equal(t, 0, f.awda.Calls(awda.PathImageUploadBase64))
	require.Positive(t, beats.Load(), "progress is heartbeated (throttled by the SDK)")
}

func TestUploadDocumentsRefreshesTokenOn1002(t *testing.T) {
	f := newFixture(t)
	uid := f.userID(t)
	f.awda.FailCodes(awda.PathImageUpload, awda.CodeInvalidToken)
	f.upload(t, uid, activities.UploadStream)
	require.Equal(t, 2, f.awda.Calls(awda.PathImageToken), "a fresh token after the 1002")
	require.Equal(t, 3, f.awda.Calls(awda.PathImageUpload))
	require.Equal(t, 1, f.awda.ImagesStored(awda.ImageKTP))
}

func TestUploadDocumentsRefreshesTokenBeforeExpiry(t *testing.T) {
	// Tokens live 40 s; after the first upload the clock moves 15 s, inside
	// the 30 s safety margin, so the second upload asks for a new token
	// without ever meeting a 1002.
	f := newFixture(t, func(c *sandbox.Config) { c.ImageTokenTTL = 40 * time.Second })
	uid := f.userID(t)
	f.docs = nil
	calls := 0
	f.acts.Documents = docsFunc(func(id string) (*activities.Document, error) {
		calls++
		if calls == 2 {
			f.clock.add(15 * time.Second)
		}
		return &activities.Document{ID: id, FileName: id + ".jpg", Bytes: []byte("img-" + id)}, nil
	})
	f.upload(t, uid, activities.UploadStream)
	require.Equal(t, 2, f.awda.Calls(awda.PathImageToken))
	require.Equal(t, 2, f.awda.Calls(awda.PathImageUpload), "no upload was refused")
}

func TestUploadDocumentsPersistent1002IsRetryable(t *testing.T) {
	f := newFixture(t)
	uid := f.userID(t)
	f.awda.FailCodes(awda.PathImageUpload, awda.CodeInvalidToken, awda.CodeInvalidToken)
	_, err := f.env.ExecuteActivity(f.acts.UploadDocuments, activities.UploadDocumentsInput{UserID: uid, Documents: bothDocs})
	ae := appError(t, err)
	require.Equal(t, "invalid_token", ae.Type())
	require.False(t, ae.NonRetryable())
	require.Equal(t, 2, f.awda.Calls(awda.PathImageToken), "exactly one refresh per attempt")
}

func TestUploadDocumentsByBase64NeedsNoToken(t *testing.T) {
	f := newFixture(t)
	uid := f.userID(t)
	f.upload(t, uid, activities.UploadBase64)
	require.Equal(t, 0, f.awda.Calls(awda.PathImageToken))
	require.Equal(t, 2, f.awda.Calls(awda.PathImageUploadBase64))
}

func TestUploadDocumentsSkipsImagesOfAnEarlierAttempt(t *testing.T) {
	f := newFixture(t)
	uid := f.userID(t)
	f.env.SetHeartbeatDetails([]activities.UploadedImage{{Type: awda.ImageKTP, DocumentID: "doc-ktp", ImageID: "IMG-earlier"}})
	ids := f.upload(t, uid, activities.UploadStream)
	require.Equal(t, "IMG-earlier", ids[awda.ImageKTP])
	require.Equal(t, 1, f.awda.Calls(awda.PathImageUpload))
	require.Equal(t, 0, f.awda.ImagesStored(awda.ImageKTP))
}

func TestUploadDocumentsStoreErrors(t *testing.T) {
	f := newFixture(t)
	uid := f.userID(t)

	_, err := f.env.ExecuteActivity(f.acts.UploadDocuments, activities.UploadDocumentsInput{UserID: uid, Documents: []activities.DocumentRef{{Type: awda.ImageKTP, DocumentID: "doc-missing"}}})
	ae := appError(t, err)
	require.Equal(t, activities.ErrTypeDocumentNotFound, ae.Type())
	require.True(t, ae.NonRetryable())

	f.docs.Fail(errors.New("connection reset"))
	_, err = f.env.ExecuteActivity(f.acts.UploadDocuments, activities.UploadDocumentsInput{UserID: uid, Documents: bothDocs})
	ae = appError(t, err)
	require.Equal(t, activities.ErrTypeDocumentStore, ae.Type())
	require.False(t, ae.NonRetryable())

	_, err = f.env.ExecuteActivity(f.acts.UploadDocuments, activities.UploadDocumentsInput{UserID: uid})
	require.Equal(t, activities.ErrTypeInvalidInput, appError(t, err).Type())
}

func TestBankCardVerifyRedactsFailReason(t *testing.T) {
	f := newFixture(t)
	uid := f.userID(t)
	require.NoError(t, f.awda.QueueCardVerdicts(awda.CardFailed, "name mismatch for account 1234567890", 1))
	v, err := f.env.ExecuteActivity(f.acts.BankCardVerify, awda.BankCardVerifyRequest{UserID: uid, BankCode: "BCA", AccountNo: "1234567890", AccountName: testName})
	require.NoError(t, err)
	var res awda.BankCardVerifyResponse
	require.NoError(t, v.Get(&res))
	require.Equal(t, awda.CardFailed, res.Status)
	require.NotContains(t, res.FailReason, "1234567890")
	require.Contains(t, res.FailReason, "name mismatch")
}

func TestUpsertProjection(t *testing.T) {
	f := newFixture(t)
	p := activities.ApplicationProjection{WorkflowID: "loan:app-42", ApplicantRef: "app-42", Seq: 2, Stage: "REVIEW"}
	_, err := f.env.ExecuteLocalActivity(f.acts.UpsertProjection, p)
	require.NoError(t, err)
	older := p
	older.Seq, older.Stage = 1, "SUBMIT"
	_, err = f.env.ExecuteLocalActivity(f.acts.UpsertProjection, older)
	require.NoError(t, err)
	row, ok := f.proj.Row("loan:app-42")
	require.True(t, ok)
	require.Equal(t, "REVIEW", row.Stage, "an older Seq never moves the row back")

	f.proj.FailNext(1)
	p.Seq = 3
	_, err = f.env.ExecuteLocalActivity(f.acts.UpsertProjection, p)
	ae := appError(t, err)
	require.Equal(t, activities.ErrTypeProjection, ae.Type())
	require.False(t, ae.NonRetryable())

	p.Seq = 0
	_, err = f.env.ExecuteLocalActivity(f.acts.UpsertProjection, p)
	require.True(t, appError(t, err).NonRetryable())
}

// The trail goes through to the writer: once per Seq, from a retried write
// and from a late one whose row is skipped.
func TestUpsertProjectionPassesTheTrail(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := func(seq int64, kind, to string) activities.TrailEntry {
		return activities.TrailEntry{Seq: seq, At: at.Add(time.Duration(seq) * time.Minute), Kind: kind, To: to}
	}
	p := activities.ApplicationProjection{WorkflowID: "loan:app-7", ApplicantRef: "app-7", Seq: 2, Stage: "FAILED", Terminal: true,
		Reason: "abandoned by operations while stuck at submit loan", Operator: "alice",
		Trail: []activities.TrailEntry{tr(3, "resumed", "abandon"), tr(4, "stage", "FAILED")}}
	p.Trail[0].Operator, p.Trail[0].Note = "alice", "borrower unreachable"
	for i := 0; i < 2; i++ {
		_, err := f.env.ExecuteActivity(f.acts.UpsertProjection, p)
		require.NoError(t, err)
	}
	late := activities.ApplicationProjection{WorkflowID: "loan:app-7", ApplicantRef: "app-7", Seq: 1, Stage: "SUBMIT",
		Trail: []activities.TrailEntry{tr(1, "stage", "REGISTER"), tr(2, "stuck", "submit loan")}}
	_, err := f.env.ExecuteLocalActivity(f.acts.UpsertProjection, late)
	require.NoError(t, err)

	row, ok := f.proj.Row("loan:app-7")
	require.True(t, ok)
	require.Equal(t, "FAILED", row.Stage)
	require.Equal(t, "alice", row.Operator)
	got := f.proj.Trail("loan:app-7")
	require.Equal(t, []activities.TrailEntry{late.Trail[0], late.Trail[1], p.Trail[0], p.Trail[1]}, got)
}

// TestErrorTextsCarryNoPersonalData runs the activities over the real client
// against a server whose answers quote the borrower's data back.
func TestErrorTextsCarryNoPersonalData(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case awda.PathUserRegister:
			fmt.Fprintf(w, `{"code":1007,"message":"nik %s does not match mobile %s"}`, testNIK, testMobile)
		case awda.PathBankCardVerify:
			fmt.Fprint(w, `{"code":1000,"message":"busy verifying 1234567890 for someone@example.com"}`)
		default:
			fmt.Fprint(w, `{"code":999,"message":"unknown"}`)
		}
	}))
	defer srv.Close()
	signer, err := awda.NewHMACSigner([]byte("test-secret-test-secret-test-secret"))
	require.NoError(t, err)
	client, err := awda.NewClient(awda.Config{BaseURL: srv.URL, AppID: "app", Signer: signer})
	require.NoError(t, err)

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	acts := activities.New(client, testenv.NewDocuments(), nil)
	env.RegisterActivity(acts)

	_, err = env.ExecuteActivity(acts.Register, registerReq())
	ae := appError(t, err)
	require.Equal(t, "validation", ae.Type())
	for _, pii := range []string{testNIK, testMobile, "1234567890", testName} {
		require.NotContains(t, ae.Error(), pii)
	}

	_, err = env.ExecuteActivity(acts.BankCardVerify, awda.BankCardVerifyRequest{UserID: "U1", BankCode: "BCA", AccountNo: "1234567890", AccountName: testName})
	ae = appError(t, err)
	require.Equal(t, "busy", ae.Type())
	for _, pii := range []string{"1234567890", "someone@example.com", testName} {
		require.NotContains(t, ae.Error(), pii)
	}
	require.False(t, strings.Contains(ae.Error(), testName))
}

type docsFunc func(id string) (*activities.Document, error)

func (f docsFunc) GetDocument(_ context.Context, id string) (*activities.Document, error) {
	return f(id)
}
