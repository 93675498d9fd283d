package raft

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"
)

// run is the goroutine that owns the node's Raft state. It plays one role
// at a time until shutdown.
func (r *Raft) run() {
	defer r.goroutines.Done()
	for {
		select {
		case <-r.shutdownCh:
			r.setLeader("", "")
			return
		default:
		}
		switch r.getRole() {
		case Follower:
			r.runFollower()
		case Candidate:
			r.runCandidate()
		case Leader:
			r.runLeader()
		default:
			return
		}
	}
}

// randomTimeout returns a duration in [d, 2d).
func randomTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + time.Duration(rand.Int64N(int64(d)))
}

// runFollower waits for a leader's messages and starts a campaign when they
// stop coming.
func (r *Raft) runFollower() {
	timeout := randomTimeout(r.rc().HeartbeatTimeout)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for r.getRole() == Follower {
		select {
		case rpc := <-r.rpcCh:
			r.processRPC(rpc)
		case f := <-r.applyCh:
			f.respond(ErrNotLeader)
		case f := <-r.verifyCh:
			f.respond(ErrNotLeader)
		case f := <-r.userRestoreCh:
			f.respond(ErrNotLeader)
		case f := <-r.configChangeCh:
			f.respond(ErrNotLeader)
		case f := <-r.readCh:
			f.respond(ErrNotLeader)
		case f := <-r.transferCh:
			f.respond(ErrNotLeader)
		case f := <-r.bootstrapCh:
			f.respond(r.bootstrap(f.configuration))
		case <-timer.C:
			// A follower whose loop was busy (a slow disk write) may have
			// heartbeats queued behind the timer; they are heard before
			// any decision to campaign.
			r.drainRPCs()
			if r.getRole() != Follower {
				return
			}
			// The timer measures silence since the last reset event, which
			// other goroutines may have moved on (contact hints).
			if wait := timeout - time.Since(r.electionResetTime()); wait > 0 {
				timer.Reset(wait)
				continue
			}
			r.setLeader("", "")
			latest := r.configs.latest()
			if !latest.config.isVoter(r.localID) {
				// A node outside the configuration, or a non-voter, never
				// campaigns; it waits for a leader to reach it.
				timeout = randomTimeout(r.rc().HeartbeatTimeout)
				timer.Reset(timeout)
				continue
			}
			r.logger.Debug("heartbeat timeout reached, starting election", "last-leader-contact", r.leaderContactTime())
			r.metrics.IncrCounter([]string{"raft", "transition", "heartbeat_timeout"}, 1)
			r.setRole(Candidate)
			return
		case <-r.shutdownCh:
			return
		}
	}
}

// shuttingDown reports whether Shutdown has begun. Shutdown closes the
// transport before the node's goroutines stop, so a call that fails after
// that failed because of the shutdown, not the network: it must not be
// reported as a peer's failure.
func (r *Raft) shuttingDown() bool {
	select {
	case <-r.shutdownCh:
		return true
	default:
		return false
	}
}

// drainRPCs handles every request already waiting, without blocking.
func (r *Raft) drainRPCs() {
	for {
		select {
		case rpc := <-r.rpcCh:
			r.processRPC(rpc)
		default:
			return
		}
	}
}

// setLeader publishes the leader's identity.
func (r *Raft) setLeader(addr ServerAddress, id ServerID) {
	if addr == "" && id == "" {
		r.storeLeader(nil)
		return
	}
	r.storeLeader(&leaderID{addr: addr, id: id})
}

// storeLeader publishes l (nil for no leader) and tells observers when the
// leader changed.
func (r *Raft) storeLeader(l *leaderID) {
	old := r.leaderInfo.Load()
	if old == nil && l == nil {
		return
	}
	if old != nil && l != nil && old.addr == l.addr && old.id == l.id {
		// The same leader: only learning its encoding is worth a store.
		if l.peer != nil && old.peer == nil {
			r.leaderInfo.Store(l)
		}
		return
	}
	r.leaderInfo.Store(l)
	var addr ServerAddress
	var id ServerID
	if l != nil {
		addr, id = l.addr, l.id
	}
	r.observe(LeaderObservation{LeaderAddr: addr, LeaderID: id, Term: r.getCurrentTerm()})
}

// noteLeader records the sender of an accepted request as the leader. The
// sender is the same on almost every request, so the address is decoded
// (and the ID converted) only when it changes.
func (r *Raft) noteLeader(peer, id []byte) {
	if old := r.leaderInfo.Load(); old != nil && old.peer != nil && bytes.Equal(old.peer, peer) && string(old.id) == string(id) {
		return
	}
	r.storeLeader(&leaderID{addr: r.trans.DecodePeer(peer), id: ServerID(id), peer: bytes.Clone(peer)})
}

// setCurrentTerm persists a new term, forgetting any vote. It must succeed
// before the node acts in the new term.
func (r *Raft) setCurrentTerm(term uint64) error {
	if err := r.stable.SetUint64([]byte(keyCurrentTerm), term); err != nil {
		return fmt.Errorf("%w: persisting term %d: %v", ErrStorage, term, err)
	}
	r.currentTerm.Store(term)
	return nil
}

// persistVote records a vote before it is announced.
func (r *Raft) persistVote(term uint64, candidate ServerID) error {
	if err := r.stable.SetUint64([]byte(keyLastVoteTerm), term); err != nil {
		return fmt.Errorf("%w: persisting vote term: %v", ErrStorage, err)
	}
	if err := r.stable.Set([]byte(keyLastVoteCand), []byte(candidate)); err != nil {
		return fmt.Errorf("%w: persisting vote candidate: %v", ErrStorage, err)
	}
	r.lastVote = voteRecord{term: term, candidate: candidate}
	return nil
}

// stepDown adopts a higher term seen in a message and returns to follower.
// If the term cannot be persisted the node still stops leading or
// campaigning, but keeps its old term, so it will refuse votes in the new
// one.
func (r *Raft) stepDown(term uint64) {
	if term > r.getCurrentTerm() {
		if err := r.setCurrentTerm(term); err != nil {
			r.logger.Error("failed to persist new term", "term", term, "error", err)
		}
	}
	r.becomeFollower()
}

// becomeFollower ends leadership or candidacy at once.
func (r *Raft) becomeFollower() {
	switch r.getRole() {
	case Leader:
		r.logger.Debug("stepping down to follower", "term", r.getCurrentTerm())
		r.setRole(Follower)
		r.leaveLeader()
	case Candidate:
		r.setRole(Follower)
	}
}

// processRPC decides one request. Every RPC, heartbeats included, is
// decided here on the run goroutine.
func (r *Raft) processRPC(rpc RPC) {
	for {
		next := r.processOneRPC(rpc)
		if next == nil {
			return
		}
		rpc = *next
	}
}

// processOneRPC handles rpc. It returns a request it took from the queue
// while batching (see appendBatch), which must be handled next.
func (r *Raft) processOneRPC(rpc RPC) *RPC {
	switch cmd := rpc.Command.(type) {
	case *AppendEntriesRequest:
		return r.appendEntries(rpc, cmd)
	case *RequestVoteRequest:
		r.requestVote(rpc, cmd)
	case *RequestPreVoteRequest:
		r.requestPreVote(rpc, cmd)
	case *InstallSnapshotRequest:
		r.installSnapshot(rpc, cmd)
	case *TimeoutNowRequest:
		r.timeoutNow(rpc, cmd)
	case *ReadIndexRequest:
		r.readIndexRPC(rpc, cmd)
	default:
		r.logger.Error("unexpected command", "command", fmt.Sprintf("%T", rpc.Command))
		rpc.Respond(nil, fmt.Errorf("unexpected command"))
	}
	return nil
}

// header returns the RPC header this node sends.
// It is built once: every request and response carries it, and nobody
// modifies a header's slices after it is sent.
func (r *Raft) header() RPCHeader {
	return r.rpcHeader
}

// timeoutNow starts an election at once, as asked by a leader handing over
// leadership. The campaign skips pre-vote, because the leader has already
// stopped sending heartbeats to this node's peers' satisfaction.
func (r *Raft) timeoutNow(rpc RPC, req *TimeoutNowRequest) {
	if r.getRole() != Follower || !r.configs.latest().config.isVoter(r.localID) {
		rpc.Respond(nil, fmt.Errorf("%w: cannot campaign now", ErrNotVoter))
		return
	}
	// Only the current leader may hand over leadership: a delayed or
	// duplicated TimeoutNow from an old leader must not start an election
	// that bypasses the voters' loyalty to the new one.
	if _, leader := r.LeaderWithID(); leader == "" || leader != ServerID(req.ID) {
		rpc.Respond(nil, fmt.Errorf("TimeoutNow from %q, which is not this node's leader", req.ID))
		return
	}
	r.setLeader("", "")
	r.transferElection = true
	r.setRole(Candidate)
	rpc.Respond(&TimeoutNowResponse{RPCHeader: r.header()}, nil)
}
