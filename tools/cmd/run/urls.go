package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
)

// links is what make run prints once everything is up.
type links struct {
	UI, Starter, Worker, Sandbox, Temporal string
	Namespace                              string
	Token                                  string
	Logs, RunEnv                           string
	// Loan is a loan's history page in the UI ("" when there is none yet).
	Loan string
	// Replicas lists every starter's and worker's own address when there
	// are several (STACK=server); "" otherwise.
	Replicas string
}

// render is the block of addresses, each one usable as printed: the API
// line carries the token to send, the codec server is given as the endpoint
// to paste into the UI's codec setting (it answers POST /codec/encode and
// /codec/decode only: a browser GET on it is a 404), and the link a browser
// can open is a loan's history in the UI, decoded through it.
func (k links) render(bold, green, dim func(string) string) string {
	list := k.UI + "/namespaces/" + k.Namespace + "/workflows"
	decoded := k.Loan
	if decoded == "" {
		decoded = list + " (open any loan)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s Open:\n\n", bold("awdaflow is running."))
	row := func(name, value string) { fmt.Fprintf(&b, "  %-26s %s\n", name, value) }
	row("Temporal UI, every loan", green(list))
	row("stuck loans", green(list+"?query="+queryEscape(`LoanStuck = true`)))
	row("loans by stage, e.g.", list+"?query="+queryEscape(`LoanStage = "SETTLED"`))
	row("API", k.Starter+"/v1/applications")
	row("  bearer token", k.Token+dim("   (header Authorization: Bearer <token>)"))
	row("metrics", k.Starter+"/metrics (starter)   "+k.Worker+"/metrics (worker)")
	if k.Replicas != "" {
		row("replicas (own /metrics)", k.Replicas)
	}
	row("codec server endpoint", k.Starter+"/codec"+dim("   (paste into the Temporal UI's codec setting; this UI already uses it)"))
	row("  a loan, decoded by it", decoded)
	row("AWDA sandbox", k.Sandbox+"/_sandbox/stats")
	row("Temporal gRPC", k.Temporal)
	row("logs", k.Logs+"/")
	fmt.Fprintf(&b, "\n  %s\n", dim("# in another terminal:"))
	for _, line := range []string{
		". " + k.RunEnv,
		`curl -s -H "Authorization: Bearer $STARTER_API_TOKEN" "$STARTER_URL/v1/applications?stuck=true"`,
		`curl -s -X POST -H 'Content-Type: application/json' -d '{"payloads":[]}' "$STARTER_URL/codec/decode"`,
		"bin/starter list --stage SETTLED",
		"bin/temporal workflow list --address $TEMPORAL_ADDRESS --query 'LoanStuck = true'",
		"bin/demo -n 5 --sandbox-admin $SANDBOX_URL",
	} {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	b.WriteString("\n")
	return b.String()
}

// queryEscape is url.QueryEscape with spaces as %20, which every browser
// and the UI's router read alike.
func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// printURLs prints the addresses, with the history page of a recent loan.
func (l *launcher) printURLs(ctx context.Context) {
	k := links{
		UI: l.st.TemporalUIURL, Starter: l.st.StarterURL, Worker: l.st.WorkerURL, Sandbox: l.st.SandboxURL,
		Temporal: l.st.TemporalAddress, Namespace: l.st.Namespace, Token: l.token,
		Logs: l.data.rel(l.data.path("logs")), RunEnv: l.data.rel(l.data.path("run", "env")),
	}
	if len(l.st.StarterURLs) > 1 || len(l.st.WorkerURLs) > 1 {
		k.Replicas = "starters " + strings.Join(l.st.StarterURLs, " ") + "   workers " + strings.Join(l.st.WorkerURLs, " ")
	}
	k.Loan = l.newestLoan(ctx, k)
	l.d.Print(k.render(l.d.Bold, l.d.Green, l.d.Dim))
}

// newestLoan is the UI page of the history of the first workflow the
// server lists, a recent one ("" if none).
func (l *launcher) newestLoan(ctx context.Context, k links) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := l.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: k.Namespace, PageSize: 1})
	if err != nil || len(resp.GetExecutions()) == 0 {
		return ""
	}
	ex := resp.GetExecutions()[0].GetExecution()
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", k.UI, k.Namespace, url.PathEscape(ex.GetWorkflowId()), ex.GetRunId())
}

// writeEnv writes run/env, for a second terminal: `. .data/run/env`.
func (l *launcher) writeEnv() error {
	return l.data.writeFile("env", fmt.Sprintf(`# Source this file to use the CLIs against the running 'make run' stack.
STARTER_URL=%s
STARTER_API_TOKEN=%s
TEMPORAL_ADDRESS=%s
DATABASE_URL=%s
SANDBOX_URL=%s
export STARTER_URL STARTER_API_TOKEN TEMPORAL_ADDRESS DATABASE_URL SANDBOX_URL
`, l.st.StarterURL, l.token, l.st.TemporalAddress, l.st.DatabaseURL, l.st.SandboxURL))
}

// writeReady tells tools that need the running stack (screenshot.sh) that
// it is up; shutdown removes it.
func (l *launcher) writeReady() error {
	return l.data.writeFile("ready", fmt.Sprintf("UI_URL=%s\nSTARTER_URL=%s\nSANDBOX_URL=%s\nDEMO_STATUS=%d\n",
		l.st.TemporalUIURL, l.st.StarterURL, l.st.SandboxURL, l.demoRC))
}
