package raft

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// replicator drives replication to one follower for one term. It is a
// small explicit state machine: it probes (one request at a time, walking
// nextIndex back on mismatch) until the follower's log matches, then
// pipelines batches back to back until a request fails, then probes again.
type replicator struct {
	r    *Raft
	ls   *leaderState
	peer Server
	term uint64
	keys peerMetricKeys

	// Owned by the replication goroutine (and by the pipeline receiver
	// while a pipeline runs, never both at once).
	nextIndex  uint64
	matchIndex uint64
	sentCommit uint64
	needProbe  bool
	failures   int

	// match mirrors matchIndex for the run goroutine (catch-up and
	// leadership transfer decisions).
	match atomic.Uint64
	// reprobe asks the replicator to probe again from the given index + 1:
	// a heartbeat showed the follower's log is shorter than it was (it
	// restarted empty or was replaced), so the pipeline's view is stale.
	reprobe atomic.Uint64

	// ackedSend is when the latest request this follower acknowledged in
	// this term was sent: the leader lease is measured from it.
	ackedSend atomic.Int64

	trigger  chan struct{}
	stopCh   chan struct{}
	stopOnce sync.Once
	contact  atomic.Int64

	verifyMu sync.Mutex
	verifies []*verifyFuture
	hbNotify chan struct{}
}

// startReplicator starts replication and heartbeats to s.
func (r *Raft) startReplicator(s Server) {
	ls := r.leader
	rp := &replicator{
		r:         r,
		ls:        ls,
		peer:      s,
		term:      ls.term,
		nextIndex: r.getLastIndex() + 1,
		needProbe: true,
		trigger:   make(chan struct{}, 1),
		stopCh:    make(chan struct{}),
		hbNotify:  make(chan struct{}, 1),
		keys:      newPeerMetricKeys(s.ID),
	}
	rp.contact.Store(time.Now().UnixNano())
	ls.replicators[s.ID] = rp
	r.goroutines.Add(2)
	go rp.run()
	go rp.heartbeat()
}

func (rp *replicator) stop() {
	rp.stopOnce.Do(func() { close(rp.stopCh) })
}

func (rp *replicator) stopped() bool {
	select {
	case <-rp.stopCh:
		return true
	default:
		return false
	}
}

// notify wakes the replicator: new entries or a new commit index.
func (rp *replicator) notify() {
	select {
	case rp.trigger <- struct{}{}:
	default:
	}
}

func (rp *replicator) lastContact() time.Time {
	return time.Unix(0, rp.contact.Load())
}

func (rp *replicator) setContact(t time.Time) {
	rp.contact.Store(t.UnixNano())
}

// stepDown tells the run goroutine a newer term exists.
func (rp *replicator) stepDown(term uint64) {
	select {
	case rp.ls.stepDownCh <- term:
	default:
	}
}

// ackSent records that the follower answered, in this term, a request sent
// at t.
func (rp *replicator) ackSent(t time.Time) {
	n := t.UnixNano()
	for {
		old := rp.ackedSend.Load()
		if old >= n || rp.ackedSend.CompareAndSwap(old, n) {
			return
		}
	}
}

// updateMatch records that the follower holds every entry up to index.
func (rp *replicator) updateMatch(index uint64) {
	if index > rp.matchIndex {
		rp.matchIndex = index
		rp.match.Store(index)
		rp.ls.commitment.match(rp.peer.ID, index)
	}
}

// run is the replication goroutine. When idle it still sends the commit
// index every CommitTimeout: heartbeats carry none, and a follower that
// restarted with its log intact has forgotten it; without new writes
// nothing else would tell it.
func (rp *replicator) run() {
	defer rp.r.goroutines.Done()
	pipelineSupported := true
	idle := time.NewTimer(rp.r.conf.CommitTimeout)
	defer idle.Stop()
	for !rp.stopped() {
		rp.takeReprobe()
		last := rp.r.getLastIndex()
		commit := rp.r.getCommitIndex()
		if rp.needProbe || rp.nextIndex <= last || commit > rp.sentCommit {
			sent, done := rp.sendOne(last, commit)
			if done {
				return
			}
			if !sent {
				if !rp.backoff() {
					return
				}
				continue
			}
			if !rp.needProbe && pipelineSupported {
				pipelineSupported = rp.runPipeline()
			}
			continue
		}
		idle.Reset(rp.r.conf.CommitTimeout)
		select {
		case <-rp.trigger:
		case <-idle.C:
			rp.sentCommit = 0
		case <-rp.stopCh:
			return
		}
	}
}

// takeReprobe applies a pending reprobe request.
func (rp *replicator) takeReprobe() {
	if hint := rp.reprobe.Swap(0); hint != 0 {
		rp.nextIndex = min(rp.nextIndex, hint)
		rp.needProbe = true
		rp.sentCommit = 0
	}
}

// backoff waits after a transport failure, longer after each one. It
// returns false if the replicator was stopped meanwhile.
func (rp *replicator) backoff() bool {
	wait := min(10*time.Millisecond<<min(rp.failures, 6), 500*time.Millisecond)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-rp.stopCh:
		return false
	}
}

