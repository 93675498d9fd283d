package raft

import (
	"time"
)

// leaderState is everything that exists only while this node leads one
// term. It is created on election and torn down on step-down.
type leaderState struct {
	term       uint64
	startIndex uint64
	commitCh   chan struct{}
	commitment *commitment
	// inflight holds the futures of dispatched, uncommitted entries in
	// index order.
	inflight    []*logFuture
	replicators map[ServerID]*replicator
	stepDownCh  chan uint64
	writer      *localWriter
	pending     *pendingLogs
	verifies    []*verifyFuture
	change      *configChange
	transfer    *transferState

	startTime         time.Time
	done              chan struct{}
	readQueue         []*readFuture
	readsBeforeCommit []*readFuture
	roundInFlight     bool
	roundDone         chan readRoundResult
	timeoutNowSent    bool
}

// maxInflightBatches bounds, in units of MaxAppendEntries, how many
// uncommitted entries the leader accepts before it stops taking new Apply
// calls, so a slow quorum slows writers down instead of growing memory.
const maxInflightBatches = 128

// runLeader leads one term.
func (r *Raft) runLeader() {
	term := r.getCurrentTerm()
	lastIndex, _ := r.getLastLog()
	r.logger.Debug("entering leader state", "term", term)
	r.metrics.IncrCounter([]string{"raft", "state", "leader"}, 1)
	now := time.Now()
	r.lastLeaderContact.Store(now.UnixNano())

	latest := r.configs.latest().config
	commitCh := make(chan struct{}, 1)
	ls := &leaderState{
		term:        term,
		startIndex:  lastIndex + 1,
		commitCh:    commitCh,
		commitment:  newCommitment(commitCh, latest, lastIndex+1),
		replicators: make(map[ServerID]*replicator),
		stepDownCh:  make(chan uint64, 1),
		pending:     newPendingLogs(),
		startTime:   now,
		done:        make(chan struct{}),
		roundDone:   make(chan readRoundResult),
	}
	// Everything already in this node's log was written synchronously.
	ls.commitment.match(r.localID, lastIndex)
	ls.writer = newLocalWriter(r, ls)
	r.leader = ls
	r.goroutines.Add(1)
	go ls.writer.run()
	for _, s := range latest.Servers {
		if s.ID != r.localID {
			r.startReplicator(s)
		}
	}
	defer r.leaveLeader()

	r.notifyLeadership(true)
	noop := &logFuture{log: Log{Type: LogNoop}}
	noop.init()
	r.dispatchLogs([]*logFuture{noop})
	r.leaderLoop()
}

// leaderLoop serves requests while this node leads.
func (r *Raft) leaderLoop() {
	ls := r.leader
	lease := time.NewTimer(r.conf.LeaderLeaseTimeout)
	defer lease.Stop()
	// Catch-up and leadership transfer progress is checked on ticks.
	tick := time.NewTicker(r.conf.CommitTimeout)
	defer tick.Stop()
	maxInflight := maxInflightBatches * r.conf.MaxAppendEntries
	for r.getRole() == Leader {
		applyCh := r.applyCh
		if len(ls.inflight) >= maxInflight {
			applyCh = nil
		}
		select {
		case rpc := <-r.rpcCh:
			r.processRPC(rpc)
		case <-ls.commitCh:
			r.leaderCommit()
		case <-ls.writer.doneCh:
			r.leaderWriteDone()
		case t := <-ls.stepDownCh:
			if t > r.getCurrentTerm() {
				r.logger.Debug("newer term seen by replication, stepping down", "term", t)
				r.stepDown(t)
			}
		case f := <-applyCh:
			if ls.transfer != nil {
				f.respond(ErrLeadershipTransferInProgress)
				continue
			}
			batch := []*logFuture{f}
		drain:
			for len(batch) < r.conf.MaxAppendEntries {
				select {
				case f := <-r.applyCh:
					batch = append(batch, f)
				default:
					break drain
				}
			}
			r.dispatchLogs(batch)
		case f := <-r.verifyCh:
			r.startVerify(f)
		case f := <-r.userRestoreCh:
			noop, err := r.restoreUserSnapshot(f.meta, f.reader)
			if err != nil {
				f.respond(err)
				continue
			}
			r.goroutines.Add(1)
			go func() {
				defer r.goroutines.Done()
				f.respond(noop.Error())
			}()
		case f := <-r.configChangeCh:
			r.startConfigChange(f)
		case f := <-r.readCh:
			r.startRead(f)
		case res := <-ls.roundDone:
			r.readRoundDone(res)
		case f := <-r.transferCh:
			r.startTransfer(f)
		case <-tick.C:
			if ls.change != nil {
				r.advanceConfigChange()
			}
			if ls.transfer != nil {
				r.advanceTransfer()
			}
		case <-lease.C:
			r.checkQuorum()
			lease.Reset(r.conf.LeaderLeaseTimeout)
		case f := <-r.bootstrapCh:
			f.respond(ErrCantBootstrap)
		case <-r.shutdownCh:
			return
		}
	}
}

