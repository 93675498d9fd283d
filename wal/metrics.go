package wal

import (
	"sync/atomic"
)

// Metric names, under the prefix "wal". Constants rather than shared key
// slices, so no package state exists that a sink could change.
const (
	metricAppend       = "append"
	metricFsync        = "fsync"
	metricBytesWritten = "bytes_written"
)

func metricKey(name string) []string { return []string{"wal", name} }

// Stats are counters of the work a Store has done since Open.
type Stats struct {
	// Batches is the number of StoreLogs calls that wrote entries.
	Batches uint64
	// Entries is the number of entries written.
	Entries uint64
	// BytesWritten is the number of bytes written to segment files.
	BytesWritten uint64
	// FileSyncs is the number of fsyncs of files (segments, metadata,
	// stable store). With sync on, each StoreLogs call costs exactly one,
	// except the first after the whole log was deleted, when the log
	// restarts at another index and the meta file is rewritten too.
	FileSyncs uint64
	// DirSyncs is the number of fsyncs of the directory, made after
	// creating, renaming or removing files.
	DirSyncs uint64
	// SparesUsed is the number of segments started from a spare: a file of
	// zeros prepared in the background, so that appends never grow a file.
	SparesUsed uint64
	// SpareSyncs is the number of fsyncs made in the background to prepare
	// spares, one per spare. No call waits for them.
	SpareSyncs uint64
}

// counters is the live, concurrently updated form of Stats.
type counters struct {
	batches, entries, bytesWritten, fileSyncs, dirSyncs, sparesUsed, spareSyncs atomic.Uint64
}

// Stats returns a snapshot of the store's counters. It never fails and may be
// called concurrently with anything, even after Close.
func (s *Store) Stats() Stats {
	return Stats{
		Batches:      s.stats.batches.Load(),
		Entries:      s.stats.entries.Load(),
		BytesWritten: s.stats.bytesWritten.Load(),
		FileSyncs:    s.stats.fileSyncs.Load(),
		DirSyncs:     s.stats.dirSyncs.Load(),
		SparesUsed:   s.stats.sparesUsed.Load(),
		SpareSyncs:   s.stats.spareSyncs.Load(),
	}
}
