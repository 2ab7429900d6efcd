package workflows_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/awda/sandbox"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/workflows"
)

// Recognisable test data: none of it may show in logs, queries, search
// attributes or the read model.
const (
	applicantRef = "app-42"
	testNIK      = "3171014501900001"
	testMobile   = "081234567890"
	testName     = "Siti Rahmawati"
	testAccount  = "8800123456"
	testContact  = "081298765432"
)

var pii = []string{testNIK, testMobile, testName, testAccount, testContact, "Budi Santoso"}

func loanInput() workflows.LoanApplicationInput {
	return workflows.LoanApplicationInput{
		ApplicantRef: applicantRef,
		Applicant: workflows.Applicant{
			Name: testName, NIK: testNIK, Mobile: testMobile, BirthDate: "1990-01-05", BirthPlace: "Jakarta",
			Personal: awda.PersonalInfo{Gender: "FEMALE", MaritalStatus: "SINGLE", Province: "DKI Jakarta", City: "Jakarta Selatan", Address: "Jl. Contoh 1"},
			Work:     awda.WorkInfo{Occupation: "EMPLOYEE", MonthlyIncome: 8_000_000},
		},
		Loan:              workflows.LoanRequest{Amount: 3_000_000, Tenor: 3, TenorUnit: awda.TenorMonth, Purpose: "WORKING_CAPITAL"},
		EmergencyContacts: []awda.EmergencyContact{{Name: "Budi Santoso", Mobile: testContact, Relation: "SIBLING"}},
		Documents:         []activities.DocumentRef{{Type: awda.ImageKTP, DocumentID: "doc-ktp"}, {Type: awda.ImageSelfie, DocumentID: "doc-selfie"}},
		ReturnURL:         "https://lender.example/return",
	}
}

// harness runs LoanApplication in the test environment (simulated time) with
// the real activities over the real client and the AWDA sandbox in process
// (on the environment's clock), and plays AWDA's and the borrower's part
// through delayed callbacks.
type harness struct {
	t     *testing.T
	suite testsuite.WorkflowTestSuite
	env   *testsuite.TestWorkflowEnvironment
	awda  *testenv.AWDA
	docs  *testenv.Documents
	proj  *testenv.Projections
	logs  *testenv.SyncBuffer
	clock *envClock
	start time.Time

	mu       sync.Mutex
	sa       []temporal.SearchAttributes
	eventSeq int
}

func newHarness(t *testing.T, configure ...func(*sandbox.Config)) *harness {
	t.Helper()
	h := &harness{t: t, logs: &testenv.SyncBuffer{}}
	h.suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	h.env = h.suite.NewTestWorkflowEnvironment()
	h.start = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	h.env.SetStartTime(h.start)
	h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.LoanWorkflowID(applicantRef), TaskQueue: workflows.TaskQueue})
	h.env.SetTestTimeout(time.Minute)
	h.clock = &envClock{env: h.env}
	cfg := sandbox.Config{Clock: h.clock.now}
	for _, c := range configure {
		c(&cfg)
	}
	a, err := testenv.NewAWDA(cfg)
	require.NoError(t, err)
	h.awda = a
	h.docs = testenv.NewDocuments(
		activities.Document{ID: "doc-ktp", ContentType: "image/jpeg", FileName: "ktp.jpg", Bytes: []byte("ktp-image")},
		activities.Document{ID: "doc-selfie", ContentType: "image/jpeg", FileName: "selfie.jpg", Bytes: []byte("selfie-image")},
	)
	h.proj = testenv.NewProjections()
	h.env.RegisterWorkflow(workflows.LoanApplication)
	acts := activities.New(h.awda.Client, h.docs, h.proj)
	acts.Now = h.env.Now // the sandbox's clock: upload tokens expire in simulated time
	h.env.RegisterActivity(acts)
	h.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.sa = append(h.sa, args.Get(0).(temporal.SearchAttributes))
	}).Return(nil).Maybe()
	return h
}