// notifyLeadership tells LeaderCh and Config.NotifyCh of a change.
func (r *Raft) notifyLeadership(isLeader bool) {
	select {
	case <-r.leaderCh:
	default:
	}
	r.leaderCh <- isLeader
	if r.conf.NotifyCh != nil {
		select {
		case r.conf.NotifyCh <- isLeader:
		case <-r.shutdownCh:
		}
	}
}

// leaveLeader tears down the term's leadership: replication stops, the
// local writer finishes its current write, and every pending future fails.
// It runs synchronously wherever leadership ends, so nothing acts as a
// follower (truncating or appending to the log) while the leader's writer
// may still be writing. It is idempotent.
func (r *Raft) leaveLeader() {
	ls := r.leader
	if ls == nil {
		return
	}
	for _, rp := range ls.replicators {
		rp.stop()
	}
	ls.writer.stop()
	select {
	case <-ls.writer.exited:
	case <-r.shutdownCh:
	}
	// Entries dispatched but never written are gone from this node; they
	// were never committed by it, and if a quorum holds them the next
	// leader will send them back.
	if err := r.reloadLastLog(); err != nil {
		r.logger.Error("cannot read log after stepping down", "error", err)
	}
	err := r.leadershipEndError()
	for _, f := range ls.inflight {
		f.respond(err)
	}
	for _, v := range ls.verifies {
		v.fail(err)
	}
	if ls.change != nil {
		ls.change.f.respond(err)
	}
	close(ls.done)
	for _, f := range append(ls.readQueue, ls.readsBeforeCommit...) {
		r.failRead(f, err)
	}
	if ls.transfer != nil {
		if r.getCurrentTerm() > ls.term {
			// A newer term exists: the target (or someone) took over.
			ls.transfer.f.respond(nil)
		} else {
			ls.transfer.f.respond(err)
		}
	}
	r.leader = nil
	if _, id := r.LeaderWithID(); id == r.localID {
		r.setLeader("", "")
	}
	if r.getRole() == Leader {
		r.setRole(Follower)
	}
	r.notifyLeadership(false)
	r.logger.Debug("left leader state", "term", ls.term)
}

// leadershipEndError is what operations cut short by the end of a term
// fail with: ErrRaftShutdown if the node is shutting down, which every
// future pending at shutdown reports, and ErrLeadershipLost otherwise.
func (r *Raft) leadershipEndError() error {
	if r.shuttingDown() {
		return ErrRaftShutdown
	}
	return ErrLeadershipLost
}

// reloadLastLog reads the last entry back from the store.
func (r *Raft) reloadLastLog() error {
	last, err := r.logs.LastIndex()
	if err != nil {
		return err
	}
	term, err := getLogTerm(r.logs, last)
	if err != nil {
		return err
	}
	// A compacted (even empty) log does not mean an empty history: the
	// snapshot covers everything up to its index.
	if snapIndex, snapTerm := r.lastSnapshot(); last < snapIndex {
		last, term = snapIndex, snapTerm
	}
	old, _ := r.getLastLog()
	if last < old {
		r.configs.truncate(last + 1)
		r.publishConfig()
	}
	r.setLastLog(last, term)
	return nil
}

