package sandbox

import (
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// Admin API routes, all under AdminPrefix, unsigned, JSON in and out.
// Errors answer {"error": "..."} with HTTP 400 (bad input), 403 (not from
// loopback), 404 (unknown loan or user) or 409 (transition not allowed).
const (
	AdminStats          = "GET /_sandbox/stats"
	AdminEvents         = "GET /_sandbox/events"
	AdminGetFaults      = "GET /_sandbox/faults"
	AdminSetFaults      = "POST /_sandbox/faults"
	AdminSetDelivery    = "POST /_sandbox/delivery"
	AdminGetLoan        = "GET /_sandbox/loans/{loanNo}"
	AdminAdvanceLoan    = "POST /_sandbox/loans/{loanNo}/status"
	AdminAuthorizations = "POST /_sandbox/authorizations"
	AdminGetClock       = "GET /_sandbox/clock"
	AdminSetClock       = "POST /_sandbox/clock"
	AdminReset          = "POST /_sandbox/reset"
	AdminHealth         = "GET /_sandbox/healthz"
)

// FaultsRequest is the body of POST /_sandbox/faults. Endpoints replaces
// every rule (an empty or missing map clears them, as does Clear); Delivery,
// when present, replaces the delivery settings as well.
type FaultsRequest struct {
	Endpoints map[string]Fault `json:"endpoints"`
	Delivery  *Delivery        `json:"delivery,omitempty"`
	Clear     bool             `json:"clear,omitempty"`
}

// FaultsResponse is what GET and POST /_sandbox/faults answer.
type FaultsResponse struct {
	Endpoints map[string]Fault `json:"endpoints"`
	Delivery  Delivery         `json:"delivery"`
}

// AdvanceRequest is the body of POST /_sandbox/loans/{loanNo}/status.
type AdvanceRequest struct {
	Status awda.LoanStatus `json:"status"`
}

// AdvanceResponse lists the statuses the loan went through.
type AdvanceResponse struct {
	LoanNo string            `json:"loanNo"`
	Status awda.LoanStatus   `json:"status"`
	Path   []awda.LoanStatus `json:"path"`
}

// LoanView is what GET /_sandbox/loans/{loanNo} answers.
type LoanView struct {
	Info        awda.LoanInfoResponse `json:"info"`
	Transitions []Transition          `json:"transitions"`
}

// AuthorizationRequest is the body of POST /_sandbox/authorizations.
type AuthorizationRequest struct {
	UserID   string          `json:"userId"`
	AuthType string          `json:"authType"`
	Status   awda.AuthStatus `json:"status"`
}

// ClockRequest is the body of POST /_sandbox/clock.
type ClockRequest struct {
	SkewMs int64 `json:"skewMs"`
}

// ClockResponse is what GET and POST /_sandbox/clock answer.
type ClockResponse struct {
	SkewMs int64 `json:"skewMs"`
	NowMs  int64 `json:"nowMs"`
}

func (s *Server) adminMux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc(AdminStats, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	m.HandleFunc(AdminEvents, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Events()) })
	m.HandleFunc(AdminHealth, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	m.HandleFunc(AdminGetFaults, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.faultsView()) })
	m.HandleFunc(AdminSetFaults, s.adminSetFaults)
	m.HandleFunc(AdminSetDelivery, func(w http.ResponseWriter, r *http.Request) {
		var d Delivery
		if !readJSON(w, r, &d) {
			return
		}
		if err := s.SetDelivery(d); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, s.faultsView())
	})
	m.HandleFunc(AdminGetLoan, s.adminGetLoan)
	m.HandleFunc(AdminAdvanceLoan, s.adminAdvanceLoan)
	m.HandleFunc(AdminAuthorizations, s.adminAuthorizations)
	m.HandleFunc(AdminGetClock, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.clockView()) })
	m.HandleFunc(AdminSetClock, func(w http.ResponseWriter, r *http.Request) {
		var req ClockRequest
		if !readJSON(w, r, &req) {
			return
		}
		s.SetClockSkew(time.Duration(req.SkewMs) * time.Millisecond)
		writeJSON(w, http.StatusOK, s.clockView())
	})
	m.HandleFunc(AdminReset, func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	return s.loopbackOnly(m)
}

