package raft

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"syscall"
	"time"
)

// ReadConsistency chooses how the leader confirms a read index.
type ReadConsistency int

const (
	// ReadConsistencySafe confirms leadership with a heartbeat round to a
	// quorum for every batch of reads. It relies on no clock.
	ReadConsistencySafe ReadConsistency = iota
	// ReadConsistencyLease skips the round while the leader's lease is
	// valid. The lease is taken from heartbeats a quorum acknowledged and
	// lasts HeartbeatTimeout minus LeaseClockDrift from when they were sent:
	// voters refuse votes for that long after hearing from a leader. It
	// assumes clocks advance at rates that differ by less than
	// LeaseClockDrift over one HeartbeatTimeout; a paused process or a
	// jumping monotonic clock can break it.
	ReadConsistencyLease
)

// ErrReadIndexNotSupported is returned by ReadIndex on a follower whose
// leader cannot serve read indexes (a hashicorp/raft leader). The read is
// refused rather than served stale.
var ErrReadIndexNotSupported = errors.New("leader does not support ReadIndex")

// readFuture is a read waiting for its read index.
type readFuture struct {
	deferError
	index uint64
	// rpc is set for a follower's remote request, answered with the read
	// index instead of waiting for the leader's FSM.
	rpc *RPC
}

// Index returns the read index, once Error returned nil.
func (f *readFuture) Index() uint64 { return f.index }

// ReadIndex returns a future that completes once this node's FSM has
// applied every write acknowledged before the call; the caller may then
// read its FSM locally and the read is linearizable. On the leader it takes
// the commit index and confirms leadership (one heartbeat round shared by
// concurrent reads, or the lease); on a follower it asks the leader for the
// read index. It fails with ErrNotLeader when no leader can confirm, and
// with ErrReadIndexNotSupported when the leader is a peer without ReadIndex.
// timeout bounds the hand-over to the node (0 for no bound); bound the wait
// with the future's ErrorContext.
func (r *Raft) ReadIndex(timeout time.Duration) IndexFuture {
	ctx, cancel := timeoutContext(timeout)
	defer cancel()
	return r.ReadIndexContext(ctx)
}

// ReadIndexContext is ReadIndex with the hand-over bounded by ctx.
func (r *Raft) ReadIndexContext(ctx context.Context) IndexFuture {
	switch r.getRole() {
	case Shutdown:
		return errorFuture{ErrRaftShutdown}
	case Leader:
		f := &readFuture{}
		f.init()
		if err := handOver(ctx, r.readCh, f, r.shutdownCh); err != nil {
			return errorFuture{err}
		}
		return f
	}
	return r.followerRead(ctx)
}

// startRead takes a read on the leader.
func (r *Raft) startRead(f *readFuture) {
	ls := r.leader
	if r.getCommitIndex() < ls.startIndex {
		// The commit index is not known to be current until an entry of
		// this term commits.
		ls.readsBeforeCommit = append(ls.readsBeforeCommit, f)
		return
	}
	f.index = r.getCommitIndex()
	if r.conf.ReadConsistency == ReadConsistencyLease && r.leaseValid() {
		r.metrics.IncrCounter([]string{"raft", "read", "lease"}, 1)
		r.readsByLease.Add(1)
		r.finishRead(f, nil)
		return
	}
	ls.readQueue = append(ls.readQueue, f)
	if !ls.roundInFlight {
		r.startReadRound()
	}
}

// releaseReadsBeforeCommit restarts reads that waited for the term's first
// commit.
func (r *Raft) releaseReadsBeforeCommit() {
	ls := r.leader
	if len(ls.readsBeforeCommit) == 0 || r.getCommitIndex() < ls.startIndex {
		return
	}
	waiting := ls.readsBeforeCommit
	ls.readsBeforeCommit = nil
	for _, f := range waiting {
		r.startRead(f)
	}
}

// readRoundResult is the outcome of one heartbeat round for a batch.
type readRoundResult struct {
	batch []*readFuture
	err   error
}

