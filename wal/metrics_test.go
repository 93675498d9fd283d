package wal

import (
	"testing"
	"time"

	metrics "github.com/armon/go-metrics"
)

func TestOneSyncPerStoreLogs(t *testing.T) {
	opts := Options{Metrics: discardMetrics()} // syncs on
	s := openStore(t, t.TempDir(), opts)
	next := uint64(1)
	for _, batch := range []uint64{1, 64, 1024, 1, 64, 1024} {
		before := s.Stats()
		storeRange(t, s, next, next+batch-1, 1)
		next += batch
		after := s.Stats()
		if got := after.FileSyncs - before.FileSyncs; got != 1 {
			t.Fatalf("batch of %d: %d file syncs, want 1", batch, got)
		}
		// Only the very first batch creates a segment, whose name the
		// directory sync makes durable.
		wantDir := uint64(0)
		if before.Batches == 0 {
			wantDir = 1
		}
		if got := after.DirSyncs - before.DirSyncs; got != wantDir {
			t.Fatalf("batch of %d: %d directory syncs, want %d", batch, got, wantDir)
		}
		if after.Batches-before.Batches != 1 || after.Entries-before.Entries != batch {
			t.Fatalf("batch of %d counted as %+v -> %+v", batch, before, after)
		}
	}
}

func TestNoSyncMakesNoSyncs(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	storeRange(t, s, 1, 10, 1)
	if err := s.SetUint64([]byte("k"), 1); err != nil {
		t.Fatal(err)
	}
	mustDelete(t, s, 1, 3)
	if st := s.Stats(); st.FileSyncs != 0 || st.DirSyncs != 0 {
		t.Fatalf("NoSync store synced: %+v", st)
	}
}

func TestMetricsAreEmitted(t *testing.T) {
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	cfg := metrics.DefaultConfig("svc")
	cfg.EnableRuntimeMetrics = false
	cfg.EnableHostname = false
	m, err := metrics.New(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, t.TempDir(), Options{Metrics: m})
	storeRange(t, s, 1, 10, 1)
	written := s.Stats().BytesWritten
	if written == 0 {
		t.Fatal("no bytes counted")
	}
	data := sink.Data()
	var samples, counters = map[string]int{}, map[string]float64{}
	for _, iv := range data {
		for k, v := range iv.Samples {
			samples[k] += v.Count
		}
		for k, v := range iv.Counters {
			counters[k] += v.Sum
		}
	}
	if samples["svc.wal.append"] != 1 {
		t.Errorf("wal.append samples: %v", samples)
	}
	// The meta file written at creation and the batch.
	if samples["svc.wal.fsync"] < 2 {
		t.Errorf("wal.fsync samples: %v", samples)
	}
	if counters["svc.wal.bytes_written"] != float64(written) {
		t.Errorf("wal.bytes_written = %v, want %d", counters["svc.wal.bytes_written"], written)
	}
}
