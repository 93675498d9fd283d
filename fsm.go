package raft

import "io"

// FSM is the application's replicated state machine. The library calls its
// methods from one goroutine at a time, never concurrently.
type FSM interface {
	// Apply applies a committed LogCommand entry and returns a value that
	// is handed back to the ApplyFuture of the node that proposed it. It
	// must be deterministic: every server applies the same entries in the
	// same order and must reach the same state.
	Apply(*Log) interface{}
	// Snapshot returns a snapshot of the current state. Persist is called
	// on the result from another goroutine while Apply goes on, so the
	// snapshot must not share mutable state with the FSM.
	Snapshot() (FSMSnapshot, error)
	// Restore replaces the whole state with the snapshot read from the
	// reader, and closes it.
	Restore(snapshot io.ReadCloser) error
}

// BatchingFSM is an FSM that can apply several committed entries at once.
// When the FSM implements it, ApplyBatch receives every LogCommand entry of
// a commit batch together.
type BatchingFSM interface {
	// ApplyBatch applies the entries in order and returns one response per
	// entry, in the same order.
	ApplyBatch([]*Log) []interface{}
	FSM
}

// FSMSnapshot is a point-in-time snapshot of the FSM.
type FSMSnapshot interface {
	// Persist writes the snapshot to sink and closes it, or cancels it on
	// error.
	Persist(sink SnapshotSink) error
	// Release is called when the library is done with the snapshot.
	Release()
}
