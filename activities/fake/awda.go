package fake

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// AWDA is a scriptable in-memory AWDA. Its zero value is not usable; call
// NewAWDA.
type AWDA struct {
	mu  sync.Mutex
	now func() time.Time

	eligible         bool
	ineligibleReason string
	maxAmount        int64
	authTemplate     []awda.AuthItem
	banks            []awda.Bank
	cardVerdicts     []cardVerdict
	tokenTTL         time.Duration
	installments     int
	vaTTL            time.Duration
	tenors           []awda.TenorOption
	onCall           func(path string, at time.Time)

	seq         int
	users       map[string]string // partnerUserId → userId
	auths       map[string][]awda.AuthItem
	cards       map[string][]awda.BankCard
	tokens      map[string]time.Time
	images      map[string]awda.ImageType
	loans       map[string]*loan // by loanNo
	byOrder     map[string]string
	faults      map[string][]error
	authFaults  map[string][]error // auth/page faults by authType
	afterInfo   []func()           // run after the next loan/info answers
	delays      map[string]time.Duration
	outages     map[string]error
	calls       map[string]int
	submissions map[string]int
	uploads     map[string]int     // by image type
	lostAnswers map[string][]error // applied, then answered with the error
	applied     map[string]int     // loans created per orderNo
}

type cardVerdict struct {
	status awda.CardStatus
	reason string
}

type loan struct {
	req      awda.LoanSubmitRequest
	info     awda.LoanInfoResponse
	agreedID string
	signedAt int64
}

// Option configures an AWDA.
type Option func(*AWDA)

// WithClock sets the fake's clock (token and VA expiry, schedule dates).
func WithClock(now func() time.Time) Option { return func(f *AWDA) { f.now = now } }

// Ineligible makes the eligibility check answer not eligible with reason.
func Ineligible(reason string) Option {
	return func(f *AWDA) { f.eligible, f.ineligibleReason = false, reason }
}

// WithMaxAmount sets the eligibility check's maxAmount (default 10,000,000).
func WithMaxAmount(n int64) Option { return func(f *AWDA) { f.maxAmount = n } }

// WithTokenTTL sets how long an upload token lives (default 10 minutes).
func WithTokenTTL(d time.Duration) Option { return func(f *AWDA) { f.tokenTTL = d } }

// WithInstallments sets the schedule length created at disbursement (default 3).
func WithInstallments(n int) Option { return func(f *AWDA) { f.installments = n } }

// WithTenors sets the tenors the eligibility check offers (default 3 and 6
// months).
func WithTenors(opts ...awda.TenorOption) Option {
	return func(f *AWDA) { f.tenors = append([]awda.TenorOption(nil), opts...) }
}

// OnCall makes the fake report every call it receives (path and the fake's
// time), failed ones included. fn runs under the fake's lock: it must not
// call the fake.
func OnCall(fn func(path string, at time.Time)) Option { return func(f *AWDA) { f.onCall = fn } }

