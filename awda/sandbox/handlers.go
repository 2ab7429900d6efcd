package sandbox

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// Banks is the bank list the sandbox answers, with the account number
// lengths bankcard/verify enforces.
var Banks = []awda.Bank{
	{BankCode: "BCA", BankName: "Bank Central Asia", AccountNoMinLen: 10, AccountNoMaxLen: 10},
	{BankCode: "BNI", BankName: "Bank Negara Indonesia", AccountNoMinLen: 10, AccountNoMaxLen: 10},
	{BankCode: "BRI", BankName: "Bank Rakyat Indonesia", AccountNoMinLen: 15, AccountNoMaxLen: 15},
	{BankCode: "MANDIRI", BankName: "Bank Mandiri", AccountNoMinLen: 13, AccountNoMaxLen: 13},
	{BankCode: "CIMB", BankName: "CIMB Niaga", AccountNoMinLen: 13, AccountNoMaxLen: 14},
	{BankCode: "PERMATA", BankName: "Bank Permata", AccountNoMinLen: 10, AccountNoMaxLen: 16},
	{BankCode: "DANAMON", BankName: "Bank Danamon", AccountNoMinLen: 10, AccountNoMaxLen: 13},
	{BankCode: "BSI", BankName: "Bank Syariah Indonesia", AccountNoMinLen: 10, AccountNoMaxLen: 10},
	{BankCode: "BTN", BankName: "Bank Tabungan Negara", AccountNoMinLen: 16, AccountNoMaxLen: 16},
	{BankCode: "SEABANK", BankName: "SeaBank Indonesia", AccountNoMinLen: 12, AccountNoMaxLen: 12},
}

// Tenors are the tenors eligible-check offers by default (Config.Tenors);
// loan/submit accepts only those offered (anything else answers 1007).
var Tenors = []awda.TenorOption{
	{Tenor: 7, TenorUnit: awda.TenorDay}, {Tenor: 14, TenorUnit: awda.TenorDay}, {Tenor: 30, TenorUnit: awda.TenorDay},
	{Tenor: 1, TenorUnit: awda.TenorMonth}, {Tenor: 2, TenorUnit: awda.TenorMonth}, {Tenor: 3, TenorUnit: awda.TenorMonth},
	{Tenor: 6, TenorUnit: awda.TenorMonth}, {Tenor: 9, TenorUnit: awda.TenorMonth}, {Tenor: 12, TenorUnit: awda.TenorMonth},
}

// FailingAccountSuffix: bankcard/verify answers FAILED ("name mismatch") for
// account numbers ending in it.
const FailingAccountSuffix = "0000"

// MaxLoanAmount is the largest amount loan/submit accepts at all (1007
// above); amounts above Config.MaxAmount are accepted and then rejected.
const MaxLoanAmount = 1_000_000_000_000

func notFoundUser() result { return fail(awda.CodeUserNotExist, "user does not exist") }
func notFoundLoan() result { return fail(awda.CodeOrderNotExist, "order/loan does not exist") }

