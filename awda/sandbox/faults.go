package sandbox

import (
	"maps"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// defaultBusyCodes are AWDA's three "system busy" codes.
var defaultBusyCodes = []awda.Code{awda.CodeBusy, awda.CodeSystemBusy, awda.CodeSystemBusy2}

// faultPlan is what the fault rules decided for one request.
type faultPlan struct {
	latency time.Duration
	busy    awda.Code
	force   awda.Code
	timeout bool
	applied bool
	hold    time.Duration
}

// drawFaults applies the rule for path (or "*"). Every request under a rule
// takes the same number of draws, so that the sequence of decisions depends
// only on the seed and the order of requests.
func (s *Server) drawFaults(path string) faultPlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faults[path]
	if !ok {
		f, ok = s.faults["*"]
	}
	if !ok {
		return faultPlan{}
	}
	g := s.rngFaults
	uKind, uPick, uForce, uLatency, nLatency := g.Float64(), g.Float64(), g.Float64(), g.Float64(), g.NormFloat64()
	var p faultPlan
	switch {
	case f.LatencyMax > 0:
		p.latency = f.LatencyMin + time.Duration(float64(f.LatencyMax-f.LatencyMin)*uLatency)
	case f.LatencyMean > 0:
		p.latency = max(0, f.LatencyMean+time.Duration(float64(f.LatencyJitter)*nLatency))
	default:
		p.latency = f.LatencyMin
	}
	if f.ForceCode != 0 && (f.ForceRate == 0 || uForce < f.ForceRate) {
		p.force = f.ForceCode
		return p
	}
	switch {
	case uKind < f.BusyRate:
		codes := f.BusyCodes
		if len(codes) == 0 {
			codes = defaultBusyCodes
		}
		p.busy = codes[int(uPick*float64(len(codes)))%len(codes)]
	case uKind < f.BusyRate+f.TimeoutRate:
		p.timeout = true
		p.applied = uPick < f.TimeoutApplied
		p.hold = f.TimeoutHold
		if p.hold == 0 {
			p.hold = DefaultTimeoutHold
		}
	}
	return p
}

// SetFaults replaces every fault rule. Keys are "*" or interface paths, full
// or short ("loan/submit"); an endpoint's own rule replaces "*" for it.
func (s *Server) SetFaults(rules map[string]Fault) error {
	n, err := normalizeFaults(rules)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = n
	s.mu.Unlock()
	return nil
}

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = map[string]Fault{}
	s.mu.Unlock()
}

// Faults returns the current rules, keyed by "*" or full interface path.
func (s *Server) Faults() map[string]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.faults)
}

func (s *Server) noteFault(f func(*FaultStats)) {
	s.mu.Lock()
	f(&s.stats.faults)
	s.mu.Unlock()
}
