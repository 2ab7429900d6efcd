package awda_test

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

const (
	testAppID  = "awda-test-app"
	testSecret = "test-secret-do-not-use"
)

// fixedNow is the start of every test clock.
var fixedNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Recognisable personal data: none of these may appear in an error string
// or a log line.
const (
	piiName        = "Siti Nurhaliza Rahmawati"
	piiNIK         = "3171015205900001" // woman, born 1990-05-12 (day 12+40)
	piiBirthDate   = "1990-05-12"
	piiMobile      = "081234567890"
	piiMobileE164  = "+6281234567890"
	piiEmail       = "siti.rahma@example.id"
	piiAccountNo   = "1234567890123"
	piiContactName = "Ahmad Fauzi Pratama"
	piiContactTel  = "0857-1111-2222"
	piiContactE164 = "+6285711112222"
	piiAddress     = "Jl. Melati No. 12, Kebayoran Baru"
)

var piiValues = []string{piiName, piiNIK, piiMobile, piiMobileE164, "81234567890", piiEmail, piiAccountNo, piiContactName, piiContactTel, piiContactE164, "85711112222", piiAddress}

func assertNoPII(t *testing.T, what, s string) {
	t.Helper()
	for _, v := range piiValues {
		if strings.Contains(s, v) {
			t.Errorf("%s contains personal data %q: %s", what, v, s)
		}
	}
}

func validRegister() *awda.RegisterRequest {
	return &awda.RegisterRequest{
		PartnerUserID: "p-1001",
		Mobile:        piiMobile,
		Name:          piiName,
		NIK:           piiNIK,
		Email:         piiEmail,
		BirthDate:     piiBirthDate,
	}
}

func validLoanSubmit() *awda.LoanSubmitRequest {
	return &awda.LoanSubmitRequest{
		UserID:    "U100",
		OrderNo:   "ord-20260101-0001",
		Amount:    3_000_000,
		Tenor:     3,
		TenorUnit: awda.TenorMonth,
		Purpose:   "EDUCATION",
		Personal: awda.PersonalInfo{
			Gender:        "FEMALE",
			MaritalStatus: "MARRIED",
			Education:     "BACHELOR",
			Religion:      "ISLAM",
			Email:         piiEmail,
			Province:      "DKI JAKARTA",
			City:          "JAKARTA SELATAN",
			District:      "KEBAYORAN BARU",
			Address:       piiAddress,
			PostalCode:    "12130",
			Dependents:    2,
		},
		Identity: awda.IdentityInfo{
			NIK:           piiNIK,
			Name:          piiName,
			BirthDate:     piiBirthDate,
			BirthPlace:    "JAKARTA",
			KTPImageID:    "IMG-KTP-1",
			SelfieImageID: "IMG-SELFIE-1",
		},
		Work: awda.WorkInfo{
			Occupation:    "EMPLOYEE",
			EmployerName:  "PT Sinar Jaya",
			EmployerPhone: "021-5551234",
			MonthlyIncome: 8_500_000,
			YearsEmployed: 4,
			SalaryPayday:  25,
		},
		EmergencyContacts: []awda.EmergencyContact{
			{Name: piiContactName, Mobile: piiContactTel, Relation: "SPOUSE"},
			{Name: "Dewi Lestari", Mobile: "+6281399998888", Relation: "SIBLING"},
		},
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testRSAKey parses a committed PKCS#8 test key with crypto/x509 directly,
// independently of the package's PEM helpers.
func testRSAKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(readTestdata(t, name))
	if block == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func hmacSigner(t testing.TB, secret string) *awda.HMACSigner {
	t.Helper()
	s, err := awda.NewHMACSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rsaSigner(t testing.TB, name string) *awda.RSASigner {
	t.Helper()
	s, err := awda.NewRSASigner(testRSAKey(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stringToSign is the contract's canonical string, written out here
// independently of awda.StringToSign.
func stringToSign(path, appID, ts, nonce string, signed []byte) []byte {
	sum := sha256.Sum256(signed)
	return fmt.Appendf(nil, "POST\n%s\n%s\n%s\n%s\n%s", path, appID, ts, nonce, hex.EncodeToString(sum[:]))
}

func hmacHex(secret string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// recorded is one request as the fake AWDA saw it.
type recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// fakeAWDA is an httptest server answering with hand-written responses. It
// counts every HTTP request that reaches it.
type fakeAWDA struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	handler func(w http.ResponseWriter, r *http.Request, body []byte)
}

// newFakeAWDA answers every request with status and body.
func newFakeAWDA(t *testing.T, status int, body string) *fakeAWDA {
	return newFakeAWDAFunc(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

func newFakeAWDAFunc(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeAWDA {
	f := &fakeAWDA{handler: h}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		h := f.handler
		f.mu.Unlock()
		h(w, r, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAWDA) hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fakeAWDA) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("no request reached the fake AWDA")
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeAWDA) setHandler(h func(w http.ResponseWriter, r *http.Request, body []byte)) {
	f.mu.Lock()
	f.handler = h
	f.mu.Unlock()
}

// tickingClock returns a clock that advances one second per reading, and a
// function reporting the last reading.
func tickingClock() (func() time.Time, func() time.Time) {
	var mu sync.Mutex
	now := fixedNow
	return func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(time.Second)
			return now
		}, func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		}
}

func newTestClient(t *testing.T, baseURL string, opts ...func(*awda.Config)) *awda.Client {
	t.Helper()
	cfg := awda.Config{
		BaseURL: baseURL,
		AppID:   testAppID,
		Signer:  hmacSigner(t, testSecret),
		Clock:   func() time.Time { return fixedNow },
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := awda.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func envelope(code awda.Code, msg, data string) string {
	if data == "" {
		return fmt.Sprintf(`{"code":%d,"message":%q}`, int(code), msg)
	}
	return fmt.Sprintf(`{"code":%d,"message":%q,"data":%s}`, int(code), msg, data)
}

func mustAWDAError(t *testing.T, err error) *awda.Error {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	e, ok := awda.AsError(err)
	if !ok {
		t.Fatalf("error %T is not an *awda.Error: %v", err, err)
	}
	return e
}
