package sandbox

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs functions at (real) times, in (time, submission) order.
// Tasks submitted before start wait for it; tasks left at stop are dropped.
// Each task runs in its own goroutine, so a slow push never holds up the
// autopilot.
type scheduler struct {
	mu      sync.Mutex
	tasks   taskHeap
	seq     uint64
	wake    chan struct{}
	stop    chan struct{}
	started bool
	stopped bool
	wg      sync.WaitGroup // the loop and every running task
}

type task struct {
	at  time.Time
	seq uint64
	fn  func()
}

type taskHeap []*task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(*task)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

func newScheduler() *scheduler {
	return &scheduler{wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// after runs fn once d has passed (d <= 0: as soon as possible).
func (s *scheduler) after(d time.Duration, fn func()) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.seq++
	heap.Push(&s.tasks, &task{at: time.Now().Add(d), seq: s.seq, fn: fn})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *scheduler) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	s.wg.Add(1)
	go s.loop()
}

// shutdown stops the loop, drops waiting tasks and waits for running ones.
func (s *scheduler) shutdown() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.tasks = nil
	close(s.stop)
	s.mu.Unlock()
	s.wg.Wait()
}

// clear drops every waiting task (Reset).
func (s *scheduler) clear() {
	s.mu.Lock()
	s.tasks = nil
	s.mu.Unlock()
}

func (s *scheduler) loop() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		var due []*task
		for len(s.tasks) > 0 && !s.tasks[0].at.After(now) {
			due = append(due, heap.Pop(&s.tasks).(*task))
		}
		wait := time.Hour
		if len(s.tasks) > 0 {
			wait = s.tasks[0].at.Sub(now)
		}
		s.wg.Add(len(due))
		s.mu.Unlock()
		for _, t := range due {
			go func(fn func()) {
				defer s.wg.Done()
				fn()
			}(t.fn)
		}
		timer.Reset(wait)
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}
