package sandbox

import (
	"fmt"
	"strings"

	"github.com/awdaflow/awdaflow/awda"
)

// This file is AWDA's back office for in-process use (see "In-process use"
// in doc.go): what tests and the simulator script besides Advance and
// SetAuthorization, and the look-ups they check with.

// cardVerdict is one scripted bankcard/verify answer.
type cardVerdict struct {
	status awda.CardStatus
	reason string
}

// QueueCardVerdicts makes the next n bankcard/verify calls that pass
// validation answer status (FAILED with reason, VERIFYING, or BOUND),
// whatever the account number, before the usual rule applies again. A
// VERIFYING card stays so until SetCardStatus.
func (s *Server) QueueCardVerdicts(status awda.CardStatus, reason string, n int) error {
	switch status {
	case awda.CardBound, awda.CardFailed, awda.CardVerifying:
	default:
		return fmt.Errorf("sandbox: a card verdict is BOUND, FAILED or VERIFYING, not %q", status)
	}
	if n < 0 {
		return fmt.Errorf("sandbox: %d card verdicts", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.verdicts = append(s.verdicts, cardVerdict{status: status, reason: reason})
	}
	return nil
}

// SetCardStatus sets the status of the user's cards at bankCode whose
// account numbers end in suffix ("" for every card at the bank): AWDA
// finishing a verification (nothing is pushed; bankcard/query shows it). It
// returns how many cards changed.
func (s *Server) SetCardStatus(userID, bankCode, suffix string, status awda.CardStatus) (int, error) {
	switch status {
	case awda.CardBound, awda.CardFailed, awda.CardVerifying:
	default:
		return 0, fmt.Errorf("sandbox: unknown card status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.users[userID]
	if u == nil {
		return 0, fmt.Errorf("%w: user %s", ErrNotFound, userID)
	}
	n := 0
	for _, cd := range u.cards {
		if cd.bankCode == bankCode && strings.HasSuffix(cd.accountNo, suffix) {
			cd.status, n = status, n+1
			if status != awda.CardFailed {
				cd.failReason = ""
			}
		}
	}
	return n, nil
}

// UserID returns the userId registered for partnerUserID, or "".
func (s *Server) UserID(partnerUserID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.st.byPartnerID[partnerUserID]; u != nil {
		return u.id
	}
	return ""
}

// LoanNo returns the loanNo of orderNo, or "".
func (s *Server) LoanNo(orderNo string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.st.byOrderNo[orderNo]; l != nil {
		return l.no
	}
	return ""
}

// ImagesStored returns how many images of type t were stored, by upload or
// base64, for every user.
func (s *Server) ImagesStored(t awda.ImageType) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, im := range s.st.images {
		if im.imageType == t {
			n++
		}
	}
	return n
}
