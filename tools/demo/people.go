package demo

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// Person is one generated applicant: recognisable as Indonesian, entirely
// fake. It is personal data as far as the rest of the system knows, and
// never leaves this package except in the API requests.
type Person struct {
	Applicant         workflows.Applicant
	EmergencyContacts []awda.EmergencyContact
	Loan              workflows.LoanRequest
	// Bank preferences: the card the borrower submits is drawn from these
	// (the bank list itself comes from the application's next action).
	bankPick    float64
	accountSeed uint64
}

// Tenor is a loan tenor the generator may ask for.
type Tenor struct {
	Tenor int
	Unit  awda.TenorUnit
}

// DefaultTenors are the tenors asked for, all offered by the sandbox's
// eligibility check. Month tenors dominate (one installment a month);
// 3 months is the most common.
var DefaultTenors = []Tenor{
	{3, awda.TenorMonth}, {3, awda.TenorMonth}, {3, awda.TenorMonth},
	{1, awda.TenorMonth}, {6, awda.TenorMonth}, {14, awda.TenorDay}, {30, awda.TenorDay},
}

// Generator makes applicants. The same seed gives the same people in the
// same order; a generator is not safe for concurrent use.
type Generator struct {
	rng    *rand.Rand
	now    time.Time
	tenors []Tenor
	niks   map[string]bool
}

// NewGenerator returns a generator seeded with seed. now dates the people
// (their ages); tenors are the loan tenors to draw from (DefaultTenors when
// empty).
func NewGenerator(seed uint64, now time.Time, tenors []Tenor) *Generator {
	if len(tenors) == 0 {
		tenors = DefaultTenors
	}
	return &Generator{
		rng:    rand.New(rand.NewPCG(seed, 0x70656f706c65)), // "people"
		now:    now,
		tenors: tenors,
		niks:   map[string]bool{},
	}
}

// region is a regency or city with its NIK code (province 2 digits, city 2).
type region struct {
	code, province, city string
}

var regions = []region{
	{"3171", "DKI Jakarta", "Jakarta Selatan"},
	{"3172", "DKI Jakarta", "Jakarta Timur"},
	{"3173", "DKI Jakarta", "Jakarta Pusat"},
	{"3174", "DKI Jakarta", "Jakarta Barat"},
	{"3175", "DKI Jakarta", "Jakarta Utara"},
	{"3273", "Jawa Barat", "Bandung"},
	{"3275", "Jawa Barat", "Bekasi"},
	{"3276", "Jawa Barat", "Depok"},
	{"3271", "Jawa Barat", "Bogor"},
	{"3671", "Banten", "Tangerang"},
	{"3374", "Jawa Tengah", "Semarang"},
	{"3372", "Jawa Tengah", "Surakarta"},
	{"3471", "DI Yogyakarta", "Yogyakarta"},
	{"3578", "Jawa Timur", "Surabaya"},
	{"3573", "Jawa Timur", "Malang"},
	{"5171", "Bali", "Denpasar"},
	{"1271", "Sumatera Utara", "Medan"},
	{"1671", "Sumatera Selatan", "Palembang"},
	{"7371", "Sulawesi Selatan", "Makassar"},
	{"6471", "Kalimantan Timur", "Balikpapan"},
}

var (
	maleNames = []string{"Budi", "Agus", "Andi", "Rizky", "Dimas", "Fajar", "Hendra", "Joko", "Yusuf", "Arif",
		"Bayu", "Eko", "Gilang", "Hadi", "Irfan", "Kurniawan", "Wahyu", "Putu", "Made", "Teguh"}
	femaleNames = []string{"Siti", "Dewi", "Ayu", "Rina", "Putri", "Sri", "Nurul", "Indah", "Wulan", "Fitri",
		"Ratna", "Lestari", "Maya", "Intan", "Anisa", "Kadek", "Yuliana", "Dian", "Ratih", "Nadia"}
	middleNames = []string{"", "", "", "Adi", "Eka", "Dwi", "Tri", "Nur", "Sari", "Putra", "Wati", "Cahya"}
	familyNames = []string{"Santoso", "Wijaya", "Saputra", "Pratama", "Hidayat", "Nugroho", "Kusuma", "Setiawan",
		"Susanto", "Gunawan", "Siregar", "Nasution", "Harahap", "Simanjuntak", "Hutapea", "Wibowo", "Rahman",
		"Halim", "Tanjung", "Sulistyo"}
	streets = []string{"Melati", "Mawar", "Kenanga", "Sudirman", "Gatot Subroto", "Diponegoro", "Ahmad Yani",
		"Pemuda", "Merdeka", "Cempaka", "Anggrek", "Flamboyan", "Veteran", "Pahlawan", "Kartini"}
	occupations = []struct {
		name      string
		employers []string
	}{
		{"EMPLOYEE", []string{"PT Sinar Jaya Abadi", "PT Maju Bersama", "CV Karya Mandiri", "PT Nusantara Logistik"}},
		{"CIVIL_SERVANT", []string{"Dinas Pendidikan", "Kantor Kecamatan"}},
		{"ENTREPRENEUR", []string{"Warung Makan Sederhana", "Toko Kelontong Berkah"}},
		{"TEACHER", []string{"SMA Negeri 3", "SD Tunas Harapan"}},
		{"DRIVER", []string{"Mitra Ojek Daring"}},
	}
	purposes   = []string{"EDUCATION", "WORKING_CAPITAL", "HOME_RENOVATION", "MEDICAL", "ELECTRONICS", "WEDDING"}
	educations = []string{"SMA", "D3", "S1", "S1", "S2"}
	religions  = []string{"ISLAM", "ISLAM", "ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDDHA"}
	// Mobile prefixes after +62: Telkomsel 811–813, 821–823, 852–853;
	// Indosat 814–816, 855–858; XL 817–819, 859, 877–878; Tri 895–899.
	mobilePrefixes = []string{"811", "812", "813", "821", "822", "823", "852", "853", "814", "815", "816",
		"855", "856", "857", "858", "817", "818", "819", "859", "877", "878", "895", "896", "897", "898", "899"}
)

