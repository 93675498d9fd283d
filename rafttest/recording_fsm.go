package rafttest

import (
	"io"
	"sync"

	"github.com/consensuskit/raft"
)

// recordingFSM wraps a user's FSM and remembers the command applied at
// each index, so the harness can check that servers agree whatever the
// FSM.
type recordingFSM struct {
	inner   raft.FSM
	mu      sync.Mutex
	applied map[uint64]string
}

func newRecordingFSM(inner raft.FSM) *recordingFSM {
	return &recordingFSM{inner: inner, applied: map[uint64]string{}}
}

func (r *recordingFSM) record(l *raft.Log) {
	r.mu.Lock()
	r.applied[l.Index] = string(l.Data)
	r.mu.Unlock()
}

// Apply records and forwards one entry.
func (r *recordingFSM) Apply(l *raft.Log) interface{} {
	r.record(l)
	return r.inner.Apply(l)
}

// ApplyBatch records and forwards a batch, whole if the user's FSM batches.
func (r *recordingFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	for _, l := range logs {
		r.record(l)
	}
	if b, ok := r.inner.(raft.BatchingFSM); ok {
		return b.ApplyBatch(logs)
	}
	out := make([]interface{}, len(logs))
	for i, l := range logs {
		out[i] = r.inner.Apply(l)
	}
	return out
}

// Snapshot forwards to the user's FSM.
func (r *recordingFSM) Snapshot() (raft.FSMSnapshot, error) { return r.inner.Snapshot() }

// Restore forwards to the user's FSM; entries before the snapshot are no
// longer this server's own record.
func (r *recordingFSM) Restore(rc io.ReadCloser) error {
	r.mu.Lock()
	r.applied = map[uint64]string{}
	r.mu.Unlock()
	return r.inner.Restore(rc)
}

func (r *recordingFSM) snapshotApplied() map[uint64]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uint64]string, len(r.applied))
	for i, c := range r.applied {
		out[i] = c
	}
	return out
}
