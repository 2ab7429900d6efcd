//go:build integration

package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/workflows"
)

// The worker with WORKER_VERSIONING on, on a dev server of its own (a
// current version set on the shared one would route every later test's
// loans to a worker that is gone): it polls as its Worker Deployment
// Version and gets no task until the runbook's command makes that version
// current; then a loan runs on it, recorded by the server as AutoUpgrade on
// that version.
func TestVersionedWorkerRunsLoansOnceCurrent(t *testing.T) {
	srv := testenv.StartTemporal(t)
	if err := testenv.RegisterSearchAttributes(context.Background(), srv.HostPort(), srv.Namespace()); err != nil {
		t.Fatal(err)
	}
	s := newStack(t)
	deployment, buildID := fmt.Sprintf("awdaflow-test-%d", time.Now().UnixNano()), "build-1"
	s.env[config.EnvTemporalAddress], s.env[config.EnvTemporalNamespace] = srv.HostPort(), srv.Namespace()
	s.env[config.EnvWorkerVersioning] = "true"
	s.env[config.EnvWorkerDeployment] = deployment
	s.env[config.EnvWorkerBuildID] = buildID
	cfg := s.config(t)

	app := newApp(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Stop(context.Background()) }()

	c := s.client(t)

	// The server learns the version from the worker's polls.
	h := c.WorkerDeploymentClient().GetHandle(deployment)
	waitFor(t, "the version in the deployment", time.Minute, func() bool {
		d, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		return err == nil && slices.ContainsFunc(d.Info.VersionSummaries, func(v client.WorkerDeploymentVersionSummary) bool {
			return v.Version.BuildID == buildID
		})
	})

	ref := fmt.Sprintf("versioned-%d", time.Now().UnixNano())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.LoanWorkflowID(ref), TaskQueue: workflows.TaskQueue,
	}, workflows.LoanApplication, applicantInput(ref))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "test over") })
	// No version is current: the first workflow task waits, though the
	// worker polls.
	d, err := c.DescribeWorkflow(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if st := d.RawResponse.GetPendingWorkflowTask().GetState(); st != enumspb.PENDING_WORKFLOW_TASK_STATE_SCHEDULED {
		t.Fatalf("before the version is current, the first workflow task is %v, want SCHEDULED (not taken)", st)
	}

	// The runbook's command (docs/operations.md).
	cli, err := testenv.TemporalCLIPath()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, cli, "worker", "deployment", "set-current-version",
		"--address", srv.HostPort(), "--namespace", srv.Namespace(),
		"--deployment-name", deployment, "--build-id", buildID, "--yes").CombinedOutput()
	if err != nil {
		t.Fatalf("set-current-version: %v\n%s", err, out)
	}

	waitFor(t, "the loan to reach AUTHORIZATIONS on the versioned worker", time.Minute, func() bool {
		st, err := workflows.StatusQuery.Get(ctx, c, run.GetID(), run.GetRunID())
		return err == nil && st.Stage == workflows.StageAuthorizations
	})
	d, err = c.DescribeWorkflow(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	vi := d.RawResponse.GetWorkflowExecutionInfo().GetVersioningInfo()
	if vi.GetBehavior() != enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE ||
		vi.GetDeploymentVersion().GetDeploymentName() != deployment || vi.GetDeploymentVersion().GetBuildId() != buildID {
		t.Fatalf("versioning info %v, want AUTO_UPGRADE on %s.%s", vi, deployment, buildID)
	}
}