// adminSetFaults replaces the endpoint fault rules and, if given, the
// delivery settings.
func (s *Server) adminSetFaults(w http.ResponseWriter, r *http.Request) {
	var req FaultsRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Delivery != nil {
		if err := req.Delivery.validate(); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	rules := req.Endpoints
	if req.Clear {
		rules = nil
	}
	if err := s.SetFaults(rules); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.Delivery != nil {
		_ = s.SetDelivery(*req.Delivery)
	}
	writeJSON(w, http.StatusOK, s.faultsView())
}

// adminGetLoan shows a loan and its transitions.
func (s *Server) adminGetLoan(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("loanNo")
	info, err := s.Loan(no)
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	tr, _ := s.LoanTransitions(no)
	writeJSON(w, http.StatusOK, LoanView{Info: info, Transitions: tr})
}

// adminAdvanceLoan moves a loan to a status through the path the lifecycle allows.
func (s *Server) adminAdvanceLoan(w http.ResponseWriter, r *http.Request) {
	var req AdvanceRequest
	if !readJSON(w, r, &req) {
		return
	}
	no := r.PathValue("loanNo")
	if !req.Status.Valid() {
		writeError(w, http.StatusBadRequest, errors.New("status must be one of the loan statuses"))
		return
	}
	path, err := s.Advance(no, req.Status)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusConflict, err)
	default:
		writeJSON(w, http.StatusOK, AdvanceResponse{LoanNo: no, Status: req.Status, Path: path})
	}
}

// adminAuthorizations sets an authorization's status.
func (s *Server) adminAuthorizations(w http.ResponseWriter, r *http.Request) {
	var req AuthorizationRequest
	if !readJSON(w, r, &req) {
		return
	}
	err := s.SetAuthorization(req.UserID, req.AuthType, req.Status)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusBadRequest, err)
	default:
		writeJSON(w, http.StatusOK, req)
	}
}

func (s *Server) faultsView() FaultsResponse {
	f := s.Faults()
	if f == nil {
		f = map[string]Fault{}
	}
	return FaultsResponse{Endpoints: f, Delivery: s.Delivery()}
}

func (s *Server) clockView() ClockResponse {
	return ClockResponse{SkewMs: s.ClockSkew().Milliseconds(), NowMs: s.Now().UnixMilli()}
}

// Reset forgets every user, loan, event, nonce and counter, drops pending
// pushes and autopilot steps, reseeds the generators and restores the
// configured faults, delivery settings and clock skew.
func (s *Server) Reset() {
	faults, _ := normalizeFaults(s.cfg.Faults)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Clear under s.mu, so that no work of the new generation is scheduled
	// (and dropped) in between.
	s.sched.clear()
	s.resetLocked()
	s.faults = faults
	s.delivery = s.cfg.Delivery.withDefaults()
	s.skew.Store(int64(s.cfg.ClockSkew))
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.AdminAllowRemote && !isLoopback(r.RemoteAddr) {
			writeError(w, http.StatusForbidden, errors.New("the sandbox admin API answers loopback clients only"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(b) == 0 {
		b = []byte("{}")
	}
	if err == nil {
		err = strictUnmarshal(b, v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, errors.New("body is not valid JSON for this route: "+err.Error()))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// ---- H5 pages: what a borrower's browser would open ----

var h5Tmpl = template.Must(template.New("h5").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>AWDA sandbox: {{.Title}}</title></head>
<body><h1>{{.Title}}</h1>{{range .Lines}}<p>{{.}}</p>{{end}}
{{range .Links}}<p><a href="{{.Href}}">{{.Text}}</a></p>{{end}}</body></html>
`))

type h5View struct {
	Title string
	Lines []string
	Links []h5Link
}

type h5Link struct{ Href, Text string }

func (s *Server) h5Mux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET "+H5Prefix+"auth/{session}", s.h5Auth)
	m.HandleFunc("GET "+H5Prefix+"page/{token}", s.h5Redirect)
	m.HandleFunc("GET "+H5Prefix+"agreement/{loanNo}", s.h5Agreement)
	return m
}

func renderH5(w http.ResponseWriter, status int, v h5View) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = h5Tmpl.Execute(w, v)
}

// h5Auth shows an authorization page; ?result=success or ?result=failed
// completes it (as the borrower would at the third party) and pushes the
// callback. Completing is subject to the admin API's loopback rule.
func (s *Server) h5Auth(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("session")
	s.mu.Lock()
	ses := s.st.sessions[id]
	var u *user
	if ses != nil {
		u = s.st.users[ses.userID]
	}
	s.mu.Unlock()
	if ses == nil || u == nil {
		renderH5(w, http.StatusNotFound, h5View{Title: "Authorization page not found"})
		return
	}
	result := r.URL.Query().Get("result")
	if result == "" {
		self := H5Prefix + "auth/" + id + "?returnUrl=" + template.URLQueryEscaper(r.URL.Query().Get("returnUrl"))
		renderH5(w, http.StatusOK, h5View{
			Title: "Authorize " + ses.authType,
			Lines: []string{"This page stands in for the third-party authorization."},
			Links: []h5Link{{self + "&result=success", "Authorize"}, {self + "&result=failed", "Fail"}},
		})
		return
	}
	if !s.cfg.AdminAllowRemote && !isLoopback(r.RemoteAddr) {
		renderH5(w, http.StatusForbidden, h5View{Title: "Only loopback clients may complete sandbox pages"})
		return
	}
	var st awda.AuthStatus
	switch result {
	case "success":
		st = awda.AuthSuccess
	case "failed":
		st = awda.AuthFailed
	default:
		renderH5(w, http.StatusBadRequest, h5View{Title: "result must be success or failed"})
		return
	}
	s.mu.Lock()
	a := u.auths[ses.authType]
	now := s.Now()
	switch {
	case a.session != id || a.status != awda.AuthPending:
		s.mu.Unlock()
		renderH5(w, http.StatusConflict, h5View{Title: "This authorization page is no longer pending", Lines: []string{"Status: " + string(a.status)}})
		return
	case now.After(ses.expireAt):
		s.setAuthLocked(u, ses.authType, awda.AuthExpired, byExpiry)
		s.mu.Unlock()
		renderH5(w, http.StatusGone, h5View{Title: "This authorization page has expired"})
		return
	}
	s.setAuthLocked(u, ses.authType, st, byH5)
	s.mu.Unlock()
	v := h5View{Title: "Authorization " + string(st)}
	if ret := r.URL.Query().Get("returnUrl"); ret != "" {
		v.Links = []h5Link{{ret, "Back to the lender"}}
	}
	renderH5(w, http.StatusOK, v)
}

func (s *Server) h5Redirect(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.st.pages[r.PathValue("token")]
	var l *loan
	if p != nil {
		l = s.st.loans[p.loanNo]
	}
	var v h5View
	if l != nil {
		v = h5View{Title: p.kind + " " + l.no, Lines: []string{"Status: " + string(l.status)}}
	}
	s.mu.Unlock()
	if l == nil {
		renderH5(w, http.StatusNotFound, h5View{Title: "Page not found"})
		return
	}
	if ret := r.URL.Query().Get("returnUrl"); ret != "" {
		v.Links = []h5Link{{ret, "Back to the lender"}}
	}
	renderH5(w, http.StatusOK, v)
}

func (s *Server) h5Agreement(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	l := s.st.loans[r.PathValue("loanNo")]
	var v h5View
	if l != nil && l.agreement != nil {
		f := l.agreement.fees
		v = h5View{Title: "Perjanjian Pinjaman " + l.no, Lines: []string{
			"Agreement " + l.agreement.id,
			"Amount (IDR): " + itoa(l.amount) + "; admin fee: " + itoa(f.AdminFee) + "; disbursed: " + itoa(f.DisbursedAmount),
			"Total interest: " + itoa(f.TotalInterest) + "; total repayment: " + itoa(f.TotalRepayment),
		}}
	}
	s.mu.Unlock()
	if v.Title == "" {
		renderH5(w, http.StatusNotFound, h5View{Title: "Agreement not found"})
		return
	}
	renderH5(w, http.StatusOK, v)
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }
