package awda

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// FieldError is a request refused before sending (by the client) or on
// arrival (by the sandbox). Empty distinguishes a missing field (AWDA 1006)
// from an invalid one (1007). Reason never quotes the value.
type FieldError struct {
	Field  string
	Reason string
	Empty  bool
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Code is the AWDA code for this refusal.
func (e *FieldError) Code() Code {
	if e.Empty {
		return CodeParamEmpty
	}
	return CodeParamInvalid
}

func missing(field string) error { return &FieldError{Field: field, Reason: "required", Empty: true} }
func invalid(field, reason string) error {
	return &FieldError{Field: field, Reason: reason}
}

// AsFieldError returns the *FieldError in err's chain, if any.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}

// localError turns a FieldError into the client's *Error (endpoint filled
// in by the caller).
func localError(err error) error {
	if err == nil {
		return nil
	}
	if fe, ok := AsFieldError(err); ok {
		return &Error{Class: ClassValidation, Field: fe.Field, Message: fe.Reason, Err: fe}
	}
	return &Error{Class: ClassValidation, Message: err.Error(), Err: err}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NormalizeMobile accepts an Indonesian mobile number as 08…, 628… or
// +628… (spaces and dashes ignored) and returns it as +628…. The subscriber
// part after the leading 8 has 8 to 11 digits (08 numbers are 10 to 13
// digits long).
func NormalizeMobile(s string) (string, error) {
	s = stripSpacesDashes(s)
	var rest string
	switch {
	case strings.HasPrefix(s, "+628"):
		rest = s[4:]
	case strings.HasPrefix(s, "628"):
		rest = s[3:]
	case strings.HasPrefix(s, "08"):
		rest = s[2:]
	default:
		return "", errors.New("not an Indonesian mobile number (08…, 628… or +628…)")
	}
	if !isDigits(rest) || len(rest) < 8 || len(rest) > 11 {
		return "", errors.New("not an Indonesian mobile number: wrong length or not digits")
	}
	return "+628" + rest, nil
}

// mobileSeparators are what people type between digit groups.
var mobileSeparators = strings.NewReplacer(" ", "", "-", "")

func stripSpacesDashes(s string) string {
	return mobileSeparators.Replace(strings.TrimSpace(s))
}

// ParseDate parses a wire date (YYYY-MM-DD).
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, errors.New("not a date (YYYY-MM-DD)")
	}
	return t, nil
}

// NIKBirthDate decodes the birth date a NIK carries: digits 7–12 are DDMMYY,
// with 40 added to the day for women. The century is resolved against now: a
// date that would lie in the future belongs to the 1900s.
func NIKBirthDate(nik string, now time.Time) (t time.Time, female bool, err error) {
	if len(nik) != 16 || !isDigits(nik) {
		return time.Time{}, false, errors.New("NIK must be 16 digits")
	}
	if nik[0] == '0' {
		return time.Time{}, false, errors.New("NIK has an invalid province code")
	}
	day := int(nik[6]-'0')*10 + int(nik[7]-'0')
	month := int(nik[8]-'0')*10 + int(nik[9]-'0')
	yy := int(nik[10]-'0')*10 + int(nik[11]-'0')
	if day > 40 {
		female = true
		day -= 40
	}
	if month < 1 || month > 12 || day < 1 {
		return time.Time{}, false, errors.New("NIK does not encode a valid birth date")
	}
	t = time.Date(2000+yy, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.After(now) { // nobody is born in the future: the 1900s
		t = time.Date(1900+yy, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	}
	if t.Day() != day || t.Month() != time.Month(month) {
		return time.Time{}, false, errors.New("NIK does not encode a valid birth date")
	}
	if nik[12:] == "0000" {
		return time.Time{}, false, errors.New("NIK has an invalid serial number")
	}
	return t, female, nil
}

// ValidateNIK checks a NIK's form and, when birthDate is given, that the date
// it encodes matches (day and month exactly; the year modulo 100).
func ValidateNIK(nik, birthDate string) error {
	t, _, err := NIKBirthDate(nik, time.Now())
	if err != nil {
		return err
	}
	if birthDate == "" {
		return nil
	}
	bd, err := ParseDate(birthDate)
	if err != nil {
		return err
	}
	if bd.Day() != t.Day() || bd.Month() != t.Month() || bd.Year()%100 != t.Year()%100 {
		return errors.New("NIK does not match the birth date")
	}
	return nil
}

func checkDate(field, v string) error {
	if v == "" {
		return missing(field)
	}
	if _, err := ParseDate(v); err != nil {
		return invalid(field, err.Error())
	}
	return nil
}

func checkURL(field, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid(field, "must be an absolute http(s) URL")
	}
	return nil
}

func req(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return missing(field)
	}
	return nil
}

