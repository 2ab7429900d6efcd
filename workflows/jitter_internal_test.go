package workflows

import (
	"fmt"
	"testing"
	"time"
)

// 2,000 loans due on one date ask AWDA over the whole jitter window, not in
// one minute: every offset is in [0, max), the same for one workflow ID, and
// no 10-minute slice of the window holds more than twice its share.
func TestDueCheckJitterSpreadsLoans(t *testing.T) {
	const n, max, slice = 2000, 3 * time.Hour, 10 * time.Minute
	buckets := make([]int, max/slice)
	for i := range n {
		id := fmt.Sprintf("loan:app-%06d", i)
		j := jitterOf(id, max)
		if j < 0 || j >= max {
			t.Fatalf("%s: offset %s outside [0, %s)", id, j, max)
		}
		if again := jitterOf(id, max); again != j {
			t.Fatalf("%s: offset %s, then %s: not deterministic", id, j, again)
		}
		buckets[j/slice]++
	}
	share := n / len(buckets)
	for i, c := range buckets {
		if c > 2*share {
			t.Errorf("%d loans between +%s and +%s: more than twice the share of %d", c, time.Duration(i)*slice, time.Duration(i+1)*slice, share)
		}
	}
	if jitterOf("loan:x", 0) != 0 {
		t.Error("no jitter configured, an offset anyway")
	}
}
