package main

import (
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/config"
)

func TestOptionsMapsEveryKnob(t *testing.T) {
	o := Options(config.Worker{
		MaxConcurrentActivities:    7,
		MaxConcurrentWorkflowTasks: 5,
		ActivityPollers:            3,
		WorkflowPollers:            2,
		StopTimeout:                9 * time.Second,
	})
	if o.MaxConcurrentActivityExecutionSize != 7 || o.MaxConcurrentWorkflowTaskExecutionSize != 5 ||
		o.MaxConcurrentActivityTaskPollers != 3 || o.MaxConcurrentWorkflowTaskPollers != 2 ||
		o.WorkerStopTimeout != 9*time.Second {
		t.Fatalf("options %+v", o)
	}
}

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
