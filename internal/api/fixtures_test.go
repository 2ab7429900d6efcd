package api

import (
	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// Recognisable personal data: tests assert it never shows in answers, logs
// or Temporal histories.
const (
	fixtureName    = "Dewi Lestari Pratama"
	fixtureNIK     = "3171015505900001" // born 15 May 1990, female (+40)
	fixtureMobile  = "081234567890"
	fixtureContact = "Budi Santoso Wibowo"
	fixtureContMob = "081298765432"
)

func validApplication(ref string) ApplicationRequest {
	return ApplicationRequest{
		ApplicantRef: ref,
		Applicant: workflows.Applicant{
			Name:      fixtureName,
			NIK:       fixtureNIK,
			Mobile:    fixtureMobile,
			BirthDate: "1990-05-15",
			Personal: awda.PersonalInfo{Gender: "FEMALE", MaritalStatus: "SINGLE",
				Province: "DKI Jakarta", City: "Jakarta Selatan", Address: "Jl. Melati 1"},
			Work: awda.WorkInfo{Occupation: "EMPLOYEE", MonthlyIncome: 8_000_000, YearsEmployed: 3},
		},
		Loan:              workflows.LoanRequest{Amount: 2_000_000, Tenor: 14, TenorUnit: awda.TenorDay, Purpose: "EDUCATION"},
		EmergencyContacts: []awda.EmergencyContact{{Name: fixtureContact, Mobile: fixtureContMob, Relation: "SIBLING"}},
		Documents: []activities.DocumentRef{
			{Type: awda.ImageKTP, DocumentID: "00000000-0000-4000-8000-000000000001"},
			{Type: awda.ImageSelfie, DocumentID: "00000000-0000-4000-8000-000000000002"},
		},
	}
}
