package raft

import (
	"fmt"
	"time"
)

// LogType says what a log entry carries. The numeric values are part of the
// wire format shared with hashicorp/raft and must never change.
type LogType uint8

const (
	// LogCommand is an entry for the user's FSM.
	LogCommand LogType = 0
	// LogNoop is appended by a new leader to commit an entry of its own term.
	LogNoop LogType = 1
	// LogAddPeerDeprecated is a pre-protocol-3 membership entry; it is read
	// and ignored.
	LogAddPeerDeprecated LogType = 2
	// LogRemovePeerDeprecated is a pre-protocol-3 membership entry; it is
	// read and ignored.
	LogRemovePeerDeprecated LogType = 3
	// LogBarrier marks a point in the log; its future completes once every
	// earlier entry has been applied to the FSM.
	LogBarrier LogType = 4
	// LogConfiguration carries an encoded Configuration.
	LogConfiguration LogType = 5
)

// String returns the name of the log type, or "LogType(n)" for an unknown
// value.
func (t LogType) String() string {
	switch t {
	case LogCommand:
		return "LogCommand"
	case LogNoop:
		return "LogNoop"
	case LogAddPeerDeprecated:
		return "LogAddPeerDeprecated"
	case LogRemovePeerDeprecated:
		return "LogRemovePeerDeprecated"
	case LogBarrier:
		return "LogBarrier"
	case LogConfiguration:
		return "LogConfiguration"
	default:
		return fmt.Sprintf("LogType(%d)", uint8(t))
	}
}

// Log is one entry of the replicated log. Its field names are part of the
// wire format.
type Log struct {
	// Index is the entry's position in the log, starting at 1.
	Index uint64
	// Term is the leader's term when the entry was created.
	Term uint64
	// Type says what Data holds.
	Type LogType
	// Data is the payload: a user command, or an encoded configuration.
	Data []byte
	// Extensions carries opaque data for the application, replicated with
	// the entry but never interpreted by the library.
	Extensions []byte
	// AppendedAt is when the leader appended the entry. It is informational
	// only: nothing in the protocol depends on clocks agreeing.
	AppendedAt time.Time
}

// LogStore persists the replicated log. Implementations must be safe for
// concurrent use: the library reads entries from several goroutines while
// one goroutine writes.
type LogStore interface {
	// FirstIndex returns the first index written, or 0 for an empty log.
	FirstIndex() (uint64, error)
	// LastIndex returns the last index written, or 0 for an empty log.
	LastIndex() (uint64, error)
	// GetLog fills log with the entry at index. It returns an error
	// matching ErrLogNotFound when the entry is absent.
	GetLog(index uint64, log *Log) error
	// StoreLog durably stores one entry.
	StoreLog(log *Log) error
	// StoreLogs durably stores entries, which are consecutive and ascending.
	// When it returns nil, every entry must survive a crash.
	StoreLogs(logs []*Log) error
	// DeleteRange deletes the entries from min to max inclusive. It is used
	// only for a prefix (compaction) or a suffix (conflict repair).
	DeleteRange(min, max uint64) error
}

// logBounds returns the first and last index logs holds (0, 0 when empty),
// or an error wrapping ErrStorage.
func logBounds(logs LogStore) (first, last uint64, err error) {
	if first, err = logs.FirstIndex(); err != nil {
		return 0, 0, fmt.Errorf("%w: reading first index: %v", ErrStorage, err)
	}
	if last, err = logs.LastIndex(); err != nil {
		return 0, 0, fmt.Errorf("%w: reading last index: %v", ErrStorage, err)
	}
	return first, last, nil
}

// getLogTerm returns the term of the entry at index, treating index 0 as
// term 0.
func getLogTerm(store LogStore, index uint64) (uint64, error) {
	if index == 0 {
		return 0, nil
	}
	var l Log
	if err := store.GetLog(index, &l); err != nil {
		return 0, err
	}
	return l.Term, nil
}
