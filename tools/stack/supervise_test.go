package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary run supervisorHelper instead of the
// tests: a miniature launcher built from the same parts as tools/cmd/run
// (NotifyShutdown, Display, Process, StopAll).
const helperEnv = "STACK_SUPERVISOR_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(supervisorHelper(dir))
	}
	os.Exit(m.Run())
}

// supervisorHelper starts a child that has a child of its own in its
// process group (as PostgreSQL or a shell would), writes both pids into
// dir, prints progress until a signal, then stops the child and prints
// again: all of it to a stdout whose reader may be gone.
func supervisorHelper(dir string) int {
	ctx, _, stop := NotifyShutdown(context.Background())
	defer stop()
	d := NewDisplay(os.Stdout, os.Stderr)
	p := &Process{
		Name: "child", Path: "/bin/sh",
		Args:        []string{"-c", "sleep 300 & echo $! > " + filepath.Join(dir, "grandchild") + "; wait"},
		Env:         []string{"PATH=" + os.Getenv("PATH")},
		LogPath:     filepath.Join(dir, "child.log"),
		StopTimeout: 5 * time.Second,
	}
	if err := p.Start(ctx); err != nil {
		return 3
	}
	if err := writeFileAtomic(filepath.Join(dir, "child"), strconv.Itoa(p.PID())); err != nil {
		return 4
	}
	for ctx.Err() == nil {
		d.Say("child %d running", p.PID())
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	d.Say("stopping child")
	if err := StopAll(p); err != nil {
		d.Error("%v", err)
		return 5
	}
	d.Say("stopped")
	return 0
}

func writeFileAtomic(path, body string) error {
	if err := os.WriteFile(path+".tmp", []byte(body), 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// gone reports whether pid no longer runs (a zombie waiting for init to
// reap it does not run).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, state, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(state, "Z")
}

func readPid(t *testing.T, path string, exited <-chan error) int {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		select {
		case err := <-exited:
			t.Fatalf("the helper exited (%v) before writing %s", err, path)
		case <-deadline:
			t.Fatalf("no %s after 20s", path)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// `make run | tee run.log`, then Ctrl-C: tee is gone first, so every
// write of the launcher fails. It must still stop its children, their
// process groups included, and exit normally.
func TestSignalStopsChildrenWhenStdoutIsBroken(t *testing.T) {
	dir := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the reader is gone from the start
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+dir)
	helper.Stdout, helper.Stderr = w, w
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- helper.Wait() }()
	child := readPid(t, filepath.Join(dir, "child"), exited)
	grandchild := readPid(t, filepath.Join(dir, "grandchild"), exited)
	t.Cleanup(func() {
		// Whatever the outcome, nothing of this test survives it.
		_ = syscall.Kill(-child, syscall.SIGKILL)
		_ = syscall.Kill(grandchild, syscall.SIGKILL)
	})
	// The helper has been writing to the broken pipe since it started.
	_ = helper.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the helper did not exit normally: %v (it must survive writes to a broken pipe)", err)
		}
	case <-time.After(30 * time.Second):
		_ = helper.Process.Kill()
		t.Fatal("the helper did not exit within 30s of SIGINT")
	}
	for name, pid := range map[string]int{"child": child, "grandchild (in the child's process group)": grandchild} {
		if !gone(pid) {
			t.Errorf("%s %d still runs after the helper stopped", name, pid)
		}
	}
}

// A supervised process killed from outside comes back, after a backoff
// that doubles, and the supervisor says so.
func TestAutoRestartAfterKill9(t *testing.T) {
	reports := make(chan string, 16)
	p := &Process{
		Name: "sleeper", Path: "/bin/sleep", Args: []string{"300"},
		LogPath:     filepath.Join(t.TempDir(), "sleeper.log"),
		StopTimeout: 5 * time.Second,
		AutoRestart: &Backoff{Initial: 10 * time.Millisecond, Max: time.Second, ResetAfter: time.Hour},
		Report:      func(format string, args ...any) { reports <- fmt.Sprintf(format, args...) },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-reports:
			if !strings.HasPrefix(got, want) {
				t.Fatalf("report %q, want %q…", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("no report %q…", want)
		}
	}
	for i, delay := range []string{"10ms", "20ms"} {
		pid := p.PID()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		expect("sleeper exited (signal: killed); restarting in " + delay)
		expect("sleeper is back")
		if now := p.PID(); now == 0 || now == pid {
			t.Fatalf("pid after the restart %d (before %d)", now, pid)
		}
		if p.Starts() != i+2 {
			t.Fatalf("starts %d, want %d", p.Starts(), i+2)
		}
	}
	// Stop is on purpose: the process stays down and nothing is reported.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatal("running after Stop")
	}
	select {
	case got := <-reports:
		t.Fatalf("after Stop: %q", got)
	default:
	}
}

func TestBackoff(t *testing.T) {
	b := DefaultBackoff()
	var got []time.Duration
	prev := time.Duration(0)
	for range 7 {
		prev = b.next(prev, time.Second)
		got = append(got, prev)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v s", got, want)
		}
	}
	if d := b.next(30*time.Second, 2*time.Minute); d != time.Second {
		t.Fatalf("after two healthy minutes: %v, want 1s", d)
	}
}

func TestExitReason(t *testing.T) {
	err := exec.Command("/bin/sh", "-c", "exit 3").Run()
	if got := ExitReason(err); got != "exit status 3" {
		t.Fatalf("%q", got)
	}
	if got := ExitReason(nil); got != "exit status 0" {
		t.Fatalf("%q", got)
	}
}