func (g *Generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *Generator) digits(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + g.rng.IntN(10)))
	}
	return b.String()
}

// Mobile returns a fresh +628… mobile number.
func (g *Generator) Mobile() string {
	// +62 8xx then 7 or 8 more digits: 9 to 10 digits after the 8.
	return "+62" + g.pick(mobilePrefixes) + g.digits(7+g.rng.IntN(2))
}

func (g *Generator) name(female bool) string {
	first := g.pick(maleNames)
	if female {
		first = g.pick(femaleNames)
	}
	parts := []string{first}
	if m := g.pick(middleNames); m != "" {
		parts = append(parts, m)
	}
	return strings.Join(append(parts, g.pick(familyNames)), " ")
}

// Person returns the next applicant: a valid NIK (region, birth date with
// 40 added to the day for women, a serial), unique within this generator,
// matching birth date, a mobile number, address, work, one or two
// emergency contacts and a loan request.
func (g *Generator) Person() Person {
	female := g.rng.IntN(2) == 0
	age := 21 + g.rng.IntN(35)
	birth := time.Date(g.now.Year()-age, time.Month(1+g.rng.IntN(12)), 1+g.rng.IntN(28), 0, 0, 0, 0, time.UTC)
	reg := regions[g.rng.IntN(len(regions))]
	nik := g.nik(reg.code, birth, female)
	gender := "MALE"
	if female {
		gender = "FEMALE"
	}
	name := g.name(female)
	married := age > 25 && g.rng.IntN(3) > 0
	marital := "SINGLE"
	if married {
		marital = "MARRIED"
	}
	dependents := 0
	if married {
		dependents = g.rng.IntN(4)
	}
	email := ""
	if g.rng.IntN(3) > 0 {
		email = strings.ToLower(strings.ReplaceAll(name, " ", ".")) + fmt.Sprintf("%d@example.com", g.rng.IntN(100))
	}
	occ := occupations[g.rng.IntN(len(occupations))]
	income := int64(4_000_000 + 500_000*g.rng.IntN(40)) // 4 to 23.5 million IDR

	contacts := g.contacts(married)

	t := g.tenors[g.rng.IntN(len(g.tenors))]
	amount := int64(1_000_000 + 250_000*g.rng.IntN(29)) // 1 to 8 million IDR
	return Person{
		Applicant: workflows.Applicant{
			Name:       name,
			NIK:        nik,
			Mobile:     g.Mobile(),
			Email:      email,
			BirthDate:  birth.Format(awda.DateLayout),
			BirthPlace: reg.city,
			Personal: awda.PersonalInfo{
				Gender: gender, MaritalStatus: marital, Education: g.pick(educations), Religion: g.pick(religions),
				Email: email, Province: reg.province, City: reg.city,
				District: fmt.Sprintf("Kecamatan %02d", 1+g.rng.IntN(12)),
				Address: fmt.Sprintf("Jl. %s No. %d, RT %03d/RW %03d", g.pick(streets), 1+g.rng.IntN(150),
					1+g.rng.IntN(15), 1+g.rng.IntN(12)),
				PostalCode: fmt.Sprintf("%d%04d", 1+g.rng.IntN(9), g.rng.IntN(10000)),
				Dependents: dependents,
			},
			Work: awda.WorkInfo{
				Occupation: occ.name, EmployerName: occ.employers[g.rng.IntN(len(occ.employers))],
				EmployerPhone: "021-" + g.digits(7), MonthlyIncome: income, YearsEmployed: g.rng.IntN(15),
				SalaryPayday: 1 + g.rng.IntN(28), IncomeCurrency: "IDR",
			},
		},
		EmergencyContacts: contacts,
		Loan: workflows.LoanRequest{
			Amount: amount, Tenor: t.Tenor, TenorUnit: t.Unit, Purpose: g.pick(purposes),
		},
		bankPick:    g.rng.Float64(),
		accountSeed: g.rng.Uint64(),
	}
}

