package raft

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// sendSnapshot streams the newest snapshot to a follower whose next entry
// was compacted away. sent reports whether the follower answered; done that
// the replicator must stop.
func (rp *replicator) sendSnapshot() (sent, done bool) {
	r := rp.r
	metas, err := r.snapshots.List()
	if err != nil || len(metas) == 0 {
		r.logger.Error("follower needs a snapshot but none can be listed", "peer", rp.peer.ID, "error", err)
		rp.failures++
		return false, false
	}
	meta, source, err := r.snapshots.Open(metas[0].ID)
	if err != nil {
		r.logger.Error("cannot open snapshot to send", "peer", rp.peer.ID, "id", metas[0].ID, "error", err)
		rp.failures++
		return false, false
	}
	defer source.Close()
	conf, err := EncodeConfiguration(meta.Configuration)
	if err != nil {
		rp.failures++
		return false, false
	}
	req := &InstallSnapshotRequest{
		RPCHeader:          r.header(),
		SnapshotVersion:    meta.Version,
		Term:               rp.term,
		Leader:             r.localPeer,
		LastLogIndex:       meta.Index,
		LastLogTerm:        meta.Term,
		Peers:              meta.Peers,
		Configuration:      conf,
		ConfigurationIndex: meta.ConfigurationIndex,
		Size:               meta.Size,
	}
	start := time.Now()
	progress := &progressReader{r: r, src: source, what: "sending snapshot to " + string(rp.peer.ID),
		total: meta.Size, lastLog: start, interval: progressInterval}
	var resp InstallSnapshotResponse
	if err := r.trans.InstallSnapshot(rp.peer.ID, rp.peer.Address, req, &resp, progress); err != nil {
		if r.shuttingDown() {
			return false, false
		}
		r.logger.Warn("failed to install snapshot", "peer", rp.peer.ID, "id", meta.ID, "error", err)
		rp.failures++
		return false, false
	}
	r.metrics.MeasureSince([]string{"raft", "replication", "installSnapshot", string(rp.peer.ID)}, start)
	if resp.Term > rp.term {
		rp.stepDown(resp.Term)
		return true, true
	}
	rp.setContact(time.Now())
	if !resp.Success {
		rp.failures++
		r.logger.Warn("follower refused snapshot", "peer", rp.peer.ID, "id", meta.ID)
		return false, false
	}
	rp.failures = 0
	rp.updateMatch(meta.Index)
	rp.nextIndex = meta.Index + 1
	rp.needProbe = true
	r.logger.Debug("snapshot installed on follower", "peer", rp.peer.ID, "index", meta.Index, "took", time.Since(start))
	return true, false
}

