//go:build integration

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

// The restore drill of docs/operations.md ("Back up and restore
// PostgreSQL"), as CI runs it: loans settled and loans parked waiting for
// the borrower's bank card; a live pg_dump -Fc of our database; the starter
// and the worker stopped and the original database dropped; pg_restore
// into a database of a fresh PostgreSQL cluster; the starter and the
// worker started on it. Then nothing is lost: every application is there
// with its documents, its trail and its inbox rows as they were (none
// delivered again), the settled loans still answer GET, every parked loan
// goes on to SETTLED — its documents, which live only in PostgreSQL,
// uploaded to AWDA from the restored copy — and AWDA holds exactly one loan
// per application.
func TestRestoreDrill(t *testing.T) {
	s := newSystem(t, 21)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()

	parked := s.parkAtBankCard(ctx, 3)
	var parkedRefs []string
	for _, p := range parked {
		parkedRefs = append(parkedRefs, p.ref)
	}
	o := s.options(repeat(demo.Happy, 3))
	o.Tenors = []demo.Tenor{{Tenor: 1, Unit: awda.TenorMonth}}
	o.RefPrefix = s.prefix + "-settled"
	sum := s.run(ctx, o)
	s.checkOutcomes(sum)
	var settled []string
	for _, r := range sum.Results {
		settled = append(settled, r.Ref)
	}
	refs := append(append([]string(nil), settled...), parkedRefs...)
	s.waitInboxSettled(ctx, s.Pool)
	before := s.snapshot(ctx, s.Pool, refs)
	t.Logf("%d loans settled and %d parked at %s in %s", len(settled), len(parked), workflows.StageBankCard, time.Since(began).Round(time.Millisecond))

	// The backup, taken live, as in production.
	dump := filepath.Join(t.TempDir(), "awdaflow.dump")
	pgTool(ctx, t, "pg_dump", "--format=custom", "--file="+dump, "--dbname="+s.DatabaseURL)
	if err := s.Starter.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Worker.Stop(); err != nil {
		t.Fatal(err)
	}
	s.Pool.Close()
	dropDatabase(ctx, t, s.DatabaseURL) // nothing can fall back on it

	restored := freshCluster(ctx, t)
	// Cleanups run last first: the starter and the worker stop before the
	// cluster they use does.
	t.Cleanup(func() { _ = stack.StopAll(append(append([]*stack.Process(nil), s.Starters...), s.Workers...)...) })
	createDatabase(ctx, t, restored.URL(""), "awdaflow")
	restoredURL := restored.URL("awdaflow")
	pgTool(ctx, t, "pg_restore", "--exit-on-error", "--single-transaction", "--no-owner", "--dbname="+restoredURL, dump)
	for _, p := range append(append(s.Starters[:0:0], s.Starters...), s.Workers...) {
		p.Env = append(p.Env, config.EnvDatabaseURL+"="+restoredURL) // later entries win
	}
	if err := s.Starter.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Worker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, restoredURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	t.Logf("dumped, restored into a fresh cluster and restarted in %s", time.Since(began).Round(time.Millisecond))

	after := s.snapshot(ctx, pool, refs)
	s.compareSnapshots(before, after)
	for _, ref := range settled {
		v, err := s.API.Application(ctx, ref)
		if err != nil || v.Stage != string(workflows.StageSettled) || len(v.Trail) != before.trail[ref] {
			t.Errorf("%s after the restore: stage %q, %d transitions in its trail (%d before), %v", ref, v.Stage, len(v.Trail), before.trail[ref], err)
		}
	}
	for _, p := range parked {
		s.completeParked(ctx, p)
	}
	s.waitInboxSettled(ctx, pool)
	s.checkInboxKept(ctx, pool, before.inbox)
	s.checkOneLoanEach(refs)
	t.Logf("restore drill done in %s", time.Since(began).Round(time.Millisecond))
}

