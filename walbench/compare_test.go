package walbench

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/consensuskit/raft"
	"github.com/consensuskit/raft/wal"
)

const (
	compareBatch = 64
)

// BenchmarkCompare appends batches of 64 entries of 128 bytes, every batch
// durable before the next, to our wal and to the bbolt store, in one run.
func BenchmarkCompare(b *testing.B) {
	b.Run("wal", func(b *testing.B) {
		s, err := wal.Open(b.TempDir(), wal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		runAppends(b, s)
	})
	b.Run("bbolt", func(b *testing.B) {
		s, err := OpenBolt(filepath.Join(b.TempDir(), "logs.bolt"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		runAppends(b, s)
	})
}

func runAppends(b *testing.B, s raft.LogStore) {
	logs := benchEntries(1, compareBatch)
	b.SetBytes(compareBatch * 128)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
		for _, l := range logs {
			l.Index += compareBatch
		}
	}
	b.ReportMetric(float64(b.N*compareBatch)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkCompareInterleaved alternates the same batches between the two
// stores, so both see the same disk and the same neighbours at the same
// moments, and reports each one's entries/s and their ratio.
func BenchmarkCompareInterleaved(b *testing.B) {
	w, err := wal.Open(b.TempDir(), wal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	bb, err := OpenBolt(filepath.Join(b.TempDir(), "logs.bolt"))
	if err != nil {
		b.Fatal(err)
	}
	defer bb.Close()
	logs := benchEntries(1, compareBatch)
	var walTime, boltTime time.Duration
	b.ResetTimer()
	timed := func(s raft.LogStore) time.Duration {
		start := time.Now()
		if err := s.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for i := 0; i < b.N; i++ {
		// Alternate which goes first, so neither always follows the
		// other's sync.
		if i%2 == 0 {
			walTime += timed(w)
			boltTime += timed(bb)
		} else {
			boltTime += timed(bb)
			walTime += timed(w)
		}
		for _, l := range logs {
			l.Index += compareBatch
		}
	}
	entries := float64(b.N * compareBatch)
	b.ReportMetric(entries/walTime.Seconds(), "wal-entries/s")
	b.ReportMetric(entries/boltTime.Seconds(), "bbolt-entries/s")
	b.ReportMetric(boltTime.Seconds()/walTime.Seconds(), "wal/bbolt")
}
