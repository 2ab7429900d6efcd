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

// The production lane's schedule: a starter replica killed every 25–40 s
// and down 0–3 s, Temporal killed once and restarted once, PostgreSQL
// restarted once, no restart of the only starter; the worker kills and the
// one-offs the two schedules share are drawn as on the dev server.
func TestServerSchedule(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		s := NewSchedule(seed, ScheduleOptions{Span: 10 * time.Minute, Server: true})
		counts := map[Action]int{}
		var lastKill time.Duration
		var workerKills []Event
		for _, e := range s.Events {
			counts[e.Action]++
			switch e.Action {
			case KillStarter:
				gap := e.At - lastKill
				if gap < 25*time.Second-100*time.Millisecond || gap > 40*time.Second+100*time.Millisecond {
					t.Errorf("seed %d: starter kill at %s, %s after the previous one", seed, e.At, gap)
				}
				if e.Down < 0 || e.Down > 3*time.Second {
					t.Errorf("seed %d: starter down for %s", seed, e.Down)
				}
				lastKill = e.At
			case KillWorker:
				workerKills = append(workerKills, e)
			case KillTemporal:
				if e.At < 50*time.Second || e.At > 65*time.Second {
					t.Errorf("seed %d: Temporal killed at %s", seed, e.At)
				}
			}
		}
		for _, a := range []Action{KillTemporal, RestartTemporal, RestartPostgres, SkewClock} {
			if counts[a] != 1 {
				t.Errorf("seed %d: %d × %s, want 1", seed, counts[a], a)
			}
		}
		if counts[RestartStarter] != 0 {
			t.Errorf("seed %d: %d restarts of the starter on the lane", seed, counts[RestartStarter])
		}
		if n := counts[KillStarter]; n < 15 || n > 24 {
			t.Errorf("seed %d: %d starter kills in 10 minutes", seed, n)
		}
		var devKills []Event
		for _, e := range NewSchedule(seed, ScheduleOptions{Span: 10 * time.Minute}).Events {
			if e.Action == KillWorker {
				devKills = append(devKills, e)
			}
		}
		if !reflect.DeepEqual(workerKills, devKills) {
			t.Errorf("seed %d: the lane's worker kills differ from the dev server's", seed)
		}
	}
}
