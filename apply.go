package raft

import (
	"errors"
	"sync"
	"time"
)

// applyTask asks the FSM goroutine to apply the entries from first to last.
// futures holds the leader's pending futures for some of those entries, in
// index order; their logs are used instead of reading the store, because a
// leader may commit an entry before its own disk write finishes.
//
// A task may instead carry a snapshot or restore request, which the FSM
// goroutine handles in order with the applies around it, so a snapshot
// sees exactly the entries applied before it.
type applyTask struct {
	first, last uint64
	futures     []*logFuture
	snapshot    *fsmSnapshotRequest
	restore     *fsmRestoreRequest
}

// applyQueue hands committed ranges from the run goroutine to the FSM
// goroutine without ever blocking the run goroutine on a slow FSM.
type applyQueue struct {
	mu      sync.Mutex
	tasks   []applyTask
	pending uint64
	signal  chan struct{}
	// closed is set when the FSM goroutine stops; later tasks fail at once.
	closed bool
}

func newApplyQueue() *applyQueue {
	return &applyQueue{signal: make(chan struct{}, 1)}
}

// push queues t for the FSM goroutine. Once that goroutine has stopped, t
// fails at once instead: the run goroutine can commit entries in the moment
// between the FSM goroutine's exit and its own, and their futures must
// still complete.
func (q *applyQueue) push(t applyTask) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		failTasks([]applyTask{t})
		return
	}
	q.tasks = append(q.tasks, t)
	if t.first > 0 && t.last >= t.first {
		q.pending += t.last - t.first + 1
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *applyQueue) takeAll() []applyTask {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.tasks
	q.tasks = nil
	return t
}

// close stops the queue and returns the tasks never taken.
func (q *applyQueue) close() []applyTask {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	t := q.tasks
	q.tasks = nil
	return t
}

func (q *applyQueue) done(n uint64) {
	q.mu.Lock()
	q.pending -= n
	q.mu.Unlock()
}

// pendingEntries returns how many committed entries wait to be applied.
func (q *applyQueue) pendingEntries() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending
}

// setCommit records a new commit index and queues the newly committed
// entries for the FSM. Only the run goroutine calls it.
func (r *Raft) setCommit(index uint64, futures []*logFuture) {
	r.commitIndex.Store(index)
	if r.configs.hasPending() {
		r.configs.commit(index)
		r.publishConfig()
	}
	first := r.applyQueued + 1
	if index < first {
		return
	}
	r.applyQueued = index
	r.fsmQueue.push(applyTask{first: first, last: index, futures: futures})
}

// runFSM is the goroutine that applies committed entries to the FSM, in
// batches, in log order.
func (r *Raft) runFSM() {
	defer r.goroutines.Done()
	_, batching := r.fsm.(BatchingFSM)
	for {
		select {
		case <-r.fsmQueue.signal:
		case <-r.shutdownCh:
			failTasks(r.fsmQueue.close())
			r.applyWaiters.close()
			return
		}
		tasks := r.fsmQueue.takeAll()
		for i, t := range tasks {
			switch {
			case t.snapshot != nil:
				r.fsmSnapshot(t.snapshot)
				continue
			case t.restore != nil:
				r.fsmRestore(t.restore)
				continue
			}
			if !r.applyRange(t, batching) {
				failTasks(append(tasks[i+1:], r.fsmQueue.close()...))
				r.applyWaiters.close()
				return
			}
		}
	}
}

// failTasks fails the futures and requests of tasks that will never run
// because the node is shutting down.
func failTasks(tasks []applyTask) {
	for _, t := range tasks {
		for _, f := range t.futures {
			f.respond(ErrRaftShutdown)
		}
		if t.snapshot != nil {
			t.snapshot.reply <- fsmSnapshotResult{err: ErrRaftShutdown}
		}
		if t.restore != nil {
			// The FSM would have closed the reader (FSM.Restore's
			// contract); nobody else will.
			_ = t.restore.source.Close()
			t.restore.reply <- ErrRaftShutdown
		}
	}
}

