package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// Config.StateFile keeps the sandbox's state across restarts: a local stack
// (make run) that is stopped and started again must still know the loans its
// workflows are waiting on, or they would be stuck with AWDA code 1009/1010.
//
// What is kept: users (with their authorizations, cards and markers), upload
// tokens, images, loans (status, schedule, agreement, transitions), auth and
// H5 page sessions, every id handed out, the events, the counters and the
// pushes not yet acknowledged (ordered delivery; with Delivery.Reorder the
// pushes in flight are lost and the partner's polling has to find the
// change). What is not: the replay cache of nonces, runtime faults, delivery
// settings and clock skew (the configuration's apply again) and the seeded
// generators (a restart draws from Config.Seed again; ids stay unique
// because every id handed out is kept).
//
// On load, every loan and pending authorization the autopilot moves gets its
// next step scheduled again, and pending authorization pages their expiry,
// so in-flight loans carry on where they were. The file is written
// atomically (a temporary file renamed over it) every stateSaveInterval when
// the state changed, and at Close. It holds the borrowers' (sandbox) personal
// data: it is created 0600.

// stateSaveInterval is how often a changed state is written.
const stateSaveInterval = time.Second

// stateVersion is the format of the file.
const stateVersion = 1

type persister struct {
	path      string
	stop      chan struct{}
	done      chan struct{}
	startOnce sync.Once
	stopOnce  sync.Once
	started   bool // set by startOnce, read after stopOnce closed stop

	mu   sync.Mutex // serializes writes
	last []byte     // what the file holds, SavedAt left out
}

type savedState struct {
	Version  int                     `json:"version"`
	SavedAt  time.Time               `json:"savedAt"`
	Users    []savedUser             `json:"users"`
	Loans    []savedLoan             `json:"loans"` // in creation order
	Tokens   map[string]savedToken   `json:"tokens"`
	Images   map[string]savedImage   `json:"images"`
	Sessions map[string]savedSession `json:"sessions"`
	Pages    map[string]savedPage    `json:"pages"`
	Issued   []string                `json:"issued"`
	Events   []Event                 `json:"events"`
	Stats    savedStats              `json:"stats"`
	Pending  []savedDelivery         `json:"pending"`
}

type savedUser struct {
	ID            string               `json:"id"`
	PartnerUserID string               `json:"partnerUserId"`
	NIK           string               `json:"nik"`
	Name          string               `json:"name"`
	Mobile        string               `json:"mobile"`
	BirthDate     string               `json:"birthDate"`
	CreatedAt     time.Time            `json:"createdAt"`
	Auths         map[string]savedAuth `json:"auths"`
	Cards         []savedCard          `json:"cards"`
	Loans         []string             `json:"loans"`
	EventSeq      uint64               `json:"eventSeq"`
}

type savedAuth struct {
	Status   awda.AuthStatus `json:"status"`
	Session  string          `json:"session,omitempty"`
	ExpireAt time.Time       `json:"expireAt"`
	Attempts int             `json:"attempts"`
}

type savedCard struct {
	BankCode   string          `json:"bankCode"`
	AccountNo  string          `json:"accountNo"`
	Status     awda.CardStatus `json:"status"`
	FailReason string          `json:"failReason,omitempty"`
}

type savedToken struct {
	UserID   string    `json:"userId"`
	ExpireAt time.Time `json:"expireAt"`
}

type savedImage struct {
	UserID    string         `json:"userId"`
	ImageType awda.ImageType `json:"imageType"`
	SHA256    string         `json:"sha256"`
	Size      int            `json:"size"`
}

type savedSession struct {
	UserID   string    `json:"userId"`
	AuthType string    `json:"authType"`
	ExpireAt time.Time `json:"expireAt"`
}

type savedPage struct {
	Kind     string    `json:"kind"`
	UserID   string    `json:"userId"`
	LoanNo   string    `json:"loanNo"`
	ExpireAt time.Time `json:"expireAt"`
}

type savedLoan struct {
	No               string                    `json:"no"`
	OrderNo          string                    `json:"orderNo"`
	UserID           string                    `json:"userId"`
	Amount           int64                     `json:"amount"`
	Tenor            int                       `json:"tenor"`
	Unit             awda.TenorUnit            `json:"unit"`
	Status           awda.LoanStatus           `json:"status"`
	Version          uint64                    `json:"version"`
	CreatedAt        time.Time                 `json:"createdAt"`
	Agreement        *savedAgreement           `json:"agreement,omitempty"`
	BankCode         string                    `json:"bankCode,omitempty"`
	DisbursedAt      time.Time                 `json:"disbursedAt"`
	DisbursedAmount  int64                     `json:"disbursedAmount"`
	DisburseAttempts int                       `json:"disburseAttempts"`
	Schedule         []awda.Installment        `json:"schedule,omitempty"`
	VA               *awda.RepaymentVAResponse `json:"va,omitempty"`
	EventSeq         uint64                    `json:"eventSeq"`
	Transitions      []Transition              `json:"transitions"`
}

