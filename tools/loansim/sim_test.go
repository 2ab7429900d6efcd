package loansim_test

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/awdaflow/awdaflow/tools/loansim"
)

var (
	seedFlag = flag.Uint64("sim.seed", 0, "run only this seed (also SIM_SEED)")
	dumpFlag = flag.Bool("sim.dump", false, "print each scenario's script and findings")
)

func envUint(name string, def uint64) uint64 {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err == nil {
			return n
		}
	}
	return def
}

// regressionSeeds reads testdata/regression-seeds.txt: one seed a line, #
// comments.
func regressionSeeds(t *testing.T) []uint64 {
	f, err := os.Open("testdata/regression-seeds.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.SplitN(sc.Text(), "#", 2)[0])
		if line == "" {
			continue
		}
		n, err := strconv.ParseUint(line, 10, 64)
		if err != nil {
			t.Fatalf("regression seed %q: %v", line, err)
		}
		out = append(out, n)
	}
	return out
}

// TestSimulator runs SIM_SEEDS (300) scenarios from SIM_SEED_BASE (1), and
// every regression seed, against the real workflow and activities.
func TestSimulator(t *testing.T) {
	var seeds []uint64
	if one := envUint("SIM_SEED", *seedFlag); one != 0 {
		seeds = []uint64{one}
	} else {
		base, n := envUint("SIM_SEED_BASE", 1), envUint("SIM_SEEDS", 300)
		for i := range n {
			seeds = append(seeds, base+i)
		}
		seeds = append(seeds, regressionSeeds(t)...)
	}
	var mu sync.Mutex
	var results []*loansim.Result
	loansim.RunSeeds(seeds, 0, func(r *loansim.Result) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
		if *dumpFlag || len(seeds) == 1 {
			t.Log(r.Scenario.Dump())
			t.Log(r.Summary())
		}
		for _, v := range r.Violations {
			t.Errorf("seed %d: %s\n    reproduce: cd tools && go test ./loansim -run TestSimulator -sim.seed=%d -v", r.Scenario.Seed, v, r.Scenario.Seed)
		}
	})
	fig := loansim.Summarize(results)
	t.Log("\n" + fig.String())
	fmt.Fprint(os.Stderr, "")
}

// TestStorm runs SIM_STORMS (1) due-date storms from SIM_STORM_BASE (1), each
// a family of SIM_STORM_LOANS (100) loans due on the same dates, and holds
// each loan to the model and the invariants, and each family's due-date
// checks to their window and spread (loansim.CheckStorm).
func TestStorm(t *testing.T) {
	base, n, loans := envUint("SIM_STORM_BASE", 1), envUint("SIM_STORMS", 1), int(envUint("SIM_STORM_LOANS", 100))
	for family := base; family < base+n; family++ {
		var mu sync.Mutex
		var results []*loansim.Result
		loansim.RunScenarios(loansim.GenerateStorm(family, loans), 0, func(r *loansim.Result) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
		fig, violations := loansim.CheckStorm(results)
		for _, v := range violations {
			t.Errorf("storm %d: %s\n    reproduce: cd tools && SIM_STORM_BASE=%d SIM_STORM_LOANS=%d go test ./loansim -run TestStorm -v", family, v, family, loans)
		}
		for _, r := range results {
			for _, v := range r.Violations {
				t.Errorf("storm %d, %s: %s\n%s", family, r.Scenario.ApplicantRef, v, r.Scenario.Dump())
			}
		}
		if fig.Settled != loans {
			t.Errorf("storm %d: %d of %d loans settled", family, fig.Settled, loans)
		}
		t.Logf("storm %d: %s", family, fig)
	}
}
