// Command loansim runs many simulator seeds, and due-date storms, and prints
// the figures:
//
//	cd tools && go run ./cmd/loansim -seeds 10000 -base 1 -storms 10 -storm-loans 200
//
// It exits 1 when a scenario or a storm breaks an invariant, after listing
// the seeds or families.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/awdaflow/awdaflow/tools/loansim"
)

func main() {
	n := flag.Uint64("seeds", 1000, "how many seeds (SIM_SEEDS)")
	base := flag.Uint64("base", 1, "first seed (SIM_SEED_BASE)")
	workers := flag.Int("workers", 0, "parallel scenarios (0: one per CPU)")
	verbose := flag.Bool("v", false, "print every violation")
	bench := flag.Bool("bench", false, "also print the history cost of the three bench scenarios")
	storms := flag.Uint64("storms", 0, "due-date storms to run (SIM_STORMS)")
	stormBase := flag.Uint64("storm-base", 1, "first storm family (SIM_STORM_BASE)")
	stormLoans := flag.Int("storm-loans", 200, "loans per storm (SIM_STORM_LOANS)")
	flag.Parse()

	seeds := make([]uint64, *n)
	for i := range seeds {
		seeds[i] = *base + uint64(i)
	}
	began := time.Now()
	var mu sync.Mutex
	var results []*loansim.Result
	loansim.RunSeeds(seeds, *workers, func(r *loansim.Result) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
		if *verbose {
			for _, v := range r.Violations {
				fmt.Printf("seed %d: %s\n", r.Scenario.Seed, v)
			}
		}
		if len(results)%500 == 0 {
			fmt.Fprintf(os.Stderr, "%d/%d scenarios, %s\n", len(results), len(seeds), time.Since(began).Round(time.Second))
		}
	})
	fig := loansim.Summarize(results)
	fmt.Print(fig.String())
	fmt.Printf("wall time              %s\n", time.Since(began).Round(time.Millisecond))
	if *bench {
		for _, c := range loansim.HistoryCost() {
			fmt.Println(c)
		}
	}
	failedStorms := runStorms(*stormBase, *storms, *stormLoans, *workers, *verbose)
	if len(fig.FailedSeeds) > 0 {
		fmt.Printf("reproduce one: cd tools && go test ./loansim -run TestSimulator -sim.seed=%d -v\n", fig.FailedSeeds[0])
	}
	if len(failedStorms) > 0 {
		fmt.Printf("reproduce one: cd tools && SIM_STORM_BASE=%d SIM_STORM_LOANS=%d go test ./loansim -run TestStorm -v\n", failedStorms[0], *stormLoans)
	}
	if len(fig.FailedSeeds) > 0 || len(failedStorms) > 0 {
		os.Exit(1)
	}
}

// runStorms runs n due-date storms of loans each from family base, prints
// each family's figures, and returns the families that broke an invariant.
func runStorms(base, n uint64, loans, workers int, verbose bool) []uint64 {
	var failed []uint64
	for family := base; family < base+n; family++ {
		began := time.Now()
		var mu sync.Mutex
		var results []*loansim.Result
		loansim.RunScenarios(loansim.GenerateStorm(family, loans), workers, func(r *loansim.Result) {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, r)
		})
		sf, violations := loansim.CheckStorm(results)
		for _, r := range results {
			for _, v := range r.Violations {
				violations = append(violations, loansim.Violation{Invariant: v.Invariant, Detail: r.Scenario.ApplicantRef + ": " + v.Detail})
			}
		}
		fmt.Printf("storm %d: %s %d violations, %s\n", family, sf, len(violations), time.Since(began).Round(time.Millisecond))
		if verbose {
			for _, v := range violations {
				fmt.Printf("storm %d: %s\n", family, v)
			}
		}
		if len(violations) > 0 || sf.Settled != loans {
			failed = append(failed, family)
		}
	}
	return failed
}
