package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/consensuskit/raft"
)

// testOptions are fast options for tests that do not count syncs: a kill of
// the process keeps the page cache, so syncing adds nothing to them.
func testOptions() Options {
	return Options{NoSync: true, Metrics: discardMetrics()}
}

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func closeStore(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// payload is the deterministic data of entry (index, term), of a length that
// varies with the index so records straddle buffer and segment boundaries.
func payload(index, term uint64) []byte {
	n := int((index*7919 + term*31) % 200)
	b := make([]byte, n)
	x := index*0x9E3779B97F4A7C15 ^ term
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func entry(index, term uint64) *raft.Log {
	return &raft.Log{
		Index:      index,
		Term:       term,
		Type:       raft.LogCommand,
		Data:       payload(index, term),
		Extensions: []byte(fmt.Sprintf("ext-%d", index)),
		AppendedAt: time.Unix(1700000000+int64(index), int64(index)).UTC(),
	}
}

func entries(from, to, term uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, entry(i, term))
	}
	return out
}

func storeRange(t testing.TB, s *Store, from, to, term uint64) {
	t.Helper()
	if err := s.StoreLogs(entries(from, to, term)); err != nil {
		t.Fatalf("StoreLogs(%d..%d): %v", from, to, err)
	}
}

// checkEntryIntact reports whether l is exactly what entry(l.Index, l.Term)
// stored.
func checkEntryIntact(l *raft.Log) error {
	want := entry(l.Index, l.Term)
	if l.Type != want.Type || !bytes.Equal(l.Data, want.Data) ||
		!bytes.Equal(l.Extensions, want.Extensions) || !l.AppendedAt.Equal(want.AppendedAt) {
		return fmt.Errorf("entry %d (term %d) differs from what was stored", l.Index, l.Term)
	}
	return nil
}

// checkLog asserts the store holds exactly [first, last], every entry
// intact and of term term.
func checkLog(t testing.TB, s *Store, first, last, term uint64) {
	t.Helper()
	checkBounds(t, s, first, last)
	if last != 0 {
		checkRange(t, s, first, last, term)
	}
}

// checkRange asserts the store holds [from, to], every entry intact and of
// term term.
func checkRange(t testing.TB, s *Store, from, to, term uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if l.Index != i || l.Term != term {
			t.Fatalf("GetLog(%d) = index %d term %d, want term %d", i, l.Index, l.Term, term)
		}
		if err := checkEntryIntact(&l); err != nil {
			t.Fatal(err)
		}
	}
}

func checkBounds(t testing.TB, s *Store, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatalf("FirstIndex: %v", err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatalf("LastIndex: %v", err)
	}
	if f != first || l != last {
		t.Fatalf("log is [%d, %d], want [%d, %d]", f, l, first, last)
	}
	if first > 1 {
		checkMissing(t, s, first-1)
	}
	checkMissing(t, s, last+1)
}

func checkMissing(t testing.TB, s *Store, i uint64) {
	t.Helper()
	var l raft.Log
	if err := s.GetLog(i, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(%d) = %v, want ErrLogNotFound", i, err)
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// discardMetrics returns a metrics instance that keeps nothing and starts no
// goroutine, so tests neither touch the global instance nor leak.
func discardMetrics() *metrics.Metrics {
	cfg := metrics.DefaultConfig("test")
	cfg.EnableRuntimeMetrics = false
	m, err := metrics.New(cfg, &metrics.BlackholeSink{})
	if err != nil {
		panic(err)
	}
	return m
}
