package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/awdaflow/awdaflow/internal/testenv"
	"github.com/awdaflow/awdaflow/tools/stack"
)

// dataDir is the data folder ($AWDAFLOW_DATA, default .data): the
// PostgreSQL cluster, Temporal's SQLite file, the sandbox's state, the
// development secrets (dev.env), the logs, and run/ (lock, ports, env,
// ready) of the run using it. A second make run reuses all of it.
type dataDir struct {
	root string // the repository
	dir  string // absolute
	lock *os.File
}

func (d *dataDir) path(elem ...string) string {
	return filepath.Join(append([]string{d.dir}, elem...)...)
}

// rel is a path as the user reads it: relative to the repository when inside.
func (d *dataDir) rel(p string) string {
	if r, err := filepath.Rel(d.root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// openData resolves dir against the repository, refuses a folder inside the
// repository that git does not ignore (it will hold dev.env), creates it and
// takes its lock: one run per data folder.
func openData(root, dir string) (*dataDir, error) {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	dir = filepath.Clean(dir)
	if err := checkIgnored(root, dir); err != nil {
		return nil, err
	}
	d := &dataDir{root: root, dir: dir}
	for _, sub := range []string{"", "logs", "run", "sandbox"} {
		if err := os.MkdirAll(d.path(sub), 0o755); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(d.path("run", "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	// Go opens files close-on-exec: no child holds the lock after we die.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another make run is using %s (stop it with Ctrl-C first)", d.rel(dir))
	}
	d.lock = f
	return d, nil
}

// checkIgnored refuses a data folder inside the repository unless git
// ignores it. Outside a git checkout (or without git) there is nothing to
// protect against.
func checkIgnored(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil
	}
	if rel == "." {
		return errors.New("AWDAFLOW_DATA is the repository itself; use .data (the default) or another folder git ignores")
	}
	cmd := exec.Command("git", "-C", root, "check-ignore", "-q", "--", rel+"/")
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return fmt.Errorf("AWDAFLOW_DATA=%s is inside the repository and git does not ignore it, but it will hold "+
			"development secrets (dev.env): use a name matching /.data*/ (git-ignored), a folder outside the "+
			"repository, or add it to .gitignore", rel)
	}
	return nil // not a git checkout, or no git
}

// secrets reads dev.env, generating it with bin/devkeys on the first run.
func (d *dataDir) secrets(devkeys string, say func(string, ...any)) (*stack.Secrets, map[string]string, error) {
	file := d.path("dev.env")
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		say("generating development keys into %s (first run; never commit it)", d.rel(file))
		out, err := exec.Command(devkeys).Output()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", devkeys, err)
		}
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, out, 0o600); err != nil {
			return nil, nil, err
		}
		if err := os.Rename(tmp, file); err != nil {
			return nil, nil, err
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	env := parseEnvFile(b)
	sec := &stack.Secrets{Keys: env["AWDAFLOW_KEYS"], APITokens: env["STARTER_API_TOKENS"], AppID: env["AWDA_APP_ID"], HMACSecret: env["AWDA_HMAC_SECRET"]}
	for k, v := range map[string]string{"AWDAFLOW_KEYS": sec.Keys, "STARTER_API_TOKENS": sec.APITokens, "AWDA_APP_ID": sec.AppID, "AWDA_HMAC_SECRET": sec.HMACSecret} {
		if v == "" {
			return nil, nil, fmt.Errorf("%s has no %s (delete it to start over; the encrypted histories of earlier runs become unreadable)", d.rel(file), k)
		}
	}
	return sec, env, nil
}

// parseEnvFile reads KEY=VALUE lines; # starts a comment line.
func parseEnvFile(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// ports settles every port: the one given (it must be free), else the
// default, else the one this variable had last time, else a free one; and
// remembers them in run/ports, so that bookmarks keep working.
func (d *dataDir) ports(knobs []portKnob, warn func(string, ...any)) (map[string]int, error) {
	last := parseEnvFile(readOrEmpty(d.path("run", "ports")))
	used := map[int]bool{}
	out := map[string]int{}
	var lines []string
	for _, k := range knobs {
		p, err := pickPort(k, last[k.env], used)
		if err != nil {
			return nil, err
		}
		if k.explicit == 0 && p != k.def {
			warn("port %d is taken: %s=%d", k.def, k.env, p)
		}
		used[p], out[k.env] = true, p
		lines = append(lines, k.env+"="+strconv.Itoa(p))
	}
	return out, os.WriteFile(d.path("run", "ports"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func pickPort(k portKnob, remembered string, used map[int]bool) (int, error) {
	if k.explicit != 0 {
		if taken(k.explicit) || used[k.explicit] {
			return 0, fmt.Errorf("%s=%d is in use", k.env, k.explicit)
		}
		return k.explicit, nil
	}
	last, _ := strconv.Atoi(remembered)
	for _, p := range []int{k.def, last} {
		if p != 0 && !used[p] && !taken(p) {
			return p, nil
		}
	}
	for range 100 {
		p, err := testenv.FreePort()
		if err != nil {
			return 0, err
		}
		if !used[p] {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port for %s", k.env)
}

// taken reports whether something listens on (or holds) 127.0.0.1:port.
func taken(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

func readOrEmpty(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// moveTemporalDB moves the SQLite file of runs before the launcher
// (.data/temporal.db) to where the stack keeps it (.data/temporal/), so
// that their workflows stay.
func (d *dataDir) moveTemporalDB() error {
	old, cur := d.path("temporal.db"), d.path("temporal", "temporal.db")
	if _, err := os.Stat(old); err != nil {
		return nil
	}
	if _, err := os.Stat(cur); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(cur), 0o755); err != nil {
		return err
	}
	return os.Rename(old, cur)
}

// writeFile writes a file of run/ readable by the user only (it may hold
// the API token).
func (d *dataDir) writeFile(name, body string) error {
	return os.WriteFile(d.path("run", name), []byte(body), 0o600)
}
