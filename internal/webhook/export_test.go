package webhook

// Writers reports how many of the receiver's group-commit writers are
// running. A writer calls Wake, if it does, before it counts itself out
// (under the inserter's lock), so at zero every wake there was to be has
// been made: a test can then assert that none was, without sleeping.
// Test-only (an _test.go file): production code cannot see it.
func (rc *Receiver) Writers() int {
	in := rc.store()
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.writers
}
