package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/tools/demo"
)

func TestDemoUsageErrors(t *testing.T) {
	env := map[string]string{EnvAPITokens: "demo-test-token-0123456789"}
	getenv := func(k string) string { return env[k] }
	for name, tc := range map[string]struct {
		args   []string
		getenv func(string) string
		want   string
	}{
		"no token":         {[]string{}, func(string) string { return "" }, EnvAPIToken},
		"bad mix":          {[]string{"-mix", "happy=x"}, getenv, "weight"},
		"unknown scenario": {[]string{"-mix", "lucky=1"}, getenv, "scenario"},
		"bad progress":     {[]string{"-progress", "fancy"}, getenv, "-progress"},
		"extra argument":   {[]string{"now"}, getenv, "unexpected"},
		"unknown flag":     {[]string{"-fast"}, getenv, "-fast"},
		"sandbox away":     {[]string{"-sandbox-admin", "http://127.0.0.1:1"}, getenv, "does not answer"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, tc.getenv, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 mentioning %q", name, code, errOut.String(), tc.want)
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-h"}, getenv, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "-concurrency") {
		t.Errorf("-h: exit %d, %q", code, errOut.String())
	}
}

func progress(done int, ev demo.Event, stages map[string]int) demo.Progress {
	return demo.Progress{Total: 4, Done: done, Matched: done, Stages: stages, Elapsed: 1500 * time.Millisecond, Event: ev}
}

// The live display redraws its three lines in place (cursor up, clear line)
// and prints notable events above them.
func TestLiveDisplay(t *testing.T) {
	var buf testenv.SyncBuffer
	d := newLiveDisplay(&buf)
	d.update(progress(0, demo.Event{Kind: demo.EventStage, Ref: "r1", Stage: "REGISTER"},
		map[string]int{"REGISTER": 2, "BANK_CARD": 1, "WAITING": 1}))
	// A tick draws it; the next updates come only once it is on the screen.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "0/4 done") {
		if time.Now().After(deadline) {
			t.Fatalf("no tick drew the first update within 10s: %q", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.update(progress(2, demo.Event{Kind: demo.EventStuck, Ref: "r3", Scenario: demo.DisburseFail, Detail: "disbursement: AWDA reported DISBURSE_FAILED"},
		map[string]int{"DISBURSEMENT": 1, "SETTLED": 1, "REJECTED": 1, "REPAYMENT": 1}))
	d.update(progress(3, demo.Event{Kind: demo.EventDone, Ref: "r4", Scenario: demo.Happy, Stage: "TIMEOUT"},
		map[string]int{"DISBURSEMENT": 1, "SETTLED": 1, "REJECTED": 1, "TIMEOUT": 1}))
	d.close()
	out := buf.String()
	for _, want := range []string{
		"░░░░", "0/4 done", "in progress: REGISTER 2  BANK_CARD 1", // order of the lifecycle, WAITING not shown
		"\x1b[3A",   // back over the three lines
		"\r\x1b[2K", // each line cleared before it is drawn
		"r3 (disbursefail) stuck: disbursement: AWDA reported DISBURSE_FAILED",
		"r4 (happy) ended TIMEOUT, expected SETTLED",
		"3/4 done", "finished:    SETTLED 1  REJECTED 1  TIMEOUT 1", "████",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the display lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "WAITING") {
		t.Error("waiting applicants are counted as in progress")
	}
}

func TestLineDisplay(t *testing.T) {
	var buf bytes.Buffer
	d := &lineDisplay{w: &buf, every: time.Hour}
	d.update(progress(0, demo.Event{Kind: demo.EventStarted, Ref: "r1", Stage: demo.StageUploading}, map[string]int{"UPLOADING": 1, "WAITING": 3}))
	d.update(progress(1, demo.Event{Kind: demo.EventDone, Ref: "r1", Scenario: demo.Happy, Stage: "SETTLED"}, map[string]int{"SETTLED": 1}))
	d.update(progress(2, demo.Event{Kind: demo.EventDone, Ref: "r2", Scenario: demo.Reject, Stage: "SETTLED"}, map[string]int{"SETTLED": 2}))
	d.update(progress(2, demo.Event{Kind: demo.EventAction, Ref: "r3", Scenario: demo.Cancel, Detail: "borrower cancelled"}, map[string]int{"SETTLED": 2}))
	want := "2s  0/4 done  in progress: UPLOADING 1\n" +
		"[1/4] r1 (happy) SETTLED: ok\n" +
		"[2/4] r2 (reject) SETTLED: MISMATCH, expected REJECTED\n" +
		"r3 (cancel) borrower cancelled\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
