package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// Action is one thing the chaos does to the system.
type Action string

// Actions.
const (
	// KillWorker ends the worker with SIGKILL; it is started again after
	// Event.Down.
	KillWorker Action = "kill worker"
	// RestartTemporal stops the dev server and starts it again on the same
	// database file.
	RestartTemporal Action = "restart Temporal"
	// RestartPostgres stops PostgreSQL and starts it again on the same data
	// directory.
	RestartPostgres Action = "restart PostgreSQL"
	// RestartStarter stops the starter (API, webhooks, inbox forwarder) and
	// starts it again.
	RestartStarter Action = "restart starter"
	// KillStarter ends one starter replica with SIGKILL (the production
	// lane, where another replica takes its traffic and shares its inbox);
	// it is started again after Event.Down.
	KillStarter Action = "kill starter"
	// KillTemporal ends Temporal's own server with SIGKILL, as a crash
	// would, and starts it again on the same databases (the production
	// lane; no schema setup, no namespace registration).
	KillTemporal Action = "kill Temporal"
	// SkewClock moves the sandbox's clock by Schedule.Skew, so that every
	// signed request (both ways) is refused as stale (1003), for Event.Down.
	SkewClock Action = "skew clock"
)

// Event is one action at an offset from the start of the load.
type Event struct {
	At     time.Duration
	Action Action
	// Down is how long the worker or the starter stays dead (KillWorker,
	// KillStarter), or how long the clock stays skewed (SkewClock).
	Down time.Duration
}

func (e Event) String() string {
	s := fmt.Sprintf("%6.1fs %s", e.At.Seconds(), e.Action)
	if e.Down > 0 {
		s += fmt.Sprintf(" (%.1fs)", e.Down.Seconds())
	}
	return s
}

// ScheduleOptions shape a Schedule; the zero value gives the defaults of
// `make chaos`.
type ScheduleOptions struct {
	// Span is how far ahead worker kills are drawn (15 minutes); the run
	// stops acting once its load is done.
	Span time.Duration
	// KillEvery bounds the gap between two worker kills (10–20 s), and
	// WorkerDown how long the worker stays dead (0–2 s).
	KillEveryMin, KillEveryMax   time.Duration
	WorkerDownMin, WorkerDownMax time.Duration
	// Skew is the clock skew of the burst (+2 minutes, twice AWDA's
	// 60-second window) and SkewFor bounds its length (20–30 s).
	Skew                   time.Duration
	SkewForMin, SkewForMax time.Duration
	// Server is the production lane's schedule: one starter replica of
	// several is SIGKILLed every StarterKillEvery (25–40 s) and stays dead
	// StarterDown (0–3 s), instead of one restart of the only starter; and
	// Temporal's server is SIGKILLed once besides its graceful restart.
	Server                                   bool
	StarterKillEveryMin, StarterKillEveryMax time.Duration
	StarterDownMin, StarterDownMax           time.Duration
}

func (o ScheduleOptions) withDefaults() ScheduleOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Span, 15*time.Minute)
	def(&o.KillEveryMin, 10*time.Second)
	def(&o.KillEveryMax, 20*time.Second)
	def(&o.WorkerDownMax, 2*time.Second)
	def(&o.Skew, 2*time.Minute)
	def(&o.SkewForMin, 20*time.Second)
	def(&o.SkewForMax, 30*time.Second)
	o.KillEveryMax = max(o.KillEveryMax, o.KillEveryMin)
	o.WorkerDownMax = max(o.WorkerDownMax, o.WorkerDownMin)
	def(&o.StarterKillEveryMin, 25*time.Second)
	def(&o.StarterKillEveryMax, 40*time.Second)
	def(&o.StarterDownMax, 3*time.Second)
	o.SkewForMax = max(o.SkewForMax, o.SkewForMin)
	o.StarterKillEveryMax = max(o.StarterKillEveryMax, o.StarterKillEveryMin)
	o.StarterDownMax = max(o.StarterDownMax, o.StarterDownMin)
	return o
}

// Schedule is the chaos of one run: the same seed always gives the same
// schedule.
type Schedule struct {
	Seed uint64
	Skew time.Duration
	// Events in time order.
	Events []Event
}

// The one-off actions happen in windows of their own (offsets from the
// start of the load), early enough that most loans are still in flight,
// apart enough that each one's effect can be told from the others'. The
// production lane's (server) kills Temporal too, and kills a starter
// replica again and again instead of restarting the only one.
type window struct {
	action   Action
	from, to time.Duration
}

var (
	windows = []window{
		{SkewClock, 25 * time.Second, 40 * time.Second},
		{RestartTemporal, 75 * time.Second, 95 * time.Second},
		{RestartPostgres, 110 * time.Second, 130 * time.Second},
		{RestartStarter, 145 * time.Second, 165 * time.Second},
	}
	serverWindows = []window{
		{SkewClock, 25 * time.Second, 40 * time.Second},
		{KillTemporal, 50 * time.Second, 65 * time.Second},
		{RestartTemporal, 75 * time.Second, 95 * time.Second},
		{RestartPostgres, 110 * time.Second, 130 * time.Second},
	}
)

// NewSchedule draws the schedule of seed.
func NewSchedule(seed uint64, o ScheduleOptions) Schedule {
	o = o.withDefaults()
	rng := rand.New(rand.NewPCG(seed, 0x6368616f73)) // "chaos"
	between := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	}
	s := Schedule{Seed: seed, Skew: o.Skew}
	once := windows
	if o.Server {
		once = serverWindows
	}
	for _, w := range once {
		ev := Event{At: between(w.from, w.to), Action: w.action}
		if w.action == SkewClock {
			ev.Down = between(o.SkewForMin, o.SkewForMax).Round(100 * time.Millisecond)
		}
		s.Events = append(s.Events, ev)
	}
	for at := between(o.KillEveryMin, o.KillEveryMax); at <= o.Span; at += between(o.KillEveryMin, o.KillEveryMax) {
		s.Events = append(s.Events, Event{At: at.Round(100 * time.Millisecond), Action: KillWorker,
			Down: between(o.WorkerDownMin, o.WorkerDownMax).Round(100 * time.Millisecond)})
	}
	if o.Server {
		for at := between(o.StarterKillEveryMin, o.StarterKillEveryMax); at <= o.Span; at += between(o.StarterKillEveryMin, o.StarterKillEveryMax) {
			s.Events = append(s.Events, Event{At: at, Action: KillStarter,
				Down: between(o.StarterDownMin, o.StarterDownMax).Round(100 * time.Millisecond)})
		}
	}
	for i := range s.Events {
		s.Events[i].At = s.Events[i].At.Round(100 * time.Millisecond)
	}
	sort.SliceStable(s.Events, func(i, j int) bool { return s.Events[i].At < s.Events[j].At })
	return s
}

// Count counts the events of an action up to (and including) offset until.
func (s Schedule) Count(a Action, until time.Duration) int {
	n := 0
	for _, e := range s.Events {
		if e.Action == a && e.At <= until {
			n++
		}
	}
	return n
}
