package raft

import (
	"fmt"
	"io"
)

// fsmState is what the FSM goroutine knows of the state it has applied.
// Only the FSM goroutine touches it once the node has started.
type fsmState struct {
	appliedTerm uint64
	config      configEntry
}

// fsmSnapshotRequest asks the FSM goroutine for a snapshot of the state as
// of the last applied entry.
type fsmSnapshotRequest struct {
	reply chan fsmSnapshotResult
}

type fsmSnapshotResult struct {
	snap   FSMSnapshot
	index  uint64
	term   uint64
	config configEntry
	err    error
}

// fsmRestoreRequest asks the FSM goroutine to replace its state with a
// snapshot.
type fsmRestoreRequest struct {
	meta   *SnapshotMeta
	source io.ReadCloser
	reply  chan error
}

// fsmSnapshot runs on the FSM goroutine: FSM.Snapshot sees exactly the
// entries applied so far, and the (slow) Persist happens elsewhere.
func (r *Raft) fsmSnapshot(req *fsmSnapshotRequest) {
	applied := r.getLastApplied()
	if applied == 0 || applied <= r.lastSnapshotIndex() {
		req.reply <- fsmSnapshotResult{err: ErrNothingNewToSnapshot}
		return
	}
	snap, err := r.fsm.Snapshot()
	if err != nil {
		req.reply <- fsmSnapshotResult{err: fmt.Errorf("fsm snapshot: %w", err)}
		return
	}
	req.reply <- fsmSnapshotResult{snap: snap, index: applied, term: r.fsmState.appliedTerm, config: r.fsmState.config}
}

// fsmRestore runs on the FSM goroutine and replaces the FSM's state.
func (r *Raft) fsmRestore(req *fsmRestoreRequest) {
	if err := r.fsm.Restore(req.source); err != nil {
		req.reply <- fmt.Errorf("restoring snapshot %s: %w", req.meta.ID, err)
		return
	}
	r.fsmState.appliedTerm = req.meta.Term
	r.fsmState.config = configEntry{index: req.meta.ConfigurationIndex, config: req.meta.Configuration.Clone()}
	r.lastApplied.Store(req.meta.Index)
	r.applyWaiters.applied(req.meta.Index)
	req.reply <- nil
}
