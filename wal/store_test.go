package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/consensuskit/raft"
)

func TestEmptyLog(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	checkBounds(t, s, 0, 0)
	checkMissing(t, s, 1)
	checkMissing(t, s, 0)
}

func TestStoreAndGetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOptions())
	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogNoop},
		{Index: 2, Term: 1, Type: raft.LogConfiguration, Data: []byte("cfg"), AppendedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		{Index: 3, Term: 2, Type: raft.LogCommand, Data: []byte{0, 1, 2}, Extensions: []byte("x"), AppendedAt: time.Date(1500, 1, 1, 0, 0, 0, 999999999, time.UTC)},
		{Index: 4, Term: 1<<64 - 1, Type: raft.LogType(200), Data: make([]byte, 70000)},
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		checkBounds(t, s, 1, 4)
		for _, want := range logs {
			var got raft.Log
			if err := s.GetLog(want.Index, &got); err != nil {
				t.Fatalf("GetLog(%d): %v", want.Index, err)
			}
			if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
				string(got.Data) != string(want.Data) || string(got.Extensions) != string(want.Extensions) ||
				!got.AppendedAt.Equal(want.AppendedAt) || got.AppendedAt.IsZero() != want.AppendedAt.IsZero() {
				t.Fatalf("GetLog(%d) = %+v, want %+v", want.Index, got, want)
			}
		}
	}
	check(s)
	closeStore(t, s)
	// Reopened with the cache off, every read comes from the files.
	opts := testOptions()
	opts.CacheEntries = -1
	check(openStore(t, dir, opts))
}

func TestGetLogReturnsCallerOwnedData(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	storeRange(t, s, 1, 1, 1)
	var a, b raft.Log
	if err := s.GetLog(1, &a); err != nil {
		t.Fatal(err)
	}
	for i := range a.Data {
		a.Data[i] ^= 0xff
	}
	if err := s.GetLog(1, &b); err != nil {
		t.Fatal(err)
	}
	if err := checkEntryIntact(&b); err != nil {
		t.Fatalf("changing one read's data changed the next: %v", err)
	}
}

func TestStoreLogsRejectsNonContiguous(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	storeRange(t, s, 1, 5, 1)
	cases := map[string][]*raft.Log{
		"gap after last":   entries(7, 8, 1),
		"overlaps last":    entries(5, 6, 1),
		"gap inside batch": {entry(6, 1), entry(8, 1)},
		"descending":       {entry(6, 1), entry(5, 1)},
		"nil entry":        {entry(6, 1), nil},
	}
	for name, logs := range cases {
		if err := s.StoreLogs(logs); !errors.Is(err, ErrNonContiguous) {
			t.Errorf("%s: StoreLogs = %v, want ErrNonContiguous", name, err)
		}
	}
	checkLog(t, s, 1, 5, 1)

	empty := openStore(t, t.TempDir(), testOptions())
	if err := empty.StoreLog(entry(0, 1)); !errors.Is(err, ErrNonContiguous) {
		t.Errorf("StoreLog(index 0) = %v, want ErrNonContiguous", err)
	}
	// A rejected batch must not poison the store.
	storeRange(t, s, 6, 6, 1)
	checkLog(t, s, 1, 6, 1)
}

func TestStoreLogsEmptyBatchIsNoop(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	if err := s.StoreLogs(nil); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 0, 0)
}

func TestFirstBatchMayStartAnywhere(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOptions())
	storeRange(t, s, 100, 110, 3)
	checkLog(t, s, 100, 110, 3)
	closeStore(t, s)
	checkLog(t, openStore(t, dir, testOptions()), 100, 110, 3)
}

func TestSegmentsRollAndAreNamedByFirstIndex(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.SegmentSize = 1024
	s := openStore(t, dir, opts)
	for i := uint64(1); i <= 200; i += 4 {
		storeRange(t, s, i, i+3, 1)
	}
	files := segmentFiles(t, dir)
	if len(files) < 5 {
		t.Fatalf("%d segment files for ~25 KiB in 1 KiB segments", len(files))
	}
	for _, sg := range s.segs {
		if filepath.Base(sg.path) != segmentName(sg.first) || sg.offsets.len() == 0 {
			t.Fatalf("segment %s holds %d entries from %d", sg.path, sg.offsets.len(), sg.first)
		}
		if sg.size > opts.SegmentSize && sg.offsets.len() > 4 {
			t.Fatalf("segment %s grew to %d bytes, over the size and more than a batch", sg.path, sg.size)
		}
	}
	checkLog(t, s, 1, 200, 1)
	closeStore(t, s)
	checkLog(t, openStore(t, dir, opts), 1, 200, 1)
}

func TestBatchLargerThanSegmentIsNotSplit(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.SegmentSize = 512
	s := openStore(t, dir, opts)
	storeRange(t, s, 1, 2, 1)
	storeRange(t, s, 3, 40, 1)
	storeRange(t, s, 41, 41, 1)
	if n := len(segmentFiles(t, dir)); n != 3 {
		t.Fatalf("%d segment files, want 3 (one per batch)", n)
	}
	closeStore(t, s)
	checkLog(t, openStore(t, dir, opts), 1, 41, 1)
}

func TestDeletePrefix(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.SegmentSize = 1024
	s := openStore(t, dir, opts)
	for i := uint64(1); i <= 100; i += 5 {
		storeRange(t, s, i, i+4, 1)
	}
	before := len(segmentFiles(t, dir))
	if err := s.DeleteRange(1, 60); err != nil {
		t.Fatal(err)
	}
	checkLog(t, s, 61, 100, 1)
	if after := len(segmentFiles(t, dir)); after >= before {
		t.Fatalf("prefix deletion removed no segment file: %d before, %d after", before, after)
	}
	// Every remaining segment holds a live entry.
	for _, sg := range s.segs {
		if sg.last() < 61 {
			t.Fatalf("segment %s (to %d) kept though wholly deleted", sg.path, sg.last())
		}
	}
	closeStore(t, s)
	s = openStore(t, dir, opts)
	checkLog(t, s, 61, 100, 1)
	storeRange(t, s, 101, 110, 1)
	checkLog(t, s, 61, 110, 1)
}

func TestDeleteSuffix(t *testing.T) {
	for _, tc := range []struct {
		name string
		from uint64
	}{
		{"inside a segment", 37},
		{"at a segment start", 0}, // filled in below
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOptions()
			opts.SegmentSize = 1024
			s := openStore(t, dir, opts)
			for i := uint64(1); i <= 100; i += 5 {
				storeRange(t, s, i, i+4, 1)
			}
			from := tc.from
			if from == 0 {
				from = s.segs[len(s.segs)-2].first
			}
			if err := s.DeleteRange(from, 100); err != nil {
				t.Fatal(err)
			}
			checkLog(t, s, 1, from-1, 1)
			for _, f := range segmentFiles(t, dir) {
				if first, _ := parseSegmentName(filepath.Base(f)); first >= from {
					t.Fatalf("segment %s survived the deletion of %d on", f, from)
				}
			}
			if m, _, err := readMeta(dir); err != nil || m.truncating {
				t.Fatalf("meta after suffix deletion: %+v, %v; want the mark cleared", m, err)
			}
			closeStore(t, s)
			s = openStore(t, dir, opts)
			checkLog(t, s, 1, from-1, 1)
			// Log repair: the suffix comes back in a newer term.
			storeRange(t, s, from, from+9, 2)
			closeStore(t, s)
			s = openStore(t, dir, opts)
			checkBounds(t, s, 1, from+9)
			checkRange(t, s, 1, from-1, 1)
			checkRange(t, s, from, from+9, 2)
		})
	}
}

func TestDeleteAllThenRestartAtHigherIndex(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOptions())
	storeRange(t, s, 1, 50, 1)
	if err := s.DeleteRange(1, 50); err != nil {
		t.Fatal(err)
	}
	checkBounds(t, s, 0, 0)
	if n := len(segmentFiles(t, dir)); n != 0 {
		t.Fatalf("%d segment files after deleting the whole log", n)
	}
	closeStore(t, s)
	s = openStore(t, dir, testOptions())
	checkBounds(t, s, 0, 0)
	// As after installing a snapshot at 999.
	storeRange(t, s, 1000, 1010, 4)
	checkLog(t, s, 1000, 1010, 4)
	closeStore(t, s)
	s = openStore(t, dir, testOptions())
	checkLog(t, s, 1000, 1010, 4)
	storeRange(t, s, 1011, 1011, 4)
	checkLog(t, s, 1000, 1011, 4)
}

func TestDeleteAllThenRestartAtNextIndex(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOptions())
	storeRange(t, s, 1, 10, 1)
	if err := s.DeleteRange(0, 1<<64-1); err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 11, 12, 1)
	closeStore(t, s)
	checkLog(t, openStore(t, dir, testOptions()), 11, 12, 1)
}

func TestDeleteRangeEdges(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	if err := s.DeleteRange(1, 10); err != nil {
		t.Fatalf("DeleteRange on an empty log: %v", err)
	}
	storeRange(t, s, 5, 20, 1)
	if err := s.DeleteRange(8, 10); !errors.Is(err, ErrUnsupportedRange) {
		t.Fatalf("DeleteRange(8, 10) of [5, 20] = %v, want ErrUnsupportedRange", err)
	}
	for _, r := range [][2]uint64{{1, 4}, {21, 30}, {10, 9}} {
		if err := s.DeleteRange(r[0], r[1]); err != nil {
			t.Fatalf("DeleteRange(%d, %d) outside the log: %v", r[0], r[1], err)
		}
	}
	checkLog(t, s, 5, 20, 1)
	// Ranges reaching past either end are clamped to it.
	if err := s.DeleteRange(1, 7); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(18, 100); err != nil {
		t.Fatal(err)
	}
	checkLog(t, s, 8, 17, 1)
}

