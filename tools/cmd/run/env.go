package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Knobs are the environment variables make run reads, and the only ones:
// settings of a real cluster or a real AWDA in the caller's shell never reach
// the stack (its processes get an environment of their own).
// deploy/docs_test.go holds docs/configuration.md ("make run") to this list.
var Knobs = []string{
	"DEMO_N",                  // applicants in the demo (0: none)
	"DEMO_ARGS",               // extra flags for bin/demo
	"DATABASE_URL",            // a PostgreSQL of the user's instead of the local cluster
	"AWDAFLOW_DATA",           // the data folder
	"BIN",                     // where the binaries are
	"TEMPORAL_PORT",           // ports
	"TEMPORAL_UI_PORT",        //
	"STARTER_PORT",            //
	"WORKER_PORT",             //
	"SANDBOX_PORT",            //
	"RUN_EXIT_AFTER_DEMO",     // stop after the demo's summary
	"STACK",                   // dev (the Temporal dev server) or server (the production lane)
	"TEMPORAL_HISTORY_SHARDS", // the production lane's history shards
}

// config is what the knobs say.
type config struct {
	demoN         int
	demoArgs      []string
	databaseURL   string
	data          string // as given; resolved against the repository
	bin           string
	ports         []portKnob
	exitAfterDemo bool
	// server: the production lane (STACK=server): Temporal's own server on
	// PostgreSQL, two workers and two starters; shards its history shards.
	server bool
	shards int
}

// portKnob is one port: its variable, its default, and its value when the
// variable is set (0: not set).
type portKnob struct {
	env      string
	def      int
	explicit int
}

// getenv reads a knob; reading anything else is a bug of this command.
func knob(getenv func(string) string, name string) string {
	if !slices.Contains(Knobs, name) {
		panic("run: " + name + " is not in Knobs")
	}
	return getenv(name)
}

// loadConfig reads every knob and reports every bad one at once.
func loadConfig(getenv func(string) string) (*config, error) {
	c := &config{data: ".data", demoN: 20}
	var bad []string
	if v := knob(getenv, "DEMO_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad = append(bad, fmt.Sprintf("DEMO_N=%q: want a number of applicants, 0 for no demo", v))
		}
		c.demoN = n
	}
	c.demoArgs = strings.Fields(knob(getenv, "DEMO_ARGS"))
	c.databaseURL = knob(getenv, "DATABASE_URL")
	if v := knob(getenv, "AWDAFLOW_DATA"); v != "" {
		c.data = v
	}
	c.bin = knob(getenv, "BIN")
	for _, p := range []portKnob{
		{env: "TEMPORAL_PORT", def: 7233}, {env: "TEMPORAL_UI_PORT", def: 8233},
		{env: "STARTER_PORT", def: 8080}, {env: "WORKER_PORT", def: 9091}, {env: "SANDBOX_PORT", def: 8089},
	} {
		if v := knob(getenv, p.env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				bad = append(bad, fmt.Sprintf("%s=%q: want a TCP port", p.env, v))
			}
			p.explicit = n
		}
		c.ports = append(c.ports, p)
	}
	if v := knob(getenv, "RUN_EXIT_AFTER_DEMO"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad = append(bad, fmt.Sprintf("RUN_EXIT_AFTER_DEMO=%q: want 1 or 0", v))
		}
		c.exitAfterDemo = b
	}
	bad = append(bad, c.loadLane(getenv)...)
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return c, nil
}

// loadLane reads STACK and TEMPORAL_HISTORY_SHARDS.
func (c *config) loadLane(getenv func(string) string) (bad []string) {
	switch v := knob(getenv, "STACK"); v {
	case "", "dev":
	case "server":
		c.server = true
	default:
		bad = append(bad, fmt.Sprintf("STACK=%q: want dev (the Temporal dev server) or server (Temporal's own server on PostgreSQL)", v))
	}
	if v := knob(getenv, "TEMPORAL_HISTORY_SHARDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad = append(bad, fmt.Sprintf("TEMPORAL_HISTORY_SHARDS=%q: want a number of shards, at least 1", v))
		}
		c.shards = n
	}
	return bad
}
