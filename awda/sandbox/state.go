package sandbox

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// state is everything the sandbox knows about borrowers and loans. It is
// guarded by Server.mu and replaced wholesale by Reset.
type state struct {
	users       map[string]*user // by userId
	byPartnerID map[string]*user
	byNIK       map[string]*user
	tokens      map[string]*uploadToken
	images      map[string]*image
	loans       map[string]*loan // by loanNo
	byOrderNo   map[string]*loan
	sessions    map[string]*authSession // auth page sessions
	pages       map[string]*h5Page      // redirect-url and agreement pages
	issued      map[string]struct{}     // every id handed out, to keep them unique
	events      []Event
	loanOrder   []string // loanNos in creation order
}

func newState() *state {
	return &state{
		users: map[string]*user{}, byPartnerID: map[string]*user{}, byNIK: map[string]*user{},
		tokens: map[string]*uploadToken{}, images: map[string]*image{},
		loans: map[string]*loan{}, byOrderNo: map[string]*loan{},
		sessions: map[string]*authSession{}, pages: map[string]*h5Page{},
		issued: map[string]struct{}{},
	}
}

type user struct {
	id            string
	partnerUserID string
	nik           string
	name          string
	mobile        string
	birthDate     string
	createdAt     time.Time
	auths         map[string]*authState
	cards         []*card
	loans         []string
	markers       markers
	eventSeq      uint64 // authorization events
}

type authState struct {
	status   awda.AuthStatus
	session  string
	expireAt time.Time
	attempts int // pages handed out
}

type authSession struct {
	id       string
	userID   string
	authType string
	expireAt time.Time
}

type card struct {
	bankCode   string
	accountNo  string
	status     awda.CardStatus
	failReason string
}

type uploadToken struct {
	userID   string
	expireAt time.Time
}

type image struct {
	userID    string
	imageType awda.ImageType
	sha256    string
	size      int
}

type h5Page struct {
	kind     string // "agreement" or a redirect page type
	userID   string
	loanNo   string
	expireAt time.Time
}

type loan struct {
	no, orderNo, userID string
	amount              int64
	tenor               int
	unit                awda.TenorUnit
	status              awda.LoanStatus
	version             uint64 // bumped on every transition; autopilot steps check it
	createdAt           time.Time
	agreement           *agreement
	bankCode            string // disbursement card's bank
	disbursedAt         time.Time
	disbursedAmount     int64
	disburseAttempts    int
	schedule            []awda.Installment
	va                  *awda.RepaymentVAResponse
	eventSeq            uint64
	transitions         []Transition
}

type agreement struct {
	id       string
	fees     awda.AgreementFees
	signedAt int64
}

// Transition is one recorded status change of a loan.
type Transition struct {
	From   awda.LoanStatus `json:"from,omitempty"`
	To     awda.LoanStatus `json:"to"`
	Period int             `json:"period,omitempty"`
	At     int64           `json:"at"` // Unix ms, sandbox clock
	By     string          `json:"by"` // api, autopilot, admin
}

func (s *state) unique(id string) bool {
	if _, dup := s.issued[id]; dup {
		return false
	}
	s.issued[id] = struct{}{}
	return true
}

// newID draws until the formatted id is new.
func (s *state) newID(g *rand.Rand, format func(uint64) string) string {
	for {
		if id := format(g.Uint64()); s.unique(id) {
			return id
		}
	}
}

func hexID(prefix string) func(uint64) string {
	return func(v uint64) string { return fmt.Sprintf("%s%016x", prefix, v) }
}

func digitsID(prefix string, n int) func(uint64) string {
	mod := uint64(1)
	for i := 0; i < n; i++ {
		mod *= 10
	}
	return func(v uint64) string { return fmt.Sprintf("%s%0*d", prefix, n, v%mod) }
}

// eventID derives an event's id from the seed, its subject (loanNo or
// userId/authType) and the subject's event sequence, so that the ids of one
// loan's events do not depend on how other loans interleave with it.
func (s *state) eventID(seed uint64, subject string, seq uint64) string {
	h := fnv.New64a()
	h.Write([]byte(subject))
	g := rand.New(rand.NewPCG(seed^h.Sum64(), seq))
	return s.newID(g, hexID("evt_"))
}

// markers are the autopilot rules a partnerUserId can carry (see doc.go).
type markers struct {
	reject, ineligible, authFail, disburseFail, overdue, manual bool
}
