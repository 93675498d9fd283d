package raft

import (
	"fmt"
	"io"
	"time"
)

// restoreNewestSnapshot restores, at start, the newest snapshot that can be
// read whole, falling back to older ones; a corrupt snapshot is skipped
// with an error naming it. It returns the metadata of the snapshot the
// node now starts from, or nil if there is none.
func (r *Raft) restoreNewestSnapshot() (*SnapshotMeta, error) {
	metas, err := r.snapshots.List()
	if err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	verifier, canVerify := r.snapshots.(interface{ Verify(id string) error })
	for _, m := range metas {
		if canVerify && !r.conf.NoSnapshotRestoreOnStart {
			// Check the whole snapshot before the FSM sees any of it, so
			// a corrupt one never half-restores it.
			if err := verifier.Verify(m.ID); err != nil {
				r.logger.Error("snapshot failed verification, trying an older one", "id", m.ID, "error", err)
				continue
			}
		}
		meta, source, err := r.snapshots.Open(m.ID)
		if err != nil {
			r.logger.Error("cannot open snapshot, trying an older one", "id", m.ID, "error", err)
			continue
		}
		if !r.conf.NoSnapshotRestoreOnStart {
			start := time.Now()
			if err := r.fsm.Restore(source); err != nil {
				r.logger.Error("cannot restore snapshot, trying an older one", "id", m.ID, "error", err)
				continue
			}
			r.metrics.MeasureSince([]string{"raft", "fsm", "restore"}, start)
		} else {
			_ = source.Close()
		}
		r.fsmState = fsmState{appliedTerm: meta.Term, config: configEntry{index: meta.ConfigurationIndex, config: meta.Configuration.Clone()}}
		r.lastApplied.Store(meta.Index)
		r.commitIndex.Store(meta.Index)
		r.applyQueued = meta.Index
		r.setLastSnapshot(meta.Index, meta.Term)
		r.logger.Debug("restored snapshot", "id", meta.ID, "index", meta.Index)
		return meta, nil
	}
	if len(metas) > 0 {
		return nil, fmt.Errorf("%w: none of %d snapshots could be restored", ErrStorage, len(metas))
	}
	return nil, nil
}

// discardLogDisagreeingWith deletes the log at start if it does not agree
// with the snapshot restored: it lacks the snapshot's last entry (it is all
// behind the snapshot, or was left by a crash during an install) or holds a
// different term there. Such entries may be a stale suffix that must never
// be sent to a follower.
func (r *Raft) discardLogDisagreeingWith(meta *SnapshotMeta) error {
	first, last, err := logBounds(r.logs)
	if err != nil {
		return err
	}
	if last == 0 || first > meta.Index {
		// Empty, or starting after the snapshot: nothing to compare, and
		// the first entry is checked by the leader as usual.
		return nil
	}
	if meta.Index <= last {
		var l Log
		if err := r.logs.GetLog(meta.Index, &l); err == nil && l.Term == meta.Term {
			return nil
		}
	}
	r.logger.Error("log disagrees with the restored snapshot, discarding it", "snapshot", meta.ID, "first", first, "last", last)
	if err := r.logs.DeleteRange(first, last); err != nil {
		return fmt.Errorf("%w: discarding log that disagrees with snapshot %s: %v", ErrStorage, meta.ID, err)
	}
	return nil
}

// restoreFromStore has the FSM goroutine replace the FSM's state with the
// stored snapshot id, and waits for it.
func (r *Raft) restoreFromStore(id string) error {
	meta, source, err := r.snapshots.Open(id)
	if err != nil {
		return fmt.Errorf("opening snapshot %s: %w", id, err)
	}
	req := &fsmRestoreRequest{meta: meta, source: source, reply: make(chan error, 1)}
	r.fsmQueue.push(applyTask{restore: req})
	select {
	case err := <-req.reply:
		return err
	case <-r.shutdownCh:
		return ErrRaftShutdown
	}
}

// progressReader logs the progress of a large snapshot transfer, at most
// every progressInterval.
type progressReader struct {
	r        *Raft
	src      io.Reader
	what     string
	total    int64
	done     int64
	lastLog  time.Time
	interval time.Duration
}

const progressInterval = 10 * time.Second

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.src.Read(b)
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.lastLog) >= p.interval {
		p.lastLog = now
		p.r.logger.Info(p.what, "bytes", p.done, "of", p.total)
	}
	return n, err
}