func first(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Validate checks a registration and normalises the mobile number in place.
func (r *RegisterRequest) Validate() error {
	if r == nil {
		return missing("body")
	}
	if err := first(req("partnerUserId", r.PartnerUserID), req("mobile", r.Mobile), req("name", r.Name), req("nik", r.NIK), checkDate("birthDate", r.BirthDate)); err != nil {
		return err
	}
	m, err := NormalizeMobile(r.Mobile)
	if err != nil {
		return invalid("mobile", err.Error())
	}
	r.Mobile = m
	if err := ValidateNIK(r.NIK, r.BirthDate); err != nil {
		return invalid("nik", err.Error())
	}
	if r.Email != "" && !strings.Contains(r.Email, "@") {
		return invalid("email", "not an e-mail address")
	}
	return nil
}

func (r *RegisterRequest) normalized() (*RegisterRequest, error) {
	if r == nil {
		return nil, localError(missing("body"))
	}
	c := *r
	if err := c.Validate(); err != nil {
		return nil, localError(err)
	}
	return &c, nil
}

// Validate checks the request.
func (r *AuthPageRequest) Validate() error {
	if r == nil {
		return missing("body")
	}
	if err := first(req("userId", r.UserID), req("authType", r.AuthType)); err != nil {
		return err
	}
	if r.ReturnURL != "" {
		return checkURL("returnUrl", r.ReturnURL)
	}
	return nil
}

func (r *AuthPageRequest) validate() error { return localError(r.Validate()) }

// Validate checks the request: account numbers are digits only, 5 to 20 long.
func (r *BankCardVerifyRequest) Validate() error {
	if r == nil {
		return missing("body")
	}
	if err := first(req("userId", r.UserID), req("bankCode", r.BankCode), req("accountNo", r.AccountNo), req("accountName", r.AccountName)); err != nil {
		return err
	}
	if !isDigits(r.AccountNo) || len(r.AccountNo) < 5 || len(r.AccountNo) > 20 {
		return invalid("accountNo", "must be 5 to 20 digits")
	}
	return nil
}

func (r *BankCardVerifyRequest) validate() error { return localError(r.Validate()) }

// ValidImageType reports whether t is KTP, SELFIE or OTHER.
func ValidImageType(t ImageType) bool {
	return t == ImageKTP || t == ImageSelfie || t == ImageOther
}

// MaxImageBytes bounds one uploaded image.
const MaxImageBytes = 10 << 20

// Validate checks the request.
func (r *ImageUploadRequest) Validate() error {
	if r == nil {
		return missing("body")
	}
	if err := req("token", r.Token); err != nil {
		return err
	}
	if r.ImageType == "" {
		return missing("imageType")
	}
	if !ValidImageType(r.ImageType) {
		return invalid("imageType", "must be KTP, SELFIE or OTHER")
	}
	if len(r.File) == 0 {
		return missing("file")
	}
	if len(r.File) > MaxImageBytes {
		return invalid("file", fmt.Sprintf("larger than %d bytes", MaxImageBytes))
	}
	return nil
}

func (r *ImageUploadRequest) validate() error { return localError(r.Validate()) }

// Validate checks the request: exactly one of base64 and url.
func (r *ImageUploadBase64Request) Validate() error {
	if r == nil {
		return missing("body")
	}
	if err := req("userId", r.UserID); err != nil {
		return err
	}
	if r.ImageType == "" {
		return missing("imageType")
	}
	if !ValidImageType(r.ImageType) {
		return invalid("imageType", "must be KTP, SELFIE or OTHER")
	}
	switch {
	case r.Base64 == "" && r.URL == "":
		return missing("base64")
	case r.Base64 != "" && r.URL != "":
		return invalid("base64", "give base64 or url, not both")
	case r.URL != "":
		return checkURL("url", r.URL)
	case len(r.Base64) > MaxImageBytes*4/3+4:
		return invalid("base64", "image too large")
	}
	return nil
}

func (r *ImageUploadBase64Request) validate() error { return localError(r.Validate()) }

var relations = map[string]bool{"PARENT": true, "SPOUSE": true, "SIBLING": true, "CHILD": true, "FRIEND": true, "COLLEAGUE": true, "OTHER": true}

// Validate checks the submission and normalises mobile numbers in place.
func (r *LoanSubmitRequest) Validate() error {
	if r == nil {
		return missing("body")
	}
	if err := first(req("userId", r.UserID), req("orderNo", r.OrderNo), req("purpose", r.Purpose)); err != nil {
		return err
	}
	if len(r.OrderNo) > 64 {
		return invalid("orderNo", "longer than 64 characters")
	}
	if r.Amount <= 0 {
		return invalid("amount", "must be a positive integer (IDR)")
	}
	if r.Tenor <= 0 {
		return invalid("tenor", "must be positive")
	}
	if r.TenorUnit != TenorDay && r.TenorUnit != TenorMonth {
		return invalid("tenorUnit", "must be DAY or MONTH")
	}
	p := &r.Personal
	if err := first(req("personal.gender", p.Gender), req("personal.maritalStatus", p.MaritalStatus), req("personal.province", p.Province), req("personal.city", p.City), req("personal.address", p.Address)); err != nil {
		return err
	}
	if p.Gender != "MALE" && p.Gender != "FEMALE" {
		return invalid("personal.gender", "must be MALE or FEMALE")
	}
	if p.Dependents < 0 {
		return invalid("personal.dependents", "must not be negative")
	}
	id := &r.Identity
	if err := first(req("identity.nik", id.NIK), req("identity.name", id.Name), checkDate("identity.birthDate", id.BirthDate), req("identity.ktpImageId", id.KTPImageID), req("identity.selfieImageId", id.SelfieImageID)); err != nil {
		return err
	}
	if err := ValidateNIK(id.NIK, id.BirthDate); err != nil {
		return invalid("identity.nik", err.Error())
	}
	if err := req("work.occupation", r.Work.Occupation); err != nil {
		return err
	}
	if r.Work.MonthlyIncome <= 0 {
		return invalid("work.monthlyIncome", "must be a positive integer (IDR)")
	}
	if r.Work.EmployerPhone != "" {
		// Office numbers are landlines as often as mobiles: digits, + and - only.
		if strings.Trim(r.Work.EmployerPhone, "+0123456789- ") != "" {
			return invalid("work.employerPhone", "not a phone number")
		}
	}
	if len(r.EmergencyContacts) == 0 {
		return missing("emergencyContacts")
	}
	for i := range r.EmergencyContacts {
		ec := &r.EmergencyContacts[i]
		f := fmt.Sprintf("emergencyContacts[%d]", i)
		if err := first(req(f+".name", ec.Name), req(f+".mobile", ec.Mobile), req(f+".relation", ec.Relation)); err != nil {
			return err
		}
		m, err := NormalizeMobile(ec.Mobile)
		if err != nil {
			return invalid(f+".mobile", err.Error())
		}
		ec.Mobile = m
		if !relations[ec.Relation] {
			return invalid(f+".relation", "unknown relation")
		}
	}
	return nil
}

func (r *LoanSubmitRequest) normalized() (*LoanSubmitRequest, error) {
	if r == nil {
		return nil, localError(missing("body"))
	}
	c := *r
	c.EmergencyContacts = append([]EmergencyContact(nil), r.EmergencyContacts...)
	if err := c.Validate(); err != nil {
		return nil, localError(err)
	}
	return &c, nil
}

// Validate checks the request.
func (r *LoanSignRequest) Validate() error {
	if r == nil {
		return missing("body")
	}
	if err := first(req("loanNo", r.LoanNo), req("agreementId", r.AgreementID), req("clientIp", r.ClientIP)); err != nil {
		return err
	}
	if r.SignedAt <= 0 {
		return missing("signedAt")
	}
	return nil
}

func (r *LoanSignRequest) validate() error { return localError(r.Validate()) }

// Validate checks the request.
func (r *RedirectURLRequest) Validate() error {
	if r == nil {
		return missing("body")
	}
	if err := first(req("userId", r.UserID), req("loanNo", r.LoanNo)); err != nil {
		return err
	}
	switch r.PageType {
	case PageSignature, PageLoanDetail, PageRepaymentDetail:
	case "":
		return missing("pageType")
	default:
		return invalid("pageType", "must be SIGNATURE, LOAN_DETAIL or REPAYMENT_DETAIL")
	}
	if r.ReturnURL != "" {
		return checkURL("returnUrl", r.ReturnURL)
	}
	return nil
}

func (r *RedirectURLRequest) validate() error { return localError(r.Validate()) }
