package chaos

import (
	"reflect"
	"testing"
	"time"
)

func TestScheduleIsDeterministic(t *testing.T) {
	a, b := NewSchedule(42, ScheduleOptions{}), NewSchedule(42, ScheduleOptions{})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave two schedules")
	}
	c := NewSchedule(43, ScheduleOptions{})
	if reflect.DeepEqual(a.Events, c.Events) {
		t.Fatal("seeds 42 and 43 gave the same schedule")
	}
}

func TestScheduleShape(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		s := NewSchedule(seed, ScheduleOptions{Span: 10 * time.Minute})
		counts := map[Action]int{}
		var lastKill time.Duration
		for i, e := range s.Events {
			counts[e.Action]++
			if i > 0 && e.At < s.Events[i-1].At {
				t.Fatalf("seed %d: events out of order: %v", seed, s.Events)
			}
			switch e.Action {
			case KillWorker:
				gap := e.At - lastKill
				if gap < 10*time.Second-100*time.Millisecond || gap > 20*time.Second+100*time.Millisecond {
					t.Errorf("seed %d: kill at %s, %s after the previous one", seed, e.At, gap)
				}
				if e.Down < 0 || e.Down > 2*time.Second {
					t.Errorf("seed %d: worker down for %s", seed, e.Down)
				}
				lastKill = e.At
			case SkewClock:
				if e.Down < 20*time.Second || e.Down > 30*time.Second {
					t.Errorf("seed %d: clock skewed for %s", seed, e.Down)
				}
			}
		}
		if 10*time.Minute-lastKill > 20*time.Second {
			t.Errorf("seed %d: last kill at %s of a 10-minute span", seed, lastKill)
		}
		for _, a := range []Action{RestartTemporal, RestartPostgres, RestartStarter, SkewClock} {
			if counts[a] != 1 {
				t.Errorf("seed %d: %d × %s, want 1", seed, counts[a], a)
			}
		}
		if n := counts[KillWorker]; n < 30 || n > 60 {
			t.Errorf("seed %d: %d kills in 10 minutes", seed, n)
		}
		if s.Skew != 2*time.Minute {
			t.Errorf("skew %s", s.Skew)
		}
	}
}

func TestScheduleCount(t *testing.T) {
	s := Schedule{Events: []Event{{At: time.Second, Action: KillWorker}, {At: 5 * time.Second, Action: RestartTemporal},
		{At: 9 * time.Second, Action: KillWorker}}}
	if n := s.Count(KillWorker, 5*time.Second); n != 1 {
		t.Errorf("Count = %d", n)
	}
	if n := s.Count(KillWorker, time.Hour); n != 2 {
		t.Errorf("Count = %d", n)
	}
}
