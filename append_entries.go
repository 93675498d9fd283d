package raft

import (
	"errors"
	"time"
)

// appendEntries handles AppendEntries on a follower (or on a leader or
// candidate that learns of a leader in its term or a newer one). It returns
// a request it took from the queue while batching, to be handled next.
func (r *Raft) appendEntries(rpc RPC, req *AppendEntriesRequest) (next *RPC) {
	defer r.metrics.MeasureSince(r.keys.rpcAppendEntries, time.Now())
	resp := AppendEntriesResponse{
		RPCHeader: r.header(),
		Term:      r.getCurrentTerm(),
		LastLog:   r.getLastIndex(),
	}
	batched := false
	defer func() {
		if !batched {
			// A batch answers its requests itself; only this path needs
			// the answer on the heap.
			out := resp
			rpc.Respond(&out, nil)
		}
	}()

	if !r.acceptLeader(req.Term, req.RPCHeader, req.Leader) {
		return nil
	}
	resp.Term = req.Term

	if req.PrevLogEntry > 0 {
		ok, hint := r.matchPrev(req.PrevLogEntry, req.PrevLogTerm)
		if !ok {
			resp.LastLog = hint
			resp.NoRetryBackoff = true
			return nil
		}
	}

	if r.canBatch(req) {
		batched = true
		return r.appendBatch(rpc, req)
	}
	if len(req.Entries) > 0 {
		if err := r.storeEntries(req.Entries); err != nil {
			r.logger.Error("failed to append entries", "error", err)
			resp.LastLog = r.getLastIndex()
			return nil
		}
	}
	r.commitVerified(req)
	resp.Success = true
	resp.LastLog = r.getLastIndex()
	return nil
}

// commitVerified advances the commit index as far as req allows. Only
// entries this request proved to match the leader's may be committed:
// anything past them could still be a stale suffix.
func (r *Raft) commitVerified(req *AppendEntriesRequest) {
	if req.LeaderCommitIndex > r.getCommitIndex() {
		verified := req.PrevLogEntry + uint64(len(req.Entries))
		newCommit := min(req.LeaderCommitIndex, verified)
		if newCommit > r.getCommitIndex() {
			r.setCommit(newCommit, nil)
		}
	}
}

// acceptLeader decides whether a request from a leader of term may be
// acted on, adopting the term (and following) when it is newer, and
// records the leader's contact. It refuses a stale term, a second leader
// claiming this node's own term, and a newer term that cannot be persisted.
func (r *Raft) acceptLeader(term uint64, h RPCHeader, legacyLeader []byte) bool {
	if term < r.getCurrentTerm() {
		return false
	}
	if term > r.getCurrentTerm() || r.getRole() != Follower {
		if r.getRole() == Leader && term == r.getCurrentTerm() {
			// Two leaders in one term would break Election Safety; refuse
			// loudly rather than obey.
			r.logger.Error("another leader claims this term", "term", term, "other", ServerID(h.ID))
			return false
		}
		r.stepDown(term)
		if r.getCurrentTerm() != term {
			// The new term could not be persisted: do not act in it.
			return false
		}
	}
	now := time.Now()
	peer := legacyLeader
	if len(h.Addr) > 0 {
		peer = h.Addr
	}
	r.noteLeader(peer, h.ID)
	r.lastLeaderContact.Store(now.UnixNano())
	r.touchElection(now)
	return true
}

// termAt returns the term of the entry at index, from the log or, for the
// snapshot's last index, from the snapshot.
func (r *Raft) termAt(index uint64) (uint64, error) {
	if snapIndex, snapTerm := r.lastSnapshot(); index == snapIndex {
		return snapTerm, nil
	}
	return getLogTerm(r.logs, index)
}

// matchPrev checks the log matching property at prevIndex. When it fails,
// it returns a hint for the leader's next probe: the follower's last index
// if its log is too short, otherwise the index just before the first entry
// of the conflicting term, so the leader skips a whole term per round trip.
func (r *Raft) matchPrev(prevIndex, prevTerm uint64) (bool, uint64) {
	lastIndex, lastTerm := r.getLastLog()
	if prevIndex > lastIndex {
		return false, lastIndex
	}
	var term uint64
	snapIndex, snapTerm := r.lastSnapshot()
	if prevIndex == lastIndex {
		term = lastTerm
	} else if prevIndex == snapIndex {
		term = snapTerm
	} else {
		var l Log
		if err := r.logs.GetLog(prevIndex, &l); err != nil {
			if errors.Is(err, ErrLogNotFound) && prevIndex <= r.getCommitIndex() {
				// Compacted entries were committed, and committed entries
				// match every leader's log.
				return true, 0
			}
			r.logger.Warn("failed to read previous entry", "index", prevIndex, "error", err)
			return false, lastIndex
		}
		term = l.Term
	}
	if term == prevTerm {
		return true, 0
	}
	return false, r.firstIndexOfTerm(prevIndex, term) - 1
}

// firstIndexOfTerm finds the first index, at or below upTo, holding an
// entry of term. Terms never decrease along a log, so the entries of one
// term are contiguous and a binary search needs only log2(n) reads.
func (r *Raft) firstIndexOfTerm(upTo, term uint64) uint64 {
	lo, err := r.logs.FirstIndex()
	if err != nil || lo == 0 {
		return upTo
	}
	lo = max(lo, r.getCommitIndex()+1)
	if lo > upTo {
		return upTo
	}
	hi := upTo
	for lo < hi {
		mid := lo + (hi-lo)/2
		t, err := getLogTerm(r.logs, mid)
		if err != nil {
			return upTo
		}
		if t < term {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// storeEntries appends the request's entries, first deleting any
// conflicting suffix. Entries already held with the same term are skipped,
// so a delayed or duplicated request never truncates what a later one
// appended.
func (r *Raft) storeEntries(entries []*Log) error {
	lastIndex, _ := r.getLastLog()
	var fresh []*Log
	for i, e := range entries {
		if e.Index > lastIndex {
			fresh = entries[i:]
			break
		}
		t, err := getLogTerm(r.logs, e.Index)
		if err != nil {
			if errors.Is(err, ErrLogNotFound) && e.Index <= r.getCommitIndex() {
				continue
			}
			return err
		}
		if t == e.Term {
			continue
		}
		if e.Index <= r.getCommitIndex() {
			return errCommittedConflict
		}
		r.logger.Debug("deleting conflicting suffix", "from", e.Index, "to", lastIndex)
		if err := r.logs.DeleteRange(e.Index, lastIndex); err != nil {
			return err
		}
		r.configs.truncate(e.Index)
		r.publishConfig()
		prevTerm, err := r.termAt(e.Index - 1)
		if err != nil {
			return err
		}
		r.setLastLog(e.Index-1, prevTerm)
		fresh = entries[i:]
		break
	}
	if len(fresh) == 0 {
		return nil
	}
	start := time.Now()
	if err := r.logs.StoreLogs(fresh); err != nil {
		return err
	}
	r.metrics.MeasureSince(r.keys.followerStoreLogs, start)
	for _, e := range fresh {
		if e.Type == LogConfiguration {
			c, err := DecodeConfiguration(e.Data)
			if err != nil {
				r.logger.Error("undecodable configuration entry", "index", e.Index, "error", err)
				continue
			}
			r.configs.append(e.Index, c)
			r.publishConfig()
		}
	}
	last := fresh[len(fresh)-1]
	r.setLastLog(last.Index, last.Term)
	return nil
}
