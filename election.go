package raft

import (
	"errors"
	"strings"
	"time"
)

// voteResult is one voter's answer in a campaign round.
type voteResult struct {
	voter   ServerID
	term    uint64
	granted bool
}

// runCandidate campaigns for leadership: first a pre-vote round that
// changes no term (unless disabled or skipped for a leadership transfer),
// then a real election. It returns when the role changes or the round
// times out, in which case the run loop campaigns again.
func (r *Raft) runCandidate() {
	_, canPreVote := r.trans.(WithPreVote)
	preVote := canPreVote && !r.conf.PreVoteDisabled && !r.transferElection
	transfer := r.transferElection
	r.transferElection = false
	start := time.Now()

	latest := r.configs.latest().config
	if !latest.isVoter(r.localID) {
		r.setRole(Follower)
		return
	}

	var votes <-chan voteResult
	if preVote {
		votes = r.sendPreVotes(latest)
	} else {
		ch, ok := r.startElection(latest, transfer)
		if !ok {
			r.setRole(Follower)
			return
		}
		votes = ch
	}
	granted := map[ServerID]bool{r.localID: true}
	need := latest.quorum()

	timer := time.NewTimer(randomTimeout(r.rc().ElectionTimeout))
	defer timer.Stop()
	for r.getRole() == Candidate {
		if len(granted) >= need {
			if preVote {
				r.logger.Debug("pre-vote won, starting election", "term", r.getCurrentTerm()+1)
				preVote = false
				ch, ok := r.startElection(latest, transfer)
				if !ok {
					r.setRole(Follower)
					return
				}
				votes = ch
				granted = map[ServerID]bool{r.localID: true}
				timer.Reset(randomTimeout(r.rc().ElectionTimeout))
				continue
			}
			r.logger.Debug("election won", "term", r.getCurrentTerm(), "votes", len(granted))
			r.metrics.MeasureSince([]string{"raft", "candidate", "electSelf"}, start)
			r.setRole(Leader)
			r.setLeader(r.localAddr, r.localID)
			return
		}
		select {
		case rpc := <-r.rpcCh:
			r.processRPC(rpc)
		case v := <-votes:
			if v.granted {
				if latest.isVoter(v.voter) {
					granted[v.voter] = true
				}
				continue
			}
			// A refusal from a newer term means this node is behind. In a
			// pre-vote round hashicorp/raft answers with the proposed term
			// (this node's term + 1), which says nothing about the cluster,
			// so only a term beyond that counts there.
			newer := v.term > r.getCurrentTerm()
			if preVote {
				newer = v.term > r.getCurrentTerm()+1
			}
			if newer {
				r.logger.Debug("newer term seen while campaigning", "term", v.term, "voter", v.voter)
				r.stepDown(v.term)
				return
			}
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
			f.respond(ErrCantBootstrap)
		case <-timer.C:
			r.logger.Debug("campaign timed out, starting over", "pre-vote", preVote, "term", r.getCurrentTerm())
			return
		case <-r.shutdownCh:
			return
		}
	}
}

// startElection moves to a new term, votes for this node, persists both,
// and asks every other voter for its vote. It reports false if the new term
// or vote could not be persisted, in which case the node must not campaign.
func (r *Raft) startElection(conf Configuration, transfer bool) (<-chan voteResult, bool) {
	term := r.getCurrentTerm() + 1
	if err := r.setCurrentTerm(term); err != nil {
		r.logger.Error("cannot campaign", "error", err)
		return nil, false
	}
	if err := r.persistVote(term, r.localID); err != nil {
		r.logger.Error("cannot campaign", "error", err)
		return nil, false
	}
	r.metrics.IncrCounter([]string{"raft", "election", "started"}, 1)
	lastIndex, lastTerm := r.getLastLog()
	req := &RequestVoteRequest{
		RPCHeader:          r.header(),
		Term:               term,
		Candidate:          r.localPeer,
		LastLogIndex:       lastIndex,
		LastLogTerm:        lastTerm,
		LeadershipTransfer: transfer,
	}
	out := make(chan voteResult, len(conf.Servers))
	for _, s := range conf.Servers {
		if s.Suffrage != Voter || s.ID == r.localID {
			continue
		}
		r.goroutines.Add(1)
		go func(s Server) {
			defer r.goroutines.Done()
			var resp RequestVoteResponse
			if err := r.trans.RequestVote(s.ID, s.Address, req, &resp); err != nil {
				r.logger.Debug("vote request failed", "peer", s.ID, "error", err)
				return
			}
			out <- voteResult{voter: s.ID, term: resp.Term, granted: resp.Granted}
		}(s)
	}
	return out, true
}