func (s *Server) register(c *call) result {
	var req awda.RegisterRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if err := req.Validate(); err != nil {
		return fieldFail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.byPartnerID[req.PartnerUserID]
	if u == nil {
		u = s.st.byNIK[req.NIK]
	}
	if u != nil {
		return result{code: awda.CodeUserExists, msg: "user already exists", data: awda.RegisterResponse{UserID: u.id}}
	}
	u = &user{
		id:            s.st.newID(s.rngIDs, hexID("usr_")),
		partnerUserID: req.PartnerUserID,
		nik:           req.NIK,
		name:          req.Name,
		mobile:        req.Mobile,
		birthDate:     req.BirthDate,
		createdAt:     c.now,
		auths:         map[string]*authState{},
		markers:       markersOf(req.PartnerUserID),
	}
	for _, a := range s.cfg.AuthTypes {
		u.auths[a.AuthType] = &authState{status: awda.AuthNone}
	}
	s.st.users[u.id] = u
	s.st.byPartnerID[u.partnerUserID] = u
	s.st.byNIK[u.nik] = u
	return ok(awda.RegisterResponse{UserID: u.id})
}

func (s *Server) eligibleCheck(c *call) result {
	var req awda.EligibleCheckRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if req.UserID == "" {
		return missingField("userId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[req.UserID]
	if u == nil {
		return notFoundUser()
	}
	if u.markers.ineligible {
		return ok(awda.EligibleCheckResponse{Eligible: false, Reason: "credit assessment not passed", Tenors: []awda.TenorOption{}})
	}
	return ok(awda.EligibleCheckResponse{Eligible: true, MaxAmount: s.cfg.MaxAmount, Tenors: append([]awda.TenorOption(nil), s.cfg.Tenors...)})
}

func (s *Server) authList(c *call) result {
	var req awda.AuthListRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if req.UserID == "" {
		return missingField("userId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[req.UserID]
	if u == nil {
		return notFoundUser()
	}
	out := awda.AuthListResponse{Items: make([]awda.AuthItem, 0, len(s.cfg.AuthTypes))}
	for _, t := range s.cfg.AuthTypes {
		a := u.auths[t.AuthType]
		if a.status == awda.AuthPending && c.now.After(a.expireAt) {
			s.setAuthLocked(u, t.AuthType, awda.AuthExpired, "expiry")
		}
		out.Items = append(out.Items, awda.AuthItem{AuthType: t.AuthType, Name: t.Name, Required: t.Required, Status: a.status})
	}
	return ok(out)
}

func (s *Server) authPage(c *call) result {
	var req awda.AuthPageRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if err := req.Validate(); err != nil {
		return fieldFail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[req.UserID]
	if u == nil {
		return notFoundUser()
	}
	a, known := u.auths[req.AuthType]
	if !known {
		return fail(awda.CodeAuthInfoFailed, "failed to get authorization info: unknown authType")
	}
	ses := &authSession{id: s.st.newID(s.rngIDs, hexID("ses_")), userID: u.id, authType: req.AuthType, expireAt: c.now.Add(s.cfg.AuthPageTTL)}
	s.st.sessions[ses.id] = ses
	if a.status != awda.AuthSuccess {
		a.status = awda.AuthPending
		a.session = ses.id
		a.expireAt = ses.expireAt
		a.attempts++
		s.expireAuthLater(u, req.AuthType, ses.id)
		s.autopilotAuthLocked(u, req.AuthType, ses.id)
	}
	link := s.publicBase(c.r) + H5Prefix + "auth/" + ses.id
	if req.ReturnURL != "" {
		link += "?returnUrl=" + url.QueryEscape(req.ReturnURL)
	}
	return ok(awda.AuthPageResponse{URL: link, ExpireAt: ses.expireAt.UnixMilli()})
}

func mask(accountNo string) string {
	if len(accountNo) <= 4 {
		return strings.Repeat("*", len(accountNo))
	}
	return strings.Repeat("*", len(accountNo)-4) + accountNo[len(accountNo)-4:]
}

func (s *Server) bankCardQuery(c *call) result {
	var req awda.BankCardQueryRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if req.UserID == "" {
		return missingField("userId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[req.UserID]
	if u == nil {
		return notFoundUser()
	}
	out := awda.BankCardQueryResponse{Cards: make([]awda.BankCard, 0, len(u.cards))}
	for _, cd := range u.cards {
		out.Cards = append(out.Cards, awda.BankCard{BankCode: cd.bankCode, AccountNoMasked: mask(cd.accountNo), Status: cd.status})
	}
	return ok(out)
}

func (s *Server) bankList(c *call) result {
	var req awda.BankListRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	return ok(awda.BankListResponse{Banks: append([]awda.Bank(nil), Banks...)})
}

func bankByCode(code string) (awda.Bank, bool) {
	for _, b := range Banks {
		if b.BankCode == code {
			return b, true
		}
	}
	return awda.Bank{}, false
}

func (s *Server) bankCardVerify(c *call) result {
	var req awda.BankCardVerifyRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if err := req.Validate(); err != nil {
		return fieldFail(err)
	}
	bank, known := bankByCode(req.BankCode)
	if !known {
		return invalidField("bankCode", "unknown bank (see bank/list)")
	}
	if n := len(req.AccountNo); n < bank.AccountNoMinLen || n > bank.AccountNoMaxLen {
		return invalidField("accountNo", fmt.Sprintf("%s account numbers have %d to %d digits", bank.BankCode, bank.AccountNoMinLen, bank.AccountNoMaxLen))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[req.UserID]
	if u == nil {
		return notFoundUser()
	}
	var cd *card
	for _, x := range u.cards {
		if x.bankCode == req.BankCode && x.accountNo == req.AccountNo {
			cd = x
		}
	}
	if cd == nil {
		cd = &card{bankCode: req.BankCode, accountNo: req.AccountNo}
		u.cards = append(u.cards, cd)
	}
	switch {
	case len(s.verdicts) > 0:
		v := s.verdicts[0]
		s.verdicts = s.verdicts[1:]
		cd.status, cd.failReason = v.status, v.reason
	case strings.HasSuffix(req.AccountNo, FailingAccountSuffix):
		cd.status, cd.failReason = awda.CardFailed, "name mismatch"
	default:
		cd.status, cd.failReason = awda.CardBound, ""
	}
	return ok(awda.BankCardVerifyResponse{Status: cd.status, FailReason: cd.failReason})
}

// boundCard is the card a disbursement goes to: the last one bound.
func (u *user) boundCard() *card {
	for i := len(u.cards) - 1; i >= 0; i-- {
		if u.cards[i].status == awda.CardBound {
			return u.cards[i]
		}
	}
	return nil
}

func (s *Server) imageToken(c *call) result {
	var req awda.ImageTokenRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if req.UserID == "" {
		return missingField("userId")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.users[req.UserID] == nil {
		return notFoundUser()
	}
	tok := s.st.newID(s.rngIDs, func(v uint64) string {
		return fmt.Sprintf("tok_%016x%016x", v, s.rngIDs.Uint64())
	})
	t := &uploadToken{userID: req.UserID, expireAt: c.now.Add(s.cfg.ImageTokenTTL)}
	s.st.tokens[tok] = t
	return ok(awda.ImageTokenResponse{Token: tok, ExpireAt: t.expireAt.UnixMilli()})
}

func (s *Server) imageUpload(c *call) result {
	if c.form == nil {
		return fail(awda.CodeParamError, "parameter error: body must be multipart/form-data with token, imageType and file")
	}
	req := awda.ImageUploadRequest{
		Token:     c.form.fields[awda.FormFieldToken],
		ImageType: awda.ImageType(c.form.fields[awda.FormFieldImageType]),
		File:      c.form.file,
	}
	if err := req.Validate(); err != nil {
		return fieldFail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.tokens[req.Token]
	if t == nil || c.now.After(t.expireAt) {
		return fail(awda.CodeInvalidToken, "invalid token")
	}
	return ok(awda.ImageUploadResponse{ImageID: s.storeImageLocked(t.userID, req.ImageType, awda.BodyHash(req.File), len(req.File))})
}

func (s *Server) storeImageLocked(userID string, t awda.ImageType, sum string, size int) string {
	id := s.st.newID(s.rngIDs, hexID("img_"))
	s.st.images[id] = &image{userID: userID, imageType: t, sha256: sum, size: size}
	return id
}

func (s *Server) imageUploadBase64(c *call) result {
	var req awda.ImageUploadBase64Request
	if r := decode(c, &req); r != nil {
		return *r
	}
	if err := req.Validate(); err != nil {
		return fieldFail(err)
	}
	sum, size := awda.BodyHash([]byte(req.URL)), 0
	if req.Base64 != "" {
		b, err := base64.StdEncoding.DecodeString(req.Base64)
		if err != nil {
			return invalidField("base64", "not standard base64")
		}
		if len(b) == 0 || len(b) > awda.MaxImageBytes {
			return invalidField("base64", fmt.Sprintf("image must have 1 to %d bytes", awda.MaxImageBytes))
		}
		sum, size = awda.BodyHash(b), len(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.users[req.UserID] == nil {
		return notFoundUser()
	}
	return ok(awda.ImageUploadResponse{ImageID: s.storeImageLocked(req.UserID, req.ImageType, sum, size)})
}

func (s *Server) tenorOffered(n int, u awda.TenorUnit) bool {
	for _, t := range s.cfg.Tenors {
		if t.Tenor == n && t.TenorUnit == u {
			return true
		}
	}
	return false
}

func (s *Server) loanSubmit(c *call) result {
	var req awda.LoanSubmitRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if req.OrderNo != "" {
		s.mu.Lock()
		s.stats.submitsByOrder[req.OrderNo]++
		s.mu.Unlock()
	}
	if err := req.Validate(); err != nil {
		return fieldFail(err)
	}
	if req.Amount > MaxLoanAmount {
		return invalidField("amount", "above the largest amount AWDA lends")
	}
	if !s.tenorOffered(req.Tenor, req.TenorUnit) {
		return invalidField("tenor", "not one of the tenors eligible-check offers")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.st.byOrderNo[req.OrderNo]; l != nil {
		return result{code: awda.CodeRepeatRequest, msg: "repeat request: orderNo already submitted", data: awda.LoanSubmitResponse{LoanNo: l.no, Status: l.status}}
	}
	u := s.st.users[req.UserID]
	if u == nil {
		return notFoundUser()
	}
	if req.Identity.NIK != u.nik {
		return invalidField("identity.nik", "does not match the registered user")
	}
	for _, im := range []struct {
		field string
		id    string
		typ   awda.ImageType
	}{{"identity.ktpImageId", req.Identity.KTPImageID, awda.ImageKTP}, {"identity.selfieImageId", req.Identity.SelfieImageID, awda.ImageSelfie}} {
		img := s.st.images[im.id]
		if img == nil || img.userID != u.id {
			return invalidField(im.field, "no such image for this user")
		}
		if img.imageType != im.typ {
			return invalidField(im.field, "image is not of type "+string(im.typ))
		}
	}
	cd := u.boundCard()
	if !s.cfg.SkipPrerequisites {
		for _, t := range s.cfg.AuthTypes {
			if t.Required && u.auths[t.AuthType].status != awda.AuthSuccess {
				return fail(awda.CodeAuthInfoFailed, "failed to get authorization info: required authorization "+t.AuthType+" not granted")
			}
		}
		if cd == nil {
			return invalidField("userId", "no bound bank card to disburse to")
		}
	}
	l := &loan{
		no:        s.st.newID(s.rngIDs, digitsID("LN", 14)),
		orderNo:   req.OrderNo,
		userID:    u.id,
		amount:    req.Amount,
		tenor:     req.Tenor,
		unit:      req.TenorUnit,
		createdAt: c.now,
	}
	if cd != nil {
		l.bankCode = cd.bankCode
	}
	s.st.loans[l.no] = l
	s.st.byOrderNo[l.orderNo] = l
	s.st.loanOrder = append(s.st.loanOrder, l.no)
	u.loans = append(u.loans, l.no)
	s.stats.loansByOrder[l.orderNo]++
	s.stats.loansByUser[u.id]++
	if err := s.stepLocked(l, awda.LoanSubmitted, byAPI); err != nil {
		return fail(awda.CodeUnknown, "unknown error")
	}
	return ok(awda.LoanSubmitResponse{LoanNo: l.no, Status: l.status})
}

func (s *Server) loanAgreement(c *call) result {
	var req awda.LoanAgreementRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if req.LoanNo == "" {
		return missingField("loanNo")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.loans[req.LoanNo]
	if l == nil {
		return notFoundLoan()
	}
	if l.agreement == nil || l.status == awda.LoanCancelled {
		return invalidField("loanNo", "loan has no agreement in status "+string(l.status))
	}
	return ok(awda.LoanAgreementResponse{
		AgreementID: l.agreement.id,
		Title:       "Perjanjian Pinjaman " + l.no,
		ContentURL:  s.publicBase(c.r) + H5Prefix + "agreement/" + l.no,
		Fees:        l.agreement.fees,
	})
}

func (s *Server) loanSign(c *call) result {
	var req awda.LoanSignRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if err := req.Validate(); err != nil {
		return fieldFail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.loans[req.LoanNo]
	if l == nil {
		return notFoundLoan()
	}
	if l.agreement == nil || req.AgreementID != l.agreement.id {
		return invalidField("agreementId", "does not match the loan's agreement")
	}
	switch l.status {
	case awda.LoanApproved:
		l.agreement.signedAt = req.SignedAt
		if err := s.stepLocked(l, awda.LoanSigned, byAPI); err != nil {
			return fail(awda.CodeUnknown, "unknown error")
		}
		return ok(awda.LoanSignResponse{Status: l.status})
	case awda.LoanSigned, awda.LoanDisbursing, awda.LoanDisbursed, awda.LoanDisburseFailed,
		awda.LoanRepaying, awda.LoanOverdue, awda.LoanSettled:
		// Signing again (a retry whose first answer was lost) is harmless.
		return ok(awda.LoanSignResponse{Status: l.status})
	}
	return invalidField("loanNo", "loan is not awaiting signature (status "+string(l.status)+")")
}

func (s *Server) loanInfo(c *call) result {
	var req awda.LoanInfoRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if req.LoanNo == "" && req.OrderNo == "" {
		return missingField("loanNo")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var l *loan
	if req.LoanNo != "" {
		l = s.st.loans[req.LoanNo]
	} else {
		l = s.st.byOrderNo[req.OrderNo]
	}
	if l == nil {
		return notFoundLoan()
	}
	return ok(l.info())
}

func (l *loan) info() awda.LoanInfoResponse {
	out := awda.LoanInfoResponse{
		LoanNo: l.no, OrderNo: l.orderNo, Status: l.status, Amount: l.amount,
		DisbursedAmount: l.disbursedAmount, Schedule: append([]awda.Installment{}, l.schedule...),
	}
	if !l.disbursedAt.IsZero() {
		out.DisbursedAt = l.disbursedAt.UnixMilli()
	}
	return out
}

func (s *Server) repaymentVA(c *call) result {
	var req awda.RepaymentVARequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if req.LoanNo == "" {
		return missingField("loanNo")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.loans[req.LoanNo]
	if l == nil {
		return notFoundLoan()
	}
	k := l.nextUnpaid()
	if k < 0 || (l.status != awda.LoanDisbursed && l.status != awda.LoanRepaying && l.status != awda.LoanOverdue) {
		return invalidField("loanNo", "loan has nothing to repay (status "+string(l.status)+")")
	}
	due := l.schedule[k].Principal + l.schedule[k].Interest + l.schedule[k].Fee - l.schedule[k].PaidAmount
	if l.va == nil || l.va.Amount != due || !c.now.Before(time.UnixMilli(l.va.ExpireAt)) {
		bank := l.bankCode
		if bank == "" {
			bank = "BNI"
		}
		l.va = &awda.RepaymentVAResponse{
			BankCode: bank,
			VANumber: s.st.newID(s.rngIDs, digitsID("8808", 12)),
			Amount:   due,
			ExpireAt: c.now.Add(s.cfg.VATTL).UnixMilli(),
		}
	}
	return ok(*l.va)
}

func (s *Server) redirectURL(c *call) result {
	var req awda.RedirectURLRequest
	if r := decode(c, &req); r != nil {
		return *r
	}
	if err := req.Validate(); err != nil {
		return fieldFail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.users[req.UserID] == nil {
		return notFoundUser()
	}
	l := s.st.loans[req.LoanNo]
	if l == nil {
		return notFoundLoan()
	}
	if l.userID != req.UserID {
		return invalidField("loanNo", "does not belong to userId")
	}
	tok := s.st.newID(s.rngIDs, hexID("pg_"))
	s.st.pages[tok] = &h5Page{kind: string(req.PageType), userID: req.UserID, loanNo: l.no, expireAt: c.now.Add(s.cfg.AuthPageTTL)}
	link := s.publicBase(c.r) + H5Prefix + "page/" + tok
	if req.ReturnURL != "" {
		link += "?returnUrl=" + url.QueryEscape(req.ReturnURL)
	}
	return ok(awda.RedirectURLResponse{URL: link})
}
