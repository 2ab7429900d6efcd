package sandbox

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// Pricing the sandbox applies (documented in doc.go and the README).
const (
	AdminFeeRate        = 0.05  // of the amount, deducted at disbursement
	MonthlyInterestRate = 0.03  // per month, on the amount, each installment
	DailyInterestRate   = 0.001 // per day, on the amount, DAY tenors
	OverdueFeeRate      = 0.01  // of the installment's principal, once overdue
)

// wib is Western Indonesia Time, in which due dates fall.
var wib = time.FixedZone("WIB", 7*3600)

// Who moved a loan, for the recorded transitions.
const (
	byAPI       = "api"
	byAutopilot = "autopilot"
	byAdmin     = "admin"
	byExpiry    = "expiry"
	byH5        = "h5"
)

// transitions is the loan state machine: from → the statuses that may
// follow, in the order Advance prefers them.
var transitions = map[awda.LoanStatus][]awda.LoanStatus{
	"":                      {awda.LoanSubmitted},
	awda.LoanSubmitted:      {awda.LoanUnderReview, awda.LoanCancelled},
	awda.LoanUnderReview:    {awda.LoanApproved, awda.LoanRejected, awda.LoanCancelled},
	awda.LoanApproved:       {awda.LoanSigned, awda.LoanCancelled},
	awda.LoanSigned:         {awda.LoanDisbursing},
	awda.LoanDisbursing:     {awda.LoanDisbursed, awda.LoanDisburseFailed},
	awda.LoanDisburseFailed: {awda.LoanDisbursing, awda.LoanCancelled},
	awda.LoanDisbursed:      {awda.LoanRepaying, awda.LoanOverdue, awda.LoanSettled, awda.LoanCancelled},
	awda.LoanRepaying:       {awda.LoanRepaying, awda.LoanOverdue, awda.LoanSettled, awda.LoanCancelled},
	awda.LoanOverdue:        {awda.LoanRepaying, awda.LoanSettled, awda.LoanCancelled},
}

// pathTo is the shortest way from → to through the state machine (to alone
// for a self-loop such as REPAYING → REPAYING), or nil.
func pathTo(from, to awda.LoanStatus) []awda.LoanStatus {
	if from == to {
		if slices.Contains(transitions[from], to) {
			return []awda.LoanStatus{to}
		}
		return nil
	}
	prev := map[awda.LoanStatus]awda.LoanStatus{from: from}
	queue := []awda.LoanStatus{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, n := range transitions[cur] {
			if _, seen := prev[n]; seen {
				continue
			}
			prev[n] = cur
			if n == to {
				var p []awda.LoanStatus
				for x := to; x != from; x = prev[x] {
					p = append(p, x)
				}
				slices.Reverse(p)
				return p
			}
			queue = append(queue, n)
		}
	}
	return nil
}

func markersOf(partnerUserID string) markers {
	p := strings.ToLower(partnerUserID)
	return markers{
		ineligible:   strings.Contains(p, "ineligible"),
		reject:       strings.Contains(p, "reject"),
		authFail:     strings.Contains(p, "authfail"),
		disburseFail: strings.Contains(p, "disbursefail"),
		overdue:      strings.Contains(p, "overdue"),
		manual:       strings.Contains(p, "manual"),
	}
}

func roundIDR(v float64) int64 { return int64(math.Round(v)) }

// feesFor prices a loan.
func feesFor(amount int64, tenor int, unit awda.TenorUnit) awda.AgreementFees {
	f := awda.AgreementFees{AdminFee: roundIDR(float64(amount) * AdminFeeRate)}
	if unit == awda.TenorMonth {
		f.InterestRate = MonthlyInterestRate
		f.TotalInterest = roundIDR(float64(amount)*MonthlyInterestRate) * int64(tenor)
	} else {
		f.InterestRate = DailyInterestRate
		f.TotalInterest = roundIDR(float64(amount) * DailyInterestRate * float64(tenor))
	}
	f.TotalRepayment = amount + f.TotalInterest
	f.DisbursedAmount = amount - f.AdminFee
	return f
}