// parkAtBankCard creates n applications through the API (documents first)
// and waits until each waits for the borrower's bank card.
func (s *system) parkAtBankCard(ctx context.Context, n int) []parkedLoan {
	s.t.Helper()
	gen := demo.NewGenerator(977, time.Now(), []demo.Tenor{{Tenor: 1, Unit: awda.TenorMonth}})
	prefix := s.refPrefix(s.prefix + "-parked")
	var loans []parkedLoan
	for i := range n {
		ref := fmt.Sprintf("%s-%d", prefix, i)
		p := gen.Person()
		ktp, err := s.API.UploadDocument(ctx, awda.ImageKTP, ref, "ktp.png", demo.KTPImage(uint64(100+i)), false)
		if err != nil {
			s.t.Fatal(err)
		}
		selfie, err := s.API.UploadDocument(ctx, awda.ImageSelfie, ref, "selfie.jpg", demo.SelfieImage(uint64(100+i)), true)
		if err != nil {
			s.t.Fatal(err)
		}
		if _, err := s.API.CreateApplication(ctx, &api.ApplicationRequest{
			ApplicantRef: ref, Applicant: p.Applicant, Loan: p.Loan, EmergencyContacts: p.EmergencyContacts,
			Documents: []activities.DocumentRef{
				{Type: awda.ImageKTP, DocumentID: ktp.DocumentID}, {Type: awda.ImageSelfie, DocumentID: selfie.DocumentID},
			},
		}); err != nil {
			s.t.Fatal(err)
		}
		loans = append(loans, parkedLoan{ref: ref, person: p})
	}
	for _, l := range loans {
		s.waitApplication(ctx, l.ref, "to wait for a bank card", func(v api.ApplicationView) bool {
			return v.Next != nil && v.Next.Action == workflows.ActionSubmitBankCard && len(v.Next.Banks) > 0
		})
	}
	return loans
}