// dispatchLogs assigns indexes to new entries, makes them visible to the
// replicators, and hands them to the local writer. Replication and the
// local write proceed in parallel (Raft thesis section 10.2.1).
func (r *Raft) dispatchLogs(batch []*logFuture) {
	ls := r.leader
	now := time.Now()
	term := r.getCurrentTerm()
	lastIndex, _ := r.getLastLog()
	logs := make([]*Log, len(batch))
	for i, f := range batch {
		lastIndex++
		f.log.Index = lastIndex
		f.log.Term = term
		f.log.AppendedAt = now
		f.dispatch = now
		logs[i] = &f.log
	}
	ls.pending.add(logs)
	r.setLastLog(lastIndex, term)
	ls.inflight = append(ls.inflight, batch...)
	ls.writer.submit(logs)
	for _, rp := range ls.replicators {
		rp.notify()
	}
	r.metrics.AddSample(r.keys.dispatchNumLogs, float32(len(batch)))
	r.metrics.IncrCounter(r.keys.apply, float32(len(batch)))
}

// leaderWriteDone handles the local writer's signal, sent only when a
// write failed (it reports its progress to the commitment itself).
func (r *Raft) leaderWriteDone() {
	ls := r.leader
	if err := ls.writer.failure(); err != nil {
		r.logger.Error("leader cannot write its log, stepping down", "error", err)
		r.metrics.IncrCounter([]string{"raft", "leader", "storeLogsFailed"}, 1)
		r.becomeFollower()
	}
}

// leaderCommit moves the commit index to what the quorum holds and hands
// the committed futures to the FSM.
func (r *Raft) leaderCommit() {
	ls := r.leader
	commit := ls.commitment.getCommitIndex()
	if commit <= r.getCommitIndex() {
		return
	}
	k := 0
	for k < len(ls.inflight) && ls.inflight[k].log.Index <= commit {
		k++
	}
	// The committed futures go to the FSM goroutine in a slice of their
	// own; the rest stay in place rather than be copied on every commit.
	done := append([]*logFuture(nil), ls.inflight[:k]...)
	clear(ls.inflight[:k])
	ls.inflight = ls.inflight[k:]
	r.setCommit(commit, done)
	r.metrics.SetGauge(r.keys.commitNumLogs, float32(len(done)))
	r.advanceConfigChange()
	r.releaseReadsBeforeCommit()
	r.checkSelfRemoved()
	// The replicators are not woken to send the new commit index on its
	// own: it rides on the next AppendEntries that carries entries, or
	// goes alone after CommitTimeout if none comes (the bound Config
	// promises). Sending it at once cost each follower a whole extra
	// request per commit (encode, a write, the follower's loop, an FSM
	// pass, an answer) racing the next write for the same CPUs; with one
	// writer waiting on each Apply it made every Apply about a fifth
	// slower. A follower that needs the commit index now, for a read, asks
	// for it (see finishRead).
}

// checkQuorum steps down a leader that has not heard from a quorum of
// voters within LeaderLeaseTimeout: a partitioned leader must not keep
// accepting writes it can never commit.
func (r *Raft) checkQuorum() {
	ls := r.leader
	now := time.Now()
	latest := r.configs.latest().config
	contacted := 0
	for _, s := range latest.Servers {
		if s.Suffrage != Voter {
			continue
		}
		if s.ID == r.localID {
			contacted++
			continue
		}
		if rp, ok := ls.replicators[s.ID]; ok && now.Sub(rp.lastContact()) <= r.conf.LeaderLeaseTimeout {
			contacted++
		}
	}
	if contacted < latest.quorum() {
		r.logger.Warn("failed to contact a quorum of voters, stepping down", "contacted", contacted, "quorum", latest.quorum())
		r.metrics.IncrCounter([]string{"raft", "transition", "leader_lease_timeout"}, 1)
		r.becomeFollower()
		return
	}
	r.lastLeaderContact.Store(now.UnixNano())
}

// startVerify begins a round of heartbeats whose acknowledgement by a
// quorum proves this node still leads.
func (r *Raft) startVerify(f *verifyFuture) {
	ls := r.leader
	latest := r.configs.latest().config
	f.setQuorum(latest.quorum())
	if latest.isVoter(r.localID) {
		f.vote(r.localID)
	}
	live := ls.verifies[:0]
	for _, v := range ls.verifies {
		if !v.isDone() {
			live = append(live, v)
		}
	}
	ls.verifies = append(live, f)
	for _, s := range latest.Servers {
		if s.Suffrage != Voter || s.ID == r.localID {
			continue
		}
		if rp, ok := ls.replicators[s.ID]; ok {
			rp.addVerify(f)
		}
	}
}
