package raft

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
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
// refused rather than served stale. A follower concludes this from the
// leader answering "unexpected command", or from several requests in a row
// all ending with the connection dropped; it then refuses reads without
// asking, and asks again after a while (a minute), so a leader upgraded in
// place is noticed. Such a leader's reads must go elsewhere, for example to
// the leader itself.
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
// Other failures (a dropped connection among them, until enough in a row
// make the follower take the leader for one without ReadIndex) are
// transient: the call may be retried.
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
			err = r.leadershipEndError()
		}
		select {
		case ls.roundDone <- readRoundResult{batch: batch, err: err}:
		case <-done:
			for _, f := range batch {
				r.failRead(f, r.leadershipEndError())
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
		r.sendCommitTo(f.rpc)
		return
	}
	r.applyWaiters.wait(r, f.index, f)
}

// sendCommitTo wakes the replicator of the follower that sent a ReadIndex
// request. That follower now waits to apply up to the read index, and the
// leader does not push each new commit index at once (see leaderCommit), so
// without this the read could wait up to CommitTimeout for it. A replicator
// that already sent this commit index sends nothing.
func (r *Raft) sendCommitTo(rpc *RPC) {
	req, ok := rpc.Command.(*ReadIndexRequest)
	if !ok || r.leader == nil {
		return
	}
	if rp, ok := r.leader.replicators[ServerID(req.ID)]; ok {
		rp.notify()
	}
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
	version, wait := r.readSupport.begin(id)
	if wait > 0 {
		return errorFuture{fmt.Errorf("%w: leader %s (asked again in %v)", ErrReadIndexNotSupported, id, (wait + time.Second - 1).Truncate(time.Second))}
	}
	f := &readFuture{}
	f.init()
	req := &ReadIndexRequest{RPCHeader: r.header(), Term: r.getCurrentTerm()}
	r.goroutines.Add(1)
	go func() {
		defer r.goroutines.Done()
		var resp ReadIndexResponse
		err := tr.RequestReadIndex(id, addr, req, &resp)
		if err != nil && r.shuttingDown() {
			// Like every future pending at shutdown; the transport was
			// closed under the call.
			f.respond(ErrRaftShutdown)
			return
		}
		switch {
		case err == nil:
			// Any decoded answer, a refusal to confirm included, comes
			// from a peer that knows the RPC.
			r.readSupport.answered(id)
		case isUnsupportedRPC(err):
			if r.readSupport.refused(id) {
				r.logger.Info("leader does not know ReadIndex; follower reads fail until it is asked again",
					"leader", id, "recheck", r.readSupport.recheckInterval(), "error", err)
			}
			f.respond(fmt.Errorf("%w: leader %s: %v", ErrReadIndexNotSupported, id, err))
			return
		case isConnDropped(err):
			marked, justMarked := r.readSupport.dropped(id, version)
			if justMarked {
				r.logger.Info("leader dropped every recent ReadIndex request; taking it for a peer without ReadIndex",
					"leader", id, "attempts", readIndexDropThreshold, "recheck", r.readSupport.recheckInterval(), "error", err)
			}
			if marked {
				f.respond(fmt.Errorf("%w: leader %s dropped %d ReadIndex requests in a row: %v",
					ErrReadIndexNotSupported, id, readIndexDropThreshold, err))
				return
			}
			f.respond(fmt.Errorf("ReadIndex to leader %s: connection dropped, retry: %w", id, err))
			return
		default:
			// A refused dial, a timeout, a transport shut down: nothing
			// about which RPCs the leader knows.
			f.respond(err)
			return
		}
		if !resp.Success {
			f.respond(fmt.Errorf("%w: %s could not confirm a read index", ErrNotLeader, id))
			return
		}
		f.index = resp.ReadIndex
		r.applyWaiters.wait(r, resp.ReadIndex, f)
	}()
	return f
}

const (
	// readIndexDropThreshold is how many ReadIndex attempts in a row must
	// end with the leader dropping the connection, with no answer between
	// them, before the leader is taken for one that does not know the RPC.
	//
	// A hashicorp/raft leader drops every attempt, so reads against it
	// fail fast after three round trips. A leader of ours drops one only
	// through some event: a restart, an idle connection it closed, its
	// limit of inbound connections. With NetworkTransport one event counts
	// at most once: the attempts it cuts together share one piece of
	// evidence (see readEvidence.version), and the transport closes its
	// other idle connections to a peer that dropped one, so the next
	// attempt dials afresh instead of meeting another dead connection.
	// Three therefore takes three separate events with no answer between
	// them; one would repeat the bug of a single drop disabling reads, and
	// two would leave no margin for a transport that keeps its other dead
	// idle connections after a drop, each of which can cost one more. A
	// larger number only keeps reads against a hashicorp leader failing
	// slowly for longer.
	readIndexDropThreshold = 3
	// defaultReadSupportRecheck is how long a leader taken for one without
	// ReadIndex stays so before it is asked again. It bounds both how long
	// a wrong verdict (drops from a leader of ours) disables follower reads,
	// and how late a server upgraded in place, the same ID now running this
	// library, is noticed. Against a leader that still cannot answer, each
	// recheck costs one dropped request per interval.
	defaultReadSupportRecheck = time.Minute
)

