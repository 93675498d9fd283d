package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// metaName is the file holding the log's boundaries. It is only ever
// replaced whole (replaceFile), so it is always either old or new.
const metaName = "wal.meta"

const (
	metaMagic   = "CKWM"
	metaVersion = 1
	metaSize    = 4 + 1 + 1 + 2 + 8 + 8 + 4

	// metaFlagTruncating says a suffix deletion was decided: entries after
	// lastKeep are void, whatever the segments still hold.
	metaFlagTruncating = 1
)

// meta is the content of the meta file.
type meta struct {
	// first is the first live index; entries below it are deleted even if a
	// segment still holds them. 0 means the log starts with its first
	// segment.
	first uint64
	// truncating is set while a suffix deletion is in flight.
	truncating bool
	// lastKeep is the last index kept by that deletion.
	lastKeep uint64
}

func (m meta) encode() []byte {
	b := make([]byte, 0, metaSize)
	b = append(b, metaMagic...)
	b = append(b, metaVersion)
	var flags byte
	if m.truncating {
		flags |= metaFlagTruncating
	}
	b = append(b, flags, 0, 0)
	b = binary.LittleEndian.AppendUint64(b, m.first)
	b = binary.LittleEndian.AppendUint64(b, m.lastKeep)
	return binary.LittleEndian.AppendUint32(b, checksum(b))
}

func decodeMeta(path string, b []byte) (meta, error) {
	if len(b) != metaSize {
		return meta{}, corruptf(path, 0, "meta file is %d bytes, want %d", len(b), metaSize)
	}
	if got, want := binary.LittleEndian.Uint32(b[metaSize-4:]), checksum(b[:metaSize-4]); got != want {
		return meta{}, corruptf(path, metaSize-4, "meta checksum %08x, want %08x", got, want)
	}
	if string(b[0:4]) != metaMagic {
		return meta{}, corruptf(path, 0, "bad magic %q", b[0:4])
	}
	if b[4] != metaVersion {
		return meta{}, corruptf(path, 4, "unsupported format version %d", b[4])
	}
	if b[5]&^metaFlagTruncating != 0 {
		return meta{}, corruptf(path, 5, "unknown flags %#x", b[5])
	}
	return meta{
		first:      binary.LittleEndian.Uint64(b[8:16]),
		truncating: b[5]&metaFlagTruncating != 0,
		lastKeep:   binary.LittleEndian.Uint64(b[16:24]),
	}, nil
}

// readMeta reads the meta file of dir; found is false when there is none.
func readMeta(dir string) (m meta, found bool, err error) {
	path := filepath.Join(dir, metaName)
	b, err := readSmallFile(path, metaSize)
	if errors.Is(err, fs.ErrNotExist) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, fmt.Errorf("wal: read %s: %w", path, err)
	}
	m, err = decodeMeta(path, b)
	return m, err == nil, err
}

// writeMeta durably replaces the meta file and, once that succeeded, adopts
// m as the store's meta.
func (s *Store) writeMeta(m meta) error {
	if err := s.replaceFile(metaName, m.encode()); err != nil {
		return err
	}
	s.meta = m
	return nil
}