// sendPreVotes asks every other voter whether it would vote for this node
// in the next term, without changing any term.
func (r *Raft) sendPreVotes(conf Configuration) <-chan voteResult {
	pv := r.trans.(WithPreVote)
	lastIndex, lastTerm := r.getLastLog()
	req := &RequestPreVoteRequest{
		RPCHeader:    r.header(),
		Term:         r.getCurrentTerm() + 1,
		LastLogIndex: lastIndex,
		LastLogTerm:  lastTerm,
	}
	myTerm := r.getCurrentTerm()
	out := make(chan voteResult, len(conf.Servers))
	for _, s := range conf.Servers {
		if s.Suffrage != Voter || s.ID == r.localID {
			continue
		}
		r.goroutines.Add(1)
		go func(s Server) {
			defer r.goroutines.Done()
			var resp RequestPreVoteResponse
			if err := pv.RequestPreVote(s.ID, s.Address, req, &resp); err != nil {
				if isUnsupportedRPC(err) {
					// A peer too old to know pre-vote would grant it; it
					// still judges the real vote.
					out <- voteResult{voter: s.ID, term: myTerm, granted: true}
					return
				}
				r.logger.Debug("pre-vote request failed", "peer", s.ID, "error", err)
				return
			}
			out <- voteResult{voter: s.ID, term: resp.Term, granted: resp.Granted}
		}(s)
	}
	return out
}

// isUnsupportedRPC recognises the answer of a peer that does not know an
// RPC type: hashicorp/raft answers "unexpected command".
func isUnsupportedRPC(err error) bool {
	return err != nil && (errors.Is(err, ErrUnsupportedRPC) || strings.Contains(err.Error(), "unexpected command"))
}

// leaderIsAlive reports whether this node has reason to believe a leader is
// active: it leads, or heard from a leader within the election timeout.
// Such a node refuses votes (leader stickiness), which keeps a server that
// was partitioned away from unseating a healthy leader when it returns.
func (r *Raft) leaderIsAlive() bool {
	if r.getRole() == Leader {
		return true
	}
	if r.conf.ReadConsistency == ReadConsistencyLease && time.Since(r.startTime) < r.rc().HeartbeatTimeout {
		// A restarted voter has forgotten which leader it heard from; in
		// lease mode it must not help elect another before any lease it
		// acknowledged has run out.
		return true
	}
	last := r.leaderContactTime()
	return !last.IsZero() && time.Since(last) < r.rc().ElectionTimeout && r.Leader() != ""
}

// logUpToDate reports whether a candidate's log is at least as up-to-date
// as this node's (paper section 5.4.1).
func (r *Raft) logUpToDate(lastIndex, lastTerm uint64) bool {
	myIndex, myTerm := r.getLastLog()
	if lastTerm != myTerm {
		return lastTerm > myTerm
	}
	return lastIndex >= myIndex
}

// mayVoteFor reports whether the candidate is a voter of this node's
// configuration. A node that has no configuration yet votes for anyone, as
// it may be a new server that has not received its log.
func (r *Raft) mayVoteFor(id ServerID) bool {
	latest := r.configs.latest().config
	if len(latest.Servers) == 0 {
		return true
	}
	return latest.isVoter(id)
}

// requestVote decides a vote.
func (r *Raft) requestVote(rpc RPC, req *RequestVoteRequest) {
	r.metrics.IncrCounter([]string{"raft", "rpc", "requestVote"}, 1)
	resp := &RequestVoteResponse{RPCHeader: r.header(), Term: r.getCurrentTerm()}
	defer func() { rpc.Respond(resp, nil) }()

	candidate := ServerID(req.ID)
	// Both refusals below come before any term change, so a removed or
	// partitioned server cannot inflate this node's term.
	if !r.mayVoteFor(candidate) {
		r.logger.Debug("refusing vote to a server outside the voters", "candidate", candidate)
		return
	}
	if !req.LeadershipTransfer && r.leaderIsAlive() {
		r.logger.Debug("refusing vote while a leader is alive", "candidate", candidate, "term", req.Term)
		return
	}
	if req.Term < r.getCurrentTerm() {
		return
	}
	if req.Term > r.getCurrentTerm() {
		r.stepDown(req.Term)
		if r.getCurrentTerm() != req.Term {
			return
		}
		resp.Term = req.Term
	}
	if r.lastVote.term == req.Term && r.lastVote.candidate != "" {
		resp.Granted = r.lastVote.candidate == candidate
		if resp.Granted {
			r.touchElection(time.Now())
		}
		return
	}
	if !r.logUpToDate(req.LastLogIndex, req.LastLogTerm) {
		return
	}
	if err := r.persistVote(req.Term, candidate); err != nil {
		r.logger.Error("refusing vote: cannot persist it", "error", err)
		return
	}
	resp.Granted = true
	r.touchElection(time.Now())
}

// requestPreVote answers whether this node would vote for the candidate in
// the proposed term. It changes no state.
func (r *Raft) requestPreVote(rpc RPC, req *RequestPreVoteRequest) {
	r.metrics.IncrCounter([]string{"raft", "rpc", "requestPreVote"}, 1)
	resp := &RequestPreVoteResponse{RPCHeader: r.header(), Term: r.getCurrentTerm()}
	defer func() { rpc.Respond(resp, nil) }()
	if !r.mayVoteFor(ServerID(req.ID)) {
		return
	}
	if r.leaderIsAlive() {
		return
	}
	if req.Term < r.getCurrentTerm() {
		return
	}
	resp.Granted = r.logUpToDate(req.LastLogIndex, req.LastLogTerm)
}
