package raft

import (
	"fmt"
	"sync"
)

// LogCache wraps a LogStore with a write-through cache of the most recent
// entries, which are the ones replication and apply read most. It is safe
// for concurrent use when the wrapped store is.
type LogCache struct {
	store LogStore

	mu    sync.RWMutex
	cache []*Log
}

// NewLogCache returns a cache of capacity entries in front of store. It
// fails if capacity is not positive.
func NewLogCache(capacity int, store LogStore) (*LogCache, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("log cache capacity must be positive, got %d", capacity)
	}
	return &LogCache{store: store, cache: make([]*Log, capacity)}, nil
}

// GetLog returns the entry from the cache, or from the store on a miss.
func (c *LogCache) GetLog(index uint64, log *Log) error {
	c.mu.RLock()
	cached := c.cache[index%uint64(len(c.cache))]
	c.mu.RUnlock()
	if cached != nil && cached.Index == index {
		*log = *cached
		return nil
	}
	return c.store.GetLog(index, log)
}

// StoreLog stores one entry.
func (c *LogCache) StoreLog(log *Log) error {
	return c.StoreLogs([]*Log{log})
}

// StoreLogs writes the entries to the store, and caches them only once the
// store has them, so the cache never holds what a crash would lose.
func (c *LogCache) StoreLogs(logs []*Log) error {
	if err := c.store.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	for _, l := range logs {
		e := *l
		c.cache[l.Index%uint64(len(c.cache))] = &e
	}
	c.mu.Unlock()
	return nil
}

// FirstIndex returns the store's first index.
func (c *LogCache) FirstIndex() (uint64, error) { return c.store.FirstIndex() }

// LastIndex returns the store's last index.
func (c *LogCache) LastIndex() (uint64, error) { return c.store.LastIndex() }

// DeleteRange deletes from the store and empties the cache, which is
// cheaper than finding the affected slots and happens rarely.
func (c *LogCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	clear(c.cache)
	c.mu.Unlock()
	return c.store.DeleteRange(min, max)
}