// startReadRound confirms leadership for every queued read with one round.
func (r *Raft) startReadRound() {
	ls := r.leader
	batch := ls.readQueue
	ls.readQueue = nil
	ls.roundInFlight = true
	v := &verifyFuture{}
	v.init()
	r.startVerify(v)
	r.readRounds.Add(1)
	r.metrics.IncrCounter([]string{"raft", "read", "rounds"}, 1)
	done := ls.done
	limit := r.rc().ElectionTimeout
	r.goroutines.Add(1)
	go func() {
		defer r.goroutines.Done()
		// A round that no quorum answers within an election timeout fails
		// its reads rather than hold every later read behind it.
		timer := time.NewTimer(limit)
		defer timer.Stop()
		var err error
		select {
		case <-v.errCh:
			err = v.Error()
		case <-timer.C:
			err = fmt.Errorf("%w: leadership not confirmed within %v", ErrNotLeader, limit)
			v.fail(err)
		case <-done:
			err = ErrLeadershipLost
		}
		select {
		case ls.roundDone <- readRoundResult{batch: batch, err: err}:
		case <-done:
			for _, f := range batch {
				r.failRead(f, ErrLeadershipLost)
			}
		}
	}()
}

// readRoundDone finishes a batch and starts the next round if reads queued
// meanwhile.
func (r *Raft) readRoundDone(res readRoundResult) {
	ls := r.leader
	ls.roundInFlight = false
	for _, f := range res.batch {
		r.finishRead(f, res.err)
	}
	if len(ls.readQueue) > 0 {
		r.startReadRound()
	}
}

func (r *Raft) failRead(f *readFuture, err error) {
	if f.rpc != nil {
		f.rpc.Respond(&ReadIndexResponse{RPCHeader: r.header(), Term: r.getCurrentTerm()}, nil)
		return
	}
	f.respond(err)
}

// finishRead completes a confirmed (or failed) read: a remote one is
// answered with the index, a local one waits for the FSM to reach it.
func (r *Raft) finishRead(f *readFuture, err error) {
	if err != nil {
		r.failRead(f, err)
		return
	}
	r.metrics.IncrCounter([]string{"raft", "read", "served"}, 1)
	r.readsServed.Add(1)
	if f.rpc != nil {
		f.rpc.Respond(&ReadIndexResponse{RPCHeader: r.header(), Term: r.getCurrentTerm(), ReadIndex: f.index, Success: true}, nil)
		return
	}
	r.applyWaiters.wait(r, f.index, f)
}

// leaseValid reports whether a quorum acknowledged, recently enough, a
// message this leader sent, so no other leader can exist yet.
func (r *Raft) leaseValid() bool {
	ls := r.leader
	if ls.transfer != nil || ls.timeoutNowSent {
		// A TimeoutNow sent in this term lets its target win votes that
		// ignore this leader's lease, whatever became of the transfer.
		return false
	}
	latest := r.configs.latest().config
	now := time.Now()
	var sent []time.Time
	for _, s := range latest.Servers {
		if s.Suffrage != Voter {
			continue
		}
		if s.ID == r.localID {
			sent = append(sent, now)
			continue
		}
		if rp, ok := ls.replicators[s.ID]; ok {
			sent = append(sent, time.Unix(0, rp.ackedSend.Load()))
		} else {
			sent = append(sent, time.Time{})
		}
	}
	if len(sent) == 0 {
		return false
	}
	sort.Slice(sent, func(i, j int) bool { return sent[i].After(sent[j]) })
	quorumSent := sent[latest.quorum()-1]
	if quorumSent.IsZero() || quorumSent.Before(ls.startTime) {
		return false
	}
	drift := r.conf.LeaseClockDrift
	if drift == 0 {
		drift = r.rc().HeartbeatTimeout / 10
	}
	return now.Before(quorumSent.Add(r.rc().HeartbeatTimeout - drift))
}

// readIndexRPC answers a follower's ReadIndex request.
func (r *Raft) readIndexRPC(rpc RPC, req *ReadIndexRequest) {
	if r.getRole() != Leader || req.Term > r.getCurrentTerm() {
		rpc.Respond(&ReadIndexResponse{RPCHeader: r.header(), Term: r.getCurrentTerm()}, nil)
		return
	}
	f := &readFuture{rpc: &rpc}
	f.init()
	r.startRead(f)
}

