package raft

import (
	"slices"
	"sync"
)

// quorumMatchIndex returns the highest index that a majority of the given
// match indexes have reached. It is the pure heart of commitment: with n
// voters sorted ascending, the element at (n-1)/2 is held by n-(n-1)/2
// voters, which is a majority. It returns 0 for no voters. It sorts
// matches in place: it runs on every acknowledgement, so it allocates
// nothing.
func quorumMatchIndex(matches []uint64) uint64 {
	if len(matches) == 0 {
		return 0
	}
	slices.Sort(matches)
	return matches[(len(matches)-1)/2]
}

// commitment turns the match indexes of the voters (the leader counted like
// any other, once its own write is durable) into a commit index. Replicators
// report matches from their goroutines; the run goroutine reads the result
// when notified on commitCh.
type commitment struct {
	mu sync.Mutex
	// commitCh gets a value, without blocking, when commitIndex advances.
	commitCh chan<- struct{}
	// matchIndexes has an entry for every voter and nothing else.
	matchIndexes map[ServerID]uint64
	commitIndex  uint64
	// scratch holds the match indexes while recalculate sorts them.
	scratch []uint64
	// startIndex is the first index of the leader's term: Raft commits an
	// entry of an earlier term only by committing one of the current term
	// (paper section 5.4.2), so nothing commits until startIndex does.
	startIndex uint64
}

func newCommitment(commitCh chan<- struct{}, conf Configuration, startIndex uint64) *commitment {
	c := &commitment{
		commitCh:     commitCh,
		matchIndexes: make(map[ServerID]uint64),
		startIndex:   startIndex,
	}
	for _, s := range conf.Servers {
		if s.Suffrage == Voter {
			c.matchIndexes[s.ID] = 0
		}
	}
	return c
}

// setConfiguration changes the voters, keeping what is known of those that
// remain.
func (c *commitment) setConfiguration(conf Configuration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.matchIndexes
	c.matchIndexes = make(map[ServerID]uint64)
	for _, s := range conf.Servers {
		if s.Suffrage == Voter {
			c.matchIndexes[s.ID] = old[s.ID]
		}
	}
	c.recalculate()
}

// match records that server id durably holds every entry up to index.
// Reports for non-voters, and reports that go backwards, change nothing.
func (c *commitment) match(id ServerID, index uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, ok := c.matchIndexes[id]
	if !ok || index <= prev {
		return
	}
	c.matchIndexes[id] = index
	c.recalculate()
}

// getCommitIndex returns the commit index.
func (c *commitment) getCommitIndex() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commitIndex
}

// recalculate must be called with mu held.
func (c *commitment) recalculate() {
	if len(c.matchIndexes) == 0 {
		return
	}
	c.scratch = c.scratch[:0]
	for _, m := range c.matchIndexes {
		c.scratch = append(c.scratch, m)
	}
	q := quorumMatchIndex(c.scratch)
	if q > c.commitIndex && q >= c.startIndex {
		c.commitIndex = q
		select {
		case c.commitCh <- struct{}{}:
		default:
		}
	}
}