// installSnapshot handles InstallSnapshot on a follower: the data is
// streamed into the snapshot store, the FSM restored from it, and the log
// made consistent with it (paper figure 13).
func (r *Raft) installSnapshot(rpc RPC, req *InstallSnapshotRequest) {
	defer r.metrics.MeasureSince([]string{"raft", "rpc", "installSnapshot"}, time.Now())
	resp := &InstallSnapshotResponse{RPCHeader: r.header(), Term: r.getCurrentTerm()}
	var rpcErr error
	defer func() {
		// Whatever is left of the stream is read off so a transport that
		// shares the reader with its connection is not left mid-frame.
		if rpc.Reader != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(rpc.Reader, max(req.Size, 0)))
		}
		rpc.Respond(resp, rpcErr)
	}()

	if !r.acceptLeader(req.Term, req.RPCHeader, req.Leader) {
		return
	}
	resp.Term = req.Term
	now := time.Now()

	if req.SnapshotVersion < SnapshotVersionMin || req.SnapshotVersion > SnapshotVersionMax {
		rpcErr = fmt.Errorf("unsupported snapshot version %d", req.SnapshotVersion)
		return
	}
	if req.Size < 0 || rpc.Reader == nil {
		rpcErr = fmt.Errorf("snapshot without data")
		return
	}
	if req.LastLogIndex <= r.getCommitIndex() {
		// Everything the snapshot covers is already committed here, and
		// committed entries agree with every leader's.
		resp.Success = true
		return
	}
	conf, err := DecodeConfiguration(req.Configuration)
	if err != nil {
		rpcErr = err
		return
	}
	sink, err := r.snapshots.Create(req.SnapshotVersion, req.LastLogIndex, req.LastLogTerm, conf, req.ConfigurationIndex, r.trans)
	if err != nil {
		rpcErr = fmt.Errorf("creating snapshot: %w", err)
		r.logger.Error("failed to create snapshot to install", "error", err)
		return
	}
	progress := &progressReader{r: r, src: io.LimitReader(rpc.Reader, req.Size), what: "receiving snapshot",
		total: req.Size, lastLog: now, interval: progressInterval}
	n, err := io.Copy(sink, progress)
	if err == nil && n != req.Size {
		err = fmt.Errorf("%w: got %d of %d snapshot bytes", io.ErrUnexpectedEOF, n, req.Size)
	}
	if err != nil {
		_ = sink.Cancel()
		rpcErr = fmt.Errorf("receiving snapshot: %w", err)
		if r.shuttingDown() {
			r.logger.Debug("snapshot transfer cut by shutdown", "error", err)
		} else {
			r.logger.Error("failed to receive snapshot", "error", err)
		}
		return
	}
	if err := sink.Close(); err != nil {
		rpcErr = fmt.Errorf("saving snapshot: %w", err)
		r.logger.Error("failed to save snapshot", "error", err)
		return
	}
	// The log is made consistent with the snapshot before the (slow) FSM
	// restore: a crash in between restarts from this snapshot with a log
	// that agrees with it.
	r.setLastSnapshot(req.LastLogIndex, req.LastLogTerm)
	if err := r.alignLogWithSnapshot(req.LastLogIndex, req.LastLogTerm); err != nil {
		rpcErr = err
		r.logger.Error("failed to align log with installed snapshot", "error", err)
		return
	}
	if err := r.restoreFromStore(sink.ID()); err != nil {
		rpcErr = err
		r.logger.Error("failed to restore installed snapshot", "id", sink.ID(), "error", err)
		return
	}
	r.configs.commit(req.LastLogIndex)
	if r.configs.committed.index <= req.ConfigurationIndex {
		r.configs.committed = configEntry{index: req.ConfigurationIndex, config: conf}
	}
	r.publishConfig()
	r.setLastSnapshot(req.LastLogIndex, req.LastLogTerm)
	r.commitIndex.Store(max(r.getCommitIndex(), req.LastLogIndex))
	r.applyQueued = max(r.applyQueued, req.LastLogIndex)
	r.metrics.IncrCounter([]string{"raft", "snapshot", "installed"}, 1)
	r.logger.Debug("installed snapshot", "index", req.LastLogIndex, "term", req.LastLogTerm, "bytes", n)
	resp.Success = true
}

// alignLogWithSnapshot keeps the log after a snapshot only if it holds the
// snapshot's last entry (same index and term); otherwise the whole log
// conflicts or is behind, and is discarded (paper figure 13, steps 6-7).
func (r *Raft) alignLogWithSnapshot(index, term uint64) error {
	lastIndex, _ := r.getLastLog()
	if index <= lastIndex {
		t, err := getLogTerm(r.logs, index)
		if err == nil && t == term {
			return nil
		}
		if err != nil && !errors.Is(err, ErrLogNotFound) {
			return err
		}
	}
	first, last, err := logBounds(r.logs)
	if err != nil {
		return err
	}
	if last > 0 {
		if err := r.logs.DeleteRange(first, last); err != nil {
			return fmt.Errorf("%w: discarding log: %v", ErrStorage, err)
		}
	}
	r.configs.pending = nil
	r.setLastLog(index, term)
	return nil
}