// nik is a NIK not handed out before: region, birth date (the day plus 40
// for a woman), a serial number.
func (g *Generator) nik(region string, birth time.Time, female bool) string {
	for {
		day := birth.Day()
		if female {
			day += 40
		}
		nik := fmt.Sprintf("%s%02d%02d%02d%02d%04d", region, 1+g.rng.IntN(12), day, int(birth.Month()), birth.Year()%100, 1+g.rng.IntN(9999))
		if !g.niks[nik] {
			g.niks[nik] = true
			return nik
		}
	}
}

// contacts are one or two emergency contacts; a spouse is likelier for a
// married applicant.
func (g *Generator) contacts(married bool) []awda.EmergencyContact {
	contacts := []awda.EmergencyContact{}
	relations := []string{"PARENT", "SIBLING", "FRIEND", "COLLEAGUE"}
	if married {
		relations = append(relations, "SPOUSE", "SPOUSE")
	}
	for range 1 + g.rng.IntN(2) {
		contacts = append(contacts, awda.EmergencyContact{
			Name: g.name(g.rng.IntN(2) == 0), Mobile: g.Mobile(), Relation: g.pick(relations),
		})
	}
	return contacts
}

// BankCard is the card the borrower submits from the banks offered. A
// refused card (refuse) ends in 0000, which AWDA refuses as a name mismatch;
// a good one never does. attempt varies the account number between tries.
func (p *Person) BankCard(banks []awda.Bank, attempt int, refuse bool) (workflows.BankCardInput, bool) {
	if len(banks) == 0 {
		return workflows.BankCardInput{}, false
	}
	b := banks[int(p.bankPick*float64(len(banks)))%len(banks)]
	rng := rand.New(rand.NewPCG(p.accountSeed, uint64(attempt)))
	n := b.AccountNoMinLen
	if b.AccountNoMaxLen > n {
		n += rng.IntN(b.AccountNoMaxLen - n + 1)
	}
	if n < 5 {
		n = 5
	}
	var acc []byte
	acc = append(acc, byte('1'+rng.IntN(9)))
	for len(acc) < n {
		acc = append(acc, byte('0'+rng.IntN(10)))
	}
	if refuse {
		copy(acc[n-4:], "0000")
	} else if string(acc[n-4:]) == "0000" {
		acc[n-1] = '7'
	}
	return workflows.BankCardInput{
		BankCode: b.BankCode, AccountNo: string(acc), AccountName: strings.ToUpper(p.Applicant.Name),
	}, true
}

// KTPImage is a small PNG that looks like an identity card (blue card, photo
// box, text lines), different for every seed.
func KTPImage(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x6b7470))
	img := image.NewRGBA(image.Rect(0, 0, 172, 108))
	bg := color.RGBA{R: 120 + uint8(rng.IntN(30)), G: 170 + uint8(rng.IntN(30)), B: 220 + uint8(rng.IntN(30)), A: 255}
	fill(img, img.Bounds(), bg)
	fill(img, image.Rect(0, 0, 172, 14), color.RGBA{R: 40, G: 80, B: 160, A: 255})
	fill(img, image.Rect(124, 24, 162, 74), color.RGBA{R: 200, G: 60, B: 60, A: 255}) // the photo
	for i := range 6 {
		w := 50 + rng.IntN(60)
		fill(img, image.Rect(10, 24+12*i, 10+w, 28+12*i), color.RGBA{R: 30, G: 30, B: 30, A: 255})
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

// SelfieImage is a small JPEG of a face holding a card, different for every
// seed.
func SelfieImage(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x73656c666965))
	img := image.NewRGBA(image.Rect(0, 0, 96, 128))
	fill(img, img.Bounds(), color.RGBA{R: 200 + uint8(rng.IntN(40)), G: 200, B: 190, A: 255})
	skin := color.RGBA{R: 150 + uint8(rng.IntN(60)), G: 110 + uint8(rng.IntN(40)), B: 80 + uint8(rng.IntN(30)), A: 255}
	cx, cy, r := 48, 50, 26
	for y := cy - r; y <= cy+r; y++ {
		for x := cx - r; x <= cx+r; x++ {
			if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
				img.Set(x, y, skin)
			}
		}
	}
	fill(img, image.Rect(20, 96, 76, 124), color.RGBA{R: 130, G: 180, B: 235, A: 255}) // the card held up
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	return buf.Bytes()
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}
