package raft

import (
	"context"
	"fmt"
	"io"
	"time"
)

// userRestoreFuture carries a Restore call to the run goroutine.
type userRestoreFuture struct {
	deferError
	meta   *SnapshotMeta
	reader io.Reader
}

// Restore replaces the state of every server's FSM with a snapshot, for
// disaster recovery. It must be called on the leader. The snapshot is
// written to the leader's store at an index just past its log, the leader's
// FSM restored from it and its log compacted, so every follower receives it
// through InstallSnapshot. Writes in flight fail with ErrAbortedByRestore.
// meta.Size bytes are read from reader. timeout bounds the hand-over to the
// leader (0 for no bound). It fails with ErrNotLeader on a follower.
func (r *Raft) Restore(meta *SnapshotMeta, reader io.Reader, timeout time.Duration) error {
	if meta == nil || meta.Size < 0 {
		return fmt.Errorf("restore: invalid snapshot metadata")
	}
	f := &userRestoreFuture{meta: meta, reader: reader}
	f.init()
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := handOver(ctx, r.userRestoreCh, f, r.shutdownCh); err != nil {
		return err
	}
	return f.Error()
}

// restoreUserSnapshot runs on the leader's run goroutine. On success it
// returns the no-op appended after the snapshot: the restore is done once
// that no-op commits, which proves a quorum holds the snapshot.
func (r *Raft) restoreUserSnapshot(meta *SnapshotMeta, reader io.Reader) (*logFuture, error) {
	ls := r.leader
	if r.getCommitIndex() < ls.startIndex {
		return nil, fmt.Errorf("restore: %w: the leader has not committed an entry of its term yet", ErrLeadershipLost)
	}
	if r.configs.hasPending() {
		return nil, fmt.Errorf("restore: a configuration change is in progress")
	}
	// Nothing dispatched before the restore may reach the log after it:
	// stop the local writer and drop what it had not written.
	ls.writer.stop()
	select {
	case <-ls.writer.exited:
	case <-r.shutdownCh:
		return nil, ErrRaftShutdown
	}
	for _, f := range ls.inflight {
		f.respond(ErrAbortedByRestore)
	}
	ls.inflight = nil
	// A fresh writer takes over at once; it writes nothing until the no-op
	// after the snapshot is dispatched.
	ls.writer = newLocalWriter(r, ls)
	r.goroutines.Add(1)
	go ls.writer.run()

	durable, err := r.logs.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("%w: restore: %v", ErrStorage, err)
	}
	// The snapshot takes an index past everything this leader ever
	// dispatched, so no follower can mistake an old entry for it.
	index := r.getLastIndex() + 1
	term := r.getCurrentTerm()
	committed := r.configs.committed
	sink, err := r.snapshots.Create(SnapshotVersionMax, index, term, committed.config, committed.index, r.trans)
	if err != nil {
		return nil, fmt.Errorf("restore: creating snapshot: %w", err)
	}
	n, err := io.Copy(sink, io.LimitReader(reader, meta.Size))
	if err == nil && n != meta.Size {
		err = fmt.Errorf("%w: read %d of %d bytes", io.ErrUnexpectedEOF, n, meta.Size)
	}
	if err != nil {
		_ = sink.Cancel()
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := sink.Close(); err != nil {
		return nil, fmt.Errorf("restore: saving snapshot: %w", err)
	}
	// From here the stored snapshot is the newest: anything that fails
	// leaves the node unable to serve consistently, so it shuts down and a
	// restart resumes from the snapshot.
	r.setLastSnapshot(index, term)
	if first, err := r.logs.FirstIndex(); err == nil && durable > 0 {
		if err := r.logs.DeleteRange(first, durable); err != nil {
			r.logger.Error("restore: cannot compact the log, shutting down", "error", err)
			go r.Shutdown()
			return nil, fmt.Errorf("%w: restore: compacting log: %v", ErrStorage, err)
		}
	}
	ls.pending.trimTo(index)
	r.setLastLog(index, term)
	if err := r.restoreFromStore(sink.ID()); err != nil {
		r.logger.Error("restore: cannot restore the FSM, shutting down", "error", err)
		go r.Shutdown()
		return nil, fmt.Errorf("restore: %w", err)
	}
	r.applyQueued = index
	ls.commitment.match(r.localID, index)
	// Reads, membership changes and the caller wait for this no-op: until
	// it commits, the restored state is this leader's alone.
	noop := &logFuture{log: Log{Type: LogNoop}}
	noop.init()
	r.dispatchLogs([]*logFuture{noop})
	ls.startIndex = noop.log.Index
	r.metrics.IncrCounter([]string{"raft", "restoreUserSnapshot"}, 1)
	r.logger.Info("restored user snapshot", "index", index, "bytes", n)
	return noop, nil
}