// scheduleFor splits the repayment: MONTH n → n monthly installments (equal
// principal, the remainder on the last; interest on the amount each month);
// DAY n → one installment after n days.
func scheduleFor(amount int64, tenor int, unit awda.TenorUnit, disbursedAt time.Time) []awda.Installment {
	start := disbursedAt.In(wib)
	if unit != awda.TenorMonth {
		return []awda.Installment{{
			Period: 1, DueDate: start.AddDate(0, 0, tenor).Format(awda.DateLayout), Principal: amount,
			Interest: roundIDR(float64(amount) * DailyInterestRate * float64(tenor)), Status: awda.InstallmentUnpaid,
		}}
	}
	out := make([]awda.Installment, tenor)
	each := amount / int64(tenor)
	interest := roundIDR(float64(amount) * MonthlyInterestRate)
	for k := range out {
		p := each
		if k == tenor-1 {
			p = amount - each*int64(tenor-1)
		}
		out[k] = awda.Installment{
			Period: k + 1, DueDate: start.AddDate(0, k+1, 0).Format(awda.DateLayout),
			Principal: p, Interest: interest, Status: awda.InstallmentUnpaid,
		}
	}
	return out
}

func (l *loan) nextUnpaid() int {
	for i, in := range l.schedule {
		if in.Status != awda.InstallmentPaid {
			return i
		}
	}
	return -1
}

func (l *loan) payLocked(k int) int64 {
	in := &l.schedule[k]
	due := in.Principal + in.Interest + in.Fee - in.PaidAmount
	in.PaidAmount += due
	in.Status = awda.InstallmentPaid
	return due
}

// errTransition is returned for a status the loan cannot take now.
var errTransition = errors.New("transition not allowed")

// stepLocked moves l one step to `to`, with the step's side effects, and
// pushes the change.
func (s *Server) stepLocked(l *loan, to awda.LoanStatus, by string) error {
	if !slices.Contains(transitions[l.status], to) {
		return fmt.Errorf("%w: %s → %s", errTransition, orNone(l.status), to)
	}
	now := s.Now()
	period, amount := 0, l.amount
	switch to {
	case awda.LoanApproved:
		if l.agreement == nil {
			l.agreement = &agreement{id: s.st.newID(s.rngIDs, hexID("agr_")), fees: feesFor(l.amount, l.tenor, l.unit)}
		}
	case awda.LoanSigned:
		if l.agreement.signedAt == 0 {
			l.agreement.signedAt = now.UnixMilli()
		}
	case awda.LoanDisbursing:
		l.disburseAttempts++
	case awda.LoanDisbursed:
		l.disbursedAt = now
		l.disbursedAmount = l.agreement.fees.DisbursedAmount
		l.schedule = scheduleFor(l.amount, l.tenor, l.unit, now)
		amount = l.disbursedAmount
	case awda.LoanRepaying:
		k := l.nextUnpaid()
		if k < 0 || k == len(l.schedule)-1 {
			return fmt.Errorf("%w: paying the last installment settles the loan; advance to SETTLED", errTransition)
		}
		period, amount = k+1, l.payLocked(k)
	case awda.LoanOverdue:
		k := l.nextUnpaid()
		if k < 0 {
			return fmt.Errorf("%w: nothing left to be overdue", errTransition)
		}
		in := &l.schedule[k]
		if in.Status == awda.InstallmentUnpaid {
			in.Status = awda.InstallmentOverdue
			in.Fee += roundIDR(float64(in.Principal) * OverdueFeeRate)
		}
		period, amount = k+1, in.Principal+in.Interest+in.Fee-in.PaidAmount
	case awda.LoanSettled:
		amount = 0
		for k := l.nextUnpaid(); k >= 0; k = l.nextUnpaid() {
			amount += l.payLocked(k)
			period = k + 1
		}
	}
	s.transitionLocked(l, to, by, period, amount, now)
	return nil
}

func orNone(s awda.LoanStatus) string {
	if s == "" {
		return "(none)"
	}
	return string(s)
}

func (s *Server) transitionLocked(l *loan, to awda.LoanStatus, by string, period int, amount int64, now time.Time) {
	from := l.status
	l.status = to
	l.version++
	l.transitions = append(l.transitions, Transition{From: from, To: to, Period: period, At: now.UnixMilli(), By: by})
	l.eventSeq++
	ev := &awda.LoanStatusEvent{
		EventID:    s.st.eventID(s.cfg.Seed, l.no, l.eventSeq),
		EventType:  awda.EventTypeLoanStatus,
		LoanNo:     l.no,
		OrderNo:    l.orderNo,
		UserID:     l.userID,
		Status:     to,
		PrevStatus: from,
		Period:     period,
		Amount:     amount,
		OccurredAt: now.UnixMilli(),
	}
	s.emitLocked(Event{Kind: EventKindLoanStatus, EventID: ev.EventID, Loan: ev}, l.no)
	s.log.Info().Str("loan_no", l.no).Str("from", string(from)).Str("to", string(to)).Int("period", period).Str("by", by).Msg("loan status changed")
	s.autopilotLoanLocked(l)
}

// ErrNotFound is returned by Advance and SetAuthorization for an unknown
// loan, user or authorization type.
var ErrNotFound = errors.New("sandbox: not found")

// Advance moves a loan to status along the shortest path of the state
// machine, one pushed step at a time (SUBMITTED → SETTLED passes through
// UNDER_REVIEW, APPROVED, SIGNED, DISBURSING and DISBURSED; REPAYING pays
// the next installment; SETTLED pays all that remain). It returns the
// statuses it went through.
func (s *Server) Advance(loanNo string, status awda.LoanStatus) ([]awda.LoanStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.loans[loanNo]
	if l == nil {
		return nil, fmt.Errorf("%w: loan %s", ErrNotFound, loanNo)
	}
	if !status.Valid() {
		return nil, fmt.Errorf("sandbox: unknown loan status %q", status)
	}
	path := pathTo(l.status, status)
	if path == nil {
		return nil, fmt.Errorf("sandbox: %w: no way from %s to %s", errTransition, l.status, status)
	}
	done := make([]awda.LoanStatus, 0, len(path))
	for _, st := range path {
		if err := s.stepLocked(l, st, byAdmin); err != nil {
			return done, fmt.Errorf("sandbox: %w", err)
		}
		done = append(done, st)
	}
	return done, nil
}

// LoanTransitions returns the recorded status changes of a loan.
func (s *Server) LoanTransitions(loanNo string) ([]Transition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.loans[loanNo]
	if l == nil {
		return nil, fmt.Errorf("%w: loan %s", ErrNotFound, loanNo)
	}
	return append([]Transition(nil), l.transitions...), nil
}

// Loan returns what loan/info would answer, without a signed call.
func (s *Server) Loan(loanNo string) (awda.LoanInfoResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.st.loans[loanNo]
	if l == nil {
		return awda.LoanInfoResponse{}, fmt.Errorf("%w: loan %s", ErrNotFound, loanNo)
	}
	return l.info(), nil
}

// SetAuthorization sets a user's authorization status; SUCCESS, FAILED and
// EXPIRED push an AuthorizationEvent (PENDING and NONE push nothing).
func (s *Server) SetAuthorization(userID, authType string, status awda.AuthStatus) error {
	switch status {
	case awda.AuthNone, awda.AuthPending, awda.AuthSuccess, awda.AuthFailed, awda.AuthExpired:
	default:
		return fmt.Errorf("sandbox: unknown authorization status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[userID]
	if u == nil {
		return fmt.Errorf("%w: user %s", ErrNotFound, userID)
	}
	if _, known := u.auths[authType]; !known {
		return fmt.Errorf("%w: authType %s", ErrNotFound, authType)
	}
	s.setAuthLocked(u, authType, status, byAdmin)
	return nil
}

func (s *Server) setAuthLocked(u *user, authType string, status awda.AuthStatus, by string) {
	a := u.auths[authType]
	a.status = status
	if status != awda.AuthPending {
		a.session = ""
	}
	if status != awda.AuthSuccess && status != awda.AuthFailed && status != awda.AuthExpired {
		return
	}
	subject := u.id + "/auth"
	u.eventSeq++
	now := s.Now()
	ev := &awda.AuthorizationEvent{
		EventID:    s.st.eventID(s.cfg.Seed, subject, u.eventSeq),
		UserID:     u.id,
		AuthType:   authType,
		Status:     status,
		OccurredAt: now.UnixMilli(),
	}
	s.emitLocked(Event{Kind: EventKindAuthorization, EventID: ev.EventID, Auth: ev}, subject)
	s.log.Info().Str("user_id", u.id).Str("auth_type", authType).Str("status", string(status)).Str("by", by).Msg("authorization changed")
}

// expireAuthLater turns a still-pending page into EXPIRED when its TTL has
// passed (real time; auth/list also expires it on the sandbox clock).
func (s *Server) expireAuthLater(u *user, authType, session string) {
	gen := s.gen
	s.sched.after(s.cfg.AuthPageTTL, func() {
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