// NewAWDA returns an AWDA: every user eligible, two required authorizations, three
// banks, cards bound on verification, three monthly installments.
func NewAWDA(opts ...Option) *AWDA {
	f := &AWDA{
		now:      time.Now,
		eligible: true, maxAmount: 10_000_000,
		authTemplate: []awda.AuthItem{
			{AuthType: "KTP_OCR", Name: "KTP OCR", Required: true, Status: awda.AuthNone},
			{AuthType: "LIVENESS", Name: "Liveness", Required: true, Status: awda.AuthNone},
			{AuthType: "EWALLET", Name: "E-wallet", Required: false, Status: awda.AuthNone},
		},
		banks: []awda.Bank{
			{BankCode: "BCA", BankName: "Bank Central Asia", AccountNoMinLen: 10, AccountNoMaxLen: 10},
			{BankCode: "BRI", BankName: "Bank Rakyat Indonesia", AccountNoMinLen: 15, AccountNoMaxLen: 15},
			{BankCode: "MANDIRI", BankName: "Bank Mandiri", AccountNoMinLen: 13, AccountNoMaxLen: 13},
		},
		tokenTTL:     10 * time.Minute,
		installments: 3,
		vaTTL:        24 * time.Hour,
		users:        map[string]string{},
		auths:        map[string][]awda.AuthItem{},
		cards:        map[string][]awda.BankCard{},
		tokens:       map[string]time.Time{},
		images:       map[string]awda.ImageType{},
		loans:        map[string]*loan{},
		byOrder:      map[string]string{},
		faults:       map[string][]error{},
		authFaults:   map[string][]error{},
		delays:       map[string]time.Duration{},
		outages:      map[string]error{},
		calls:        map[string]int{},
		submissions:  map[string]int{},
		uploads:      map[string]int{},
		lostAnswers:  map[string][]error{},
		applied:      map[string]int{},
		tenors:       []awda.TenorOption{{Tenor: 3, TenorUnit: awda.TenorMonth}, {Tenor: 6, TenorUnit: awda.TenorMonth}},
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

// Err returns the error the real client returns for an AWDA code on path.
func Err(path string, code awda.Code) error {
	return &awda.Error{Class: awda.ClassOfCode(code), Code: code, Endpoint: path, HTTPStatus: 200, Message: fmt.Sprintf("fake code %d", int(code))}
}

// Fail queues errors that the next calls to path return, in order, before
// the fake answers normally again.
func (f *AWDA) Fail(path string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[path] = append(f.faults[path], errs...)
}

// ApplyThenFail queues errors for the next calls to path that the fake
// applies first and then answers with the error instead of its answer: a
// call that reached AWDA whose answer was lost (a timeout, a dropped
// connection). Supported on register, loan/submit, loan/sign and
// bankcard/verify.
func (f *AWDA) ApplyThenFail(path string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lostAnswers[path] = append(f.lostAnswers[path], errs...)
}

// Lost returns the transport error a lost answer on path looks like to the
// real client.
func Lost(path string) error {
	return &awda.Error{Class: awda.ClassTimeout, Endpoint: path, Message: "fake: answer lost after the call was applied"}
}

// lose returns the queued lost-answer error of path, if any. Callers hold mu.
func (f *AWDA) lose(path string) error {
	if q := f.lostAnswers[path]; len(q) > 0 {
		f.lostAnswers[path] = q[1:]
		return q[0]
	}
	return nil
}

// FailAuthPage queues errors that the next auth/page calls for authType
// return (after any fault of Fail), so that a test can fail one of the pages
// fetched in parallel and not another.
func (f *AWDA) FailAuthPage(authType string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authFaults[authType] = append(f.authFaults[authType], errs...)
}

// AfterNextLoanInfo runs fn once, right after the next loan/info call has
// computed its answer (outside the fake's lock, so fn may call the fake):
// the way to make the loan move at AWDA between two reads that run in
// parallel, whatever order they run in.
func (f *AWDA) AfterNextLoanInfo(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.afterInfo = append(f.afterInfo, fn)
}

func (f *AWDA) runAfterInfo() {
	f.mu.Lock()
	var fn func()
	if len(f.afterInfo) > 0 {
		fn, f.afterInfo = f.afterInfo[0], f.afterInfo[1:]
	}
	f.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// Delay makes every image/token, image/upload and image/upload-base64 call
// on path take d of real time (less if its context ends first), like a slow
// network: for tests of heartbeating through long calls.
func (f *AWDA) Delay(path string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delays[path] = d
}

func (f *AWDA) pause(ctx context.Context, path string) {
	f.mu.Lock()
	d := f.delays[path]
	f.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Outage makes every call to path fail with err until Restore.
func (f *AWDA) Outage(path string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outages[path] = err
}

// Restore ends an Outage of path.
func (f *AWDA) Restore(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.outages, path)
}

// FailCodes queues AWDA error codes for path (see Fail).
func (f *AWDA) FailCodes(path string, codes ...awda.Code) {
	for _, c := range codes {
		f.Fail(path, Err(path, c))
	}
}

// Calls returns how many calls path received (including failed ones).
func (f *AWDA) Calls(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

// Submissions returns how many submissions carried orderNo, duplicates included.
func (f *AWDA) Submissions(orderNo string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submissions[orderNo]
}

// AppliedSubmissions returns how many submissions with orderNo created a
// loan at the fake (at most one, unless the fake is broken).
func (f *AWDA) AppliedSubmissions(orderNo string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied[orderNo]
}

// Loans returns how many distinct loans exist.
func (f *AWDA) Loans() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.loans)
}

// Uploads returns how many images of type t were stored.
func (f *AWDA) Uploads(t awda.ImageType) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads[string(t)]
}

// ExpireTokens makes every issued upload token invalid (the next upload with
// one answers 1002).
func (f *AWDA) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.tokens {
		delete(f.tokens, k)
	}
}

