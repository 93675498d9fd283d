package rafttest

import (
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/consensuskit/raft"
)

// ErrCrashed is returned by the stores of a server after Cluster.Crash: its
// process is dead, so no write completes.
var ErrCrashed = errors.New("rafttest: server crashed")

// crashStore stands between a server and its log and stable stores so that a
// crash can strike in the middle of a write, the way a killed process or a
// lost power supply does.
//
// Every write reaches the inner store at once but is acknowledged only after
// an unsynced window (often zero, sometimes up to a couple of milliseconds),
// the time a real store spends in fsync. A crash during that window decides
// what the disk kept: for StoreLogs any prefix of the batch, from none of it
// to all of it; for a stable key the new value or the old one. The write
// itself then fails, as the process is gone before it could act on it. What
// was acknowledged before the crash is always kept. After the crash every
// write fails with ErrCrashed; reads still work, for the goroutines of the
// dying server that are still winding down.
type crashStore struct {
	logs   raft.LogStore
	stable raft.StableStore

	// dead is closed by the crash, to end every unsynced window at once.
	dead chan struct{}
	// fixedWindow, when set by a test, replaces the drawn windows.
	fixedWindow time.Duration

	mu      sync.Mutex
	rng     *rand.Rand
	crashed bool
	batches map[*unsyncedBatch]struct{}
	sets    map[*unsyncedSet]struct{}
}

type unsyncedBatch struct{ first, last uint64 }

// unsyncedSet is a stable write in its window; undo restores the old value
// (nil when there is none to restore: a stable store cannot delete a key).
type unsyncedSet struct{ undo func() }

func newCrashStore(logs raft.LogStore, stable raft.StableStore, seed uint64) *crashStore {
	return &crashStore{
		logs:    logs,
		stable:  stable,
		dead:    make(chan struct{}),
		rng:     rand.New(rand.NewPCG(seed, 0xc4a5)),
		batches: map[*unsyncedBatch]struct{}{},
		sets:    map[*unsyncedSet]struct{}{},
	}
}

// window draws how long a write stays unsynced: a quarter of writes wait up
// to 2ms, long enough for crashes to land inside them now and then, few
// enough not to slow a cluster down much.
func (c *crashStore) window() time.Duration {
	if c.fixedWindow > 0 {
		return c.fixedWindow
	}
	if c.rng.IntN(4) != 0 {
		return 0
	}
	return time.Duration(c.rng.Int64N(int64(2 * time.Millisecond)))
}

// crash kills the stores: from now on every write fails, and each write in
// its unsynced window keeps what a seeded draw says the disk held. It
// returns how many writes it caught unsynced and how many of them lost all
// or part of what they wrote.
func (c *crashStore) crash() (caught, lost int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return 0, 0
	}
	c.crashed = true
	close(c.dead)
	for b := range c.batches {
		// Keep entries first..keep; keep = first-1 loses the batch.
		keep := b.first - 1 + c.rng.Uint64N(b.last-b.first+2)
		if keep < b.last {
			// The inner store is a test store: if it fails here the
			// crash simply kept more, which is also a possible outcome.
			_ = c.logs.DeleteRange(keep+1, b.last)
			lost++
		}
	}
	for s := range c.sets {
		if s.undo != nil && c.rng.IntN(2) == 0 {
			s.undo()
			lost++
		}
	}
	return len(c.batches) + len(c.sets), lost
}

// settle waits out a write's unsynced window and reports whether the
// process survived it.
func (c *crashStore) settle(wait time.Duration, done func()) error {
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.dead:
		}
		t.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	done()
	if c.crashed {
		return ErrCrashed
	}
	return nil
}

// FirstIndex returns the inner store's first index.
func (c *crashStore) FirstIndex() (uint64, error) { return c.logs.FirstIndex() }

// LastIndex returns the inner store's last index.
func (c *crashStore) LastIndex() (uint64, error) { return c.logs.LastIndex() }

// GetLog reads from the inner store.
func (c *crashStore) GetLog(index uint64, log *raft.Log) error { return c.logs.GetLog(index, log) }

// StoreLog stores one entry; see StoreLogs.
func (c *crashStore) StoreLog(log *raft.Log) error { return c.StoreLogs([]*raft.Log{log}) }

// StoreLogs writes to the inner store, then acknowledges after the unsynced
// window, unless the server crashed meanwhile.
func (c *crashStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	c.mu.Lock()
	if c.crashed {
		c.mu.Unlock()
		return ErrCrashed
	}
	if err := c.logs.StoreLogs(logs); err != nil {
		c.mu.Unlock()
		return err
	}
	b := &unsyncedBatch{first: logs[0].Index, last: logs[len(logs)-1].Index}
	c.batches[b] = struct{}{}
	wait := c.window()
	c.mu.Unlock()
	return c.settle(wait, func() { delete(c.batches, b) })
}

// DeleteRange deletes from the inner store, atomically as the stores of this
// library do, unless the server crashed.
func (c *crashStore) DeleteRange(lo, hi uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return ErrCrashed
	}
	return c.logs.DeleteRange(lo, hi)
}

// Set writes key to the inner store and acknowledges it after the unsynced
// window, unless the server crashed meanwhile.
func (c *crashStore) Set(key, val []byte) error {
	return c.write(func() (*unsyncedSet, error) {
		s := &unsyncedSet{}
		old, err := c.stable.Get(key)
		switch {
		case err == nil:
			k := append([]byte(nil), key...)
			s.undo = func() { _ = c.stable.Set(k, old) }
		case !errors.Is(err, raft.ErrKeyNotFound):
			return nil, err
		}
		return s, c.stable.Set(key, val)
	})
}

// Get reads key from the inner store.
func (c *crashStore) Get(key []byte) ([]byte, error) { return c.stable.Get(key) }

// SetUint64 is Set for the inner store's uint64 values.
func (c *crashStore) SetUint64(key []byte, val uint64) error {
	return c.write(func() (*unsyncedSet, error) {
		// A missing key reads as 0, so 0 is also what undoes a first
		// write.
		old, err := c.stable.GetUint64(key)
		if err != nil {
			return nil, err
		}
		k := append([]byte(nil), key...)
		s := &unsyncedSet{undo: func() { _ = c.stable.SetUint64(k, old) }}
		return s, c.stable.SetUint64(key, val)
	})
}

// write runs a stable write that returns its undo, then waits out the
// unsynced window.
func (c *crashStore) write(do func() (*unsyncedSet, error)) error {
	c.mu.Lock()
	if c.crashed {
		c.mu.Unlock()
		return ErrCrashed
	}
	s, err := do()
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.sets[s] = struct{}{}
	wait := c.window()
	c.mu.Unlock()
	return c.settle(wait, func() { delete(c.sets, s) })
}

// GetUint64 reads key from the inner store.
func (c *crashStore) GetUint64(key []byte) (uint64, error) { return c.stable.GetUint64(key) }
