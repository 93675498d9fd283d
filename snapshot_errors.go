package raft

import "errors"

// Errors returned by the snapshot stores. Each is a sentinel that the
// returned error wraps, so callers test for it with errors.Is; the wrapping
// message names the snapshot and, for on-disk stores, the file involved.
var (
	// ErrSnapshotCorrupt is returned when a stored snapshot fails its
	// integrity checks: its meta.json cannot be parsed, its state.bin does
	// not have the recorded size, or the data read does not match the
	// recorded CRC. A reader returns it when it reaches the end of the data,
	// so a caller that reads to EOF never mistakes damaged data for good.
	ErrSnapshotCorrupt = errors.New("snapshot corrupt")
	// ErrSnapshotSinkClosed is returned by a SnapshotSink used after Close
	// or Cancel: writing to it, or closing it a second time.
	ErrSnapshotSinkClosed = errors.New("snapshot sink already closed")
	// ErrUnsupportedSnapshotVersion is returned by Create for a version
	// outside SnapshotVersionMin..SnapshotVersionMax.
	ErrUnsupportedSnapshotVersion = errors.New("unsupported snapshot version")
	// ErrInvalidSnapshotRetain is returned by NewFileSnapshotStore when
	// asked to retain fewer than one snapshot.
	ErrInvalidSnapshotRetain = errors.New("snapshot store must retain at least one snapshot")
)
