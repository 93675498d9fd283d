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

// restoreUserSnapshot runs on the leader's run goroutine.
func (r *Raft) restoreUserSnapshot(meta *SnapshotMeta, reader io.Reader) error {
	ls := r.leader
	if r.getCommitIndex() < ls.startIndex {
		return fmt.Errorf("restore: %w: the leader has not committed an entry of its term yet", ErrLeadershipLost)
	}
	if r.configs.hasPending() {
		return fmt.Errorf("restore: a configuration change is in progress")
	}
	// Nothing dispatched before the restore may reach the log after it:
	// stop the local writer and drop what it had not written.
	ls.writer.stop()
	select {
	case <-ls.writer.exited:
	case <-r.shutdownCh:
		return ErrRaftShutdown
	}
	for _, f := range ls.inflight {
		f.respond(ErrAbortedByRestore)
	}
	ls.inflight = nil
	defer func() {
		ls.writer = newLocalWriter(r)
		r.goroutines.Add(1)
		go ls.writer.run()
	}()

	durable, err := r.logs.LastIndex()
	if err != nil {
		return fmt.Errorf("%w: restore: %v", ErrStorage, err)
	}
	// The snapshot takes an index past everything this leader ever
	// dispatched, so no follower can mistake an old entry for it.
	index := r.getLastIndex() + 1
	term := r.getCurrentTerm()
	committed := r.configs.committed
	sink, err := r.snapshots.Create(SnapshotVersionMax, index, term, committed.config, committed.index, r.trans)
	if err != nil {
		return fmt.Errorf("restore: creating snapshot: %w", err)
	}
	n, err := io.Copy(sink, io.LimitReader(reader, meta.Size))
	if err == nil && n != meta.Size {
		err = fmt.Errorf("%w: read %d of %d bytes", io.ErrUnexpectedEOF, n, meta.Size)
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("restore: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("restore: saving snapshot: %w", err)
	}
	if err := r.restoreFromStore(sink.ID()); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if first, err := r.logs.FirstIndex(); err == nil && durable > 0 {
		if err := r.logs.DeleteRange(first, durable); err != nil {
			return fmt.Errorf("%w: restore: compacting log: %v", ErrStorage, err)
		}
	}
	ls.pending.trimTo(index)
	r.setLastSnapshot(index, term)
	r.setLastLog(index, term)
	r.commitIndex.Store(index)
	r.applyQueued = index
	ls.commitment.match(r.localID, index)
	for _, rp := range ls.replicators {
		rp.notify()
	}
	r.metrics.IncrCounter([]string{"raft", "restoreUserSnapshot"}, 1)
	r.logger.Info("restored user snapshot", "index", index, "bytes", n)
	return nil
}
