package raft

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func cacheEntries(first, last uint64) []*Log {
	var logs []*Log
	for i := first; i <= last; i++ {
		logs = append(logs, &Log{Index: i, Term: 1, Data: []byte(fmt.Sprintf("e%d", i))})
	}
	return logs
}

func TestLogCacheRejectsNonPositiveCapacity(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := NewLogCache(n, NewInmemStore()); err == nil {
			t.Fatalf("capacity %d accepted", n)
		}
	}
}

// TestLogCacheServesRecentEntries: the newest capacity entries are read
// without touching the store, older ones come from it, and both are right.
func TestLogCacheServesRecentEntries(t *testing.T) {
	store := &countingLogStore{InmemStore: NewInmemStore()}
	c, err := NewLogCache(4, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StoreLogs(cacheEntries(1, 10)); err != nil {
		t.Fatal(err)
	}
	for i := uint64(7); i <= 10; i++ {
		var l Log
		if err := c.GetLog(i, &l); err != nil || l.Index != i || string(l.Data) != fmt.Sprintf("e%d", i) {
			t.Fatalf("GetLog(%d) = %+v, %v", i, l, err)
		}
	}
	if n := store.reads.Load(); n != 0 {
		t.Fatalf("%d reads reached the store for cached entries", n)
	}
	var l Log
	if err := c.GetLog(2, &l); err != nil || l.Index != 2 || string(l.Data) != "e2" {
		t.Fatalf("GetLog(2) = %+v, %v", l, err)
	}
	if n := store.reads.Load(); n != 1 {
		t.Fatalf("an evicted entry made %d store reads, want 1", n)
	}
	// What GetLog fills in is the caller's: changing it leaves the cache
	// alone.
	var first Log
	_ = c.GetLog(10, &first)
	first.Index, first.Term = 99, 99
	var again Log
	if err := c.GetLog(10, &again); err != nil || again.Index != 10 || again.Term != 1 {
		t.Fatalf("cached entry changed through a returned copy: %+v, %v", again, err)
	}
	if first, _ := c.FirstIndex(); first != 1 {
		t.Fatalf("FirstIndex %d", first)
	}
	if last, _ := c.LastIndex(); last != 10 {
		t.Fatalf("LastIndex %d", last)
	}
}

// TestLogCacheCachesOnlyStoredEntries: a write the store refused is not
// served from the cache.
func TestLogCacheCachesOnlyStoredEntries(t *testing.T) {
	store := &countingLogStore{InmemStore: NewInmemStore()}
	c, _ := NewLogCache(8, store)
	errWriteRefused := errors.New("write refused")
	store.mu.Lock()
	store.fail = errWriteRefused
	store.mu.Unlock()
	if err := c.StoreLog(&Log{Index: 1, Term: 1}); !errors.Is(err, errWriteRefused) {
		t.Fatalf("StoreLog: %v, want the store's error", err)
	}
	var l Log
	if err := c.GetLog(1, &l); !errors.Is(err, ErrLogNotFound) {
		t.Fatalf("GetLog of a refused write: %+v, %v", l, err)
	}
}

// TestLogCacheDeleteRangeForgetsEntries: after a suffix is deleted (log
// repair), reads of it fail instead of returning the old entries, and new
// entries at those indexes are read back.
func TestLogCacheDeleteRangeForgetsEntries(t *testing.T) {
	c, _ := NewLogCache(8, NewInmemStore())
	if err := c.StoreLogs(cacheEntries(1, 6)); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteRange(4, 6); err != nil {
		t.Fatal(err)
	}
	var l Log
	if err := c.GetLog(5, &l); !errors.Is(err, ErrLogNotFound) {
		t.Fatalf("GetLog of a deleted entry: %+v, %v", l, err)
	}
	if err := c.StoreLog(&Log{Index: 4, Term: 2, Data: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if err := c.GetLog(4, &l); err != nil || l.Term != 2 || string(l.Data) != "new" {
		t.Fatalf("GetLog(4) after rewrite = %+v, %v", l, err)
	}
}

// TestLogCacheConcurrentReadsAndWrites runs under -race: readers of
// recent entries alongside appends.
func TestLogCacheConcurrentReadsAndWrites(t *testing.T) {
	c, _ := NewLogCache(64, NewInmemStore())
	if err := c.StoreLogs(cacheEntries(1, 1)); err != nil {
		t.Fatal(err)
	}
	var last atomic.Uint64
	last.Store(1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := last.Load()
				var l Log
				if err := c.GetLog(i, &l); err != nil || l.Index != i {
					t.Errorf("GetLog(%d) = %+v, %v", i, l, err)
					return
				}
			}
		}()
	}
	for i := uint64(2); i <= 2000; i++ {
		if err := c.StoreLogs(cacheEntries(i, i)); err != nil {
			t.Fatal(err)
		}
		last.Store(i)
	}
	close(stop)
	wg.Wait()
}

// TestClusterOnLogCache runs a cluster whose log stores are wrapped in
// caches, through a restart.
func TestClusterOnLogCache(t *testing.T) {
	c := newCluster(t, 3, withLogStores(func(int) LogStore {
		lc, err := NewLogCache(16, NewInmemStore())
		if err != nil {
			t.Fatal(err)
		}
		return lc
	}))
	c.waitLeader()
	writeN(t, c, "a", 100)
	c.waitApplied(100)
	f := (c.waitLeader() + 1) % 3
	c.crash(f)
	c.restart(f)
	writeN(t, c, "b", 50)
	c.waitApplied(150)
	c.checkSamePrefix()
}