func (h *harness) orderNo() string { return workflows.OrderNo(workflows.LoanWorkflowID(applicantRef)) }

// at runs fn at simulated time d after the start.
func (h *harness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

func (h *harness) run(in workflows.LoanApplicationInput) {
	h.env.ExecuteWorkflow(workflows.LoanApplication, in)
	require.True(h.t, h.env.IsWorkflowCompleted())
}

func (h *harness) result() workflows.LoanResult {
	h.t.Helper()
	require.NoError(h.t, h.env.GetWorkflowError())
	var res workflows.LoanResult
	require.NoError(h.t, h.env.GetWorkflowResult(&res))
	return res
}

func (h *harness) status() workflows.Status {
	h.t.Helper()
	s, err := query(h.env, workflows.StatusQuery)
	require.NoError(h.t, err)
	return s
}

// signal sends a signal in the test environment, its payload checked
// against the signal's type.
func signal[T any](env *testsuite.TestWorkflowEnvironment, s workflows.Signal[T], v T) {
	env.SignalWorkflow(s.Name, v)
}

// query asks a query in the test environment.
func query[T any](env *testsuite.TestWorkflowEnvironment, q workflows.Query[T]) (T, error) {
	var out T
	v, err := env.QueryWorkflow(q.Name)
	if err != nil {
		return out, err
	}
	return out, v.Get(&out)
}

func (h *harness) eventID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.eventSeq++
	return fmt.Sprintf("evt-%03d", h.eventSeq)
}

// authorize plays AWDA's callback for authType, and returns its eventId.
func (h *harness) authorize(authType string, s awda.AuthStatus) string {
	st := h.status()
	h.setAuth(st.UserID, authType, s)
	id := h.eventID()
	signal(h.env, workflows.AuthorizationSignal, awda.AuthorizationEvent{EventID: id, UserID: st.UserID, AuthType: authType, Status: s})
	return id
}

func (h *harness) authorizeAll() {
	h.authorize("EKYC", awda.AuthSuccess)
	h.authorize("TELCO", awda.AuthSuccess)
}

// setAuth sets an authorization at AWDA (the sandbox's own push goes
// nowhere: the tests deliver callbacks as signals).
func (h *harness) setAuth(userID, authType string, s awda.AuthStatus) {
	h.t.Helper()
	require.NoError(h.t, h.awda.SetAuthorization(userID, authType, s))
}

// cardVerdicts scripts AWDA's answers to the next n card verifications.
func (h *harness) cardVerdicts(s awda.CardStatus, reason string, n int) {
	h.t.Helper()
	require.NoError(h.t, h.awda.QueueCardVerdicts(s, reason, n))
}

// setCard finishes the verification of the user's cards at bank whose
// account numbers end in suffix ("" for all of them).
func (h *harness) setCard(userID, bank, suffix string, s awda.CardStatus) {
	h.t.Helper()
	n, err := h.awda.SetCardStatus(userID, bank, suffix, s)
	require.NoError(h.t, err)
	require.Positive(h.t, n, "no such card")
}

// advance moves loanNo at AWDA to s, through the statuses between.
func (h *harness) advance(loanNo string, s awda.LoanStatus) {
	h.t.Helper()
	_, err := h.awda.Advance(loanNo, s)
	require.NoError(h.t, err)
}

// payAt pays installment period of loanNo at AWDA, without a push.
func (h *harness) payAt(loanNo string, period int) {
	h.t.Helper()
	require.NoError(h.t, h.awda.Pay(loanNo, period))
}

// moves sets the loan's status at AWDA without a push (a lost notification).
func (h *harness) moves(s awda.LoanStatus) {
	h.advance(h.awda.LoanNo(h.orderNo()), s)
}

// push moves the loan at AWDA and pushes the notification; it returns the
// event so that a test can send it again.
func (h *harness) push(s awda.LoanStatus) awda.LoanStatusEvent {
	h.moves(s)
	return h.pushEvent(s, 0)
}

