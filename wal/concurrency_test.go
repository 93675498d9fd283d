package wal

import (
	"errors"
	"math/rand"
	"sync"
	"testing"

	"github.com/consensuskit/raft"
)

// TestConcurrentReadsDuringWrites runs readers against a writer that appends
// and compacts, with a cache too small to hide the files; under -race it
// also checks the locking.
func TestConcurrentReadsDuringWrites(t *testing.T) {
	opts := testOptions()
	opts.SegmentSize = 8 << 10
	opts.CacheEntries = 8
	s := openStore(t, t.TempDir(), opts)
	storeRange(t, s, 1, 10, 1)

	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 8)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			reads := 0
			for {
				select {
				case <-done:
					if reads == 0 {
						errs <- errors.New("a reader read nothing")
					}
					return
				default:
				}
				first, _ := s.FirstIndex()
				last, _ := s.LastIndex()
				i := first + uint64(rng.Int63n(int64(last-first+1)))
				var l raft.Log
				err := s.GetLog(i, &l)
				if errors.Is(err, raft.ErrLogNotFound) {
					// Compacted since the bounds were read.
					if now, _ := s.FirstIndex(); i < now {
						continue
					}
				}
				if err != nil {
					errs <- err
					return
				}
				if l.Index != i {
					errs <- errors.New("GetLog returned the wrong entry")
					return
				}
				if err := checkEntryIntact(&l); err != nil {
					errs <- err
					return
				}
				reads++
			}
		}(int64(r))
	}
	next := uint64(11)
	for b := 0; b < 300; b++ {
		n := uint64(1 + b%17)
		if err := s.StoreLogs(entries(next, next+n-1, 1)); err != nil {
			t.Error(err)
			break
		}
		next += n
		if b%50 == 49 {
			if err := s.DeleteRange(0, next-200); err != nil {
				t.Error(err)
				break
			}
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
