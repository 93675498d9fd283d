package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/consensuskit/raft"
)

// validSegment returns the bytes of a segment holding entries first.. of
// the given count.
func validSegment(first uint64, count int) []byte {
	var b []byte
	for i := 0; i < count; i++ {
		b = appendRecord(b, entry(first+uint64(i), 1))
	}
	return b
}

// FuzzRecovery opens a store whose only segment holds arbitrary bytes. Open
// must fail cleanly or produce a log whose every entry reads back; it must
// never panic or allocate without bound.
func FuzzRecovery(f *testing.F) {
	good := validSegment(1, 4)
	f.Add(good)
	f.Add(good[:len(good)-7])
	f.Add(append(append([]byte(nil), good...), make([]byte, 100)...))
	var huge [headerSize]byte
	binary.LittleEndian.PutUint32(huge[0:4], 1<<32-1)
	binary.LittleEndian.PutUint32(huge[8:12], checksum(huge[0:8]))
	f.Add(append(validSegment(1, 1), huge[:]...))
	flipped := append([]byte(nil), good...)
	flipped[30] ^= 4
	f.Add(flipped)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, metaName), meta{}.encode(), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{NoSync: true, CacheEntries: -1, Metrics: discardMetrics()})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open failed with a non-corruption error: %v", err)
			}
			return
		}
		defer s.Close()
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if (first == 0) != (last == 0) || (first != 0 && first != 1) {
			t.Fatalf("log bounds [%d, %d]", first, last)
		}
		for i := first; i <= last && last != 0; i++ {
			var l raft.Log
			if err := s.GetLog(i, &l); err != nil || l.Index != i {
				t.Fatalf("GetLog(%d) of a log that opened: %v", i, err)
			}
		}
		// Recovery cut any torn tail: what is left must be exactly the
		// records read, and the log must take appends.
		if err := s.StoreLog(entry(last+1, 1)); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}

// FuzzScanSegment runs the recovery scanner itself over arbitrary bytes, as
// the last segment and as an earlier one, without a file system in the way
// (so it runs many more inputs than FuzzRecovery). Whatever it accepts must
// be a run of well-formed records that read back one by one.
func FuzzScanSegment(f *testing.F) {
	good := validSegment(1, 4)
	f.Add(good, true)
	f.Add(good[:len(good)-7], true)
	f.Add(good[:len(good)-7], false)
	f.Add(append(append([]byte(nil), good...), make([]byte, 100)...), true)
	var huge [headerSize]byte
	binary.LittleEndian.PutUint32(huge[0:4], 1<<32-1)
	binary.LittleEndian.PutUint32(huge[8:12], checksum(huge[0:8]))
	f.Add(append(validSegment(1, 1), huge[:]...), true)
	f.Fuzz(func(t *testing.T, data []byte, last bool) {
		res, err := scanSegment(bytes.NewReader(data), int64(len(data)), "seg", 1, last)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Offset < 0 || ce.Offset > int64(len(data)) {
				t.Fatalf("scan error %v is not a corruption error within the file", err)
			}
			return
		}
		if res.torn && !last {
			t.Fatal("torn tail reported in a segment that is not the last")
		}
		if !res.torn && !res.zeroTail && res.end != int64(len(data)) {
			t.Fatalf("clean scan ended at %d of %d", res.end, len(data))
		}
		if res.zeroTail && !allZero(data[res.end:]) {
			t.Fatalf("scan took non-zero bytes after %d for preallocated space", res.end)
		}
		sg := &segment{first: 1, offsets: res.offsets, size: res.end}
		for i := range res.offsets.len() {
			off, n := sg.span(1 + uint64(i))
			rec := data[off : off+n]
			h, ok := parseHeader(rec)
			if !ok || int(h.bodyLen) != len(rec)-headerSize {
				t.Fatalf("record %d at %d accepted with a bad header", i, off)
			}
			var l raft.Log
			if err := decodeBody(rec[headerSize:], &l, true); err != nil || l.Index != 1+uint64(i) {
				t.Fatalf("record %d at %d accepted but decodes to %d, %v", i, off, l.Index, err)
			}
		}
	})
}

// FuzzDecodeBody feeds arbitrary record bodies to the decoder.
func FuzzDecodeBody(f *testing.F) {
	good := validSegment(7, 1)
	f.Add(good[headerSize:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		var l raft.Log
		if err := decodeBody(body, &l, false); err != nil {
			return
		}
		// What decodes must encode back to the same bytes.
		re := appendRecord(nil, &l)[headerSize:]
		if string(re) != string(body) {
			t.Fatalf("decode/encode is not the identity:\n%x\n%x", body, re)
		}
	})
}

// FuzzDecodeStable parses arbitrary stable-file bodies, given a valid
// checksum so that the fuzzer reaches the parser behind it. It must never
// panic, and it must accept only what the writer produces: whatever it
// accepts encodes back to exactly the same bytes.
func FuzzDecodeStable(f *testing.F) {
	withoutSum := func(b []byte) []byte { return b[:len(b)-4] }
	f.Add(withoutSum(encodeStable(map[string][]byte{})))
	f.Add(withoutSum(encodeStable(map[string][]byte{"CurrentTerm": {0, 0, 0, 0, 0, 0, 0, 7}, "LastVoteCand": []byte("node1")})))
	f.Fuzz(func(t *testing.T, body []byte) {
		b := binary.LittleEndian.AppendUint32(bytes.Clone(body), checksum(body))
		values, err := decodeStable("fuzz", b)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CorruptError", err)
			}
			return
		}
		if again := encodeStable(values); !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, which the writer would write as %x", b, again)
		}
		back, err := decodeStable("fuzz", encodeStable(values))
		if err != nil {
			t.Fatalf("re-encoded values do not decode: %v", err)
		}
		if len(back) != len(values) {
			t.Fatalf("round trip kept %d of %d keys", len(back), len(values))
		}
		for k, v := range values {
			if !bytes.Equal(back[k], v) {
				t.Fatalf("key %q: %x became %x", k, v, back[k])
			}
		}
	})
}
