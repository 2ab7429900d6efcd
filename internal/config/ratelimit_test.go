package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/config"
)

func TestRateLimitDefaults(t *testing.T) {
	c, err := config.LoadFrom(env(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	want := config.RateLimit{
		Enabled: true, ReadPerSecond: 100, ReadBurst: 100, WritePerSecond: 40, WriteBurst: 40,
		UploadPerSecond: 20, UploadBurst: 20, MaxWait: 10 * time.Second,
		BusyStormPercent: 50, BusyBackoff: time.Second, BusyBackoffCap: 30 * time.Second, BusyDecay: time.Minute,
	}
	if c.RateLimit != want {
		t.Errorf("defaults %+v\nwant     %+v", c.RateLimit, want)
	}
}

func TestRateLimitRefusesBadValues(t *testing.T) {
	set := map[string]string{
		config.EnvRateReadPerSecond: "0", config.EnvRateReadBurst: "-1", config.EnvRateWritePerSecond: "2.5",
		config.EnvRateUploadBurst: "100000", config.EnvRateMaxWait: "0s", config.EnvRateBusyBase: "2s",
		config.EnvRateBusyCap: "1s", config.EnvRateLimit: "perhaps", config.EnvRateBusyStorm: "0",
	}
	_, err := config.LoadFrom(env(set), false)
	ce, ok := err.(*config.Error)
	if !ok {
		t.Fatalf("error %v, want a *config.Error", err)
	}
	for v := range set {
		if v == config.EnvRateBusyBase {
			continue // valid on its own; the cap below it is the problem
		}
		if !slices.ContainsFunc(ce.Problems, func(p string) bool { return strings.HasPrefix(p, v+": ") }) {
			t.Errorf("%s=%q not refused; problems: %v", v, set[v], ce.Problems)
		}
	}
}
