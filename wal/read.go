package wal

import (
	"fmt"

	"github.com/consensuskit/raft"
)

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