func (h *harness) pushEvent(s awda.LoanStatus, period int) awda.LoanStatusEvent {
	ev := awda.LoanStatusEvent{
		EventID: h.eventID(), EventType: awda.EventTypeLoanStatus, LoanNo: h.awda.LoanNo(h.orderNo()), OrderNo: h.orderNo(),
		Status: s, Period: period, OccurredAt: h.env.Now().UnixMilli(),
	}
	signal(h.env, workflows.LoanStatusSignal, ev)
	return ev
}

// pay pays installment period at AWDA and pushes REPAYING (or SETTLED).
func (h *harness) pay(period int) {
	no := h.awda.LoanNo(h.orderNo())
	h.payAt(no, period)
	s := awda.LoanRepaying
	if len(h.awda.Schedule(no)) == period {
		s = awda.LoanSettled
	}
	h.pushEvent(s, period)
}

// updateCall is what became of one update.
type updateCall struct {
	mu       sync.Mutex
	rejected error
	accepted bool
	done     bool
	value    any
	err      error
}

func (u *updateCall) get() (rejected error, accepted, done bool, value any, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.rejected, u.accepted, u.done, u.value, u.err
}

// update sends an update in the test environment, its input checked
// against the update's type.
func update[In, Out any](h *harness, upd workflows.Update[In, Out], in In) *updateCall {
	u := &updateCall{}
	h.env.UpdateWorkflow(upd.Name, h.eventID(), &testsuite.TestUpdateCallback{
		OnReject: func(err error) { u.mu.Lock(); u.rejected = err; u.mu.Unlock() },
		OnAccept: func() { u.mu.Lock(); u.accepted = true; u.mu.Unlock() },
		OnComplete: func(v any, err error) {
			u.mu.Lock()
			u.done, u.value, u.err = true, v, err
			u.mu.Unlock()
		},
	}, in)
	return u
}

func (h *harness) submitCard(in workflows.BankCardInput) *updateCall {
	return update(h, workflows.SubmitBankCardUpdate, in)
}

func goodCard() workflows.BankCardInput {
	return workflows.BankCardInput{BankCode: "BCA", AccountNo: testAccount, AccountName: testName}
}

func (h *harness) sign() *updateCall {
	st := h.status()
	require.NotNil(h.t, st.Agreement, "no agreement on offer")
	return update(h, workflows.SignAgreementUpdate, workflows.SignAgreementInput{AgreementID: st.Agreement.ID, Consent: true, ClientIP: "203.0.113.7"})
}

// decode turns an update's result into T (the test environment hands it
// over as the handler returned it).
func decode[T any](t *testing.T, v any) T {
	t.Helper()
	var out T
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

func (h *harness) requireAccepted(u *updateCall) any {
	h.t.Helper()
	rej, acc, done, v, err := u.get()
	require.NoError(h.t, rej)
	require.True(h.t, acc)
	require.True(h.t, done)
	require.NoError(h.t, err)
	return v
}

// happyUntil plays the borrower and AWDA through the stages up to (not
// including) stop, one simulated minute apart, and returns the time of the
// last step.
func (h *harness) happyUntil(stop workflows.Stage) time.Duration {
	return h.happy(0, workflows.StageAuthorizations, stop)
}

// happy plays the stages from begin up to (not including) stop, the first
// one minute after from.
func (h *harness) happy(from time.Duration, begin, stop workflows.Stage) time.Duration {
	steps := []struct {
		stage workflows.Stage
		do    func()
	}{
		{workflows.StageAuthorizations, h.authorizeAll},
		{workflows.StageBankCard, func() { h.submitCard(goodCard()) }},
		{workflows.StageReview, func() { h.push(awda.LoanUnderReview); h.push(awda.LoanApproved) }},
		{workflows.StageAgreement, func() { h.sign() }},
		{workflows.StageDisbursement, func() { h.push(awda.LoanDisbursing); h.push(awda.LoanDisbursed) }},
	}
	t := from
	started := false
	for _, s := range steps {
		started = started || s.stage == begin
		if s.stage == stop {
			break
		}
		if !started {
			continue
		}
		t += time.Minute
		h.at(t, s.do)
	}
	return t
}

// stages returns the stage sequence written to the read model.
func (h *harness) stages() []string {
	var out []string
	for _, w := range h.proj.Writes() {
		if len(out) == 0 || out[len(out)-1] != w.Stage {
			out = append(out, w.Stage)
		}
	}
	return out
}

// passed returns the stages the loan moved through, in order, from its
// recorded transitions (the read model shows only those it rested in).
func (h *harness) passed() []string {
	var out []string
	for _, tr := range h.status().Transitions {
		if tr.Kind == workflows.KindStage {
			out = append(out, tr.To)
		}
	}
	return out
}

// upserts returns the search-attribute upserts, in order.
func (h *harness) upserts() []temporal.SearchAttributes {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]temporal.SearchAttributes(nil), h.sa...)
}