// SetAuth sets a user's authorization status.
func (f *AWDA) SetAuth(userID, authType string, s awda.AuthStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.auths[userID] {
		if f.auths[userID][i].AuthType == authType {
			f.auths[userID][i].Status = s
		}
	}
}

// NextCardVerdicts queues the results of the next card verifications
// (status FAILED with reason, or VERIFYING); afterwards cards bind.
func (f *AWDA) NextCardVerdicts(status awda.CardStatus, reason string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.cardVerdicts = append(f.cardVerdicts, cardVerdict{status, reason})
	}
}

// SetCardStatus sets the status of a user's cards of bankCode (e.g. to
// finish a VERIFYING card).
func (f *AWDA) SetCardStatus(userID, bankCode string, s awda.CardStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.cards[userID] {
		if f.cards[userID][i].BankCode == bankCode {
			f.cards[userID][i].Status = s
		}
	}
}

// SetAccountCardStatus sets the status of the user's card of bankCode whose
// masked account number ends in last4 (one card among several at a bank).
func (f *AWDA) SetAccountCardStatus(userID, bankCode, last4 string, s awda.CardStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.cards[userID] {
		if c.BankCode == bankCode && len(c.AccountNoMasked) >= 4 && c.AccountNoMasked[len(c.AccountNoMasked)-4:] == last4 {
			f.cards[userID][i].Status = s
		}
	}
}

// UserID returns the userId registered for partnerUserID, or "".
func (f *AWDA) UserID(partnerUserID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users[partnerUserID]
}

// LoanNo returns the loanNo for orderNo, or "".
func (f *AWDA) LoanNo(orderNo string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byOrder[orderNo]
}

// SetLoanStatus moves a loan to status. DISBURSED creates the schedule (one
// installment a month from the fake's today); SETTLED marks every
// installment paid.
func (f *AWDA) SetLoanStatus(loanNo string, s awda.LoanStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.loans[loanNo]
	if l == nil {
		panic("fake: no loan " + loanNo)
	}
	l.info.Status = s
	switch s {
	case awda.LoanDisbursed:
		if len(l.info.Schedule) == 0 {
			f.makeSchedule(l)
		}
	case awda.LoanSettled:
		for i := range l.info.Schedule {
			in := &l.info.Schedule[i]
			in.Status, in.PaidAmount = awda.InstallmentPaid, in.Principal+in.Interest+in.Fee
		}
	}
}

// PayInstallment marks one installment paid and the loan REPAYING (or
// SETTLED when it was the last).
func (f *AWDA) PayInstallment(loanNo string, period int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.loans[loanNo]
	unpaid := 0
	for i := range l.info.Schedule {
		in := &l.info.Schedule[i]
		if in.Period == period {
			in.Status, in.PaidAmount = awda.InstallmentPaid, in.Principal+in.Interest+in.Fee
		}
		if in.Status != awda.InstallmentPaid {
			unpaid++
		}
	}
	l.info.Status = awda.LoanRepaying
	if unpaid == 0 {
		l.info.Status = awda.LoanSettled
	}
}

// SetCardStatusOf sets the status of the one card of a user whose bank code
// and masked account number match (SetCardStatus changes every card at the
// bank, an earlier FAILED one included).
func (f *AWDA) SetCardStatusOf(userID, bankCode, accountNoMasked string, s awda.CardStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.cards[userID] {
		c := &f.cards[userID][i]
		if c.BankCode == bankCode && c.AccountNoMasked == accountNoMasked {
			c.Status = s
		}
	}
}

// MarkOverdue marks installment period OVERDUE and the loan OVERDUE.
func (f *AWDA) MarkOverdue(loanNo string, period int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.loans[loanNo]
	for i := range l.info.Schedule {
		if in := &l.info.Schedule[i]; in.Period == period && in.Status != awda.InstallmentPaid {
			in.Status = awda.InstallmentOverdue
		}
	}
	l.info.Status = awda.LoanOverdue
}

// LoanStatus returns a loan's status at the fake, or "".
func (f *AWDA) LoanStatus(loanNo string) awda.LoanStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.loans[loanNo]; l != nil {
		return l.info.Status
	}
	return ""
}

// Schedule returns a copy of a loan's schedule.
func (f *AWDA) Schedule(loanNo string) []awda.Installment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]awda.Installment(nil), f.loans[loanNo].info.Schedule...)
}

func (f *AWDA) makeSchedule(l *loan) {
	n := f.installments
	today := f.now().UTC().Truncate(24 * time.Hour)
	l.info.DisbursedAmount = l.info.Amount
	l.info.DisbursedAt = f.now().UnixMilli()
	per := l.info.Amount / int64(n)
	for p := 1; p <= n; p++ {
		l.info.Schedule = append(l.info.Schedule, awda.Installment{
			Period: p, DueDate: today.AddDate(0, p, 0).Format(awda.DateLayout),
			Principal: per, Interest: per / 50, Status: awda.InstallmentUnpaid,
		})
	}
}

// enter counts the call and returns a queued fault, if any. Callers hold mu.
func (f *AWDA) enter(path string) error {
	f.calls[path]++
	if f.onCall != nil {
		f.onCall(path, f.now())
	}
	if err := f.outages[path]; err != nil {
		return err
	}
	if q := f.faults[path]; len(q) > 0 {
		f.faults[path] = q[1:]
		return q[0]
	}
	return nil
}

func (f *AWDA) id(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%06d", prefix, f.seq)
}

func notFound(path string, code awda.Code) error { return Err(path, code) }

func invalid(path, field string) error {
	return &awda.Error{Class: awda.ClassValidation, Code: awda.CodeParamInvalid, Endpoint: path, Field: field, Message: "invalid"}
}

func (f *AWDA) Register(_ context.Context, req *awda.RegisterRequest) (*awda.RegisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathUserRegister); err != nil {
		return nil, err
	}
	if req.PartnerUserID == "" || req.NIK == "" || req.Mobile == "" || req.Name == "" {
		return nil, invalid(awda.PathUserRegister, "partnerUserId")
	}
	if id, ok := f.users[req.PartnerUserID]; ok {
		return &awda.RegisterResponse{UserID: id}, Err(awda.PathUserRegister, awda.CodeUserExists)
	}
	id := f.id("U")
	f.users[req.PartnerUserID] = id
	f.auths[id] = append([]awda.AuthItem(nil), f.authTemplate...)
	if err := f.lose(awda.PathUserRegister); err != nil {
		return nil, err
	}
	return &awda.RegisterResponse{UserID: id}, nil
}

func (f *AWDA) knownUser(path, userID string) error {
	if _, ok := f.auths[userID]; !ok {
		return notFound(path, awda.CodeUserNotExist)
	}
	return nil
}

func (f *AWDA) EligibleCheck(_ context.Context, req *awda.EligibleCheckRequest) (*awda.EligibleCheckResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathEligibleCheck); err != nil {
		return nil, err
	}
	if err := f.knownUser(awda.PathEligibleCheck, req.UserID); err != nil {
		return nil, err
	}
	if !f.eligible {
		return &awda.EligibleCheckResponse{Eligible: false, Reason: f.ineligibleReason}, nil
	}
	return &awda.EligibleCheckResponse{Eligible: true, MaxAmount: f.maxAmount, Tenors: append([]awda.TenorOption(nil), f.tenors...)}, nil
}

func (f *AWDA) AuthList(_ context.Context, req *awda.AuthListRequest) (*awda.AuthListResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathAuthList); err != nil {
		return nil, err
	}
	if err := f.knownUser(awda.PathAuthList, req.UserID); err != nil {
		return nil, err
	}
	return &awda.AuthListResponse{Items: append([]awda.AuthItem(nil), f.auths[req.UserID]...)}, nil
}

func (f *AWDA) AuthPage(_ context.Context, req *awda.AuthPageRequest) (*awda.AuthPageResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathAuthPage); err != nil {
		return nil, err
	}
	if q := f.authFaults[req.AuthType]; len(q) > 0 {
		f.authFaults[req.AuthType] = q[1:]
		return nil, q[0]
	}
	if err := f.knownUser(awda.PathAuthPage, req.UserID); err != nil {
		return nil, err
	}
	for i, it := range f.auths[req.UserID] {
		if it.AuthType == req.AuthType {
			f.auths[req.UserID][i].Status = awda.AuthPending
			return &awda.AuthPageResponse{URL: "https://auth.example/" + req.AuthType + "/" + f.id("P"), ExpireAt: f.now().Add(time.Hour).UnixMilli()}, nil
		}
	}
	return nil, invalid(awda.PathAuthPage, "authType")
}

func (f *AWDA) BankCardQuery(_ context.Context, req *awda.BankCardQueryRequest) (*awda.BankCardQueryResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathBankCardQuery); err != nil {
		return nil, err
	}
	if err := f.knownUser(awda.PathBankCardQuery, req.UserID); err != nil {
		return nil, err
	}
	return &awda.BankCardQueryResponse{Cards: append([]awda.BankCard(nil), f.cards[req.UserID]...)}, nil
}

func (f *AWDA) BankList(context.Context) (*awda.BankListResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathBankList); err != nil {
		return nil, err
	}
	return &awda.BankListResponse{Banks: append([]awda.Bank(nil), f.banks...)}, nil
}

func (f *AWDA) BankCardVerify(_ context.Context, req *awda.BankCardVerifyRequest) (*awda.BankCardVerifyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathBankCardVerify); err != nil {
		return nil, err
	}
	if err := f.knownUser(awda.PathBankCardVerify, req.UserID); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, invalid(awda.PathBankCardVerify, "accountNo")
	}
	v := cardVerdict{status: awda.CardBound}
	if len(f.cardVerdicts) > 0 {
		v, f.cardVerdicts = f.cardVerdicts[0], f.cardVerdicts[1:]
	}
	masked := "****" + req.AccountNo[len(req.AccountNo)-4:]
	f.cards[req.UserID] = append(f.cards[req.UserID], awda.BankCard{BankCode: req.BankCode, AccountNoMasked: masked, Status: v.status})
	if err := f.lose(awda.PathBankCardVerify); err != nil {
		return nil, err
	}
	return &awda.BankCardVerifyResponse{Status: v.status, FailReason: v.reason}, nil
}

func (f *AWDA) ImageToken(ctx context.Context, req *awda.ImageTokenRequest) (*awda.ImageTokenResponse, error) {
	f.pause(ctx, awda.PathImageToken)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathImageToken); err != nil {
		return nil, err
	}
	if err := f.knownUser(awda.PathImageToken, req.UserID); err != nil {
		return nil, err
	}
	tok := f.id("T")
	exp := f.now().Add(f.tokenTTL)
	f.tokens[tok] = exp
	return &awda.ImageTokenResponse{Token: tok, ExpireAt: exp.UnixMilli()}, nil
}

