package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
)

// Backoff is how a supervised process is restarted: after Initial, doubling
// at each crash up to Max, back to Initial once a run lasted ResetAfter.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	ResetAfter time.Duration
}

// DefaultBackoff is make run's: 1 s doubling to 30 s, reset after a minute
// healthy.
func DefaultBackoff() *Backoff {
	return &Backoff{Initial: time.Second, Max: 30 * time.Second, ResetAfter: time.Minute}
}

// next is the delay before the next restart, given the previous delay (0:
// none yet) and how long the run that just ended lasted.
func (b *Backoff) next(prev, lasted time.Duration) time.Duration {
	if prev == 0 || lasted >= b.ResetAfter {
		return b.Initial
	}
	return min(2*prev, b.Max)
}

// hold marks the process as stopped on purpose: no restart until Start.
func (p *Process) hold() {
	p.mu.Lock()
	p.held = true
	p.gen++
	p.mu.Unlock()
}

// afterExit runs when the process has exited: a process that was not
// stopped on purpose is started again after the backoff.
func (p *Process) afterExit(werr error) {
	p.mu.Lock()
	if p.held || p.AutoRestart == nil {
		p.mu.Unlock()
		return
	}
	p.delay = p.AutoRestart.next(p.delay, time.Since(p.lastStart))
	delay, gen := p.delay, p.gen
	p.mu.Unlock()
	p.report("%s exited (%s); restarting in %s", p.Name, ExitReason(werr), delay)
	time.AfterFunc(delay, func() { p.restart(gen) })
}

// restart starts the process again unless Start, Stop or Kill came first.
func (p *Process) restart(gen uint64) {
	p.mu.Lock()
	if p.held || p.gen != gen {
		p.mu.Unlock()
		return
	}
	err := p.spawnLocked()
	p.mu.Unlock()
	if err != nil {
		p.report("%s: restart failed: %v", p.Name, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		return // its exit is reported (and handled) by afterExit
	}
	p.report("%s is back (pid %d, start #%d)", p.Name, p.PID(), p.Starts())
}

func (p *Process) report(format string, args ...any) {
	if p.Report != nil {
		p.Report(format, args...)
	}
}

// ExitReason renders a process's exit: "signal: killed", "exit status 1".
func ExitReason(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &ee):
		return ee.ProcessState.String()
	}
	return err.Error()
}

// StopAll stops processes (SIGTERM, SIGKILL after each one's StopTimeout,
// then SIGKILL to whatever is left in its process group) in parallel and
// waits for all of them. Nil entries are skipped.
func StopAll(procs ...*Process) error {
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Stop()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// NotifyShutdown returns a context that ends at the first SIGINT, SIGTERM or
// SIGHUP (a closed terminal), and a function telling which signal it was
// (nil before). SIGPIPE is caught and dropped, so that output to a pipe
// whose reader went away (`make run | tee log`, then Ctrl-C, which ends tee
// first) fails with an error instead of killing the launcher before it has
// stopped its children. stop undoes all of it.
func NotifyShutdown(parent context.Context) (ctx context.Context, which func() os.Signal, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	var (
		mu  sync.Mutex
		got os.Signal
	)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGPIPE {
					continue
				}
				mu.Lock()
				if got == nil {
					got = s
				}
				mu.Unlock()
				cancel()
			case <-done:
				return
			}
		}
	}()
	which = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			cancel()
		})
	}
	return ctx, which, stop
}

// SignalExitCode is the shell's status for a process ended by sig (130 for
// SIGINT, 143 for SIGTERM, 129 for SIGHUP).
func SignalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// Display is the launcher's progress on a terminal: "==> what [12s]" lines,
// warnings and errors, in colour on a terminal. A write that fails (the
// reader of a pipe went away) silences that stream and nothing else: the
// launcher goes on stopping its children.
type Display struct {
	mu    sync.Mutex
	out   *stream
	err   *stream
	color bool
	t0    time.Time
}

type stream struct {
	w      io.Writer
	broken bool
}

// NewDisplay writes progress to out and warnings to errOut; colours when out
// is a terminal.
func NewDisplay(out, errOut io.Writer) *Display {
	color := false
	if f, ok := out.(*os.File); ok {
		color = isatty.IsTerminal(f.Fd())
	}
	return &Display{out: &stream{w: out}, err: &stream{w: errOut}, color: color, t0: time.Now()}
}

// ANSI styles.
const (
	styleBold   = "\x1b[1m"
	styleDim    = "\x1b[2m"
	styleRed    = "\x1b[31m"
	styleGreen  = "\x1b[32m"
	styleYellow = "\x1b[33m"
	styleReset  = "\x1b[0m"
)

// Style wraps s in an ANSI style when the display is in colour.
func (d *Display) Style(style, s string) string {
	if !d.color {
		return s
	}
	return style + s + styleReset
}

// Bold, Green and Dim style s for the display.
func (d *Display) Bold(s string) string  { return d.Style(styleBold, s) }
func (d *Display) Green(s string) string { return d.Style(styleGreen, s) }
func (d *Display) Dim(s string) string   { return d.Style(styleDim, s) }

// Elapsed is the time since the display was made, in whole seconds.
func (d *Display) Elapsed() time.Duration { return time.Since(d.t0).Truncate(time.Second) }

// Say prints one progress line with the time since the start.
func (d *Display) Say(format string, args ...any) {
	d.Print(fmt.Sprintf("%s %s %s\n", d.Bold("==>"), fmt.Sprintf(format, args...), d.Dim(fmt.Sprintf("[%ds]", int(d.Elapsed().Seconds())))))
}

// Warn prints a warning on the error stream.
func (d *Display) Warn(format string, args ...any) {
	d.write(d.err, fmt.Sprintf("%s %s\n", d.Style(styleYellow, "warning:"), fmt.Sprintf(format, args...)))
}

// Error prints an error on the error stream.
func (d *Display) Error(format string, args ...any) {
	d.write(d.err, fmt.Sprintf("%s %s\n", d.Style(styleRed, "error:"), fmt.Sprintf(format, args...)))
}

// Print writes s as it is on the progress stream.
func (d *Display) Print(s string) { d.write(d.out, s) }

func (d *Display) write(st *stream, s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st.broken {
		return
	}
	if _, err := io.WriteString(st.w, s); err != nil {
		st.broken = true
	}
}
