package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// writeAtLeast appends entries of term 1 from index next until at least n
// bytes were written, and returns the next index.
func writeAtLeast(t *testing.T, s *Store, next uint64, n uint64) uint64 {
	t.Helper()
	for start := s.Stats().BytesWritten; s.Stats().BytesWritten-start < n; next += 16 {
		storeRange(t, s, next, next+15, 1)
	}
	return next
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func TestSpareStartsTheNextSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 64 << 10, Metrics: discardMetrics()}
	s := openStore(t, dir, opts)
	// The first segment fills; writing that much starts a spare.
	next := writeAtLeast(t, s, 1, uint64(opts.SegmentSize))
	waitFor(t, "a spare segment", s.spare.available)
	if fileSize(t, s.spare.path) != opts.SegmentSize {
		t.Fatalf("spare is %d bytes, want %d", fileSize(t, s.spare.path), opts.SegmentSize)
	}
	before := s.Stats()
	segs := len(segmentFiles(t, dir))
	for s.Stats().SparesUsed == before.SparesUsed {
		next = writeAtLeast(t, s, next, 1)
	}
	after := s.Stats()
	// Taking a spare costs the batch no extra file sync: the spare's zeros
	// were synced in the background.
	if syncs, batches := after.FileSyncs-before.FileSyncs, after.Batches-before.Batches; syncs != batches {
		t.Fatalf("%d file syncs for %d batches, want one each", syncs, batches)
	}
	if after.SpareSyncs == 0 {
		t.Fatal("no background sync of the spare was counted")
	}
	if got := len(segmentFiles(t, dir)); got != segs+1 {
		t.Fatalf("%d segment files after taking the spare, want %d", got, segs+1)
	}
	active := s.segs[len(s.segs)-1]
	if fileSize(t, active.path) != opts.SegmentSize {
		t.Fatalf("segment from the spare is %d bytes, want %d", fileSize(t, active.path), opts.SegmentSize)
	}
	// Using the spare started the next one.
	waitFor(t, "the next spare", s.spare.available)
	closeStore(t, s)
	if _, err := os.Stat(s.spare.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spare still on disk after Close: %v", err)
	}
	s = openStore(t, dir, opts)
	checkLog(t, s, 1, next-1, 1)
}

func TestSpareTakenEarlyInsteadOfGrowingTheSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 8 << 20, NoSync: true, Metrics: discardMetrics()}
	s := openStore(t, dir, opts)
	next := writeAtLeast(t, s, 1, spareTrigger)
	waitFor(t, "a spare segment", s.spare.available)
	first := s.segs[0]
	for s.Stats().SparesUsed == 0 {
		next = writeAtLeast(t, s, next, 1)
	}
	if first.size >= opts.SegmentSize {
		t.Fatalf("first segment reached %d bytes: the spare was not taken early", first.size)
	}
	// The segment left early is trimmed to its records.
	if got := fileSize(t, first.path); got != first.size {
		t.Fatalf("left segment is %d bytes, its records end at %d", got, first.size)
	}
	if len(s.segs) != 2 {
		t.Fatalf("%d segments, want 2", len(s.segs))
	}
	closeStore(t, s)
	s = openStore(t, dir, opts)
	checkLog(t, s, 1, next-1, 1)
	next = writeAtLeast(t, s, next, 1)
	checkLog(t, s, 1, next-1, 1)
}

// syncBuffer is a bytes.Buffer safe for a logger writing from a goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestSpareFailureFallsBackToGrowing(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	opts := Options{
		SegmentSize: 16 << 10,
		NoSync:      true,
		Metrics:     discardMetrics(),
		Logger:      hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn}),
	}
	s := openStore(t, dir, opts)
	// A directory where the spare goes makes preparing it fail; a file in
	// it keeps the failed preparation from removing it.
	if err := os.MkdirAll(filepath.Join(s.spare.path, "obstacle"), 0o755); err != nil {
		t.Fatal(err)
	}
	next := writeAtLeast(t, s, 1, uint64(opts.SegmentSize))
	waitFor(t, "the failure to be logged", func() bool {
		return strings.Contains(logs.String(), "preparing a spare segment failed")
	})
	next = writeAtLeast(t, s, next, 4*uint64(opts.SegmentSize))
	if st := s.Stats(); st.SparesUsed != 0 {
		t.Fatalf("%d spares used although none could be prepared", st.SparesUsed)
	}
	checkLog(t, s, 1, next-1, 1)
	// Once the obstacle is gone, a later trigger prepares one.
	if err := os.RemoveAll(s.spare.path); err != nil {
		t.Fatal(err)
	}
	next = writeAtLeast(t, s, next, uint64(opts.SegmentSize))
	waitFor(t, "a spare segment", s.spare.available)
	for s.Stats().SparesUsed == 0 {
		next = writeAtLeast(t, s, next, 1)
	}
	checkLog(t, s, 1, next-1, 1)
}

func TestOpenRemovesLeftoverSpare(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	s := openStore(t, dir, opts)
	storeRange(t, s, 1, 10, 1)
	closeStore(t, s)
	// A crash during preparation leaves a half-written spare.
	if err := os.WriteFile(s.spare.path, []byte("half a spare"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, opts)
	if _, err := os.Stat(s.spare.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover spare not removed by Open: %v", err)
	}
	checkLog(t, s, 1, 10, 1)
}

func TestCloseAbandonsSparePreparation(t *testing.T) {
	dir := t.TempDir()
	// A spare this big is still being written when Close comes.
	opts := Options{SegmentSize: 1 << 30, NoSync: true, Metrics: discardMetrics()}
	s := openStore(t, dir, opts)
	writeAtLeast(t, s, 1, spareTrigger)
	waitFor(t, "the spare preparation to start", func() bool {
		_, err := os.Stat(s.spare.path)
		return err == nil
	})
	closeStore(t, s)
	if _, err := os.Stat(s.spare.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spare still on disk after Close: %v", err)
	}
	// TestMain's leak check fails the package if the preparing goroutine
	// outlived Close.
}