func (f *AWDA) ImageUpload(ctx context.Context, req *awda.ImageUploadRequest) (*awda.ImageUploadResponse, error) {
	f.pause(ctx, awda.PathImageUpload)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathImageUpload); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, invalid(awda.PathImageUpload, "file")
	}
	exp, ok := f.tokens[req.Token]
	if !ok || !f.now().Before(exp) {
		return nil, Err(awda.PathImageUpload, awda.CodeInvalidToken)
	}
	id := f.id("IMG")
	f.images[id] = req.ImageType
	f.uploads[string(req.ImageType)]++
	return &awda.ImageUploadResponse{ImageID: id}, nil
}

func (f *AWDA) ImageUploadBase64(ctx context.Context, req *awda.ImageUploadBase64Request) (*awda.ImageUploadResponse, error) {
	f.pause(ctx, awda.PathImageUploadBase64)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathImageUploadBase64); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, invalid(awda.PathImageUploadBase64, "base64")
	}
	if err := f.knownUser(awda.PathImageUploadBase64, req.UserID); err != nil {
		return nil, err
	}
	id := f.id("IMG")
	f.images[id] = req.ImageType
	f.uploads[string(req.ImageType)]++
	return &awda.ImageUploadResponse{ImageID: id}, nil
}

func (f *AWDA) LoanSubmit(_ context.Context, req *awda.LoanSubmitRequest) (*awda.LoanSubmitResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathLoanSubmit); err != nil {
		return nil, err
	}
	f.submissions[req.OrderNo]++
	if err := f.knownUser(awda.PathLoanSubmit, req.UserID); err != nil {
		return nil, err
	}
	if req.OrderNo == "" || req.Amount <= 0 {
		return nil, invalid(awda.PathLoanSubmit, "orderNo")
	}
	if f.images[req.Identity.KTPImageID] != awda.ImageKTP || f.images[req.Identity.SelfieImageID] != awda.ImageSelfie {
		return nil, invalid(awda.PathLoanSubmit, "identity.ktpImageId")
	}
	if no, ok := f.byOrder[req.OrderNo]; ok {
		return &awda.LoanSubmitResponse{LoanNo: no}, Err(awda.PathLoanSubmit, awda.CodeRepeatRequest)
	}
	no := f.id("L")
	f.byOrder[req.OrderNo] = no
	f.loans[no] = &loan{req: *req, info: awda.LoanInfoResponse{LoanNo: no, OrderNo: req.OrderNo, Status: awda.LoanSubmitted, Amount: req.Amount}}
	f.applied[req.OrderNo]++
	if err := f.lose(awda.PathLoanSubmit); err != nil {
		return nil, err
	}
	return &awda.LoanSubmitResponse{LoanNo: no, Status: awda.LoanSubmitted}, nil
}

// SubmitOutOfBand creates the loan for orderNo as if an earlier, lost
// attempt had reached AWDA.
func (f *AWDA) SubmitOutOfBand(req awda.LoanSubmitRequest) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submissions[req.OrderNo]++
	no := f.id("L")
	f.byOrder[req.OrderNo] = no
	f.loans[no] = &loan{req: req, info: awda.LoanInfoResponse{LoanNo: no, OrderNo: req.OrderNo, Status: awda.LoanSubmitted, Amount: req.Amount}}
	f.applied[req.OrderNo]++
	return no
}

func (f *AWDA) loan(path, loanNo string) (*loan, error) {
	l := f.loans[loanNo]
	if l == nil {
		return nil, notFound(path, awda.CodeOrderNotExist)
	}
	return l, nil
}

func (f *AWDA) LoanAgreement(_ context.Context, req *awda.LoanAgreementRequest) (*awda.LoanAgreementResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathLoanAgreement); err != nil {
		return nil, err
	}
	l, err := f.loan(awda.PathLoanAgreement, req.LoanNo)
	if err != nil {
		return nil, err
	}
	if s := l.info.Status; s.Rank() < awda.LoanApproved.Rank() || s == awda.LoanRejected || s == awda.LoanCancelled {
		return nil, invalid(awda.PathLoanAgreement, "loanNo") // no agreement in this status, as the sandbox
	}
	if l.agreedID == "" {
		l.agreedID = "AGR-" + req.LoanNo
	}
	a := l.info.Amount
	return &awda.LoanAgreementResponse{
		AgreementID: l.agreedID, Title: "Perjanjian Pinjaman", ContentURL: "https://agreements.example/" + l.agreedID,
		Fees: awda.AgreementFees{AdminFee: a / 100, InterestRate: 0.02, TotalInterest: a / 50 * 3, TotalRepayment: a + a/50*3, DisbursedAmount: a - a/100},
	}, nil
}