// followerRead asks the leader for a read index, then waits for this
// node's FSM to reach it.
func (r *Raft) followerRead(ctx context.Context) IndexFuture {
	addr, id := r.LeaderWithID()
	if id == "" {
		return errorFuture{fmt.Errorf("%w: no known leader", ErrNotLeader)}
	}
	tr, ok := r.trans.(WithReadIndex)
	if !ok {
		return errorFuture{fmt.Errorf("%w: the transport cannot carry ReadIndex", ErrReadIndexNotSupported)}
	}
	if r.readSupport.unsupported(id) {
		return errorFuture{fmt.Errorf("%w: leader %s", ErrReadIndexNotSupported, id)}
	}
	f := &readFuture{}
	f.init()
	req := &ReadIndexRequest{RPCHeader: r.header(), Term: r.getCurrentTerm()}
	r.goroutines.Add(1)
	go func() {
		defer r.goroutines.Done()
		var resp ReadIndexResponse
		err := tr.RequestReadIndex(id, addr, req, &resp)
		switch {
		case err != nil && looksUnsupported(err) && !r.readSupport.supported(id):
			r.readSupport.markUnsupported(id)
			f.respond(fmt.Errorf("%w: leader %s: %v", ErrReadIndexNotSupported, id, err))
			return
		case err != nil:
			f.respond(err)
			return
		case !resp.Success:
			f.respond(fmt.Errorf("%w: %s could not confirm a read index", ErrNotLeader, id))
			return
		}
		r.readSupport.markSupported(id)
		f.index = resp.ReadIndex
		r.applyWaiters.wait(r, resp.ReadIndex, f)
	}()
	return f
}

// looksUnsupported recognises how a peer without ReadIndex answers:
// hashicorp/raft closes the connection on an unknown RPC type, or an
// older peer answers "unexpected command".
func looksUnsupported(err error) bool {
	return isUnsupportedRPC(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// readSupport remembers which leaders answered ReadIndex, so a leader that
// cannot is not asked again and again.
type readSupport struct {
	mu   sync.Mutex
	seen map[ServerID]bool
}

func (s *readSupport) supported(id ServerID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[id]
}

func (s *readSupport) unsupported(id ServerID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.seen[id]
	return ok && !v
}

func (s *readSupport) mark(id ServerID, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = make(map[ServerID]bool)
	}
	s.seen[id] = v
}

func (s *readSupport) markSupported(id ServerID)   { s.mark(id, true) }
func (s *readSupport) markUnsupported(id ServerID) { s.mark(id, false) }

// applyWaiters holds reads waiting for the FSM to reach their index.
type applyWaiters struct {
	mu      sync.Mutex
	waiting []*readFuture
	closed  bool
}

// wait completes f once the FSM has applied index.
func (a *applyWaiters) wait(r *Raft, index uint64, f *readFuture) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		f.respond(ErrRaftShutdown)
		return
	}
	if r.getLastApplied() >= index {
		a.mu.Unlock()
		f.respond(nil)
		return
	}
	a.waiting = append(a.waiting, f)
	a.mu.Unlock()
}

// applied completes the reads whose index the FSM has now reached.
func (a *applyWaiters) applied(index uint64) {
	a.mu.Lock()
	keep := a.waiting[:0]
	var ready []*readFuture
	for _, f := range a.waiting {
		if f.index <= index {
			ready = append(ready, f)
		} else {
			keep = append(keep, f)
		}
	}
	a.waiting = keep
	a.mu.Unlock()
	for _, f := range ready {
		f.respond(nil)
	}
}

// close fails every waiting read; the node is shutting down.
func (a *applyWaiters) close() {
	a.mu.Lock()
	waiting := a.waiting
	a.waiting = nil
	a.closed = true
	a.mu.Unlock()
	for _, f := range waiting {
		f.respond(ErrRaftShutdown)
	}
}
