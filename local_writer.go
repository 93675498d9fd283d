package raft

import (
	"sync"
	"time"
)

// localWriter writes the leader's new entries to its own LogStore on a
// goroutine of its own, so the leader replicates while its disk works. Once
// a write is durable it reports the new durable index to the commitment
// itself, as the replicators report their followers' matches, so the leader
// is counted toward the quorum only up to what its store holds. Routing each
// report through the run goroutine would cost it a wake-up per write for
// nothing it decides. The run goroutine hears through doneCh only of a
// failed write, on which it steps down.
type localWriter struct {
	r          *Raft
	pending    *pendingLogs
	commitment *commitment

	mu     sync.Mutex
	queue  []*Log
	err    error
	signal chan struct{}

	doneCh chan struct{}
	stopCh chan struct{}
	exited chan struct{}
	once   sync.Once
}

func newLocalWriter(r *Raft, ls *leaderState) *localWriter {
	return &localWriter{
		r:          r,
		pending:    ls.pending,
		commitment: ls.commitment,
		signal:     make(chan struct{}, 1),
		doneCh:     make(chan struct{}, 1),
		stopCh:     make(chan struct{}),
		exited:     make(chan struct{}),
	}
}

// submit queues entries for writing, in order.
func (w *localWriter) submit(logs []*Log) {
	w.mu.Lock()
	w.queue = append(w.queue, logs...)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// take removes up to max entries from the queue.
func (w *localWriter) take(max int) []*Log {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.queue), max)
	batch := w.queue[:n:n]
	w.queue = w.queue[n:]
	return batch
}

// stop asks the writer to exit after the write in progress, if any.
func (w *localWriter) stop() {
	w.once.Do(func() { close(w.stopCh) })
}

func (w *localWriter) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *localWriter) notifyDone() {
	select {
	case w.doneCh <- struct{}{}:
	default:
	}
}

func (w *localWriter) run() {
	defer w.r.goroutines.Done()
	defer close(w.exited)
	max := w.r.conf.MaxAppendEntries
	for {
		select {
		case <-w.signal:
		case <-w.stopCh:
			return
		}
		for {
			select {
			case <-w.stopCh:
				return
			default:
			}
			batch := w.take(max)
			if len(batch) == 0 {
				break
			}
			start := time.Now()
			if err := w.r.logs.StoreLogs(batch); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				w.notifyDone()
				return
			}
			w.r.metrics.MeasureSince(w.r.keys.leaderStoreLogs, start)
			durable := batch[len(batch)-1].Index
			// The store has these entries now; replicators read them
			// from it from here on.
			w.pending.trimTo(durable)
			w.commitment.match(w.r.localID, durable)
		}
	}
}

// pendingLogs holds the leader's entries from dispatch until its own write
// of them is durable, so replicators can send them before the disk has
// them.
type pendingLogs struct {
	mu    sync.RWMutex
	first uint64
	logs  []*Log
}

func newPendingLogs() *pendingLogs { return &pendingLogs{} }

func (p *pendingLogs) add(logs []*Log) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.logs) == 0 {
		p.first = logs[0].Index
	}
	p.logs = append(p.logs, logs...)
}

func (p *pendingLogs) get(index uint64) (*Log, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.logs) == 0 || index < p.first || index >= p.first+uint64(len(p.logs)) {
		return nil, false
	}
	return p.logs[index-p.first], true
}

// trimTo forgets entries at or below index, which the store now holds.
func (p *pendingLogs) trimTo(index uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.logs) == 0 || index < p.first {
		return
	}
	n := min(index-p.first+1, uint64(len(p.logs)))
	clear(p.logs[:n])
	p.logs = p.logs[n:]
	p.first += n
}