// stuckUpserts returns the LoanStuck values upserted, in order.
func (h *harness) stuckUpserts() []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []bool
	for _, sa := range h.sa {
		if v, ok := sa.GetBool(workflows.LoanStuckKey); ok {
			out = append(out, v)
		}
	}
	return out
}

// requireNoPII checks that nothing observable carries the borrower's data:
// logs, the status query, the read model, search attributes.
func (h *harness) requireNoPII() {
	h.t.Helper()
	var seen bytes.Buffer
	seen.WriteString(h.logs.String())
	for _, w := range h.proj.Writes() {
		b, _ := json.Marshal(w)
		seen.Write(b)
	}
	h.mu.Lock()
	for _, sa := range h.sa {
		for _, k := range []temporal.SearchAttributeKeyKeyword{workflows.LoanStageKey, workflows.AwdaLoanNoKey, workflows.ApplicantRefKey} {
			v, _ := sa.GetKeyword(k)
			seen.WriteString(v + "\n")
		}
	}
	h.mu.Unlock()
	if v, err := h.env.QueryWorkflow(workflows.StatusQuery.Name); err == nil {
		var raw json.RawMessage
		require.NoError(h.t, v.Get(&raw))
		seen.Write(raw)
	}
	require.NotEmpty(h.t, h.logs.String())
	for _, p := range pii {
		require.NotContains(h.t, seen.String(), p)
	}
}

// next returns a harness for the run that continues this one: a fresh test
// environment on the same AWDA and read model, starting at this one's end.
func (h *harness) next() *harness {
	n := &harness{t: h.t, logs: h.logs, awda: h.awda, docs: h.docs, proj: h.proj, clock: h.clock, eventSeq: h.eventSeq}
	n.suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	n.env = n.suite.NewTestWorkflowEnvironment()
	n.clock.set(n.env)
	n.start = h.env.Now().UTC()
	n.env.SetStartTime(n.start)
	n.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.LoanWorkflowID(applicantRef), TaskQueue: workflows.TaskQueue})
	n.env.SetTestTimeout(time.Minute)
	n.env.RegisterWorkflow(workflows.LoanApplication)
	acts := activities.New(n.awda.Client, n.docs, n.proj)
	acts.Now = n.env.Now
	n.env.RegisterActivity(acts)
	n.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.sa = append(n.sa, args.Get(0).(temporal.SearchAttributes))
	}).Return(nil).Maybe()
	return n
}

// envClock is the simulated time of the current run's environment: AWDA's
// clock, which outlives a run.
type envClock struct {
	mu  sync.Mutex
	env *testsuite.TestWorkflowEnvironment
}

func (c *envClock) now() time.Time {
	c.mu.Lock()
	env := c.env
	c.mu.Unlock()
	return env.Now()
}

func (c *envClock) set(env *testsuite.TestWorkflowEnvironment) {
	c.mu.Lock()
	c.env = env
	c.mu.Unlock()
}
