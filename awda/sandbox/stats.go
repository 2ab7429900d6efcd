package sandbox

import (
	"maps"
	"slices"
	"strconv"

	"github.com/awdaflow/awdaflow/awda"
)

// Stats is what GET /_sandbox/stats answers: what the sandbox was asked and
// what it did since the start (or the last Reset).
type Stats struct {
	// Calls counts answers per interface path and code ("0", "1004", …).
	// Requests refused at the HTTP level count as "http405"/"http404" (under
	// "other" for paths that are not interfaces); requests whose client left
	// before the answer count as "gone".
	Calls map[string]map[string]int `json:"calls"`
	// SubmitCallsByOrderNo counts loan/submit calls that got past
	// authentication, per orderNo (retries included).
	SubmitCallsByOrderNo map[string]int `json:"submitCallsByOrderNo"`
	// LoansByOrderNo and LoansByUserID count loans created: the
	// duplicate-loan detector. Every orderNo must show exactly 1.
	LoansByOrderNo map[string]int `json:"loansByOrderNo"`
	LoansByUserID  map[string]int `json:"loansByUserId"`
	// DuplicateOrderNos lists orderNos with more than one loan (it must stay
	// empty); UsersWithSeveralLoans lists userIds with more than one loan.
	DuplicateOrderNos     []string `json:"duplicateOrderNos"`
	UsersWithSeveralLoans []string `json:"usersWithSeveralLoans"`

	Users         int                     `json:"users"`
	Loans         int                     `json:"loans"`
	LoansByStatus map[awda.LoanStatus]int `json:"loansByStatus"`
	Pushes        PushStats               `json:"pushes"`
	Faults        FaultStats              `json:"faults"`
	ClockSkewMs   int64                   `json:"clockSkewMs"`
	// Autopilot steps scheduled and not yet run.
	AutopilotPending int `json:"autopilotPending"`
}

// PushStats counts notifications. Events are status changes; each becomes
// 1 + Duplicates deliveries; each delivery takes one or more attempts.
type PushStats struct {
	Events        int `json:"events"`
	Deliveries    int `json:"deliveries"`
	Sent          int `json:"sent"`          // HTTP attempts
	Acknowledged  int `json:"acknowledged"`  // deliveries answered HTTP 200 with code 0
	Failed        int `json:"failed"`        // attempts not acknowledged (retried)
	Pending       int `json:"pending"`       // deliveries not yet acknowledged
	Dropped       int `json:"dropped"`       // deliveries given up after MaxAttempts
	Undeliverable int `json:"undeliverable"` // events with no webhook URL configured
}

// FaultStats counts injected faults.
type FaultStats struct {
	Busy            int `json:"busy"`
	Forced          int `json:"forced"`
	Timeouts        int `json:"timeouts"`
	TimeoutsApplied int `json:"timeoutsApplied"` // timeouts whose request took effect
}

type statsData struct {
	calls          map[string]map[string]int
	submitsByOrder map[string]int
	loansByOrder   map[string]int
	loansByUser    map[string]int
	faults         FaultStats
}

func newStatsData() *statsData {
	return &statsData{
		calls:          map[string]map[string]int{},
		submitsByOrder: map[string]int{},
		loansByOrder:   map[string]int{},
		loansByUser:    map[string]int{},
	}
}

func codeKey(c awda.Code) string {
	if c == codeGone {
		return "gone"
	}
	return strconv.Itoa(int(c))
}

func (s *Server) count(path string, c awda.Code) {
	s.mu.Lock()
	s.countLocked(path, codeKey(c))
	s.mu.Unlock()
}

func (s *Server) countHTTP(path string, known bool, status int) {
	if !known {
		path = "other"
	}
	s.mu.Lock()
	s.countLocked(path, "http"+strconv.Itoa(status))
	s.mu.Unlock()
}

func (s *Server) countLocked(path, key string) {
	m := s.stats.calls[path]
	if m == nil {
		m = map[string]int{}
		s.stats.calls[path] = m
	}
	m[key]++
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Calls:                 make(map[string]map[string]int, len(s.stats.calls)),
		SubmitCallsByOrderNo:  maps.Clone(s.stats.submitsByOrder),
		LoansByOrderNo:        maps.Clone(s.stats.loansByOrder),
		LoansByUserID:         maps.Clone(s.stats.loansByUser),
		DuplicateOrderNos:     []string{},
		UsersWithSeveralLoans: []string{},
		Users:                 len(s.st.users),
		Loans:                 len(s.st.loans),
		LoansByStatus:         map[awda.LoanStatus]int{},
		Pushes:                s.push.stats,
		Faults:                s.stats.faults,
		ClockSkewMs:           s.ClockSkew().Milliseconds(),
		AutopilotPending:      s.autoTasks,
	}
	for k, v := range s.stats.calls {
		st.Calls[k] = maps.Clone(v)
	}
	for o, n := range st.LoansByOrderNo {
		if n > 1 {
			st.DuplicateOrderNos = append(st.DuplicateOrderNos, o)
		}
	}
	for u, n := range st.LoansByUserID {
		if n > 1 {
			st.UsersWithSeveralLoans = append(st.UsersWithSeveralLoans, u)
		}
	}
	slices.Sort(st.DuplicateOrderNos)
	slices.Sort(st.UsersWithSeveralLoans)
	for _, l := range s.st.loans {
		st.LoansByStatus[l.status]++
	}
	return st
}

// CallCount is Stats().Calls[path][code] without copying everything.
func (s *Server) CallCount(path string, code awda.Code) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.calls[path][codeKey(code)]
}