type savedAgreement struct {
	ID       string             `json:"id"`
	Fees     awda.AgreementFees `json:"fees"`
	SignedAt int64              `json:"signedAt"`
}

type savedStats struct {
	Calls          map[string]map[string]int `json:"calls"`
	SubmitsByOrder map[string]int            `json:"submitsByOrder"`
	LoansByOrder   map[string]int            `json:"loansByOrder"`
	LoansByUser    map[string]int            `json:"loansByUser"`
	Faults         FaultStats                `json:"faults"`
	Pushes         PushStats                 `json:"pushes"`
}

// savedDelivery is a push not yet acknowledged. The webhook URL is not kept:
// it comes from the configuration of the run that delivers it.
type savedDelivery struct {
	Subject  string          `json:"subject"`
	Kind     string          `json:"kind"`
	EventID  string          `json:"eventId"`
	Body     json.RawMessage `json:"body"`
	Attempts int             `json:"attempts"`
}

// loadState reads Config.StateFile, if any, into the fresh state New made,
// and schedules what was under way. A missing file is a first start.
func (s *Server) loadState() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	s.persist = &persister{path: s.cfg.StateFile, stop: make(chan struct{}), done: make(chan struct{})}
	b, err := os.ReadFile(s.cfg.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox: state file: %w", err)
	}
	var saved savedState
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&saved); err != nil {
		return fmt.Errorf("sandbox: state file %s: %w (move it away to start empty)", s.cfg.StateFile, err)
	}
	if saved.Version != stateVersion {
		return fmt.Errorf("sandbox: state file %s has version %d, want %d (move it away to start empty)", s.cfg.StateFile, saved.Version, stateVersion)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.restoreLocked(&saved); err != nil {
		return fmt.Errorf("sandbox: state file %s: %w", s.cfg.StateFile, err)
	}
	s.resumeLocked(saved.Pending)
	s.log.Info().Str("state_file", s.cfg.StateFile).Int("users", len(s.st.users)).Int("loans", len(s.st.loans)).
		Int("pushesPending", s.push.stats.Pending).Msg("sandbox state restored")
	return nil
}

func (s *Server) restoreLocked(saved *savedState) error {
	st := s.st
	for _, su := range saved.Users {
		u := su.user()
		st.users[u.id], st.byPartnerID[u.partnerUserID], st.byNIK[u.nik] = u, u, u
	}
	for _, sl := range saved.Loans {
		if st.users[sl.UserID] == nil {
			return fmt.Errorf("loan %s belongs to unknown user %s", sl.No, sl.UserID)
		}
		l := sl.loan()
		st.loans[l.no], st.byOrderNo[l.orderNo] = l, l
		st.loanOrder = append(st.loanOrder, l.no)
	}
	for id, t := range saved.Tokens {
		st.tokens[id] = &uploadToken{userID: t.UserID, expireAt: t.ExpireAt}
	}
	for id, im := range saved.Images {
		st.images[id] = &image{userID: im.UserID, imageType: im.ImageType, sha256: im.SHA256, size: im.Size}
	}
	for id, se := range saved.Sessions {
		st.sessions[id] = &authSession{id: id, userID: se.UserID, authType: se.AuthType, expireAt: se.ExpireAt}
	}
	for id, p := range saved.Pages {
		st.pages[id] = &h5Page{kind: p.Kind, userID: p.UserID, loanNo: p.LoanNo, expireAt: p.ExpireAt}
	}
	for _, id := range saved.Issued {
		st.issued[id] = struct{}{}
	}
	st.events = saved.Events
	ss := saved.Stats
	s.stats.calls = orEmpty(ss.Calls)
	s.stats.submitsByOrder = orEmpty(ss.SubmitsByOrder)
	s.stats.loansByOrder = orEmpty(ss.LoansByOrder)
	s.stats.loansByUser = orEmpty(ss.LoansByUser)
	s.stats.faults = ss.Faults
	s.push.stats = ss.Pushes
	s.push.stats.Pending = 0 // counted again as the pushes are queued
	return nil
}

