package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/awdaflow/awdaflow/activities/fake"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// These tests hold the rule that a late activity result never overwrites
// newer state from a signal, and that a final AWDA status wins over a step
// that AWDA refused because of it.

func authOf(t *testing.T, s workflows.Status, typ string) workflows.Authorization {
	t.Helper()
	for _, au := range s.Authorizations {
		if au.AuthType == typ {
			return au
		}
	}
	t.Fatalf("no %s in %+v", typ, s.Authorizations)
	return workflows.Authorization{}
}

// The pages are fetched in parallel. The KTP_OCR page arrives at once, the
// borrower fails it and AWDA's FAILED callback arrives while the LIVENESS
// page read is still retrying busy answers; when that read finally
// succeeds, the KTP_OCR failure must stand and a fresh page be fetched,
// not be overwritten by the stale page result (PENDING, no page needed),
// which would leave the loan waiting for nothing until the deadline.
func TestAuthorizationCallbackDuringPageFetchIsNotOverwritten(t *testing.T) {
	h := newHarness(t)
	// The LIVENESS read is answered busy three times (retried after 1, 2
	// and 4 s); KTP_OCR's page is in hand at once.
	busy := fake.Err(awda.PathAuthPage, awda.CodeSystemBusy)
	h.awda.FailAuthPage("LIVENESS", busy, busy, busy)
	var during, after workflows.Status
	h.at(2*time.Second, func() { h.authorize("KTP_OCR", awda.AuthFailed) })
	h.at(3*time.Second, func() { during = h.status() }) // LIVENESS is still being read
	h.at(time.Minute, func() { after = h.status() })
	h.at(2*time.Minute, h.authorizeAll)
	h.at(3*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())

	require.Equal(t, workflows.StageAuthorizations, during.Stage)
	require.Equal(t, awda.AuthFailed, authOf(t, during, "KTP_OCR").Status)

	ktp := authOf(t, after, "KTP_OCR")
	require.Equal(t, 2, ktp.Attempts, "a fresh page after the failure: %+v", after.Authorizations)
	require.False(t, ktp.NeedsPage)
	require.Equal(t, awda.AuthPending, ktp.Status)
	require.NotNil(t, after.Next, "the borrower is asked to authorize")
	require.Equal(t, workflows.ActionAuthorize, after.Next.Action)
	require.Len(t, after.Next.Authorizations, 2)
	require.Equal(t, 1, authOf(t, after, "LIVENESS").Attempts)

	row, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.Equal(t, "CANCELLED", row.Stage, "went on to the bank card after authorizing")
}
