package wal

import (
	"fmt"

	metrics "github.com/armon/go-metrics"
	hclog "github.com/hashicorp/go-hclog"
)

// DefaultSegmentSize is the segment size used when Options.SegmentSize is 0.
const DefaultSegmentSize = 64 << 20

// DefaultCacheEntries is the number of recent entries kept in memory when
// Options.CacheEntries is 0.
const DefaultCacheEntries = 1024

// MaxRecordSize bounds the encoded size of one entry. StoreLogs refuses
// larger entries, and recovery treats a checksummed header claiming more as
// corruption, so a damaged file can never make the store allocate more.
const MaxRecordSize = 64 << 20

// Options configures a Store. The zero value is valid: every field has a
// default.
type Options struct {
	// SegmentSize is the size in bytes after which a new segment file is
	// started. A batch is never split across segments, so a segment may
	// exceed it by up to one batch. A busy store keeps one segment of
	// zeros prepared ahead (see the package documentation), so it needs
	// this much free space beyond its data. 0 means DefaultSegmentSize.
	SegmentSize int64

	// CacheEntries is how many of the most recently stored entries are kept
	// in memory, so GetLog on them reads no file. 0 means
	// DefaultCacheEntries; a negative value disables the cache.
	CacheEntries int

	// NoSync skips every fsync. Writes then survive a process crash but not
	// a machine crash. It is meant for tests only.
	NoSync bool

	// Logger receives warnings (a torn tail truncated at open) and errors.
	// nil means a logger that discards everything.
	Logger hclog.Logger

	// Metrics receives wal.append (StoreLogs latency, ms), wal.fsync (sync
	// latency, ms) and wal.bytes_written (a counter). nil means go-metrics'
	// default (global) instance.
	Metrics *metrics.Metrics

	// crashHook, when set by tests, is called at named points of the write
	// and delete paths, so a test child process can kill itself exactly
	// there.
	crashHook func(point string)
}

func (o Options) withDefaults() (Options, error) {
	if o.SegmentSize < 0 {
		return o, fmt.Errorf("wal: negative segment size %d", o.SegmentSize)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.CacheEntries == 0 {
		o.CacheEntries = DefaultCacheEntries
	}
	if o.CacheEntries < 0 {
		o.CacheEntries = 0
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Default()
	}
	return o, nil
}
