package wal

// cache keeps the bodies of the most recently stored entries, so that the
// reads that follow a write (replication to followers, applying to the FSM)
// touch no file. Slots are chosen by index modulo the size, so the newest
// entries overwrite the oldest. It is guarded by Store.mu.
type cache struct {
	index []uint64 // 0 marks an empty slot: no entry has index 0
	body  [][]byte
}

func newCache(n int) *cache {
	return &cache{index: make([]uint64, n), body: make([][]byte, n)}
}

func (c *cache) put(i uint64, body []byte) {
	if len(c.index) == 0 {
		return
	}
	k := i % uint64(len(c.index))
	c.index[k], c.body[k] = i, body
}

// get returns the body of entry i, or nil when it is not cached.
func (c *cache) get(i uint64) []byte {
	if len(c.index) == 0 {
		return nil
	}
	k := i % uint64(len(c.index))
	if c.index[k] != i {
		return nil
	}
	return c.body[k]
}

// dropFrom forgets every entry of index i or more.
func (c *cache) dropFrom(i uint64) {
	for k, idx := range c.index {
		if idx >= i {
			c.index[k], c.body[k] = 0, nil
		}
	}
}
