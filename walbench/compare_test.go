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

// compareBlock is how many batches one store appends before the other takes
// its turn in BenchmarkCompareBlocks. Alternating batch by batch puts every
// wal batch right after a bbolt commit, which measured the wal about 25%
// slower than blocks of 10, 100 or 1000 batches did; those three agreed.
const compareBlock = 100

// BenchmarkCompareBlocks appends the same batches to both stores in one
// run, alternating blocks of compareBlock batches and which store starts,
// so a disk whose speed drifts during the run slows both alike. It reports
// each store's entries/s and their ratio.
func BenchmarkCompareBlocks(b *testing.B) {
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
	walLogs, boltLogs := benchEntries(1, compareBatch), benchEntries(1, compareBatch)
	var walTime, boltTime time.Duration
	appendBlock := func(s raft.LogStore, logs []*raft.Log, n int) time.Duration {
		start := time.Now()
		for range n {
			if err := s.StoreLogs(logs); err != nil {
				b.Fatal(err)
			}
			for _, l := range logs {
				l.Index += compareBatch
			}
		}
		return time.Since(start)
	}
	b.ResetTimer()
	for done, turn := 0, 0; done < b.N; done, turn = done+compareBlock, turn+1 {
		n := min(compareBlock, b.N-done)
		if turn%2 == 0 {
			walTime += appendBlock(w, walLogs, n)
			boltTime += appendBlock(bb, boltLogs, n)
		} else {
			boltTime += appendBlock(bb, boltLogs, n)
			walTime += appendBlock(w, walLogs, n)
		}
	}
	entries := float64(b.N * compareBatch)
	b.ReportMetric(entries/walTime.Seconds(), "wal-entries/s")
	b.ReportMetric(entries/boltTime.Seconds(), "bbolt-entries/s")
	b.ReportMetric(boltTime.Seconds()/walTime.Seconds(), "wal/bbolt")
}
