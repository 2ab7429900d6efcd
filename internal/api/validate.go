package api

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// ApplicationRequest is the body of POST /v1/applications: the workflow's
// input (workflows.LoanApplicationInput) without its internal fields.
type ApplicationRequest struct {
	// ApplicantRef is the lending backend's opaque applicant ID: 1 to 64
	// characters of [A-Za-z0-9._:-], starting with a letter or digit. It
	// names the workflow and shows in Temporal's search attributes, so it
	// must never be personal data.
	ApplicantRef      string                   `json:"applicantRef"`
	Applicant         workflows.Applicant      `json:"applicant"`
	Loan              workflows.LoanRequest    `json:"loan"`
	EmergencyContacts []awda.EmergencyContact  `json:"emergencyContacts"`
	Documents         []activities.DocumentRef `json:"documents"`
	UploadMethod      activities.UploadMethod  `json:"uploadMethod,omitempty"`
	ReturnURL         string                   `json:"returnUrl,omitempty"`
}

// input is the workflow input for a validated request.
func (a *ApplicationRequest) input(cfg workflows.Config) workflows.LoanApplicationInput {
	return workflows.LoanApplicationInput{
		Config:            cfg,
		ApplicantRef:      a.ApplicantRef,
		Applicant:         a.Applicant,
		Loan:              a.Loan,
		EmergencyContacts: a.EmergencyContacts,
		Documents:         a.Documents,
		UploadMethod:      a.UploadMethod,
		ReturnURL:         a.ReturnURL,
	}
}

// MaxAmount bounds a requested amount (IDR) as a sanity check; AWDA's
// eligibility check sets the real limit.
const MaxAmount = 1_000_000_000_000

type fieldErrors []FieldError

func (fe *fieldErrors) add(field, detail string) {
	*fe = append(*fe, FieldError{Field: field, Detail: detail})
}

func (fe *fieldErrors) required(field, v string) bool {
	if strings.TrimSpace(v) == "" {
		fe.add(field, "required")
		return false
	}
	return true
}

func (fe *fieldErrors) maxLen(field, v string, n int) {
	if len(v) > n {
		fe.add(field, fmt.Sprintf("longer than %d characters", n))
	}
}

// ValidRef reports whether ref can be an applicant ref.
func ValidRef(ref string) bool {
	if ref == "" || len(ref) > 64 {
		return false
	}
	for i := 0; i < len(ref); i++ {
		c := ref[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != ':' && c != '-') {
			return false
		}
	}
	return true
}

func oneOf(v string, set ...string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

func absoluteHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// validate checks the request and normalises it in place (mobile numbers to
// +628…, trimmed strings), collecting every problem with its JSON path.
// Checks that need the database (documents exist) come later. The details
// never quote a value.
func (a *ApplicationRequest) validate() []FieldError {
	var fe fieldErrors
	if a.ApplicantRef == "" {
		fe.add("applicantRef", "required")
	} else if !ValidRef(a.ApplicantRef) {
		fe.add("applicantRef", "must be 1 to 64 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit")
	}
	fe.applicant(&a.Applicant)
	fe.personal(&a.Applicant.Personal)
	fe.work(&a.Applicant.Work)
	fe.loan(&a.Loan)
	fe.contacts(a.EmergencyContacts)
	fe.documents(a.Documents)
	if !oneOf(string(a.UploadMethod), "", string(activities.UploadStream), string(activities.UploadBase64)) {
		fe.add("uploadMethod", "must be STREAM or BASE64")
	}
	if a.ReturnURL != "" && !absoluteHTTPURL(a.ReturnURL) {
		fe.add("returnUrl", "must be an absolute http(s) URL")
	}

	if len(fe) == 0 {
		fe = append(fe, a.awdaBackstop()...)
	}
	return fe
}

// applicant checks the applicant's identity and normalises its name and
// mobile number.
func (fe *fieldErrors) applicant(ap *workflows.Applicant) {
	ap.Name = strings.TrimSpace(ap.Name)
	if fe.required("applicant.name", ap.Name) {
		fe.maxLen("applicant.name", ap.Name, 100)
	}
	birthOK := false
	if fe.required("applicant.birthDate", ap.BirthDate) {
		if _, err := awda.ParseDate(ap.BirthDate); err != nil {
			fe.add("applicant.birthDate", err.Error())
		} else {
			birthOK = true
		}
	}
	if fe.required("applicant.nik", ap.NIK) {
		bd := ""
		if birthOK {
			bd = ap.BirthDate
		}
		if err := awda.ValidateNIK(ap.NIK, bd); err != nil {
			fe.add("applicant.nik", err.Error())
		}
	}
	if fe.required("applicant.mobile", ap.Mobile) {
		if m, err := awda.NormalizeMobile(ap.Mobile); err != nil {
			fe.add("applicant.mobile", err.Error())
		} else {
			ap.Mobile = m
		}
	}
	if ap.Email != "" && (!strings.Contains(ap.Email, "@") || len(ap.Email) > 254) {
		fe.add("applicant.email", "not an e-mail address")
	}
	fe.maxLen("applicant.birthPlace", ap.BirthPlace, 100)
}

func (fe *fieldErrors) personal(p *awda.PersonalInfo) {
	if fe.required("applicant.personal.gender", p.Gender) && !oneOf(p.Gender, "MALE", "FEMALE") {
		fe.add("applicant.personal.gender", "must be MALE or FEMALE")
	}
	if fe.required("applicant.personal.maritalStatus", p.MaritalStatus) &&
		!oneOf(p.MaritalStatus, "SINGLE", "MARRIED", "DIVORCED", "WIDOWED") {
		fe.add("applicant.personal.maritalStatus", "must be SINGLE, MARRIED, DIVORCED or WIDOWED")
	}
	fe.required("applicant.personal.province", p.Province)
	fe.required("applicant.personal.city", p.City)
	if fe.required("applicant.personal.address", p.Address) {
		fe.maxLen("applicant.personal.address", p.Address, 500)
	}
	if p.Dependents < 0 {
		fe.add("applicant.personal.dependents", "must not be negative")
	}
	if p.Email != "" && !strings.Contains(p.Email, "@") {
		fe.add("applicant.personal.email", "not an e-mail address")
	}
}

func (fe *fieldErrors) work(wk *awda.WorkInfo) {
	fe.required("applicant.work.occupation", wk.Occupation)
	if wk.MonthlyIncome <= 0 {
		fe.add("applicant.work.monthlyIncome", "must be a positive integer (IDR)")
	}
	if wk.YearsEmployed < 0 {
		fe.add("applicant.work.yearsEmployed", "must not be negative")
	}
	if wk.SalaryPayday < 0 || wk.SalaryPayday > 31 {
		fe.add("applicant.work.salaryPayday", "must be a day of the month (1 to 31)")
	}
	if wk.EmployerPhone != "" && strings.Trim(wk.EmployerPhone, "+0123456789- ") != "" {
		fe.add("applicant.work.employerPhone", "not a phone number")
	}
}

func (fe *fieldErrors) loan(ln *workflows.LoanRequest) {
	switch {
	case ln.Amount <= 0:
		fe.add("loan.amount", "must be a positive integer (IDR)")
	case ln.Amount > MaxAmount:
		fe.add("loan.amount", "too large")
	}
	if ln.Tenor <= 0 {
		fe.add("loan.tenor", "must be positive")
	}
	if ln.TenorUnit == "" {
		fe.add("loan.tenorUnit", "required")
	} else if ln.TenorUnit != awda.TenorDay && ln.TenorUnit != awda.TenorMonth {
		fe.add("loan.tenorUnit", "must be DAY or MONTH")
	}
	if fe.required("loan.purpose", ln.Purpose) {
		fe.maxLen("loan.purpose", ln.Purpose, 200)
	}
}

// contacts checks the emergency contacts and normalises their names and
// mobile numbers.
func (fe *fieldErrors) contacts(contacts []awda.EmergencyContact) {
	if len(contacts) == 0 {
		fe.add("emergencyContacts", "at least one emergency contact is required")
	}
	if len(contacts) > 5 {
		fe.add("emergencyContacts", "at most 5 emergency contacts")
	}
	for i := range contacts {
		ec := &contacts[i]
		f := fmt.Sprintf("emergencyContacts[%d]", i)
		ec.Name = strings.TrimSpace(ec.Name)
		fe.required(f+".name", ec.Name)
		if fe.required(f+".mobile", ec.Mobile) {
			if m, err := awda.NormalizeMobile(ec.Mobile); err != nil {
				fe.add(f+".mobile", err.Error())
			} else {
				ec.Mobile = m
			}
		}
		fe.required(f+".relation", ec.Relation)
	}
}

// documents checks the document references: one KTP and one SELFIE at
// least, each a document ID as POST /v1/documents hands out.
func (fe *fieldErrors) documents(docs []activities.DocumentRef) {
	seen := map[awda.ImageType]bool{}
	for i, d := range docs {
		f := fmt.Sprintf("documents[%d]", i)
		switch {
		case d.Type == "":
			fe.add(f+".type", "required")
		case !awda.ValidImageType(d.Type):
			fe.add(f+".type", "must be KTP, SELFIE or OTHER")
		case d.Type != awda.ImageOther && seen[d.Type]:
			fe.add(f+".type", "only one "+string(d.Type)+" document")
		}
		seen[d.Type] = true
		if d.DocumentID == "" {
			fe.add(f+".documentId", "required")
		} else if u, err := uuid.Parse(d.DocumentID); err != nil || !strings.EqualFold(u.String(), d.DocumentID) {
			// Only the form POST /v1/documents hands out (any case):
			// uuid.Parse also takes {…}, urn:uuid:… and unhyphenated IDs,
			// which checkDocuments would not find (or PostgreSQL refuse).
			fe.add(f+".documentId", "not a document ID")
		}
	}
	if len(docs) > 10 {
		fe.add("documents", "at most 10 documents")
	}
	for _, t := range []awda.ImageType{awda.ImageKTP, awda.ImageSelfie} {
		if !seen[t] {
			fe.add("documents", "a "+string(t)+" document is required")
		}
	}
}

// awdaBackstop runs AWDA's own request validators on what the workflow will
// send (registration and loan submission), so that an application AWDA
// would refuse for its form is refused here, before a workflow starts. Their
// field names are mapped to this request's paths.
func (a *ApplicationRequest) awdaBackstop() []FieldError {
	ap := a.Applicant
	reg := awda.RegisterRequest{
		PartnerUserID: a.ApplicantRef, Mobile: ap.Mobile, Name: ap.Name, NIK: ap.NIK,
		Email: ap.Email, BirthDate: ap.BirthDate,
	}
	sub := awda.LoanSubmitRequest{
		UserID: "backstop", OrderNo: workflows.OrderNo(workflows.LoanWorkflowID(a.ApplicantRef)),
		Amount: a.Loan.Amount, Tenor: a.Loan.Tenor, TenorUnit: a.Loan.TenorUnit, Purpose: a.Loan.Purpose,
		Personal: ap.Personal, Work: ap.Work,
		Identity: awda.IdentityInfo{NIK: ap.NIK, Name: ap.Name, BirthDate: ap.BirthDate, BirthPlace: ap.BirthPlace,
			KTPImageID: "backstop", SelfieImageID: "backstop"},
		EmergencyContacts: append([]awda.EmergencyContact(nil), a.EmergencyContacts...),
	}
	var out []FieldError
	for _, err := range []error{reg.Validate(), sub.Validate()} {
		if err == nil {
			continue
		}
		if fe, ok := awda.AsFieldError(err); ok {
			out = append(out, FieldError{Field: mapAWDAField(fe.Field), Detail: fe.Reason})
		} else {
			out = append(out, FieldError{Field: "body", Detail: "refused by AWDA's validation"})
		}
	}
	return out
}

func mapAWDAField(f string) string {
	switch {
	case f == "mobile", f == "name", f == "nik", f == "birthDate", f == "email":
		return "applicant." + f
	case f == "partnerUserId":
		return "applicantRef"
	case f == "amount", f == "tenor", f == "tenorUnit", f == "purpose":
		return "loan." + f
	case strings.HasPrefix(f, "personal."), strings.HasPrefix(f, "work."):
		return "applicant." + f
	case strings.HasPrefix(f, "identity."):
		rest := strings.TrimPrefix(f, "identity.")
		if strings.HasSuffix(rest, "ImageId") {
			return "documents"
		}
		return "applicant." + rest
	}
	return f
}

// ---- borrower actions ----

// BankCardRequest is the body of POST /v1/applications/{ref}/bank-card.
type BankCardRequest = workflows.BankCardInput

func validateBankCard(in *BankCardRequest) []FieldError {
	var fe fieldErrors
	in.BankCode = strings.TrimSpace(in.BankCode)
	in.AccountName = strings.TrimSpace(in.AccountName)
	fe.required("bankCode", in.BankCode)
	if fe.required("accountNo", in.AccountNo) {
		v := awda.BankCardVerifyRequest{UserID: "x", BankCode: "x", AccountNo: in.AccountNo, AccountName: "x"}
		if err := v.Validate(); err != nil {
			if f, ok := awda.AsFieldError(err); ok {
				fe.add("accountNo", f.Reason)
			}
		}
	}
	if fe.required("accountName", in.AccountName) {
		fe.maxLen("accountName", in.AccountName, 100)
	}
	return fe
}

// SignatureRequest is the body of POST /v1/applications/{ref}/signature.
type SignatureRequest = workflows.SignAgreementInput

func validateSignature(in *SignatureRequest) []FieldError {
	var fe fieldErrors
	fe.required("agreementId", in.AgreementID)
	if !in.Consent {
		fe.add("consent", "must be true: the borrower's explicit consent")
	}
	in.ClientIP = strings.TrimSpace(in.ClientIP)
	if fe.required("clientIp", in.ClientIP) {
		if _, err := netip.ParseAddr(in.ClientIP); err != nil {
			fe.add("clientIp", "not an IP address")
		}
	}
	return fe
}