// resumeLocked queues the pushes that were pending and schedules the next
// autopilot step of every loan and pending authorization, and the expiry of
// pending authorization pages. Nothing runs before Start.
func (s *Server) resumeLocked(pending []savedDelivery) {
	for _, p := range pending {
		url := s.cfg.LoanStatusWebhookURL
		if p.Kind == EventKindAuthorization {
			url = s.cfg.AuthWebhookURL
		}
		if url == "" {
			s.push.stats.Undeliverable++
			continue
		}
		d := &delivery{gen: s.gen, subject: p.Subject, url: url, body: p.Body, eventID: p.EventID, attempts: p.Attempts, ordered: true}
		s.push.stats.Pending++
		s.push.queues[p.Subject] = append(s.push.queues[p.Subject], d)
		if !s.push.busy[p.Subject] {
			s.push.busy[p.Subject] = true
			s.schedulePushLocked(d, 0)
		}
	}
	for _, no := range s.st.loanOrder {
		s.autopilotLoanLocked(s.st.loans[no])
	}
	now := s.Now()
	for _, id := range slices.Sorted(maps.Keys(s.st.users)) {
		u := s.st.users[id]
		for _, authType := range slices.Sorted(maps.Keys(u.auths)) {
			a := u.auths[authType]
			if a.status != awda.AuthPending || a.session == "" {
				continue
			}
			s.autopilotAuthLocked(u, authType, a.session)
			s.expireAuthAt(u, authType, a.session, a.expireAt.Sub(now))
		}
	}
}

// expireAuthAt is expireAuthLater with the time a page has left.
func (s *Server) expireAuthAt(u *user, authType, session string, left time.Duration) {
	gen := s.gen
	s.sched.after(left, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if gen != s.gen {
			return
		}
		if a := u.auths[authType]; a.status == awda.AuthPending && a.session == session {
			s.setAuthLocked(u, authType, awda.AuthExpired, byExpiry)
		}
	})
}

// startPersist writes the state every stateSaveInterval while it changes.
func (s *Server) startPersist() {
	p := s.persist
	if p == nil {
		return
	}
	p.startOnce.Do(func() {
		p.started = true
		go s.persistLoop(p)
	})
}

func (s *Server) persistLoop(p *persister) {
	defer close(p.done)
	t := time.NewTicker(stateSaveInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if err := s.SaveState(); err != nil {
				s.log.Error().Err(err).Msg("sandbox state not saved")
			}
		}
	}
}

// stopPersist ends the periodic writes (if Start ran) and writes the state
// one last time.
func (s *Server) stopPersist() error {
	p := s.persist
	if p == nil {
		return nil
	}
	p.startOnce.Do(func() {}) // no loop from now on
	p.stopOnce.Do(func() {
		close(p.stop)
		if p.started {
			<-p.done
		}
	})
	return s.SaveState()
}

// SaveState writes the state to Config.StateFile now (it is also written
// every second while it changes, and by Close). Without a StateFile it does
// nothing.
func (s *Server) SaveState() error {
	p := s.persist
	if p == nil {
		return nil
	}
	s.mu.Lock()
	saved := s.snapshotLocked()
	s.mu.Unlock()
	core, err := json.Marshal(saved) // SavedAt still zero: comparable
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if bytes.Equal(p.last, core) {
		return nil
	}
	saved.SavedAt = time.Now().UTC()
	b, err := json.Marshal(saved)
	if err != nil {
		return err
	}
	if err := writeAtomic(p.path, b); err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	p.last = core
	return nil
}

// writeAtomic replaces path with b: a reader (or a crash) sees the old file
// or the new one, never half of one.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *Server) snapshotLocked() *savedState {
	st := s.st
	out := &savedState{
		Version: stateVersion,
		Tokens:  map[string]savedToken{}, Images: map[string]savedImage{},
		Sessions: map[string]savedSession{}, Pages: map[string]savedPage{},
		Issued: slices.Sorted(maps.Keys(st.issued)),
		Events: slices.Clone(st.events),
		Stats: savedStats{
			Calls: st2(s.stats.calls), SubmitsByOrder: maps.Clone(s.stats.submitsByOrder),
			LoansByOrder: maps.Clone(s.stats.loansByOrder), LoansByUser: maps.Clone(s.stats.loansByUser),
			Faults: s.stats.faults, Pushes: s.push.stats,
		},
	}
	for _, id := range slices.Sorted(maps.Keys(st.users)) {
		out.Users = append(out.Users, saveUser(st.users[id]))
	}
	for _, no := range st.loanOrder {
		out.Loans = append(out.Loans, saveLoan(st.loans[no]))
	}
	for id, t := range st.tokens {
		out.Tokens[id] = savedToken{UserID: t.userID, ExpireAt: t.expireAt}
	}
	for id, im := range st.images {
		out.Images[id] = savedImage{UserID: im.userID, ImageType: im.imageType, SHA256: im.sha256, Size: im.size}
	}
	for id, se := range st.sessions {
		out.Sessions[id] = savedSession{UserID: se.userID, AuthType: se.authType, ExpireAt: se.expireAt}
	}
	for id, p := range st.pages {
		out.Pages[id] = savedPage{Kind: p.kind, UserID: p.userID, LoanNo: p.loanNo, ExpireAt: p.expireAt}
	}
	for _, subject := range slices.Sorted(maps.Keys(s.push.queues)) {
		for _, d := range s.push.queues[subject] {
			kind := EventKindLoanStatus
			if strings.HasSuffix(subject, "/auth") {
				kind = EventKindAuthorization
			}
			out.Pending = append(out.Pending, savedDelivery{Subject: subject, Kind: kind, EventID: d.eventID, Body: d.body, Attempts: d.attempts})
		}
	}
	return out
}

