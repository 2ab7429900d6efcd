package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/internal/codec"
	"github.com/awdaflow/awdaflow/internal/config"
)

func keysEnv(t *testing.T) func(string) string {
	t.Helper()
	spec, err := codec.GenerateKeySpec("test")
	if err != nil {
		t.Fatal(err)
	}
	return func(k string) string {
		if k == config.EnvKeys {
			return spec
		}
		return ""
	}
}

func recordedHistories(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "workflows", "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories in workflows/testdata: %v", err)
	}
	return files
}

// Offline, the gate replays exported histories (the recorded ones of
// workflows/testdata, by the workflow IDs inside them) and passes.
func TestReplayGateReplaysHistoryFiles(t *testing.T) {
	files := recordedHistories(t)
	var out, errOut bytes.Buffer
	if code := replayGate(append([]string{"-v"}, files...), keysEnv(t), &out, &errOut); code != gatePass {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if ok := lines(out.String(), "ok   loan:"); ok != len(files) {
		t.Errorf("%d ok lines for %d histories:\n%s", ok, len(files), out.String())
	}
	if !strings.Contains(out.String(), "replay-gate: PASS: replayed "+strconv.Itoa(len(files))+", failed 0, oldest started at 20") {
		t.Errorf("no summary line:\n%s", out.String())
	}
}

// A history whose recorded commands the current code would not issue (here
// a different first activity) fails alone, named by its workflow ID, with
// no payload in the output.
func TestReplayGateFailsAChangedHistory(t *testing.T) {
	src := recordedHistories(t)[0]
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	mutated := bytes.Replace(b, []byte(`"activityType":{"name":"Register"}`), []byte(`"activityType":{"name":"Unregister"}`), 1)
	if bytes.Equal(mutated, b) {
		t.Fatalf("%s has no Register activity to alter", src)
	}
	bad := filepath.Join(t.TempDir(), "changed.json")
	if err := os.WriteFile(bad, mutated, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := replayGate([]string{src, bad}, keysEnv(t), &out, &errOut); code != gateFail {
		t.Fatalf("exit %d, want %d\n%s", code, gateFail, out.String())
	}
	text := out.String()
	if lines(text, "FAIL loan:") != 1 || !strings.Contains(text, "failed 1") || !strings.Contains(text, "replay-gate: FAIL") {
		t.Errorf("the changed history did not fail alone, by its workflow ID:\n%s", text)
	}
	if !strings.Contains(text, "TMPRL1100") || !strings.Contains(text, "Unregister") {
		t.Errorf("the failure does not say what differs:\n%s", text)
	}
	if strings.Contains(text, "Payloads") || strings.Contains(text, "Data:") || strings.Contains(text, "binary/") {
		t.Errorf("the failure prints payloads:\n%s", text)
	}
}

func TestReplayGateRefusesBadUsage(t *testing.T) {
	files := recordedHistories(t)
	var out, errOut bytes.Buffer
	if code := replayGate(files, func(string) string { return "" }, &out, &errOut); code != gateUsage {
		t.Errorf("without %s: exit %d, want %d", config.EnvKeys, code, gateUsage)
	}
	for _, args := range [][]string{{"-max", "-1"}, {"-page-size", "0"}, {"-parallel", "0"}, {"-nope"}, {"-query", " "}} {
		errOut.Reset()
		if code := replayGate(args, keysEnv(t), &out, &errOut); code != gateUsage || errOut.Len() == 0 {
			t.Errorf("%v: exit %d with %q, want %d and a message", args, code, errOut.String(), gateUsage)
		}
	}
	// Bad worker configuration for the cluster: exit 2 naming the variable.
	errOut.Reset()
	env := keysEnv(t)
	if code := replayGate(nil, func(k string) string {
		if k == config.EnvTemporalAddress {
			return "no-port"
		}
		return env(k)
	}, &out, &errOut); code != gateUsage || !strings.Contains(errOut.String(), config.EnvTemporalAddress) {
		t.Errorf("bad %s: exit %d, %q", config.EnvTemporalAddress, code, errOut.String())
	}

	notHistory := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(notHistory, []byte(`{"events":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := replayGate([]string{notHistory}, keysEnv(t), &out, &errOut); code != gateFail || !strings.Contains(out.String(), "FAIL "+notHistory) {
		t.Errorf("an empty history: exit %d, want %d with a FAIL line naming it\n%s", code, gateFail, out.String())
	}
}

// The SDK renders a mismatching event with its payloads; the gate keeps
// the event and command types and the names, and drops the rest.
func TestDescribeDropsPayloads(t *testing.T) {
	err := errors.New(`[TMPRL1100] nondeterministic workflow: history event is ActivityTaskScheduled: (ActivityId:5, ActivityType:(Name:Register), Input:(Payloads:[(Metadata:(encoding:binary/encrypted), Data:c2VjcmV0)])), replay command is StartTimer: (TimerId:6, StartToFireTimeout:1s)`)
	got := describe(err)
	want := "[TMPRL1100] nondeterministic workflow: history event is ActivityTaskScheduled: , replay command is StartTimer: [names: Register, 6]"
	if got != want {
		t.Errorf("describe:\n got %q\nwant %q", got, want)
	}
}

// lines counts the lines of out that start with prefix.
func lines(out, prefix string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// `worker NAME`: replay-gate is the one subcommand; any other is bad usage.
func TestSubcommandDispatch(t *testing.T) {
	if code := subcommand("serve", nil); code != gateUsage {
		t.Errorf("worker serve: exit %d, want %d", code, gateUsage)
	}
	if code := subcommand(replayGateCommand, []string{"-max", "-1"}); code != gateUsage {
		t.Errorf("worker replay-gate -max -1: exit %d, want %d", code, gateUsage)
	}
}
