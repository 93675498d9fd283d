package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/consensuskit/raft"
)

// Store is a durable raft.LogStore and raft.StableStore kept in one
// directory. It is safe for concurrent use: reads proceed while a write is
// being synced, and writes are serialised.
type Store struct {
	dir   string
	opts  Options
	stats counters

	closed atomic.Bool

	// writeMu serialises everything that changes the files: StoreLogs,
	// DeleteRange, Close. The fields marked "writer" below are only touched
	// while it is held.
	writeMu sync.Mutex
	failed  error // writer: set when a write left the files in doubt
	meta    meta  // writer

	// mu guards the index that readers use. Writers hold it only to publish
	// durable changes, never across I/O that waits for the disk.
	mu sync.RWMutex
	// segs are sorted by first index; the last one takes appends.
	segs  []*segment
	first uint64 // 0 when the log is empty
	last  uint64 // 0 when the log is empty
	cache *cache

	stable stableStore

	// lock holds the directory's lock while the store is open (see
	// lockDir).
	lock *os.File

	// spare prepares the next segment in the background (see spare).
	spare spare
	// sinceSpare counts the bytes appended since Open or since a spare was
	// last started; it decides when a store is busy enough for one.
	sinceSpare int64 // writer
}

var (
	_ raft.LogStore    = (*Store)(nil)
	_ raft.StableStore = (*Store)(nil)
)

// Open opens the store in dir, creating the directory and an empty store if
// needed, and recovers it: a torn final write is truncated away, and a
// deletion interrupted by a crash is completed. It fails on corrupt data with
// a *CorruptError naming the file and offset, on an I/O error, or when
// options are invalid.
func Open(dir string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{lock: lock, dir: dir, opts: opts, cache: newCache(opts.CacheEntries)}
	s.spare = spare{
		path: s.path(spareName),
		size: opts.SegmentSize,
		sync: s.syncSpare,
		warn: opts.Logger.Warn,
		hook: s.hook,
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.stable.load(dir); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// Close closes the store's files. Every later call fails with ErrClosed.
// Closing twice returns ErrClosed.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return ErrClosed
	}
	var errs []error
	if err := s.spare.close(); err != nil {
		errs = append(errs, fmt.Errorf("wal: discard spare segment: %w", err))
	}
	return errors.Join(append(errs, s.closeFiles())...)
}

func (s *Store) closeFiles() error {
	var errs []error
	for _, sg := range s.segs {
		if sg.f != nil {
			if err := sg.f.Close(); err != nil {
				errs = append(errs, fmt.Errorf("wal: close %s: %w", sg.path, err))
			}
			sg.f = nil
		}
	}
	// The lock goes last: until every file is closed, the directory is
	// still this store's.
	if s.lock != nil {
		if err := s.lock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("wal: release lock: %w", err))
		}
		s.lock = nil
	}
	return errors.Join(errs...)
}

// hook calls the test crash hook, if any.
func (s *Store) hook(point string) {
	if s.opts.crashHook != nil {
		s.opts.crashHook(point)
	}
}

// FirstIndex returns the first index in the log, or 0 when it is empty. It
// fails only after Close.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return 0, ErrClosed
	}
	return s.first, nil
}

// LastIndex returns the last index in the log, or 0 when it is empty. It
// fails only after Close.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return 0, ErrClosed
	}
	return s.last, nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }
