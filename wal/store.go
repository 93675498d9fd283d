package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

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
	s := &Store{dir: dir, opts: opts, cache: newCache(opts.CacheEntries)}
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
	return s.closeFiles()
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

// GetLog fills log with the entry at index. It returns raft.ErrLogNotFound
// when the log does not hold index, a *CorruptError (matching ErrCorrupt)
// when the record on disk fails its checks, and ErrClosed after Close. The
// entry's Data and Extensions are the caller's own; AppendedAt is in UTC.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if s.last == 0 || index < s.first || index > s.last {
		return raft.ErrLogNotFound
	}
	if body := s.cache.get(index); body != nil {
		return decodeBody(body, log, false)
	}
	sg := findSegment(s.segs, index)
	if sg == nil {
		// The index bounds and the segments are published together, so
		// this is a bug, not bad data; report it rather than panic.
		return fmt.Errorf("wal: index %d within [%d, %d] but in no segment", index, s.first, s.last)
	}
	return readRecord(sg, index, log)
}

// readRecord reads and checks the record of index i from sg with one read.
func readRecord(sg *segment, i uint64, log *raft.Log) error {
	off, n := sg.span(i)
	buf := make([]byte, n)
	if _, err := sg.f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("wal: read %s at offset %d: %w", sg.path, off, err)
	}
	h, ok := parseHeader(buf)
	if !ok {
		return corruptf(sg.path, off, "header checksum mismatch")
	}
	body := buf[headerSize:]
	if int64(h.bodyLen) != int64(len(body)) {
		return corruptf(sg.path, off, "record length %d, want %d", h.bodyLen, len(body))
	}
	if checksum(body) != h.bodyCRC {
		return corruptf(sg.path, off, "record checksum mismatch")
	}
	if err := checkBody(body, i); err != nil {
		return corruptf(sg.path, off, "%v", err)
	}
	return decodeBody(body, log, true)
}

// StoreLog durably stores one entry; see StoreLogs.
func (s *Store) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

// StoreLogs durably appends entries with one write and one sync, and makes
// them visible to readers only once they are durable. The entries must be
// consecutive and, unless the log is empty, start right after LastIndex;
// otherwise it fails with ErrNonContiguous and stores nothing. It fails with
// ErrRecordTooLarge for an entry encoding to more than MaxRecordSize bytes.
// An I/O error is returned and puts the store in a failed state where every
// later write returns ErrFailed until it is reopened.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	start := time.Now()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if err := s.checkAppend(logs); err != nil {
		return err
	}
	buf, rel, err := encodeBatch(logs)
	if err != nil {
		return err
	}
	if err := s.appendBatch(logs, buf, rel); err != nil {
		s.failed = err
		return err
	}
	s.opts.Metrics.MeasureSince(metricKey(metricAppend), start)
	return nil
}

// writable returns why the store cannot be written, if it cannot.
func (s *Store) writable() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("%w: %v", ErrFailed, s.failed)
	}
	return nil
}

func (s *Store) checkAppend(logs []*raft.Log) error {
	for i, l := range logs {
		if l == nil {
			return fmt.Errorf("%w: entry %d is nil", ErrNonContiguous, i)
		}
		if l.Index != logs[0].Index+uint64(i) {
			return fmt.Errorf("%w: entry %d has index %d, want %d", ErrNonContiguous, i, l.Index, logs[0].Index+uint64(i))
		}
	}
	if logs[0].Index == 0 {
		return fmt.Errorf("%w: index 0 is not a valid index", ErrNonContiguous)
	}
	if s.last != 0 && logs[0].Index != s.last+1 {
		return fmt.Errorf("%w: first entry has index %d, want %d", ErrNonContiguous, logs[0].Index, s.last+1)
	}
	return nil
}

// encodeBatch frames logs into one buffer; rel[i] is where entry i starts
// and rel[len(logs)] is the end.
func encodeBatch(logs []*raft.Log) ([]byte, []int64, error) {
	total := 0
	for _, l := range logs {
		n := encodedSize(l)
		if n-headerSize > MaxRecordSize {
			return nil, nil, fmt.Errorf("%w: entry %d encodes to %d bytes, limit %d", ErrRecordTooLarge, l.Index, n-headerSize, MaxRecordSize)
		}
		total += n
	}
	buf := make([]byte, 0, total)
	rel := make([]int64, 0, len(logs)+1)
	for _, l := range logs {
		rel = append(rel, int64(len(buf)))
		buf = appendRecord(buf, l)
	}
	rel = append(rel, int64(len(buf)))
	return buf, rel, nil
}

// appendBatch writes an encoded batch to the active segment, starting a new
// one first when needed, syncs it, and publishes it to readers.
func (s *Store) appendBatch(logs []*raft.Log, buf []byte, rel []int64) error {
	firstNew := logs[0].Index
	if s.last == 0 && s.meta.first != 0 && s.meta.first != firstNew {
		// The log restarts elsewhere than where the meta file says it
		// begins (after a snapshot install emptied it): move the mark
		// first, or recovery would see a gap.
		if err := s.writeMeta(meta{first: firstNew}); err != nil {
			return err
		}
	}
	var active *segment
	if n := len(s.segs); n > 0 {
		active = s.segs[n-1]
	}
	if active == nil || (active.size > 0 && active.size+int64(len(buf)) > s.opts.SegmentSize) {
		var err error
		if active, err = s.createSegment(firstNew); err != nil {
			return err
		}
	}
	if _, err := active.f.WriteAt(buf, active.size); err != nil {
		return fmt.Errorf("wal: write %s at offset %d: %w", active.path, active.size, err)
	}
	s.hook("append-after-write")
	if err := s.syncFile(active.f); err != nil {
		return fmt.Errorf("wal: sync %s: %w", active.path, err)
	}
	s.stats.batches.Add(1)
	s.stats.entries.Add(uint64(len(logs)))
	s.stats.bytesWritten.Add(uint64(len(buf)))
	s.opts.Metrics.IncrCounter(metricKey(metricBytesWritten), float32(len(buf)))

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range logs {
		active.offsets = append(active.offsets, active.size+rel[i])
		s.cache.put(l.Index, buf[rel[i]+headerSize:rel[i+1]])
	}
	active.size += int64(len(buf))
	if s.last == 0 {
		s.first = firstNew
	}
	s.last = logs[len(logs)-1].Index
	return nil
}

// createSegment creates the segment whose first entry will be first, makes
// its name durable, and makes it the active segment.
func (s *Store) createSegment(first uint64) (*segment, error) {
	sg := &segment{first: first, path: s.path(segmentName(first))}
	f, err := os.OpenFile(sg.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: create segment: %w", err)
	}
	sg.f = f
	s.mu.Lock()
	s.segs = append(s.segs, sg)
	s.mu.Unlock()
	if err := s.syncDir(); err != nil {
		return nil, err
	}
	return sg, nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }
