package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/consensuskit/raft"
	hclog "github.com/hashicorp/go-hclog"
)

// buildLog writes entries 1..n in batches of 3 with the given segment size
// and returns the directory, closed.
func buildLog(t *testing.T, n uint64, segmentSize int64) string {
	t.Helper()
	dir := t.TempDir()
	opts := testOptions()
	opts.SegmentSize = segmentSize
	s := openStore(t, dir, opts)
	for i := uint64(1); i <= n; i += 3 {
		storeRange(t, s, i, min(i+2, n), 1)
	}
	closeStore(t, s)
	return dir
}

// recordSpan returns the file, offset and length of entry i's record in the
// store in dir.
func recordSpan(t *testing.T, dir string, i uint64) (string, int64, int64) {
	t.Helper()
	s := openStore(t, dir, testOptions())
	defer closeStore(t, s)
	sg := findSegment(s.segs, i)
	if sg == nil {
		t.Fatalf("entry %d in no segment", i)
	}
	off, n := sg.span(i)
	return sg.path, off, n
}

func wantCorruptAt(t *testing.T, err error, path string, off int64) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v is not a *CorruptError matching ErrCorrupt", err)
	}
	if ce.Path != path || ce.Offset != off {
		t.Fatalf("error names %s at %d, want %s at %d (%v)", ce.Path, ce.Offset, path, off, err)
	}
}

func TestTruncatedFinalRecordAtEveryOffsetIsDropped(t *testing.T) {
	const n = 20
	dir := buildLog(t, n, 1<<20)
	path, off, size := recordSpan(t, dir, n)
	for cut := off; cut < off+size; cut++ {
		d := copyDir(t, dir)
		p := filepath.Join(d, filepath.Base(path))
		if err := os.Truncate(p, cut); err != nil {
			t.Fatal(err)
		}
		s, err := Open(d, testOptions())
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		checkLog(t, s, 1, n-1, 1)
		if info, err := os.Stat(p); err != nil || info.Size() != off {
			t.Fatalf("cut at %d: file not truncated to the record boundary %d: %v %v", cut, off, info.Size(), err)
		}
		// The log goes on from the cut.
		storeRange(t, s, n, n, 2)
		closeStore(t, s)
		s = openStore(t, d, testOptions())
		checkBounds(t, s, 1, n)
		checkRange(t, s, 1, n-1, 1)
		checkRange(t, s, n, n, 2)
		closeStore(t, s)
	}
}

func TestFlippedBitInEarlierRecordIsReported(t *testing.T) {
	dir := buildLog(t, 24, 1000)
	s := openStore(t, dir, testOptions())
	lastSeg := s.segs[len(s.segs)-1]
	if len(s.segs) < 2 || lastSeg.offsets.len() < 2 {
		t.Fatalf("fixture: want 2+ segments and 2+ entries in the last")
	}
	// The final entry of a segment that is not the last, and an entry in
	// the middle of the last segment.
	targets := []uint64{s.segs[0].last(), lastSeg.first}
	closeStore(t, s)
	for _, i := range targets {
		path, off, size := recordSpan(t, dir, i)
		for b := int64(0); b < size; b++ {
			d := copyDir(t, dir)
			p := filepath.Join(d, filepath.Base(path))
			flipBit(t, p, off+b, uint(b%8))
			s, err := Open(d, testOptions())
			if err == nil {
				// Open found nothing; then reading the entry must.
				var l raft.Log
				err = s.GetLog(i, &l)
				s.Close()
			}
			if err == nil {
				t.Fatalf("entry %d, byte %d flipped: no error", i, b)
			}
			wantCorruptAt(t, err, p, off)
		}
	}
}

func flipBit(t *testing.T, path string, off int64, bit uint) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

func TestFinalRecordFailingChecksumIsTreatedAsTorn(t *testing.T) {
	dir := buildLog(t, 10, 1<<20)
	path, off, size := recordSpan(t, dir, 10)
	flipBit(t, path, off+size-1, 0)
	checkLog(t, openStore(t, dir, testOptions()), 1, 9, 1)
}

func TestTornRecordInEarlierSegmentIsCorrupt(t *testing.T) {
	dir := buildLog(t, 12, 400)
	path, off, _ := recordSpan(t, dir, 4)
	if err := os.Truncate(path, off+5); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, testOptions())
	wantCorruptAt(t, err, path, off)
}

