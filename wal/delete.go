package wal

import "fmt"

// DeleteRange deletes the entries from lo to hi inclusive, clamped to the
// log. The range must be a prefix (compaction after a snapshot) or a suffix
// (removing conflicting entries), or the whole log; anything else fails with
// ErrUnsupportedRange. A crash at any point leaves either the log before the
// call or the log after it. After the whole log is deleted, StoreLogs may
// restart it at any index. An I/O error is returned and puts the store in
// the failed state (see StoreLogs).
func (s *Store) DeleteRange(lo, hi uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if s.last == 0 || lo > hi || hi < s.first || lo > s.last {
		return nil
	}
	lo, hi = max(lo, s.first), min(hi, s.last)
	var err error
	switch {
	case lo == s.first && hi == s.last:
		err = s.deleteAll()
	case lo == s.first:
		err = s.deletePrefix(hi + 1)
	case hi == s.last:
		err = s.deleteSuffix(lo)
	default:
		return fmt.Errorf("%w: [%d, %d] inside [%d, %d]", ErrUnsupportedRange, lo, hi, s.first, s.last)
	}
	if err != nil {
		s.failed = err
	}
	return err
}

// deletePrefix makes newFirst the first index. The meta file is the commit
// point: once it says newFirst, Open ignores older entries and unlinks the
// segments holding only them, so unlinking here can be interrupted safely.
func (s *Store) deletePrefix(newFirst uint64) error {
	if err := s.writeMeta(meta{first: newFirst}); err != nil {
		return err
	}
	s.hook("prefix-after-meta")
	s.mu.Lock()
	k := 0
	for k+1 < len(s.segs) && s.segs[k+1].first <= newFirst {
		k++
	}
	dead := s.segs[:k:k]
	s.segs = s.segs[k:]
	s.first = newFirst
	s.mu.Unlock()
	return s.removeSegments(dead)
}

// deleteAll empties the log. Like a prefix deletion, the meta file saying
// the log starts after its last entry is the commit point.
func (s *Store) deleteAll() error {
	if err := s.writeMeta(meta{first: s.last + 1}); err != nil {
		return err
	}
	s.hook("all-after-meta")
	s.mu.Lock()
	dead := s.segs
	s.segs = nil
	s.first, s.last = 0, 0
	s.cache.dropFrom(0)
	s.mu.Unlock()
	return s.removeSegments(dead)
}

// deleteSuffix removes the entries from index from on. The meta file first
// records that from-1 is the last entry kept: from then on Open completes
// the deletion whatever state the segments are in. The mark is cleared once
// the segments are cut, before any later append could be taken for a void
// entry.
func (s *Store) deleteSuffix(from uint64) error {
	if err := s.writeMeta(meta{first: s.meta.first, truncating: true, lastKeep: from - 1}); err != nil {
		return err
	}
	s.hook("suffix-after-mark")
	s.mu.Lock()
	k := len(s.segs) - 1
	for s.segs[k].first > from {
		k--
	}
	var dead []*segment
	var cut *segment
	if sg := s.segs[k]; sg.first == from {
		dead = append(dead, s.segs[k:]...)
		s.segs = s.segs[:k]
	} else {
		cut = sg
		dead = append(dead, s.segs[k+1:]...)
		s.segs = s.segs[:k+1]
		keep := from - sg.first
		sg.size = sg.offsets.at(int(keep))
		sg.offsets.truncate(int(keep))
	}
	s.last = from - 1
	s.cache.dropFrom(from)
	s.mu.Unlock()

	// Whatever part of the unlinking and cutting a crash interrupts, the
	// mark still tells Open to finish it.
	if err := s.removeSegments(dead); err != nil {
		return err
	}
	if cut != nil {
		if err := s.truncateSegment(cut); err != nil {
			return err
		}
	}
	s.hook("suffix-after-cut")
	return s.writeMeta(meta{first: s.meta.first})
}
