package raft

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// SnapshotFuture is returned by Snapshot.
type SnapshotFuture interface {
	Future
	// Open returns the snapshot's metadata and data, once Error returned
	// nil. The caller must close the reader.
	Open() (*SnapshotMeta, io.ReadCloser, error)
}

type userSnapshotFuture struct {
	deferError
	r  *Raft
	id string
}

// Open opens the snapshot the future took.
func (u *userSnapshotFuture) Open() (*SnapshotMeta, io.ReadCloser, error) {
	if err := u.Error(); err != nil {
		return nil, nil, err
	}
	return u.r.snapshots.Open(u.id)
}

// Snapshot takes a snapshot now, whatever the threshold, and compacts the
// log. It fails with ErrNothingNewToSnapshot when nothing was applied since
// the last snapshot.
func (r *Raft) Snapshot() SnapshotFuture {
	f := &userSnapshotFuture{r: r}
	f.init()
	select {
	case r.userSnapshotCh <- f:
	case <-r.shutdownCh:
		f.respond(ErrRaftShutdown)
	}
	return f
}

// lastSnapshotIndex returns the index of the newest snapshot taken or
// installed.
func (r *Raft) lastSnapshotIndex() uint64 {
	i, _ := r.lastSnapshot()
	return i
}

func (r *Raft) lastSnapshot() (index, term uint64) {
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	return r.snapIndex, r.snapTerm
}

func (r *Raft) setLastSnapshot(index, term uint64) {
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	if index > r.snapIndex {
		r.snapIndex, r.snapTerm = index, term
	}
}

// runSnapshots is the goroutine that takes snapshots: when asked, or when
// SnapshotThreshold entries have been applied since the last one, checked
// every SnapshotInterval (randomized so servers do not snapshot together).
func (r *Raft) runSnapshots() {
	defer r.goroutines.Done()
	timer := time.NewTimer(randomTimeout(r.rc().SnapshotInterval))
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			if r.getLastApplied()-r.lastSnapshotIndex() >= r.rc().SnapshotThreshold {
				if _, err := r.takeSnapshot(); err != nil && !errors.Is(err, ErrNothingNewToSnapshot) {
					r.logger.Error("failed to take snapshot", "error", err)
				}
			}
			timer.Reset(randomTimeout(r.rc().SnapshotInterval))
		case f := <-r.userSnapshotCh:
			id, err := r.takeSnapshot()
			f.id = id
			f.respond(err)
		case <-r.shutdownCh:
			return
		}
	}
}

// takeSnapshot snapshots the FSM, persists it while applying goes on, and
// compacts the log. It returns the new snapshot's ID.
func (r *Raft) takeSnapshot() (string, error) {
	start := time.Now()
	req := &fsmSnapshotRequest{reply: make(chan fsmSnapshotResult, 1)}
	r.fsmQueue.push(applyTask{snapshot: req})
	var res fsmSnapshotResult
	select {
	case res = <-req.reply:
	case <-r.shutdownCh:
		return "", ErrRaftShutdown
	}
	if res.err != nil {
		return "", res.err
	}
	defer res.snap.Release()
	r.metrics.MeasureSince([]string{"raft", "snapshot", "takeSnapshot"}, start)

	persistStart := time.Now()
	sink, err := r.snapshots.Create(SnapshotVersionMax, res.index, res.term, res.config.config, res.config.index, r.trans)
	if err != nil {
		return "", fmt.Errorf("creating snapshot: %w", err)
	}
	if err := res.snap.Persist(sink); err != nil {
		_ = sink.Cancel()
		return "", fmt.Errorf("persisting snapshot: %w", err)
	}
	r.metrics.MeasureSince([]string{"raft", "snapshot", "persist"}, persistStart)
	r.setLastSnapshot(res.index, res.term)
	r.logger.Debug("snapshot complete", "index", res.index, "id", sink.ID(), "took", time.Since(start))
	if err := r.compactLog(res.index); err != nil {
		r.logger.Error("failed to compact log", "error", err)
	}
	return sink.ID(), nil
}

// compactLog deletes entries covered by a snapshot, keeping TrailingLogs of
// them so slightly lagging followers catch up from the log. It never
// deletes past what the store holds: on a leader, entries may be committed
// before its own write of them finished, and deleting them first would let
// that write resurrect them.
func (r *Raft) compactLog(snapIndex uint64) error {
	first, last, err := logBounds(r.logs)
	if err != nil {
		return err
	}
	if last == 0 || snapIndex <= r.rc().TrailingLogs {
		return nil
	}
	maxDel := min(snapIndex-r.rc().TrailingLogs, last)
	if maxDel < first {
		return nil
	}
	start := time.Now()
	if err := r.logs.DeleteRange(first, maxDel); err != nil {
		return err
	}
	r.metrics.MeasureSince([]string{"raft", "snapshot", "compactLogs"}, start)
	return nil
}