// request builds an AppendEntries carrying the entries from next up to
// last (at most MaxAppendEntries of them).
func (rp *replicator) request(next, last, commit uint64) (*AppendEntriesRequest, error) {
	prevTerm, err := rp.termAt(next - 1)
	if err != nil {
		return nil, err
	}
	req := &AppendEntriesRequest{
		RPCHeader:         rp.r.header(),
		Term:              rp.term,
		Leader:            rp.r.localPeer,
		PrevLogEntry:      next - 1,
		PrevLogTerm:       prevTerm,
		LeaderCommitIndex: commit,
		Entries:           []*Log{},
	}
	if next <= last {
		end := min(last, next+uint64(rp.r.conf.MaxAppendEntries)-1)
		req.Entries = make([]*Log, 0, end-next+1)
		for i := next; i <= end; i++ {
			l, err := rp.entry(i)
			if err != nil {
				return nil, err
			}
			req.Entries = append(req.Entries, l)
		}
	}
	return req, nil
}

// entry returns the entry at index from the leader's pending entries or
// its store.
func (rp *replicator) entry(index uint64) (*Log, error) {
	if l, ok := rp.ls.pending.get(index); ok {
		return l, nil
	}
	l := new(Log)
	if err := rp.r.logs.GetLog(index, l); err != nil {
		return nil, err
	}
	return l, nil
}

func (rp *replicator) termAt(index uint64) (uint64, error) {
	if index == 0 {
		return 0, nil
	}
	if snapIndex, snapTerm := rp.r.lastSnapshot(); index == snapIndex {
		return snapTerm, nil
	}
	l, err := rp.entry(index)
	if err != nil {
		return 0, err
	}
	return l.Term, nil
}

// sendOne sends one AppendEntries and waits for the answer. sent reports
// whether an answer came back; done reports that the replicator must stop.
func (rp *replicator) sendOne(last, commit uint64) (sent, done bool) {
	next := rp.nextIndex
	req, err := rp.request(next, last, commit)
	if err != nil {
		if errors.Is(err, ErrLogNotFound) {
			// The follower needs entries compacted into a snapshot.
			return rp.sendSnapshot()
		}
		rp.r.logger.Error("failed to read entries for replication", "peer", rp.peer.ID, "error", err)
		rp.failures++
		return false, false
	}
	var resp AppendEntriesResponse
	start := time.Now()
	if err := rp.r.trans.AppendEntries(rp.peer.ID, rp.peer.Address, req, &resp); err != nil {
		rp.failures++
		rp.r.logger.Debug("append entries failed", "peer", rp.peer.ID, "error", err)
		return false, false
	}
	rp.failures = 0
	rp.r.metrics.MeasureSince(rp.keys.appendRPC, start)
	if resp.Term > rp.term {
		rp.stepDown(resp.Term)
		return true, true
	}
	if resp.Term == rp.term {
		// A follower answering with an older term has not adopted ours
		// (it could not persist it), so it has promised nothing.
		rp.setContact(time.Now())
		rp.ackSent(start)
	}
	if resp.Success {
		rp.updateMatch(req.PrevLogEntry + uint64(len(req.Entries)))
		rp.nextIndex = req.PrevLogEntry + uint64(len(req.Entries)) + 1
		rp.sentCommit = max(rp.sentCommit, commit)
		rp.needProbe = false
		return true, false
	}
	rp.nextIndex = max(1, min(next-1, resp.LastLog+1))
	rp.needProbe = true
	return true, false
}

// runPipeline sends batches without waiting for answers until a request
// fails or replication stops. It returns false if the transport cannot
// pipeline at all.
func (rp *replicator) runPipeline() bool {
	pipe, err := rp.r.trans.AppendEntriesPipeline(rp.peer.ID, rp.peer.Address)
	if err != nil {
		if errors.Is(err, ErrPipelineNotSupported) {
			return false
		}
		rp.r.logger.Debug("failed to open pipeline", "peer", rp.peer.ID, "error", err)
		return true
	}
	broken := make(chan struct{})
	var breakOnce sync.Once
	halt := func() {
		breakOnce.Do(func() { close(broken) })
		_ = pipe.Close()
	}
	recvDone := make(chan struct{})
	rp.r.goroutines.Add(1)
	go rp.pipelineReceive(pipe, broken, halt, recvDone)

	next := rp.nextIndex
	sentCommit := rp.sentCommit
	idle := time.NewTimer(rp.r.conf.CommitTimeout)
	defer idle.Stop()
send:
	for {
		last := rp.r.getLastIndex()
		commit := rp.r.getCommitIndex()
		if next <= last || commit > sentCommit {
			req, err := rp.request(next, last, commit)
			if err != nil {
				rp.r.logger.Warn("failed to read entries for pipeline", "peer", rp.peer.ID, "error", err)
				break send
			}
			if _, err := pipe.AppendEntries(req, new(AppendEntriesResponse)); err != nil {
				rp.r.logger.Debug("pipelined append failed", "peer", rp.peer.ID, "error", err)
				break send
			}
			next = req.PrevLogEntry + uint64(len(req.Entries)) + 1
			sentCommit = commit
			continue
		}
		idle.Reset(rp.r.conf.CommitTimeout)
		select {
		case <-rp.trigger:
		case <-idle.C:
			sentCommit = 0
		case <-broken:
			break send
		case <-rp.stopCh:
			break send
		}
		if rp.reprobe.Load() != 0 {
			break send
		}
	}
	halt()
	<-recvDone
	// Answers still in flight are dropped; probing from the last match
	// re-sends whatever they would have confirmed.
	rp.nextIndex = rp.matchIndex + 1
	rp.sentCommit = 0
	rp.needProbe = true
	return true
}

