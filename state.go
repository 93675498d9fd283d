package raft

import (
	"sync"
	"sync/atomic"
	"time"
)

// RaftState is the role a node plays.
type RaftState uint32

const (
	// Follower accepts entries from a leader and votes in elections.
	Follower RaftState = iota
	// Candidate is campaigning to become leader.
	Candidate
	// Leader accepts writes and replicates them.
	Leader
	// Shutdown is the state of a node after Shutdown.
	Shutdown
)

// String returns the state's name.
func (s RaftState) String() string {
	switch s {
	case Follower:
		return "Follower"
	case Candidate:
		return "Candidate"
	case Leader:
		return "Leader"
	case Shutdown:
		return "Shutdown"
	default:
		return "Unknown"
	}
}

// nodeState holds the counters that the run goroutine writes and every
// other goroutine may read. Only the run goroutine writes them, so reads
// need no lock beyond the atomics; the last-log pair is read under a mutex
// because index and term must be seen together.
type nodeState struct {
	role        atomic.Uint32
	currentTerm atomic.Uint64
	commitIndex atomic.Uint64
	lastApplied atomic.Uint64

	lastLogMu    sync.Mutex
	lastLogIndex uint64
	lastLogTerm  uint64

	// lastLeaderContact is the unix-nano time this node last heard from a
	// valid leader (or, on the leader, last confirmed a quorum).
	lastLeaderContact atomic.Int64
	// electionReset is the unix-nano time of the last event that should
	// push back this node's election timer: leader contact, a granted vote,
	// or a transport's contact hint.
	electionReset atomic.Int64
}

func (s *nodeState) getRole() RaftState     { return RaftState(s.role.Load()) }
func (s *nodeState) setRole(r RaftState)    { s.role.Store(uint32(r)) }
func (s *nodeState) getCurrentTerm() uint64 { return s.currentTerm.Load() }
func (s *nodeState) getCommitIndex() uint64 { return s.commitIndex.Load() }
func (s *nodeState) getLastApplied() uint64 { return s.lastApplied.Load() }

func (s *nodeState) getLastLog() (index, term uint64) {
	s.lastLogMu.Lock()
	defer s.lastLogMu.Unlock()
	return s.lastLogIndex, s.lastLogTerm
}

func (s *nodeState) getLastIndex() uint64 {
	i, _ := s.getLastLog()
	return i
}

func (s *nodeState) setLastLog(index, term uint64) {
	s.lastLogMu.Lock()
	s.lastLogIndex, s.lastLogTerm = index, term
	s.lastLogMu.Unlock()
}

// touchElection pushes back the election timer to at least at.
func (s *nodeState) touchElection(at time.Time) {
	n := at.UnixNano()
	for {
		old := s.electionReset.Load()
		if old >= n || s.electionReset.CompareAndSwap(old, n) {
			return
		}
	}
}

func (s *nodeState) electionResetTime() time.Time {
	return time.Unix(0, s.electionReset.Load())
}

func (s *nodeState) leaderContactTime() time.Time {
	n := s.lastLeaderContact.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
