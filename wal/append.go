package wal

import (
	"fmt"
	"os"
	"time"

	"github.com/consensuskit/raft"
)

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
	full := active != nil && active.size > 0 && active.size+int64(len(buf)) > s.opts.SegmentSize
	// Rather than grow the active file, move on to a prepared spare early:
	// a shorter segment costs nothing, growing costs a journal commit.
	grow := active != nil && active.size > 0 && active.size+int64(len(buf)) > active.alloc
	if active == nil || full || (grow && s.spare.available()) {
		if active != nil {
			if err := s.trimSegment(active); err != nil {
				return err
			}
		}
		var err error
		if active, err = s.createSegment(firstNew); err != nil {
			return err
		}
	}
	out := s.padToChunk(active, buf)
	if _, err := active.f.WriteAt(out, active.size); err != nil {
		return fmt.Errorf("wal: write %s at offset %d: %w", active.path, active.size, err)
	}
	s.hook("append-after-write")
	if err := s.syncFile(active.f); err != nil {
		return fmt.Errorf("wal: sync %s: %w", active.path, err)
	}
	s.stats.batches.Add(1)
	s.stats.entries.Add(uint64(len(logs)))
	s.stats.bytesWritten.Add(uint64(len(out)))
	s.opts.Metrics.IncrCounter(metricKey(metricBytesWritten), float32(len(out)))
	s.sinceSpare += int64(len(out))
	if s.sinceSpare >= min(spareTrigger, s.opts.SegmentSize) {
		s.sinceSpare = 0
		s.spare.start()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range logs {
		active.offsets.add(active.size + rel[i])
		s.cache.put(l.Index, buf[rel[i]+headerSize:rel[i+1]])
	}
	active.alloc = max(active.alloc, active.size+int64(len(out)))
	active.size += int64(len(buf))
	if s.last == 0 {
		s.first = firstNew
	}
	s.last = logs[len(logs)-1].Index
	return nil
}

// createSegment creates the segment whose first entry will be first, from
// the prepared spare when one is ready, makes its name durable, and makes it
// the active segment.
func (s *Store) createSegment(first uint64) (*segment, error) {
	sg := &segment{first: first, path: s.path(segmentName(first))}
	if f, size, ok := s.spare.take(); ok {
		if err := os.Rename(s.spare.path, sg.path); err != nil {
			f.Close()
			return nil, fmt.Errorf("wal: rename %s to %s: %w", s.spare.path, sg.path, err)
		}
		s.hook("segment-from-spare")
		sg.f, sg.alloc = f, size
		s.stats.sparesUsed.Add(1)
		// A store that used up a spare is busy: prepare the next now.
		s.sinceSpare = 0
		s.spare.start()
	} else {
		f, err := os.OpenFile(sg.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, fmt.Errorf("wal: create segment: %w", err)
		}
		sg.f = f
	}
	s.mu.Lock()
	s.segs = append(s.segs, sg)
	s.mu.Unlock()
	if err := s.syncDir(); err != nil {
		return nil, err
	}
	return sg, nil
}

// allocChunk is the step by which the active segment's file grows. fdatasync
// after a write that grows a file must also commit the new size (on ext4, a
// journal commit), which costs about as much again as the data itself. So
// the write that crosses the end of the file also writes zeros up to the
// next chunk boundary; the following writes land inside the file and their
// syncs carry data only. Zeros are what recovery reads as "nothing written
// here yet".
const allocChunk = 1 << 20

// padToChunk returns what to write for buf at the end of sg: buf itself, or
// a copy followed by zeros up to the next chunk boundary (never beyond the
// segment size) when buf reaches past the zeros already in the file. The
// copy keeps buf, which the cache holds on to, free of the padding.
func (s *Store) padToChunk(sg *segment, buf []byte) []byte {
	end := sg.size + int64(len(buf))
	if end <= sg.alloc {
		return buf
	}
	target := min((end+allocChunk-1)/allocChunk*allocChunk, s.opts.SegmentSize)
	if target <= end {
		return buf
	}
	out := make([]byte, target-sg.size)
	copy(out, buf)
	return out
}

// trimSegment cuts the zeros off a segment that stops taking appends. It is
// not synced: a crash that loses the cut leaves zeros that recovery accepts.
func (s *Store) trimSegment(sg *segment) error {
	if sg.alloc <= sg.size {
		return nil
	}
	if err := sg.f.Truncate(sg.size); err != nil {
		return fmt.Errorf("wal: truncate %s to %d: %w", sg.path, sg.size, err)
	}
	sg.alloc = sg.size
	return nil
}
