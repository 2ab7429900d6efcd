package inbox

import (
	"testing"
	"time"
)

// The wait grows from MinBackoff by doubling, with ±20 % jitter, and never
// passes MaxBackoff.
func TestBackoff(t *testing.T) {
	d := &Deliverer{MinBackoff: time.Second, MaxBackoff: 30 * time.Second}
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second} {
		for i := 0; i < 50; i++ {
			got := d.Backoff(attempts)
			if got < want*8/10 || got > want*12/10 {
				t.Fatalf("Backoff(%d) = %v, want %v ±20%%", attempts, got, want)
			}
		}
	}
	for i := 0; i < 50; i++ {
		if got := d.Backoff(40); got > 30*time.Second || got < 24*time.Second {
			t.Fatalf("Backoff(40) = %v, want at most the 30s cap (and near it)", got)
		}
	}
	var zero Deliverer
	if got := zero.Backoff(1); got < DefaultMinBackoff*8/10 || got > DefaultMinBackoff*12/10 {
		t.Fatalf("default Backoff(1) = %v", got)
	}
}
