package sandbox

// nonceCache remembers nonces until their request could no longer pass the
// timestamp check, and at most size of them (oldest forgotten first).
type nonceCache struct {
	size  int
	seen  map[string]int64 // nonce → forget after (Unix ms)
	order []nonceEntry     // FIFO, for eviction
	head  int
}

type nonceEntry struct {
	key    string
	expire int64
}

func newNonceCache(size int) *nonceCache {
	return &nonceCache{size: size, seen: make(map[string]int64)}
}

// use records key and reports whether it was fresh. nowMs and tsMs are the
// sandbox clock and the request's timestamp; the nonce is kept until
// whichever is later plus the timestamp window.
func (c *nonceCache) use(key string, nowMs, tsMs, windowMs int64) bool {
	c.prune(nowMs)
	if exp, ok := c.seen[key]; ok && exp >= nowMs {
		return false
	}
	exp := max(nowMs, tsMs) + windowMs
	c.seen[key] = exp
	c.order = append(c.order, nonceEntry{key, exp})
	for len(c.seen) > c.size {
		c.evictOldest()
	}
	return true
}

func (c *nonceCache) prune(nowMs int64) {
	for c.head < len(c.order) && c.order[c.head].expire < nowMs {
		c.evictOldest()
	}
}

func (c *nonceCache) evictOldest() {
	if c.head >= len(c.order) {
		return
	}
	e := c.order[c.head]
	c.order[c.head] = nonceEntry{}
	c.head++
	if exp, ok := c.seen[e.key]; ok && exp == e.expire {
		delete(c.seen, e.key)
	}
	if c.head > 1024 && c.head*2 > len(c.order) {
		c.order = append([]nonceEntry(nil), c.order[c.head:]...)
		c.head = 0
	}
}
