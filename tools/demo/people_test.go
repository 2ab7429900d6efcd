package demo_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/tools/demo"
)

var testNow = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// Every generated applicant passes AWDA's own validators (the ones the API
// runs as its backstop and the sandbox runs on arrival): a NIK of 16 digits
// whose digits 7–12 encode the birth date (+40 on the day for women) and a
// serial that is not 0000, +628 mobile numbers for the applicant and every
// contact, and a loan request AWDA accepts.
func TestPeoplePassAWDAValidation(t *testing.T) {
	g := demo.NewGenerator(42, testNow, nil)
	seen := map[string]bool{}
	for i := range 500 {
		p := g.Person()
		ap := p.Applicant
		if seen[ap.NIK] {
			t.Fatalf("person %d: NIK repeated", i)
		}
		seen[ap.NIK] = true

		born, female, err := awda.NIKBirthDate(ap.NIK, testNow)
		if err != nil {
			t.Fatalf("person %d: NIK invalid: %v", i, err)
		}
		if err := awda.ValidateNIK(ap.NIK, ap.BirthDate); err != nil {
			t.Fatalf("person %d: NIK does not match the birth date: %v", i, err)
		}
		if born.Format(awda.DateLayout) != ap.BirthDate {
			t.Fatalf("person %d: NIK decodes to %s, birth date is %s", i, born.Format(awda.DateLayout), ap.BirthDate)
		}
		if want := map[bool]string{true: "FEMALE", false: "MALE"}[female]; ap.Personal.Gender != want {
			t.Fatalf("person %d: gender %s but the NIK says %s", i, ap.Personal.Gender, want)
		}
		if age := testNow.Year() - born.Year(); age < 20 || age > 56 {
			t.Fatalf("person %d: age %d", i, age)
		}
		for _, m := range append([]string{ap.Mobile}, contactsMobiles(p)...) {
			n, err := awda.NormalizeMobile(m)
			if err != nil || n != m || !strings.HasPrefix(m, "+628") {
				t.Fatalf("person %d: mobile not a normalised +628 number (%v)", i, err)
			}
		}

		reg := awda.RegisterRequest{PartnerUserID: "ref", Mobile: ap.Mobile, Name: ap.Name, NIK: ap.NIK, Email: ap.Email, BirthDate: ap.BirthDate}
		if err := reg.Validate(); err != nil {
			t.Fatalf("person %d: registration refused: %v", i, err)
		}
		sub := awda.LoanSubmitRequest{
			UserID: "usr", OrderNo: "AF1", Amount: p.Loan.Amount, Tenor: p.Loan.Tenor, TenorUnit: p.Loan.TenorUnit,
			Purpose: p.Loan.Purpose, Personal: ap.Personal, Work: ap.Work, EmergencyContacts: p.EmergencyContacts,
			Identity: awda.IdentityInfo{NIK: ap.NIK, Name: ap.Name, BirthDate: ap.BirthDate, BirthPlace: ap.BirthPlace,
				KTPImageID: "img1", SelfieImageID: "img2"},
		}
		if err := sub.Validate(); err != nil {
			t.Fatalf("person %d: submission refused: %v", i, err)
		}
		if p.Loan.Amount > 10_000_000 || p.Loan.Amount < 1_000_000 {
			t.Fatalf("person %d: amount %d outside the sandbox's limit", i, p.Loan.Amount)
		}
		if !tenorOffered(p.Loan.Tenor, p.Loan.TenorUnit) {
			t.Fatalf("person %d: tenor %d %s is not offered", i, p.Loan.Tenor, p.Loan.TenorUnit)
		}
	}
}

func contactsMobiles(p demo.Person) []string {
	var out []string
	for _, c := range p.EmergencyContacts {
		out = append(out, c.Mobile)
	}
	return out
}

// The sandbox's eligibility check offers DAY 7/14/30 and MONTH 1/2/3/6/9/12.
func tenorOffered(n int, u awda.TenorUnit) bool {
	switch u {
	case awda.TenorDay:
		return n == 7 || n == 14 || n == 30
	case awda.TenorMonth:
		return n == 1 || n == 2 || n == 3 || n == 6 || n == 9 || n == 12
	}
	return false
}

