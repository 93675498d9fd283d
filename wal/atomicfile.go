package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// tmpSuffix marks a file being written before it is renamed into place. Open
// removes any left by a crash.
const tmpSuffix = ".tmp"

// replaceFile makes data the content of dir/name such that a crash at any
// moment leaves either the old content or the new one: write a temporary
// file, sync it, rename it over the old one, sync the directory.
func (s *Store) replaceFile(name string, data []byte) error {
	path := filepath.Join(s.dir, name)
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("wal: write %s: %w", tmp, err)
	}
	if err := s.syncFile(f); err != nil {
		f.Close()
		return fmt.Errorf("wal: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: close %s: %w", tmp, err)
	}
	s.hook("replace-before-rename:" + name)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("wal: rename %s: %w", tmp, err)
	}
	return s.syncDir()
}

// syncDir makes the directory's entries (created, renamed and removed files)
// durable.
func (s *Store) syncDir() error {
	if s.opts.NoSync {
		return nil
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("wal: open directory %s: %w", s.dir, err)
	}
	err = d.Sync()
	s.stats.dirSyncs.Add(1)
	if cerr := d.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", s.dir, err)
	}
	return nil
}

// syncFile makes f's data durable, counting and timing the sync.
func (s *Store) syncFile(f *os.File) error {
	if s.opts.NoSync {
		return nil
	}
	start := time.Now()
	err := datasync(f)
	s.stats.fileSyncs.Add(1)
	s.opts.Metrics.MeasureSince(metricKey(metricFsync), start)
	return err
}

// syncSpare makes a spare segment's zeros durable. It is counted apart from
// FileSyncs, which counts the syncs that calls wait for.
func (s *Store) syncSpare(f *os.File) error {
	if s.opts.NoSync {
		return nil
	}
	s.stats.spareSyncs.Add(1)
	return datasync(f)
}