// pipelineReceive consumes pipelined answers in order.
func (rp *replicator) pipelineReceive(pipe AppendPipeline, broken <-chan struct{}, halt func(), done chan<- struct{}) {
	defer rp.r.goroutines.Done()
	defer close(done)
	for {
		select {
		case f := <-pipe.Consumer():
			if err := f.Error(); err != nil {
				halt()
				return
			}
			resp := f.Response()
			if resp.Term > rp.term {
				rp.stepDown(resp.Term)
				halt()
				return
			}
			if resp.Term == rp.term {
				rp.setContact(time.Now())
				rp.ackSent(f.Start())
			}
			if !resp.Success {
				halt()
				return
			}
			req := f.Request()
			rp.updateMatch(req.PrevLogEntry + uint64(len(req.Entries)))
			rp.r.metrics.MeasureSince(rp.keys.appendPipeline, f.Start())
		case <-broken:
			return
		case <-rp.stopCh:
			halt()
			return
		}
	}
}

// addVerify registers a leadership check to be answered by the next
// heartbeat round, and asks for that round now.
func (rp *replicator) addVerify(v *verifyFuture) {
	rp.verifyMu.Lock()
	rp.verifies = append(rp.verifies, v)
	rp.verifyMu.Unlock()
	select {
	case rp.hbNotify <- struct{}{}:
	default:
	}
}

// requeueVerifies puts back checks a round could not answer, ahead of any
// registered since.
func (rp *replicator) requeueVerifies(v []*verifyFuture) {
	if len(v) == 0 {
		return
	}
	rp.verifyMu.Lock()
	rp.verifies = append(v, rp.verifies...)
	rp.verifyMu.Unlock()
}

func (rp *replicator) takeVerifies() []*verifyFuture {
	rp.verifyMu.Lock()
	defer rp.verifyMu.Unlock()
	v := rp.verifies
	rp.verifies = nil
	return v
}

// heartbeat is the goroutine that keeps the follower's election timer
// quiet and answers leadership checks, independently of replication, which
// may be busy with large batches.
func (rp *replicator) heartbeat() {
	defer rp.r.goroutines.Done()
	interval := rp.r.rc().HeartbeatTimeout / 10
	timer := time.NewTimer(randomTimeout(interval))
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-timer.C:
		case <-rp.hbNotify:
		case <-rp.stopCh:
			return
		}
		verifies := rp.takeVerifies()
		req := &AppendEntriesRequest{
			RPCHeader: rp.r.header(),
			Term:      rp.term,
			Leader:    rp.r.localPeer,
		}
		var resp AppendEntriesResponse
		start := time.Now()
		err := rp.r.trans.AppendEntries(rp.peer.ID, rp.peer.Address, req, &resp)
		switch {
		case err != nil && (rp.stopped() || rp.r.shuttingDown()):
			// Our own step-down or shutdown cut the call; the checks fail
			// with the term.
			rp.requeueVerifies(verifies)
			return
		case err != nil:
			if failures == 0 {
				rp.r.observe(FailedHeartbeatObservation{PeerID: rp.peer.ID, LastContact: rp.lastContact()})
			}
			failures++
			rp.r.logger.Debug("heartbeat failed", "peer", rp.peer.ID, "error", err)
			// The checks wait for the next round that gets through.
			rp.requeueVerifies(verifies)
			timer.Reset(min(10*time.Millisecond<<min(failures, 6), interval*5))
			continue
		case resp.Term > rp.term:
			rp.stepDown(resp.Term)
			for _, v := range verifies {
				v.fail(ErrNotLeader)
			}
			return
		}
		if failures > 0 {
			rp.r.observe(ResumedHeartbeatObservation{PeerID: rp.peer.ID})
		}
		if resp.Success && resp.LastLog < rp.match.Load() {
			// The follower holds less than it acknowledged: replication's
			// view of it is stale.
			rp.reprobe.Store(resp.LastLog + 1)
			rp.notify()
		}
		failures = 0
		if resp.Success && resp.Term == rp.term {
			rp.setContact(time.Now())
			rp.ackSent(start)
			for _, v := range verifies {
				v.vote(rp.peer.ID)
			}
		} else {
			// No promise from this follower: the checks wait for a round
			// that gets one.
			rp.requeueVerifies(verifies)
		}
		rp.r.metrics.MeasureSince(rp.keys.heartbeat, start)
		timer.Reset(randomTimeout(interval))
	}
}