func TestPeopleAreReproducible(t *testing.T) {
	a, b, c := demo.NewGenerator(7, testNow, nil), demo.NewGenerator(7, testNow, nil), demo.NewGenerator(8, testNow, nil)
	differs := false
	for range 20 {
		pa, pb, pc := a.Person(), b.Person(), c.Person()
		if !reflect.DeepEqual(pa.Applicant, pb.Applicant) || !reflect.DeepEqual(pa.Loan, pb.Loan) ||
			!reflect.DeepEqual(pa.EmergencyContacts, pb.EmergencyContacts) {
			t.Fatal("the same seed gave different people")
		}
		differs = differs || pa.Applicant.NIK != pc.Applicant.NIK
	}
	if !differs {
		t.Fatal("another seed gave the same people")
	}
}

func TestTenorsAreHonoured(t *testing.T) {
	g := demo.NewGenerator(1, testNow, []demo.Tenor{{Tenor: 3, Unit: awda.TenorMonth}})
	for range 50 {
		if p := g.Person(); p.Loan.Tenor != 3 || p.Loan.TenorUnit != awda.TenorMonth {
			t.Fatalf("tenor %d %s, want 3 MONTH", p.Loan.Tenor, p.Loan.TenorUnit)
		}
	}
}

// A card fits the chosen bank's account length; a card meant to be refused
// ends in 0000 (the sandbox's name mismatch), a good one never does, and a
// second try is another account.
func TestBankCard(t *testing.T) {
	banks := []awda.Bank{
		{BankCode: "BCA", AccountNoMinLen: 10, AccountNoMaxLen: 10},
		{BankCode: "CIMB", AccountNoMinLen: 13, AccountNoMaxLen: 14},
		{BankCode: "PERMATA", AccountNoMinLen: 10, AccountNoMaxLen: 16},
	}
	g := demo.NewGenerator(3, testNow, nil)
	if _, ok := (&demo.Person{}).BankCard(nil, 0, false); ok {
		t.Fatal("a card without banks")
	}
	for i := range 300 {
		p := g.Person()
		for _, refuse := range []bool{false, true} {
			c, ok := p.BankCard(banks, i%3, refuse)
			if !ok {
				t.Fatal("no card")
			}
			var bank awda.Bank
			for _, b := range banks {
				if b.BankCode == c.BankCode {
					bank = b
				}
			}
			if n := len(c.AccountNo); n < bank.AccountNoMinLen || n > bank.AccountNoMaxLen {
				t.Fatalf("%s account of %d digits", bank.BankCode, n)
			}
			v := awda.BankCardVerifyRequest{UserID: "u", BankCode: c.BankCode, AccountNo: c.AccountNo, AccountName: c.AccountName}
			if err := v.Validate(); err != nil {
				t.Fatalf("card refused by the validator: %v", err)
			}
			if strings.HasSuffix(c.AccountNo, "0000") != refuse {
				t.Fatalf("refuse=%v but the account ends %s", refuse, c.AccountNo[len(c.AccountNo)-4:])
			}
			if c.AccountName != strings.ToUpper(p.Applicant.Name) {
				t.Fatal("the account name is not the applicant's")
			}
		}
		first, _ := p.BankCard(banks, 0, false)
		second, _ := p.BankCard(banks, 1, false)
		if first.BankCode == second.BankCode && first.AccountNo == second.AccountNo {
			t.Fatal("the second try is the same card")
		}
	}
}

func TestImages(t *testing.T) {
	if ct := http.DetectContentType(demo.KTPImage(1)); ct != "image/png" {
		t.Fatalf("KTP image is %s", ct)
	}
	if ct := http.DetectContentType(demo.SelfieImage(1)); ct != "image/jpeg" {
		t.Fatalf("selfie image is %s", ct)
	}
	if string(demo.KTPImage(1)) == string(demo.KTPImage(2)) || string(demo.SelfieImage(1)) == string(demo.SelfieImage(2)) {
		t.Fatal("two seeds gave the same image")
	}
	if a, b := demo.KTPImage(5), demo.KTPImage(5); string(a) != string(b) {
		t.Fatal("the same seed gave two images")
	}
}