func TestZeroFilledTailEndsTheLog(t *testing.T) {
	dir := buildLog(t, 10, 1<<20)
	path, _, _ := recordSpan(t, dir, 10)
	appendBytes(t, path, make([]byte, 5000))
	s := openStore(t, dir, testOptions())
	checkLog(t, s, 1, 10, 1)
	storeRange(t, s, 11, 12, 1)
	closeStore(t, s)
	checkLog(t, openStore(t, dir, testOptions()), 1, 12, 1)
}

func TestTornRecordFollowedByZerosIsTruncated(t *testing.T) {
	dir := buildLog(t, 10, 1<<20)
	path, off, size := recordSpan(t, dir, 10)
	// As a crash leaves a write into space zeroed ahead: the record's
	// second half never landed.
	zeroRange(t, path, off+size/2, size-size/2)
	checkLog(t, openStore(t, dir, testOptions()), 1, 9, 1)
	if info, err := os.Stat(path); err != nil || info.Size() != off {
		t.Fatalf("torn record not cut off at %d: size %d, %v", off, info.Size(), err)
	}
}

func TestZerosInsideTheLogAreCorrupt(t *testing.T) {
	dir := buildLog(t, 10, 1<<20)
	path, off, size := recordSpan(t, dir, 6)
	zeroRange(t, path, off, size)
	_, err := Open(dir, testOptions())
	wantCorruptAt(t, err, path, off)
}

func TestSegmentsArePreallocatedAndTrimmedOnRoll(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.SegmentSize = 4 << 20
	s := openStore(t, dir, opts)
	storeRange(t, s, 1, 3, 1)
	active := s.segs[0]
	if info, err := os.Stat(active.path); err != nil || info.Size() != allocChunk {
		t.Fatalf("active segment is %d bytes, want one chunk of %d: %v", info.Size(), allocChunk, err)
	}
	big := make([]byte, 3<<20)
	if err := s.StoreLog(&raft.Log{Index: 4, Term: 1, Data: big}); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(&raft.Log{Index: 5, Term: 1, Data: big}); err != nil {
		t.Fatal(err)
	}
	if len(s.segs) != 2 {
		t.Fatalf("%d segments, want 2", len(s.segs))
	}
	if info, err := os.Stat(active.path); err != nil || info.Size() != active.size {
		t.Fatalf("rolled segment is %d bytes, want its %d bytes of records: %v", info.Size(), active.size, err)
	}
	closeStore(t, s)
	checkBounds(t, openStore(t, dir, opts), 1, 5)
}

func zeroRange(t *testing.T, path string, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		t.Fatal(err)
	}
}

func TestGarbageTailIsCorrupt(t *testing.T) {
	dir := buildLog(t, 10, 1<<20)
	path, off, size := recordSpan(t, dir, 10)
	garbage := make([]byte, 64)
	garbage[40] = 1
	appendBytes(t, path, garbage)
	_, err := Open(dir, testOptions())
	wantCorruptAt(t, err, path, off+size)
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestHugeLengthIsRejectedWithoutAllocating(t *testing.T) {
	dir := buildLog(t, 3, 1<<20)
	path, off, size := recordSpan(t, dir, 3)
	// A header whose own checksum holds but claims a 4 GiB body.
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[0:4], 1<<32-1)
	binary.LittleEndian.PutUint32(h[8:12], checksum(h[0:8]))
	appendBytes(t, path, append(h[:], make([]byte, 100)...))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Open(dir, testOptions())
	runtime.ReadMemStats(&after)
	wantCorruptAt(t, err, path, off+size)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("Open allocated %d bytes for a 4 GiB length field", grew)
	}
}

func TestGetLogDetectsCorruptionAfterOpen(t *testing.T) {
	dir := buildLog(t, 10, 1<<20)
	opts := testOptions()
	opts.CacheEntries = -1
	s := openStore(t, dir, opts)
	path, off, _ := recordSpanOf(s, 5)
	flipBit(t, path, off+headerSize+3, 2)
	var l raft.Log
	wantCorruptAt(t, s.GetLog(5, &l), path, off)
	if err := s.GetLog(6, &l); err != nil {
		t.Fatalf("GetLog of an intact neighbour: %v", err)
	}
}

