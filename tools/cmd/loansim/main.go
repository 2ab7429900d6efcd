// Command loansim runs many simulator seeds and prints the figures:
//
//	cd tools && go run ./cmd/loansim -seeds 10000 -base 1
//
// It exits 1 when a scenario breaks an invariant, after listing the seeds.
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
	if len(fig.FailedSeeds) > 0 {
		fmt.Printf("reproduce one: cd tools && go test ./loansim -run TestSimulator -sim.seed=%d -v\n", fig.FailedSeeds[0])
		os.Exit(1)
	}
}