// readSupport decides, per leader, whether follower reads are sent to it or
// refused at once. Asking a leader is always safe, since a leader that does
// not know ReadIndex only drops the request and a read is served only on a
// confirmed index; the verdict exists so that reads against such a leader
// fail fast instead of costing a round trip each. It is therefore reached
// cautiously and never kept for good: an explicit "unexpected command"
// marks a leader at once, dropped connections only after
// readIndexDropThreshold of them in a row, and any answer clears
// everything; a mark lasts the recheck interval, after which the leader is
// asked again.
type readSupport struct {
	mu      sync.Mutex
	leaders map[ServerID]*readEvidence
	// recheck is how long a mark lasts; zero means
	// defaultReadSupportRecheck. Tests shorten it.
	recheck time.Duration
	// now reads the clock; nil means time.Now. Tests move it by hand.
	now func() time.Time
}

// readEvidence is what a follower has seen of one leader's answers to
// ReadIndex.
type readEvidence struct {
	// drops counts the attempts in a row that ended with a dropped
	// connection. It survives the mark's expiry, so that once a mark
	// expires the first drop marks the leader again: the evidence that
	// earned the mark has not been contradicted, and a leader that still
	// cannot answer costs a single slow read per interval.
	drops int
	// version changes with drops. An attempt remembers the version it was
	// sent under and its drop counts only if the version is unchanged when
	// it ends, so the attempts one event cuts together count once, and an
	// attempt that was under way when an answer arrived does not count.
	version uint64
	// until is when the mark ends; zero or past means not marked.
	until time.Time
}

func (s *readSupport) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// recheckInterval returns how long a mark lasts.
func (s *readSupport) recheckInterval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recheckLocked()
}

func (s *readSupport) recheckLocked() time.Duration {
	if s.recheck > 0 {
		return s.recheck
	}
	return defaultReadSupportRecheck
}

// evidenceLocked returns id's record, creating it.
func (s *readSupport) evidenceLocked(id ServerID) *readEvidence {
	e := s.leaders[id]
	if e == nil {
		if s.leaders == nil {
			s.leaders = make(map[ServerID]*readEvidence)
		}
		e = &readEvidence{}
		s.leaders[id] = e
	}
	return e
}

// begin is called before asking id. When id is marked it returns how long
// the mark still lasts, and the read must fail; otherwise it returns the
// version of the evidence, to hand to dropped.
func (s *readSupport) begin(id ServerID) (version uint64, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.leaders[id]
	if e == nil {
		return 0, 0
	}
	if wait := e.until.Sub(s.clock()); wait > 0 {
		return e.version, wait
	}
	return e.version, 0
}

// answered records that id decoded a ReadIndex request and answered it:
// it knows the RPC, whatever was seen before.
func (s *readSupport) answered(id ServerID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.leaders[id]
	if e == nil || (e.drops == 0 && e.until.IsZero()) {
		return
	}
	e.drops = 0
	e.until = time.Time{}
	e.version++
}

// refused records that id answered "unexpected command": a definitive
// verdict, which marks it at once. It reports whether id was not marked
// before.
func (s *readSupport) refused(id ServerID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.evidenceLocked(id)
	now := s.clock()
	fresh := !e.until.After(now)
	e.drops = max(e.drops, readIndexDropThreshold)
	e.until = now.Add(s.recheckLocked())
	e.version++
	return fresh
}

// dropped records that an attempt sent under version ended with id
// dropping the connection. It reports whether id is now marked, and
// whether this drop is the one that marked it.
func (s *readSupport) dropped(id ServerID, version uint64) (marked, justMarked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.evidenceLocked(id)
	t := s.clock()
	if e.until.After(t) {
		return true, false
	}
	if e.version != version {
		// Another drop or an answer was recorded while this attempt was
		// under way: it adds nothing.
		return false, false
	}
	e.drops++
	e.version++
	if e.drops < readIndexDropThreshold {
		return false, false
	}
	e.until = t.Add(s.recheckLocked())
	return true, true
}

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