func recordSpanOf(s *Store, i uint64) (string, int64, int64) {
	sg := findSegment(s.segs, i)
	off, n := sg.span(i)
	return sg.path, off, n
}

func TestMissingSegmentIsCorrupt(t *testing.T) {
	dir := buildLog(t, 30, 400)
	files := segmentFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("want at least 3 segments, have %d", len(files))
	}
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, testOptions())
	wantCorruptAt(t, err, files[2], 0)
}

func TestMissingFirstSegmentIsCorrupt(t *testing.T) {
	dir := buildLog(t, 30, 400)
	files := segmentFiles(t, dir)
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	// Without a prefix deletion recorded the log would just start later;
	// with one recorded below the surviving segments, entries are missing.
	s := openStore(t, dir, testOptions())
	closeStore(t, s)
	m := meta{first: 2}
	if err := os.WriteFile(filepath.Join(dir, metaName), m.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, testOptions())
	wantCorruptAt(t, err, files[1], 0)
}

func TestMetaFileChecks(t *testing.T) {
	dir := buildLog(t, 5, 1<<20)
	metaPath := filepath.Join(dir, metaName)
	good, err := os.ReadFile(metaPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[9] ^= 1
	if err := os.WriteFile(metaPath, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testOptions()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a damaged meta file: %v", err)
	}
	if err := os.Remove(metaPath); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testOptions()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with segments but no meta file: %v", err)
	}
	if err := os.WriteFile(metaPath, good, 0o644); err != nil {
		t.Fatal(err)
	}
	checkLog(t, openStore(t, dir, testOptions()), 1, 5, 1)
}

func TestLeftoverTempFilesAreRemoved(t *testing.T) {
	dir := buildLog(t, 5, 1<<20)
	tmp := filepath.Join(dir, metaName+tmpSuffix)
	if err := os.WriteFile(tmp, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkLog(t, openStore(t, dir, testOptions()), 1, 5, 1)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file survived Open: %v", err)
	}
}

func TestEmptyLastSegmentIsDropped(t *testing.T) {
	dir := buildLog(t, 5, 1<<20)
	// As if a crash came right after the next segment was created.
	empty := filepath.Join(dir, segmentName(6))
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, testOptions())
	checkLog(t, s, 1, 5, 1)
	storeRange(t, s, 6, 7, 1)
	closeStore(t, s)
	checkLog(t, openStore(t, dir, testOptions()), 1, 7, 1)
}

func TestInterruptedSuffixDeletionIsCompletedOnOpen(t *testing.T) {
	dir := buildLog(t, 30, 400)
	// The state right after the mark was written, before anything was cut.
	m := meta{truncating: true, lastKeep: 12}
	if err := os.WriteFile(filepath.Join(dir, metaName), m.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, testOptions())
	checkLog(t, s, 1, 12, 1)
	if got, _, err := readMeta(dir); err != nil || got.truncating {
		t.Fatalf("mark not cleared after completing the deletion: %+v %v", got, err)
	}
	storeRange(t, s, 13, 14, 2)
	closeStore(t, s)
	s = openStore(t, dir, testOptions())
	checkBounds(t, s, 1, 14)
	checkRange(t, s, 1, 12, 1)
	checkRange(t, s, 13, 14, 2)
}

func TestInterruptedPrefixDeletionIsCompletedOnOpen(t *testing.T) {
	dir := buildLog(t, 30, 400)
	before := len(segmentFiles(t, dir))
	m := meta{first: 20}
	if err := os.WriteFile(filepath.Join(dir, metaName), m.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	checkLog(t, openStore(t, dir, testOptions()), 20, 30, 1)
	if after := len(segmentFiles(t, dir)); after >= before {
		t.Fatalf("dead segments not removed: %d before, %d after", before, after)
	}
}

func TestTornTailTruncationIsLogged(t *testing.T) {
	dir := buildLog(t, 5, 1<<20)
	path, off, _ := recordSpan(t, dir, 5)
	if err := os.Truncate(path, off+3); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	opts := testOptions()
	opts.Logger = hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Warn})
	checkLog(t, openStore(t, dir, opts), 1, 4, 1)
	if !strings.Contains(out.String(), "torn tail") || !strings.Contains(out.String(), path) {
		t.Fatalf("no warning naming %s in the log output: %q", path, out.String())
	}
}