func saveUser(u *user) savedUser {
	su := savedUser{
		ID: u.id, PartnerUserID: u.partnerUserID, NIK: u.nik, Name: u.name, Mobile: u.mobile,
		BirthDate: u.birthDate, CreatedAt: u.createdAt, Auths: map[string]savedAuth{},
		Loans: slices.Clone(u.loans), EventSeq: u.eventSeq,
	}
	for t, a := range u.auths {
		su.Auths[t] = savedAuth{Status: a.status, Session: a.session, ExpireAt: a.expireAt, Attempts: a.attempts}
	}
	for _, c := range u.cards {
		su.Cards = append(su.Cards, savedCard{BankCode: c.bankCode, AccountNo: c.accountNo, Status: c.status, FailReason: c.failReason})
	}
	return su
}

func (su savedUser) user() *user {
	u := &user{
		id: su.ID, partnerUserID: su.PartnerUserID, nik: su.NIK, name: su.Name, mobile: su.Mobile,
		birthDate: su.BirthDate, createdAt: su.CreatedAt, auths: map[string]*authState{},
		loans: su.Loans, markers: markersOf(su.PartnerUserID), eventSeq: su.EventSeq,
	}
	for t, a := range su.Auths {
		u.auths[t] = &authState{status: a.Status, session: a.Session, expireAt: a.ExpireAt, attempts: a.Attempts}
	}
	for _, c := range su.Cards {
		u.cards = append(u.cards, &card{bankCode: c.BankCode, accountNo: c.AccountNo, status: c.Status, failReason: c.FailReason})
	}
	return u
}

func saveLoan(l *loan) savedLoan {
	sl := savedLoan{
		No: l.no, OrderNo: l.orderNo, UserID: l.userID, Amount: l.amount, Tenor: l.tenor, Unit: l.unit,
		Status: l.status, Version: l.version, CreatedAt: l.createdAt, BankCode: l.bankCode,
		DisbursedAt: l.disbursedAt, DisbursedAmount: l.disbursedAmount, DisburseAttempts: l.disburseAttempts,
		Schedule: slices.Clone(l.schedule), EventSeq: l.eventSeq, Transitions: slices.Clone(l.transitions),
	}
	if l.agreement != nil {
		sl.Agreement = &savedAgreement{ID: l.agreement.id, Fees: l.agreement.fees, SignedAt: l.agreement.signedAt}
	}
	if l.va != nil {
		va := *l.va
		sl.VA = &va
	}
	return sl
}

func (sl savedLoan) loan() *loan {
	l := &loan{
		no: sl.No, orderNo: sl.OrderNo, userID: sl.UserID, amount: sl.Amount, tenor: sl.Tenor, unit: sl.Unit,
		status: sl.Status, version: sl.Version, createdAt: sl.CreatedAt, bankCode: sl.BankCode,
		disbursedAt: sl.DisbursedAt, disbursedAmount: sl.DisbursedAmount, disburseAttempts: sl.DisburseAttempts,
		schedule: sl.Schedule, va: sl.VA, eventSeq: sl.EventSeq, transitions: sl.Transitions,
	}
	if sl.Agreement != nil {
		l.agreement = &agreement{id: sl.Agreement.ID, fees: sl.Agreement.Fees, signedAt: sl.Agreement.SignedAt}
	}
	return l
}

func st2(m map[string]map[string]int) map[string]map[string]int {
	out := make(map[string]map[string]int, len(m))
	for k, v := range m {
		out[k] = maps.Clone(v)
	}
	return out
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}