func TestClosedStoreFails(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	storeRange(t, s, 1, 1, 1)
	closeStore(t, s)
	var l raft.Log
	if _, err := s.FirstIndex(); !errors.Is(err, ErrClosed) {
		t.Errorf("FirstIndex: %v", err)
	}
	if _, err := s.LastIndex(); !errors.Is(err, ErrClosed) {
		t.Errorf("LastIndex: %v", err)
	}
	if err := s.GetLog(1, &l); !errors.Is(err, ErrClosed) {
		t.Errorf("GetLog: %v", err)
	}
	if err := s.StoreLog(entry(2, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("StoreLog: %v", err)
	}
	if err := s.DeleteRange(1, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("DeleteRange: %v", err)
	}
	if err := s.Set([]byte("k"), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Set: %v", err)
	}
	if _, err := s.Get([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestWriteErrorFailsStoreUntilReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOptions())
	storeRange(t, s, 1, 3, 1)
	// Pull the file out from under the store, as a failing disk would.
	if err := s.segs[0].f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(entry(4, 1)); err == nil || errors.Is(err, ErrFailed) {
		t.Fatalf("StoreLog on a dead file = %v, want the I/O error", err)
	}
	if err := s.StoreLog(entry(4, 1)); !errors.Is(err, ErrFailed) {
		t.Fatalf("StoreLog after a failed write = %v, want ErrFailed", err)
	}
	if err := s.DeleteRange(3, 3); !errors.Is(err, ErrFailed) {
		t.Fatalf("DeleteRange after a failed write = %v, want ErrFailed", err)
	}
	checkBounds(t, s, 1, 3)
	s.Close()
	s = openStore(t, dir, testOptions())
	checkLog(t, s, 1, 3, 1)
	storeRange(t, s, 4, 4, 1)
}

func TestOpenRejectsBadOptions(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{SegmentSize: -1}); err == nil {
		t.Fatal("Open with a negative segment size succeeded")
	}
}

func TestOpenFailsOnUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, testOptions()); err == nil {
		t.Fatal("Open on a regular file succeeded")
	}
}

// TestReopenAfterEveryOperation runs a sequence of every kind of operation,
// closing and reopening after each, against a model of the expected log.
func TestReopenAfterEveryOperation(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.SegmentSize = 700
	s := openStore(t, dir, opts)
	type state struct{ first, last, term uint64 }
	var st state
	ops := []struct {
		name string
		do   func() state
	}{
		{"append", func() state { storeRange(t, s, 1, 30, 1); return state{1, 30, 1} }},
		{"append more", func() state { storeRange(t, s, 31, 40, 1); return state{1, 40, 1} }},
		{"delete prefix", func() state { mustDelete(t, s, 1, 25); return state{26, 40, 1} }},
		{"delete suffix", func() state { mustDelete(t, s, 33, 40); return state{26, 32, 1} }},
		{"delete all", func() state { mustDelete(t, s, 26, 32); return state{0, 0, 0} }},
		{"restart higher", func() state { storeRange(t, s, 500, 520, 2); return state{500, 520, 2} }},
		{"stable set", func() state {
			if err := s.SetUint64([]byte("CurrentTerm"), 2); err != nil {
				t.Fatal(err)
			}
			return st
		}},
	}
	for _, op := range ops {
		st = op.do()
		closeStore(t, s)
		s = openStore(t, dir, opts)
		checkLog(t, s, st.first, st.last, st.term)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 2 {
		t.Fatalf("CurrentTerm = %d, %v after reopen", v, err)
	}
}

func mustDelete(t testing.TB, s *Store, lo, hi uint64) {
	t.Helper()
	if err := s.DeleteRange(lo, hi); err != nil {
		t.Fatalf("DeleteRange(%d, %d): %v", lo, hi, err)
	}
}

func TestStoreLogsRejectsOversizedEntry(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	storeRange(t, s, 1, 1, 1)
	huge := &raft.Log{Index: 3, Term: 1, Data: make([]byte, MaxRecordSize)}
	if err := s.StoreLogs([]*raft.Log{entry(2, 1), huge}); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("StoreLogs with a %d-byte entry = %v, want ErrRecordTooLarge", len(huge.Data), err)
	}
	// Nothing of the batch was stored, and the store still works.
	checkLog(t, s, 1, 1, 1)
	storeRange(t, s, 2, 2, 1)
}
