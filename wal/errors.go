package wal

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is matched (with errors.Is) by every error reporting data on
	// disk that fails a check. Such errors are *CorruptError values, which
	// name the file and offset.
	ErrCorrupt = errors.New("wal: corrupt data")
	// ErrClosed is returned by every method of a Store after Close.
	ErrClosed = errors.New("wal: store is closed")
	// ErrNonContiguous is returned by StoreLogs when the entries are not
	// consecutive or do not follow the last stored index.
	ErrNonContiguous = errors.New("wal: entries are not contiguous with the log")
	// ErrUnsupportedRange is returned by DeleteRange for a range that is
	// neither a prefix nor a suffix of the log.
	ErrUnsupportedRange = errors.New("wal: range to delete is neither a prefix nor a suffix")
	// ErrRecordTooLarge is returned by StoreLogs for an entry whose encoding
	// exceeds MaxRecordSize.
	ErrRecordTooLarge = errors.New("wal: entry too large")
	// ErrFailed is returned by every write after a write or sync has failed:
	// the state of the files is then unknown, and the store must be closed
	// and opened again, which recovers what was durably written.
	ErrFailed = errors.New("wal: store failed on an earlier write")
	// ErrLocked is returned by Open when another Store, in this process or
	// another one, has the directory open.
	ErrLocked = errors.New("wal: directory is in use by another store")
)

// CorruptError reports data on disk that fails a check: a checksum, a length,
// an index out of sequence. It matches ErrCorrupt with errors.Is.
type CorruptError struct {
	// Path is the file holding the bad data.
	Path string
	// Offset is the byte offset in Path of the record (or field) that failed.
	Offset int64
	// Reason says which check failed.
	Reason string
}

// Error returns a message naming the file, the offset and the reason.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt data in %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt, so that errors.Is(err, ErrCorrupt) holds.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func corruptf(path string, off int64, format string, args ...any) error {
	return &CorruptError{Path: path, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
