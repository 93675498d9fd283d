package walbench

import (
	"path/filepath"
	"testing"

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
