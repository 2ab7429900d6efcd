package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one of our binaries run as a subprocess, which can be killed
// and started again at will; its output (every run's) is appended to one
// log file.
type Process struct {
	Name string
	Path string
	Args []string
	// Env is the whole environment of the process (later entries win).
	Env []string
	// LogPath receives stdout and stderr.
	LogPath string
	// ReadyURL answers 200 once the process is ready (empty: ready once
	// started).
	ReadyURL string
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL
	// (default 30 s).
	StopTimeout time.Duration
	// Output, when set, receives stdout and stderr instead of LogPath
	// (the demo, which draws on the launcher's terminal).
	Output *os.File
	// AutoRestart, when set, starts the process again after it exited on its
	// own (a crash, the OOM killer, kill -9 from outside), after a backoff.
	// Stop and Kill never lead to a restart; Start after them re-arms it.
	// Nil: a process that dies stays dead (what chaos and the tests want,
	// who kill and restart processes themselves).
	AutoRestart *Backoff
	// Report receives the supervisor's news, e.g. "worker exited (signal:
	// killed); restarting in 2s" (nil: silent).
	Report func(format string, args ...any)

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	werr      error
	starts    int
	held      bool          // stopped or killed on purpose: no restart
	gen       uint64        // bumped by Start, Stop and Kill: cancels a pending restart
	lastStart time.Time     // for Backoff.ResetAfter
	delay     time.Duration // the last restart delay
}

// ErrNotRunning is returned for a process that is not running.
var ErrNotRunning = errors.New("stack: process not running")

// Start starts the process and waits until ReadyURL answers 200 (at most
// until ctx ends). Starting a running process is an error.
func (p *Process) Start(ctx context.Context) error {
	if err := p.spawn(); err != nil {
		return err
	}
	return p.WaitReady(ctx)
}

func (p *Process) spawn() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = false
	p.gen++
	return p.spawnLocked()
}

func (p *Process) spawnLocked() error {
	if p.runningLocked() {
		return fmt.Errorf("stack: %s is already running (pid %d)", p.Name, p.cmd.Process.Pid)
	}
	f, err := p.output()
	if err != nil {
		return err
	}
	p.starts++
	if p.Output == nil {
		fmt.Fprintf(f, "---- %s start #%d at %s ----\n", p.Name, p.starts, time.Now().Format(time.RFC3339Nano))
	}
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Our own process group: a terminal's Ctrl-C reaches the launcher
		// only, which stops the children in order. SIGKILL from the kernel
		// if the launcher dies without doing so.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if err := startOnLockedThread(cmd); err != nil {
		p.closeOutput(f)
		return fmt.Errorf("stack: start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.closeOutput(f)
		p.mu.Lock()
		p.werr = err
		p.mu.Unlock()
		close(exited)
		p.afterExit(err)
	}()
	p.cmd, p.exited, p.lastStart = cmd, exited, time.Now()
	return nil
}

// output is where the process writes: Output, else LogPath (appended).
func (p *Process) output() (*os.File, error) {
	if p.Output != nil {
		return p.Output, nil
	}
	return os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

func (p *Process) closeOutput(f *os.File) {
	if f != p.Output {
		f.Close()
	}
}

// WaitReady polls ReadyURL until it answers 200, the process exits (an
// error quoting the end of its log) or ctx ends.
func (p *Process) WaitReady(ctx context.Context) error {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	if exited == nil {
		return ErrNotRunning
	}
	if p.ReadyURL == "" {
		return nil
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-exited:
			p.mu.Lock()
			werr := p.werr
			p.mu.Unlock()
			return fmt.Errorf("stack: %s exited before it was ready (%v); the end of %s:\n%s", p.Name, werr, p.LogPath, Tail(p.LogPath, 30))
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.ReadyURL, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack: %s not ready: %w; the end of %s:\n%s", p.Name, ctx.Err(), p.LogPath, Tail(p.LogPath, 30))
		case <-exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Running reports whether the process is up.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

func (p *Process) runningLocked() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// PID is the running process's id (0 when not running).
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Done is closed when the current (or last) run of the process ends; nil
// before the first Start.
func (p *Process) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// ExitCode is the exit status of the last run: -1 while it runs, before
// the first Start, or when a signal ended it.
func (p *Process) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.runningLocked() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Starts counts the times the process was started.
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits until it is gone. Killing a stopped process does nothing.
func (p *Process) Kill() error {
	p.hold()
	return p.signalAndWait(syscall.SIGKILL, 10*time.Second)
}

// Stop asks the process to stop (SIGTERM, a graceful shutdown) and waits,
// with SIGKILL after StopTimeout.
func (p *Process) Stop() error {
	p.hold()
	to := p.StopTimeout
	if to <= 0 {
		to = 30 * time.Second
	}
	err := p.signalAndWait(syscall.SIGTERM, to)
	if errors.Is(err, errTimeout) {
		return p.Kill()
	}
	return err
}

var errTimeout = errors.New("stack: process did not exit in time")

func (p *Process) signalAndWait(sig syscall.Signal, timeout time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	running := p.runningLocked()
	p.mu.Unlock()
	if !running {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		// Whatever the process left in its group (nothing, for our
		// binaries) goes with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%w: %s after %v", errTimeout, p.Name, sig)
	}
}

// Restart stops the process (SIGTERM) and starts it again.
func (p *Process) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return err
	}
	return p.Start(ctx)
}

// Memory is a reading of a process's memory from /proc/<pid>/status.
type Memory struct {
	// RSS is the resident set size (VmRSS) and Peak its high-water mark
	// (VmHWM), in bytes.
	RSS  int64 `json:"rssBytes"`
	Peak int64 `json:"peakRssBytes"`
}

// MiB renders n bytes in mebibytes.
func MiB(n int64) float64 { return float64(n) / (1 << 20) }

// Memory reads the running process's resident memory.
func (p *Process) Memory() (Memory, error) {
	pid := p.PID()
	if pid == 0 {
		return Memory{}, fmt.Errorf("%w: %s", ErrNotRunning, p.Name)
	}
	return ReadMemory(pid)
}

// ReadMemory reads VmRSS and VmHWM of a process.
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		fields := strings.Fields(v) // "123456 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return Memory{}, fmt.Errorf("stack: /proc/%d/status: unexpected %s line %q", pid, k, v)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("stack: /proc/%d/status: %s: %w", pid, k, err)
		}
		*dst = n << 10
	}
	if err := sc.Err(); err != nil {
		return Memory{}, err
	}
	if m.RSS == 0 {
		return Memory{}, fmt.Errorf("stack: /proc/%d/status has no VmRSS", pid)
	}
	return m, nil
}

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// The kernel sends the parent-death signal when the *thread* that forked
// the child exits, and the Go runtime may retire threads. Forking from one
// goroutine locked to its thread for good ties the signal to the life of
// the process instead.
var launcher = sync.OnceValue(func() chan launchReq {
	ch := make(chan launchReq)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		for req := range ch {
			req.reply <- req.cmd.Start()
		}
	}()
	return ch
})

type launchReq struct {
	cmd   *exec.Cmd
	reply chan error
}

func startOnLockedThread(cmd *exec.Cmd) error {
	reply := make(chan error, 1)
	launcher() <- launchReq{cmd: cmd, reply: reply}
	return <-reply
}