func (f *AWDA) LoanSign(_ context.Context, req *awda.LoanSignRequest) (*awda.LoanSignResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathLoanSign); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, invalid(awda.PathLoanSign, "clientIp")
	}
	l, err := f.loan(awda.PathLoanSign, req.LoanNo)
	if err != nil {
		return nil, err
	}
	if req.AgreementID != l.agreedID {
		return nil, invalid(awda.PathLoanSign, "agreementId")
	}
	// As the sandbox: APPROVED is signed; signed or later answers the
	// current status (a repeat); anything else is refused.
	switch s := l.info.Status; {
	case s == awda.LoanApproved:
	case s == awda.LoanRejected || s == awda.LoanCancelled || s.Rank() < awda.LoanApproved.Rank():
		return nil, invalid(awda.PathLoanSign, "loanNo")
	default:
		return &awda.LoanSignResponse{Status: s}, nil
	}
	l.signedAt = req.SignedAt
	l.info.Status = awda.LoanSigned
	if err := f.lose(awda.PathLoanSign); err != nil {
		return nil, err
	}
	return &awda.LoanSignResponse{Status: awda.LoanSigned}, nil
}

// Signed reports whether the loan was signed through LoanSign, and when.
func (f *AWDA) Signed(loanNo string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.loans[loanNo]
	if l == nil {
		return 0, false
	}
	return l.signedAt, l.signedAt != 0
}

func (f *AWDA) LoanInfo(_ context.Context, req *awda.LoanInfoRequest) (*awda.LoanInfoResponse, error) {
	defer f.runAfterInfo()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathLoanInfo); err != nil {
		return nil, err
	}
	no := req.LoanNo
	if no == "" {
		no = f.byOrder[req.OrderNo]
	}
	l, err := f.loan(awda.PathLoanInfo, no)
	if err != nil {
		return nil, err
	}
	out := l.info
	out.Schedule = append([]awda.Installment(nil), l.info.Schedule...)
	return &out, nil
}

func (f *AWDA) RepaymentVA(_ context.Context, req *awda.RepaymentVARequest) (*awda.RepaymentVAResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathRepaymentVA); err != nil {
		return nil, err
	}
	l, err := f.loan(awda.PathRepaymentVA, req.LoanNo)
	if err != nil {
		return nil, err
	}
	switch l.info.Status {
	case awda.LoanDisbursed, awda.LoanRepaying, awda.LoanOverdue:
	default:
		return nil, invalid(awda.PathRepaymentVA, "loanNo") // nothing to repay, as the sandbox
	}
	var due int64
	for _, in := range l.info.Schedule {
		if in.Status != awda.InstallmentPaid {
			due = in.Principal + in.Interest + in.Fee - in.PaidAmount
			break
		}
	}
	return &awda.RepaymentVAResponse{BankCode: "BCA", VANumber: "8808" + req.LoanNo, Amount: due, ExpireAt: f.now().Add(f.vaTTL).UnixMilli()}, nil
}

func (f *AWDA) RedirectURL(_ context.Context, req *awda.RedirectURLRequest) (*awda.RedirectURLResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(awda.PathRedirectURL); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, invalid(awda.PathRedirectURL, "pageType")
	}
	if _, err := f.loan(awda.PathRedirectURL, req.LoanNo); err != nil {
		return nil, err
	}
	return &awda.RedirectURLResponse{URL: "https://h5.example/" + string(req.PageType) + "/" + req.LoanNo}, nil
}
