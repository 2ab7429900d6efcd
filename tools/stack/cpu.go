package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat: 100 on
// every Linux this runs on (it is fixed by the kernel ABI, not by HZ).
const clockTicks = 100

// procStat is what we read of /proc/<pid>/stat.
type procStat struct {
	pid, ppid int
	comm      string
	cpu       time.Duration // utime+stime+cutime+cstime: its own and its reaped children's
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// "pid (comm) state ppid ..." where comm may hold spaces and parentheses.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("stack: /proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[end+1:])
	// After comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stack: /proc/%d/stat: too few fields", pid)
	}
	ps := procStat{pid: pid, comm: s[open+1 : end]}
	if ps.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, err
	}
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return procStat{}, err
		}
		ticks += n
	}
	ps.cpu = time.Duration(ticks) * time.Second / clockTicks
	return ps, nil
}

// CPUTimes returns the CPU time (user + system) used so far by each process
// tree this process started, keyed by the name of its root ("temporal",
// "postgres" with all its backends, "worker", "starter", …; a name seen
// twice gets "#2"), and by "self" for this process (the in-process sandbox,
// the load generators). A restarted process starts again from zero, so
// take differences within one run of a process. Linux only.
func CPUTimes() (map[string]time.Duration, error) {
	self := os.Getpid()
	entries, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	stats := map[int]procStat{}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(filepath.Base(e))
		if err != nil {
			continue
		}
		ps, err := readProcStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		stats[pid] = ps
		children[ps.ppid] = append(children[ps.ppid], pid)
	}
	var sum func(pid int) time.Duration
	sum = func(pid int) time.Duration {
		t := stats[pid].cpu
		for _, c := range children[pid] {
			t += sum(c)
		}
		return t
	}
	out := map[string]time.Duration{}
	if ps, ok := stats[self]; ok {
		out["self"] = ps.cpu
	}
	for _, c := range children[self] {
		name := stats[c].comm
		if _, dup := out[name]; dup {
			for i := 2; ; i++ {
				if _, dup := out[name+"#"+strconv.Itoa(i)]; !dup {
					name += "#" + strconv.Itoa(i)
					break
				}
			}
		}
		out[name] = sum(c)
	}
	return out, nil
}

// CPUDelta is after − before per name in after. A name missing from
// before (a process started since) counts from zero, and so does one whose
// time went down (restarted since: its new run is all that is left).
func CPUDelta(before, after map[string]time.Duration) map[string]time.Duration {
	out := map[string]time.Duration{}
	for k, a := range after {
		if b, ok := before[k]; ok && a >= b {
			out[k] = a - b
		} else {
			out[k] = a
		}
	}
	return out
}
