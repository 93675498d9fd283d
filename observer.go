package raft

import (
	"sync"
	"sync/atomic"
	"time"
)

// Observation is an event sent to observers.
type Observation struct {
	// Raft is the node the event happened on.
	Raft *Raft
	// Data is one of LeaderObservation, PeerObservation,
	// FailedHeartbeatObservation, ResumedHeartbeatObservation or RaftState.
	Data interface{}
}

// LeaderObservation reports a change of the known leader; empty fields
// mean no leader is known.
type LeaderObservation struct {
	LeaderAddr ServerAddress
	LeaderID   ServerID
	Term       uint64
}

// PeerObservation reports, on the leader, a server added to or removed
// from the configuration.
type PeerObservation struct {
	Removed bool
	Peer    Server
}

// FailedHeartbeatObservation reports, on the leader, that heartbeats to a
// follower have started failing.
type FailedHeartbeatObservation struct {
	PeerID      ServerID
	LastContact time.Time
}

// ResumedHeartbeatObservation reports, on the leader, that heartbeats to a
// follower succeed again.
type ResumedHeartbeatObservation struct {
	PeerID ServerID
}

// FilterFn chooses which observations an observer receives.
type FilterFn func(o *Observation) bool

// Observer receives observations on a channel.
type Observer struct {
	numObserved atomic.Uint64
	numDropped  atomic.Uint64

	channel  chan Observation
	blocking bool
	filter   FilterFn
}

// NewObserver returns an observer that sends observations passing filter
// (all of them if filter is nil) to channel. A blocking observer waits for
// the channel to accept each one, which stalls the node if nobody reads;
// a non-blocking one drops observations the channel cannot take.
func NewObserver(channel chan Observation, blocking bool, filter FilterFn) *Observer {
	return &Observer{channel: channel, blocking: blocking, filter: filter}
}

// GetNumObserved returns how many observations were delivered.
func (o *Observer) GetNumObserved() uint64 { return o.numObserved.Load() }

// GetNumDropped returns how many observations a non-blocking observer
// dropped.
func (o *Observer) GetNumDropped() uint64 { return o.numDropped.Load() }

// observers is the node's set of registered observers.
type observers struct {
	mu  sync.RWMutex
	set map[*Observer]struct{}
}

// RegisterObserver starts sending this node's observations to o.
func (r *Raft) RegisterObserver(o *Observer) {
	r.observers.mu.Lock()
	defer r.observers.mu.Unlock()
	if r.observers.set == nil {
		r.observers.set = make(map[*Observer]struct{})
	}
	r.observers.set[o] = struct{}{}
}

// DeregisterObserver stops sending observations to o.
func (r *Raft) DeregisterObserver(o *Observer) {
	r.observers.mu.Lock()
	defer r.observers.mu.Unlock()
	delete(r.observers.set, o)
}

// observe sends data to every interested observer.
func (r *Raft) observe(data interface{}) {
	ob := Observation{Raft: r, Data: data}
	r.observers.mu.RLock()
	defer r.observers.mu.RUnlock()
	for o := range r.observers.set {
		if o.filter != nil && !o.filter(&ob) {
			continue
		}
		if o.blocking {
			select {
			case o.channel <- ob:
				o.numObserved.Add(1)
			case <-r.shutdownCh:
				return
			}
			continue
		}
		select {
		case o.channel <- ob:
			o.numObserved.Add(1)
		default:
			o.numDropped.Add(1)
		}
	}
}

// setRole changes the node's role and tells observers.
func (r *Raft) setRole(s RaftState) {
	if old := r.nodeState.getRole(); old != s {
		r.nodeState.setRole(s)
		r.observe(s)
	}
}