// waitApplication polls GET /v1/applications/{ref} until ok or ctx ends.
func (s *system) waitApplication(ctx context.Context, ref, what string, ok func(api.ApplicationView) bool) api.ApplicationView {
	s.t.Helper()
	var last api.ApplicationView
	var lastErr error
	for ctx.Err() == nil {
		last, lastErr = s.API.Application(ctx, ref)
		if lastErr == nil && ok(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("%s %s: last stage %q (%v)", ref, what, last.Stage, lastErr)
	return last
}

// completeParked has the borrower of a parked loan submit a bank card and
// sign, and waits until the loan settles.
func (s *system) completeParked(ctx context.Context, l parkedLoan) {
	s.t.Helper()
	ref, p := l.ref, l.person
	v := s.waitApplication(ctx, ref, "to offer banks", func(v api.ApplicationView) bool {
		return v.Next != nil && v.Next.Action == workflows.ActionSubmitBankCard
	})
	card, ok := p.BankCard(v.Next.Banks, 0, false)
	if !ok {
		s.t.Fatalf("%s: no bank offered", ref)
	}
	if _, err := s.API.SubmitBankCard(ctx, ref, ref+".card", card); err != nil {
		s.t.Fatalf("%s: bank card: %v", ref, err)
	}
	v = s.waitApplication(ctx, ref, "to offer the agreement", func(v api.ApplicationView) bool {
		return v.Terminal || (v.Next != nil && v.Next.Action == workflows.ActionSignAgreement && v.Next.Agreement != nil)
	})
	if v.Terminal {
		s.t.Fatalf("%s ended %s before signing: %s", ref, v.Stage, v.Reason)
	}
	in := api.SignatureRequest{AgreementID: v.Next.Agreement.ID, Consent: true, ClientIP: "198.51.100.7"}
	if _, err := s.API.Sign(ctx, ref, ref+".sign", in); err != nil {
		s.t.Fatalf("%s: sign: %v", ref, err)
	}
	v = s.waitApplication(ctx, ref, "to end", func(v api.ApplicationView) bool { return v.Terminal })
	if v.Stage != string(workflows.StageSettled) {
		s.t.Errorf("%s ended %s (%s), want %s", ref, v.Stage, v.Reason, workflows.StageSettled)
	}
}

// dbSnapshot is what the database holds about the drill's loans.
type dbSnapshot struct {
	stage     map[string]string   // applications.stage by ref
	documents map[string][]string // documents' sha256 by ref, sorted
	trail     map[string]int      // loan_trail rows by ref
	inbox     map[string]string   // webhook_inbox: source/event_id → status/attempts
}

func (s *system) snapshot(ctx context.Context, pool *pgxpool.Pool, refs []string) dbSnapshot {
	s.t.Helper()
	snap := dbSnapshot{stage: map[string]string{}, documents: map[string][]string{}, trail: map[string]int{}, inbox: map[string]string{}}
	for _, ref := range refs {
		var stage string
		var trail int
		err := pool.QueryRow(ctx, `SELECT a.stage, (SELECT count(*) FROM loan_trail t WHERE t.workflow_id = a.workflow_id)
			FROM applications a WHERE a.applicant_ref = $1`, ref).Scan(&stage, &trail)
		if err != nil && err != pgx.ErrNoRows {
			s.t.Fatal(err)
		}
		snap.stage[ref], snap.trail[ref] = stage, trail
		rows, err := pool.Query(ctx, `SELECT sha256 FROM documents WHERE applicant_ref = $1 ORDER BY sha256`, ref)
		if err != nil {
			s.t.Fatal(err)
		}
		if snap.documents[ref], err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			s.t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT source || '/' || event_id, status || '/' || attempts FROM webhook_inbox`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			s.t.Fatal(err)
		}
		snap.inbox[k] = v
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return snap
}

// compareSnapshots fails for anything of before the restore lost.
func (s *system) compareSnapshots(before, after dbSnapshot) {
	s.t.Helper()
	for ref, stage := range before.stage {
		if stage == "" {
			s.t.Errorf("%s: no application row before the dump", ref)
		}
		if after.stage[ref] != stage {
			s.t.Errorf("%s: stage %q after the restore, %q before", ref, after.stage[ref], stage)
		}
		if len(before.documents[ref]) != 2 || !slices.Equal(after.documents[ref], before.documents[ref]) {
			s.t.Errorf("%s: documents %v after the restore, %v before (want the KTP and the selfie)", ref, after.documents[ref], before.documents[ref])
		}
		if before.trail[ref] == 0 || after.trail[ref] != before.trail[ref] {
			s.t.Errorf("%s: %d trail rows after the restore, %d before", ref, after.trail[ref], before.trail[ref])
		}
	}
	if len(before.inbox) == 0 {
		s.t.Error("no inbox row before the dump: AWDA's pushes were not received")
	}
	s.checkInboxSubset(before.inbox, after.inbox)
}

// checkInboxKept compares the inbox at the end with the snapshot taken
// before the dump: every row is still there, none delivered again.
func (s *system) checkInboxKept(ctx context.Context, pool *pgxpool.Pool, before map[string]string) {
	s.t.Helper()
	now := s.snapshot(ctx, pool, nil)
	s.checkInboxSubset(before, now.inbox)
	if len(now.inbox) <= len(before) {
		s.t.Errorf("%d inbox rows at the end, %d at the dump: the parked loans' pushes are missing", len(now.inbox), len(before))
	}
}

func (s *system) checkInboxSubset(before, after map[string]string) {
	s.t.Helper()
	for k, v := range before {
		if after[k] != v {
			s.t.Errorf("inbox row %s: %q after the restore, %q before", k, after[k], v)
		}
	}
}

// waitInboxSettled waits until no inbox row is pending: every push the
// starter took has reached its loan (or was set aside as an orphan).
func (s *system) waitInboxSettled(ctx context.Context, pool *pgxpool.Pool) {
	s.t.Helper()
	var pending int
	for ctx.Err() == nil {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_inbox WHERE status = 'pending'`).Scan(&pending); err == nil && pending == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("%d inbox rows still pending", pending)
}

// checkOneLoanEach fails unless AWDA holds exactly one loan for each ref
// and no orderNo or user has two.
func (s *system) checkOneLoanEach(refs []string) {
	s.t.Helper()
	st := s.Sandbox.Stats()
	if len(st.DuplicateOrderNos) != 0 || len(st.UsersWithSeveralLoans) != 0 {
		s.t.Errorf("duplicate loans at AWDA: orderNos %v, users %v", st.DuplicateOrderNos, st.UsersWithSeveralLoans)
	}
	for _, ref := range refs {
		no := workflows.OrderNo(workflows.LoanWorkflowID(ref))
		if n := st.LoansByOrderNo[no]; n != 1 {
			s.t.Errorf("%s: %d loans at AWDA for orderNo %s, want 1", ref, n, no)
		}
	}
}

// pgTool runs one of PostgreSQL's client programs (pg_dump, pg_restore) of
// the installed version.
func pgTool(ctx context.Context, t *testing.T, name string, args ...string) {
	t.Helper()
	dir, err := testenv.PostgresBinDir()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	out, err := exec.CommandContext(ctx, filepath.Join(dir, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	t.Logf("%s in %s", name, time.Since(began).Round(time.Millisecond))
}

// freshCluster starts a PostgreSQL cluster of its own for the restore,
// removed when the test ends.
func freshCluster(ctx context.Context, t *testing.T) *testenv.PostgresCluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "awdaflow-restore-")
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as another user when we are root.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := testenv.NewPostgresCluster(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Stop()
		_ = c.Remove()
		_ = os.RemoveAll(dir)
	})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func createDatabase(ctx context.Context, t *testing.T, serverURL, name string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		t.Fatal(err)
	}
}

// dropDatabase drops the database of dbURL, ending its sessions.
func dropDatabase(ctx context.Context, t *testing.T, dbURL string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
}

// parkedLoan is a loan waiting for its borrower's bank card.
type parkedLoan struct {
	ref    string
	person demo.Person
}