// applyRange applies one task in chunks of MaxAppendEntries. It returns
// false if the node shut down meanwhile.
func (r *Raft) applyRange(t applyTask, batching bool) bool {
	futures := t.futures
	chunk := uint64(r.conf.MaxAppendEntries)
	first := t.first
	if applied := r.getLastApplied(); first <= applied {
		// A snapshot restored since this task was queued already covers
		// these entries.
		for len(futures) > 0 && futures[0].log.Index <= applied {
			futures[0].respond(ErrAbortedByRestore)
			futures = futures[1:]
		}
		r.fsmQueue.done(min(applied, t.last) - first + 1)
		first = applied + 1
	}
	for start := first; start <= t.last; start += chunk {
		end := min(start+chunk-1, t.last)
		entries := make([]*Log, 0, end-start+1)
		owners := make([]*logFuture, 0, end-start+1)
		for i := start; i <= end; i++ {
			if len(futures) > 0 && futures[0].log.Index == i {
				entries = append(entries, &futures[0].log)
				owners = append(owners, futures[0])
				futures = futures[1:]
				continue
			}
			l := new(Log)
			switch r.readCommitted(i, l) {
			case readShutdown:
				for _, f := range append(owners, futures...) {
					if f != nil {
						f.respond(ErrRaftShutdown)
					}
				}
				return false
			case readCovered:
				// A snapshot about to be restored covers the rest of this
				// task; its entries were deleted to make way for it.
				for _, f := range append(owners, futures...) {
					if f != nil {
						f.respond(ErrAbortedByRestore)
					}
				}
				r.fsmQueue.done(t.last - start + 1)
				return true
			}
			entries = append(entries, l)
			owners = append(owners, nil)
		}
		r.applyBatch(entries, owners, batching)
		r.lastApplied.Store(end)
		r.applyWaiters.applied(end)
		r.fsmQueue.done(end - start + 1)
	}
	return true
}

// readOutcome is what readCommitted found.
type readOutcome int

const (
	readOK readOutcome = iota
	readShutdown
	readCovered
)

// readCommitted reads a committed entry. A committed entry must be in the
// store unless a snapshot being installed covers it; otherwise, if reading
// fails, the goroutine retries rather than skip it, since skipping would
// make this FSM diverge.
func (r *Raft) readCommitted(index uint64, l *Log) readOutcome {
	backoff := 10 * time.Millisecond
	for {
		err := r.logs.GetLog(index, l)
		if err == nil {
			return readOK
		}
		if errors.Is(err, ErrLogNotFound) && index <= r.lastSnapshotIndex() {
			return readCovered
		}
		r.logger.Error("failed to read committed entry, retrying", "index", index, "error", err)
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, time.Second)
		case <-r.shutdownCh:
			return readShutdown
		}
	}
}

// applyBatch gives the FSM the commands of one batch and completes their
// futures with the FSM's responses.
func (r *Raft) applyBatch(entries []*Log, owners []*logFuture, batching bool) {
	start := time.Now()
	var cmds []*Log
	var cmdOwners []*logFuture
	for i, e := range entries {
		if e.Type == LogConfiguration {
			// Tracked so a snapshot can record the configuration as of
			// the last entry it covers.
			if c, err := DecodeConfiguration(e.Data); err == nil {
				r.fsmState.config = configEntry{index: e.Index, config: c}
			}
		}
		if e.Type == LogCommand {
			cmds = append(cmds, e)
			cmdOwners = append(cmdOwners, owners[i])
		}
	}
	if len(cmds) > 0 {
		if batching {
			resps := r.fsm.(BatchingFSM).ApplyBatch(cmds)
			for i, f := range cmdOwners {
				if f != nil && i < len(resps) {
					f.response = resps[i]
				}
			}
		} else {
			for i, e := range cmds {
				resp := r.fsm.Apply(e)
				if f := cmdOwners[i]; f != nil {
					f.response = resp
				}
			}
		}
		r.metrics.MeasureSince(r.keys.fsmApplyBatch, start)
		r.metrics.AddSample(r.keys.fsmApplyBatchNum, float32(len(cmds)))
	}
	if n := len(entries); n > 0 {
		r.fsmState.appliedTerm = entries[n-1].Term
	}
	for _, f := range owners {
		if f != nil {
			r.metrics.MeasureSince(r.keys.commitTime, f.dispatch)
			f.respond(nil)
		}
	}
}
