package main

import (
	"testing"

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
