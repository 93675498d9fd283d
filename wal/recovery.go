package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// recover rebuilds the in-memory index from the directory and finishes any
// deletion that a crash interrupted, so that the files then hold exactly the
// state the meta file describes.
func (s *Store) recover() error {
	if err := s.removeTempFiles(); err != nil {
		return err
	}
	m, found, err := readMeta(s.dir)
	if err != nil {
		return err
	}
	segs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	if !found {
		if len(segs) > 0 {
			return corruptf(s.path(metaName), 0, "meta file missing while %d segments exist", len(segs))
		}
		// A new store. The meta file is written before any segment, so
		// its absence can only mean this.
		return s.writeMeta(meta{})
	}
	s.meta = m

	// Segments wholly below the first live index are leftovers of a prefix
	// deletion that crashed before unlinking them.
	var dead []*segment
	if m.first > 0 {
		for len(segs) > 1 && segs[1].first <= m.first {
			dead, segs = append(dead, segs[0]), segs[1:]
		}
	}
	// Segments wholly past the kept end of an interrupted suffix deletion.
	if m.truncating {
		for len(segs) > 0 && segs[len(segs)-1].first > m.lastKeep {
			dead, segs = append(dead, segs[len(segs)-1]), segs[:len(segs)-1]
		}
	}
	if err := s.removeSegments(dead); err != nil {
		return err
	}

	s.segs = segs
	for i, sg := range segs {
		if err := s.loadSegment(sg, i == len(segs)-1); err != nil {
			return err
		}
	}
	if m.truncating {
		if err := s.finishTruncation(m.lastKeep); err != nil {
			return err
		}
	}
	return s.settleBounds()
}

// loadSegment opens sg, indexes its records and, in the last segment, cuts
// off a torn tail.
func (s *Store) loadSegment(sg *segment, last bool) error {
	f, err := os.OpenFile(sg.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", sg.path, err)
	}
	sg.f = f
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("wal: stat %s: %w", sg.path, err)
	}
	res, err := scanSegment(f, info.Size(), sg.path, sg.first, last)
	if err != nil {
		return err
	}
	sg.offsets, sg.size, sg.alloc = res.offsets, res.end, info.Size()
	if res.torn {
		s.opts.Logger.Warn("truncating torn tail left by a crash",
			"file", sg.path, "offset", res.end, "bytes", info.Size()-res.end, "reason", res.tornReason)
		if err := s.truncateSegment(sg); err != nil {
			return err
		}
	}
	return nil
}

// truncateSegment durably cuts sg's file at sg.size.
func (s *Store) truncateSegment(sg *segment) error {
	if err := sg.f.Truncate(sg.size); err != nil {
		return fmt.Errorf("wal: truncate %s to %d: %w", sg.path, sg.size, err)
	}
	sg.alloc = sg.size
	if err := s.syncFile(sg.f); err != nil {
		return fmt.Errorf("wal: sync %s: %w", sg.path, err)
	}
	return nil
}

// finishTruncation completes a suffix deletion recorded in the meta file:
// the entries after lastKeep go, then the mark is cleared.
func (s *Store) finishTruncation(lastKeep uint64) error {
	if n := len(s.segs); n > 0 {
		sg := s.segs[n-1]
		if sg.last() > lastKeep {
			keep := lastKeep + 1 - sg.first
			sg.size = sg.offsets.at(int(keep))
			sg.offsets.truncate(int(keep))
			if err := s.truncateSegment(sg); err != nil {
				return err
			}
		}
	}
	s.hook("recover-truncated")
	return s.writeMeta(meta{first: s.meta.first})
}

// settleBounds checks that the segments hold one contiguous run of entries
// reaching the first live index, removes segments that hold no live entry,
// and sets the log's bounds.
func (s *Store) settleBounds() error {
	for i := 1; i < len(s.segs); i++ {
		prev, sg := s.segs[i-1], s.segs[i]
		if prev.offsets.len() == 0 {
			return corruptf(prev.path, 0, "empty segment followed by %s", sg.path)
		}
		if sg.first != prev.last()+1 {
			return corruptf(sg.path, 0, "segment starts at index %d but the previous one ends at %d", sg.first, prev.last())
		}
	}
	n := len(s.segs)
	if n == 0 || s.segs[n-1].last() < max(s.meta.first, s.segs[0].first) {
		// No live entry: what is left is an empty segment a crash left
		// before its first write, or entries a whole-log deletion
		// abandoned. Drop them so the next append starts afresh.
		dead := s.segs
		s.segs = nil
		return s.removeSegments(dead)
	}
	if s.meta.first != 0 && s.segs[0].first > s.meta.first {
		return corruptf(s.segs[0].path, 0, "log should start at index %d but the first segment starts at %d", s.meta.first, s.segs[0].first)
	}
	if last := s.segs[n-1]; last.offsets.len() == 0 {
		s.segs = s.segs[:n-1]
		if err := s.removeSegments([]*segment{last}); err != nil {
			return err
		}
	}
	s.first = max(s.meta.first, s.segs[0].first)
	s.last = s.segs[len(s.segs)-1].last()
	return nil
}

// removeSegments closes and unlinks segs, then syncs the directory.
func (s *Store) removeSegments(segs []*segment) error {
	if len(segs) == 0 {
		return nil
	}
	for _, sg := range segs {
		if sg.f != nil {
			if err := sg.f.Close(); err != nil {
				return fmt.Errorf("wal: close %s: %w", sg.path, err)
			}
			sg.f = nil
		}
		if err := os.Remove(sg.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wal: remove %s: %w", sg.path, err)
		}
		s.hook("removed-segment")
	}
	return s.syncDir()
}

// removeTempFiles deletes files a crash left half-written before renaming.
func (s *Store) removeTempFiles() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("wal: list %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			if err := os.Remove(s.path(e.Name())); err != nil {
				return fmt.Errorf("wal: remove %s: %w", s.path(e.Name()), err)
			}
		}
	}
	return nil
}
