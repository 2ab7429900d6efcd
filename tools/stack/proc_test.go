package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestReadMemoryOfThisProcess(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS < 1<<20 || m.Peak < m.RSS {
		t.Fatalf("implausible reading %+v", m)
	}
	if _, err := ReadMemory(1 << 30); err == nil {
		t.Fatal("no such process: want an error")
	}
}

// A child's CPU time shows under its name, and a child that burns CPU
// shows more of it afterwards.
func TestCPUTimesOfChildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	before, err := CPUTimes()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := before["self"]; !ok {
		t.Fatalf("no self in %v", before)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		after, err := CPUTimes()
		if err != nil {
			t.Fatal(err)
		}
		if d := CPUDelta(before, after)["sh"]; d > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the busy child never showed CPU time: before %v, after %v", before, after)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCPUDelta(t *testing.T) {
	got := CPUDelta(map[string]time.Duration{"a": 5, "b": 9}, map[string]time.Duration{"a": 7, "b": 3, "c": 4})
	if got["a"] != 2 || got["b"] != 3 || got["c"] != 4 || len(got) != 3 {
		t.Fatalf("%v", got)
	}
}

func TestReadProcStatOddNames(t *testing.T) {
	ps, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if ps.pid != os.Getpid() || ps.ppid != os.Getppid() || ps.comm == "" {
		t.Fatalf("%+v", ps)
	}
}

func TestWithQuery(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"postgres://h/db", ""}:                    "postgres://h/db",
		{"postgres://h/db", "a=1"}:                 "postgres://h/db?a=1",
		{"postgres://h/db?sslmode=disable", "a=1"}: "postgres://h/db?sslmode=disable&a=1",
	} {
		if got := withQuery(in[0], in[1]); got != want {
			t.Errorf("withQuery(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}

func TestCopyLogs(t *testing.T) {
	logDir, dst := t.TempDir(), filepath.Join(t.TempDir(), "kept")
	for name, body := range map[string]string{"worker.log": "w\n", "starter.log": "s\n"} {
		if err := os.WriteFile(filepath.Join(logDir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(logDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Stack{logDir: logDir}
	got, err := s.CopyLogs(dst, "TestX-")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("copied %v, want the two logs only", got)
	}
	for name, body := range map[string]string{"TestX-worker.log": "w\n", "TestX-starter.log": "s\n"} {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(b) != body {
			t.Errorf("%s: %q, %v; want %q", name, b, err, body)
		}
	}
}
