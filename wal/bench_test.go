package wal

import (
	"fmt"
	"testing"
	"time"

	"github.com/consensuskit/raft"
)

// benchEntries returns n entries from index first with 128-byte payloads.
func benchEntries(first uint64, n int) []*raft.Log {
	data := make([]byte, 128)
	logs := make([]*raft.Log, n)
	for i := range logs {
		logs[i] = &raft.Log{Index: first + uint64(i), Term: 1, Data: data, AppendedAt: time.Now()}
	}
	return logs
}

// BenchmarkStoreLogs measures durable appends (syncs on) in batches,
// reporting entries per second and file syncs per batch.
func BenchmarkStoreLogs(b *testing.B) {
	for _, batch := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Metrics: discardMetrics()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			logs := benchEntries(1, batch)
			before := s.Stats()
			b.SetBytes(int64(batch * 128))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
				for _, l := range logs {
					l.Index += uint64(batch)
				}
			}
			b.StopTimer()
			after := s.Stats()
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(after.FileSyncs-before.FileSyncs)/float64(b.N), "fsyncs/batch")
			b.ReportMetric(float64(after.DirSyncs-before.DirSyncs)/float64(b.N), "dirsyncs/batch")
		})
	}
}

// BenchmarkGetLog measures reads of a recent entry (served by the cache) and
// of an old one (one read from a segment file, page cache warm).
func BenchmarkGetLog(b *testing.B) {
	s, err := Open(b.TempDir(), Options{NoSync: true, Metrics: discardMetrics()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 100000
	for i := 1; i <= n; i += 1000 {
		if err := s.StoreLogs(benchEntries(uint64(i), 1000)); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		index uint64
	}{{"recent", n - 10}, {"old", 10}} {
		b.Run(tc.name, func(b *testing.B) {
			var l raft.Log
			for i := 0; i < b.N; i++ {
				if err := s.GetLog(tc.index, &l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
