package main

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/awdaflow/awdaflow/internal/config"
)

// fx validates the whole graph (every constructor's inputs provided, no
// cycles) when the app is built, before anything starts or connects.
func TestAppGraphIsComplete(t *testing.T) {
	cfg, err := config.LoadFrom(func(k string) string {
		return map[string]string{
			config.EnvAWDAAppID:      "app",
			config.EnvAWDAHMACSecret: "secret",
			config.EnvKeys:           "k1=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
			config.EnvDatabaseURL:    "postgres://u@127.0.0.1:1/db",
		}[k]
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := newApp(cfg).Err(); err != nil {
		t.Fatal(err)
	}
}

// Versioning is opt-in: off, the worker is unversioned (it gets tasks with
// no version made current); on, it polls as its deployment version and
// its workflows are AutoUpgrade.
func TestDeploymentOptions(t *testing.T) {
	w := config.Worker{DeploymentName: "awdaflow", BuildID: "0123456789ab"}
	if got := Options(w).DeploymentOptions; got != (worker.DeploymentOptions{}) {
		t.Errorf("versioning off: %+v", got)
	}
	w.Versioning = true
	got := Options(w).DeploymentOptions
	want := worker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   worker.WorkerDeploymentVersion{DeploymentName: "awdaflow", BuildID: "0123456789ab"},
		DefaultVersioningBehavior: workflow.VersioningBehaviorAutoUpgrade,
	}
	if got != want {
		t.Errorf("versioning on: %+v, want %+v", got, want)
	}
}
