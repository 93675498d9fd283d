package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consensuskit/raft"
)

// TestCorruptMetaFileIsReported: every way the meta file can be damaged
// makes Open fail with a *CorruptError naming the file and the offset of
// the bad field, in its fields and in its message; none is taken for an
// empty or default state.
func TestCorruptMetaFileIsReported(t *testing.T) {
	valid := meta{first: 5, truncating: true, lastKeep: 9}.encode()
	// resum recomputes the checksum so that only the field under test is
	// wrong.
	resum := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[metaSize-4:], checksum(b[:metaSize-4]))
		return b
	}
	cases := []struct {
		name   string
		damage func([]byte) []byte
		offset int64
	}{
		{"short", func(b []byte) []byte { return b[:metaSize-1] }, 0},
		{"long", func(b []byte) []byte { return append(b, 0) }, metaSize},
		{"checksum", func(b []byte) []byte { b[10] ^= 1; return b }, metaSize - 4},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return resum(b) }, 0},
		{"version", func(b []byte) []byte { b[4] = metaVersion + 1; return resum(b) }, 4},
		{"flags", func(b []byte) []byte { b[5] |= 0x80; return resum(b) }, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, testOptions())
			if err := s.StoreLogs([]*raft.Log{entry(1, 1)}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, metaName)
			if err := os.WriteFile(path, c.damage(append([]byte(nil), valid...)), 0o644); err != nil {
				t.Fatal(err)
			}
			s2, err := Open(dir, testOptions())
			if err == nil {
				s2.Close()
				t.Fatal("Open accepted a damaged meta file")
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want a *CorruptError", err)
			}
			if ce.Path != path || ce.Offset != c.offset {
				t.Fatalf("error names %s at %d, want %s at %d", ce.Path, ce.Offset, path, c.offset)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprintf("offset %d", c.offset)) {
				t.Fatalf("message %q does not name the file and offset", msg)
			}
		})
	}
}
