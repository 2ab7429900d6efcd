package sandbox

import (
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// autopilotDelayLocked draws a step delay.
func (s *Server) autopilotDelayLocked() time.Duration {
	a := s.cfg.Autopilot
	if a.NoDelay {
		return 0
	}
	return uniform(s.rngDelays.Float64(), a.MinDelay, a.MaxDelay)
}

// autoLocked schedules one autopilot step. The step runs only if nothing
// else (the API, the admin API, a Reset) moved things on in the meantime,
// which check reports under the lock.
func (s *Server) autoLocked(step func()) {
	gen := s.gen
	s.autoTasks++
	s.sched.after(s.autopilotDelayLocked(), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if gen != s.gen {
			return
		}
		s.autoTasks--
		step()
	})
}

func (s *Server) autopilotOn(u *user) bool {
	return s.cfg.Autopilot.Enabled && u != nil && !u.markers.manual
}

// autopilotLoanLocked schedules the loan's next step, if the autopilot moves
// loans in its status. APPROVED waits for loan/sign (the partner's move);
// REJECTED, SETTLED, CANCELLED and DISBURSE_FAILED are where it stops, and
// DISBURSED too with HoldRepayments.
func (s *Server) autopilotLoanLocked(l *loan) {
	u := s.st.users[l.userID]
	if !s.autopilotOn(u) {
		return
	}
	switch l.status {
	case awda.LoanSubmitted, awda.LoanUnderReview, awda.LoanSigned, awda.LoanDisbursing:
	case awda.LoanDisbursed, awda.LoanRepaying, awda.LoanOverdue:
		if s.cfg.Autopilot.HoldRepayments {
			return
		}
	default:
		return
	}
	v := l.version
	s.autoLocked(func() {
		if l.version != v {
			return
		}
		if err := s.stepLocked(l, s.autopilotNext(u, l), byAutopilot); err != nil {
			s.log.Error().Err(err).Str("loan_no", l.no).Msg("autopilot step refused")
		}
	})
}

// autopilotNext applies the documented rules.
func (s *Server) autopilotNext(u *user, l *loan) awda.LoanStatus {
	switch l.status {
	case awda.LoanSubmitted:
		return awda.LoanUnderReview
	case awda.LoanUnderReview:
		if u.markers.reject || u.markers.ineligible || l.amount > s.cfg.MaxAmount {
			return awda.LoanRejected
		}
		return awda.LoanApproved
	case awda.LoanSigned:
		return awda.LoanDisbursing
	case awda.LoanDisbursing:
		if u.markers.disburseFail && l.disburseAttempts == 1 {
			return awda.LoanDisburseFailed
		}
		return awda.LoanDisbursed
	}
	// DISBURSED, REPAYING, OVERDUE: the next installment.
	k := l.nextUnpaid()
	if u.markers.overdue && k == 0 && l.schedule[0].Status == awda.InstallmentUnpaid {
		return awda.LoanOverdue
	}
	if k == len(l.schedule)-1 {
		return awda.LoanSettled
	}
	return awda.LoanRepaying
}

// autopilotAuthLocked completes an authorization page after a delay:
// SUCCESS, or FAILED for the first page of a user whose partnerUserId
// contains "authfail".
func (s *Server) autopilotAuthLocked(u *user, authType, session string) {
	if !s.autopilotOn(u) {
		return
	}
	s.autoLocked(func() {
		a := u.auths[authType]
		if a.status != awda.AuthPending || a.session != session {
			return
		}
		st := awda.AuthSuccess
		if u.markers.authFail && a.attempts == 1 {
			st = awda.AuthFailed
		}
		s.setAuthLocked(u, authType, st, byAutopilot)
	})
}
