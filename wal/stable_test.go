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

func TestStableSetGetAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOptions())
	if err := s.Set([]byte("LastVoteCand"), []byte("node-1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("empty"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 8); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "node-1" {
			t.Fatalf("Get(LastVoteCand) = %q, %v", v, err)
		}
		if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 8 {
			t.Fatalf("GetUint64(CurrentTerm) = %d, %v", v, err)
		}
		if v, err := s.Get([]byte("empty")); err != nil || v == nil || len(v) != 0 {
			t.Fatalf("Get(empty) = %v, %v; want an empty non-nil value", v, err)
		}
	}
	check(s)
	closeStore(t, s)
	check(openStore(t, dir, testOptions()))
}

func TestStableMissingKey(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	if v, err := s.Get([]byte("nope")); err != raft.ErrKeyNotFound || v != nil {
		t.Fatalf("Get(missing) = %v, %v; want nil, raft.ErrKeyNotFound", v, err)
	}
	if v, err := s.GetUint64([]byte("nope")); err != nil || v != 0 {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0, nil", v, err)
	}
}

func TestStableGetUint64OfOtherValueFails(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	if err := s.Set([]byte("k"), []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUint64([]byte("k")); err == nil {
		t.Fatal("GetUint64 of a 3-byte value succeeded")
	}
}

func TestStableValuesAreCopies(t *testing.T) {
	s := openStore(t, t.TempDir(), testOptions())
	val := []byte("abc")
	if err := s.Set([]byte("k"), val); err != nil {
		t.Fatal(err)
	}
	val[0] = 'x'
	got, _ := s.Get([]byte("k"))
	got[1] = 'y'
	if again, _ := s.Get([]byte("k")); !bytes.Equal(again, []byte("abc")) {
		t.Fatalf("stored value changed through a caller's slice: %q", again)
	}
}

func TestStableCorruptFileFailsOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOptions())
	if err := s.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	path := filepath.Join(dir, stableName)
	flipBit(t, path, 14, 1)
	_, err := Open(dir, testOptions())
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != path {
		t.Fatalf("Open with a damaged stable file: %v", err)
	}
}

func TestStableDecodeRejectsMalformed(t *testing.T) {
	good := encodeStable(map[string][]byte{"a": []byte("1"), "b": nil})
	if _, err := decodeStable("f", good); err != nil {
		t.Fatalf("good file: %v", err)
	}
	for name, body := range map[string][]byte{
		"count too high":  withCount(good, 5),
		"bad magic":       append([]byte("XXXX"), good[4:len(good)-4]...),
		"bad version":     append(append([]byte(stableMagic), 9), good[5:len(good)-4]...),
		"trailing bytes":  append(append([]byte(nil), good[:len(good)-4]...), 1),
		"too short":       good[:6],
		"count too small": withCount(good, 1),
	} {
		b := append(append([]byte(nil), body...), 0, 0, 0, 0)
		putSum(b)
		if _, err := decodeStable("f", b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeStable = %v, want ErrCorrupt", name, err)
		}
	}
}

func withCount(file []byte, n byte) []byte {
	b := append([]byte(nil), file[:len(file)-4]...)
	b[8] = n
	return b
}

// putSum fills the last 4 bytes of b with the checksum of the rest.
func putSum(b []byte) {
	sum := checksum(b[:len(b)-4])
	b[len(b)-4], b[len(b)-3], b[len(b)-2], b[len(b)-1] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
}

func TestStableOversizedFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, stableName))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxStableSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open(dir, testOptions()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a huge stable file: %v", err)
	}
}

// TestDecodeStableRejectsWhatTheWriterNeverWrites: a stable file with a
// valid checksum is still corrupt if its reserved bytes are set or its keys
// are repeated or out of order.
func TestDecodeStableRejectsWhatTheWriterNeverWrites(t *testing.T) {
	entry := func(k, v string) []byte {
		b := binary.AppendUvarint(nil, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...)
	}
	file := func(reserved byte, entries ...[]byte) []byte {
		b := append([]byte(stableMagic), stableVersion, reserved, 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
		for _, e := range entries {
			b = append(b, e...)
		}
		return binary.LittleEndian.AppendUint32(b, checksum(b))
	}
	if _, err := decodeStable("ok", file(0, entry("a", "1"), entry("b", "2"))); err != nil {
		t.Fatalf("a well-formed file was refused: %v", err)
	}
	for name, b := range map[string][]byte{
		"reserved":  file(1, entry("a", "1")),
		"repeated":  file(0, entry("a", "1"), entry("a", "2")),
		"unordered": file(0, entry("b", "1"), entry("a", "2")),
	} {
		if _, err := decodeStable(name, b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
