package interop

import (
	"fmt"
	"testing"
)

// partitionFollower cuts f off until it has campaigned at least three times
// (seen as connections it tried to open and the tap refused), then heals
// the network and waits until the cluster agrees on a leader again with f
// caught up. It returns f's term as it stood before the heal.
func partitionFollower(c *cluster, f *node) uint64 {
	c.t.Helper()
	before := c.net.refusedFrom(f.id)
	c.net.isolate(f.id)
	// Each campaign round (pre-vote or vote) dials every peer once, and
	// every dial is refused while f is isolated.
	c.waitFor(fmt.Sprintf("%s to campaign three times while isolated", f.id), func() bool {
		now := c.net.refusedFrom(f.id)
		for peer, n := range now {
			if n-before[peer] < 3 {
				return false
			}
		}
		return true
	})
	isolatedTerm := f.term()
	c.net.heal()
	leader := c.waitLeader(c.nodes)
	c.waitFor(fmt.Sprintf("%s to catch up with leader %s", f.id, leader.id), func() bool {
		return len(f.fsm.history()) == len(leader.fsm.history())
	})
	return isolatedTerm
}

// TestPreVoteHealedFollowerDoesNotDisrupt partitions each follower of a
// mixed cluster in turn, one of each library, while the leader runs either
// library. With pre-vote on both sides, the isolated follower campaigns but
// never wins a pre-vote, so its term must not move; once healed it must
// rejoin without deposing the leader: same leader, same term everywhere.
// TestPreVoteDisabledHealedFollowerDisrupts shows that these checks fail
// when pre-vote is off.
func TestPreVoteHealedFollowerDoesNotDisrupt(t *testing.T) {
	for _, tc := range []struct {
		leaderLib library
		libs      []library
	}{
		{hashicorp, []library{hashicorp, hashicorp, ours}}, // followers h2, o1
		{ours, []library{hashicorp, ours, ours}},           // followers h1, o2
	} {
		t.Run(fmt.Sprintf("%s-leads", tc.leaderLib), func(t *testing.T) {
			c, leader := electLeaderOf(t, tc.libs, tc.leaderLib, clusterOptions{})
			acked := c.writeStrict(leader, "a", 50)
			term := leader.term()

			for _, f := range c.nodes {
				if f == leader {
					continue
				}
				mark := c.net.mark()
				isolatedTerm := partitionFollower(c, f)
				if isolatedTerm != term {
					t.Fatalf("isolated %s follower %s moved from term %d to %d: its campaigns were not pre-votes",
						f.lib, f.id, term, isolatedTerm)
				}
				if !leader.isLeader() {
					t.Fatalf("healed %s follower %s deposed leader %s; cluster:%s", f.lib, f.id, leader.id, c.status())
				}
				for _, n := range c.nodes {
					if n.term() != term {
						t.Fatalf("after %s follower %s healed, %s is at term %d, want %d; cluster:%s",
							f.lib, f.id, n.id, n.term(), term, c.status())
					}
				}
				// The healed follower's pre-votes reached the others after
				// the heal, or it stopped campaigning first; either way
				// none of them may have been granted while a leader lived.
				for _, e := range c.net.eventsSince(mark, func(e rpcEvent) bool {
					return e.From == f.id && e.Type == rpcRequestPreVote
				}) {
					if e.Resp.Granted {
						t.Fatalf("a pre-vote of %s was granted while %s led: %v", f.id, leader.id, e)
					}
				}
				if votes := c.net.eventsSince(mark, func(e rpcEvent) bool {
					return e.From == f.id && e.Type == rpcRequestVote
				}); len(votes) != 0 {
					t.Fatalf("%s held a real election: %v", f.id, votes)
				}
				acked = append(acked, c.writeStrict(leader, "b"+f.id, 20)...)
			}
			h := c.converged(c.nodes)
			proposed := map[string]bool{}
			for _, cmd := range acked {
				proposed[cmd] = true
			}
			c.checkAcked(h, acked, proposed)
		})
	}
}

// TestPreVoteDisabledHealedFollowerDisrupts is the control for the test
// above: the same partition and heal with pre-vote off on every node. The
// isolated follower now bumps its term on each campaign, and when it
// returns its higher term deposes the leader, which is exactly what the
// pre-vote test asserts does not happen. The disrupting follower runs the
// other library than the leader, so the disruption itself crosses the wire.
func TestPreVoteDisabledHealedFollowerDisrupts(t *testing.T) {
	c := startCluster(t, []library{hashicorp, hashicorp, ours}, clusterOptions{preVoteDisabled: true})
	leader := c.waitLeader(c.nodes)
	acked := c.writeStrict(leader, "a", 50)
	term := leader.term()
	var f *node
	for _, n := range c.nodes {
		if n.lib != leader.lib {
			f = n
			break
		}
	}
	isolatedTerm := partitionFollower(c, f)
	if isolatedTerm < term+3 {
		t.Fatalf("without pre-vote, isolated %s campaigned three times but its term went from %d only to %d", f.id, term, isolatedTerm)
	}
	now := c.waitLeader(c.nodes)
	if now.term() <= term {
		t.Fatalf("without pre-vote, healed %s left the cluster at term %d (was %d): the pre-vote test's check could not fail", f.id, now.term(), term)
	}
	t.Logf("without pre-vote: %s (%s) led at term %d; after %s (%s) healed at term %d, %s leads at term %d",
		leader.id, leader.lib, term, f.id, f.lib, isolatedTerm, now.id, now.term())
	more, proposed := c.writeAny("b", 20)
	for _, cmd := range acked {
		proposed[cmd] = true
	}
	c.checkAcked(c.converged(c.nodes), append(acked, more...), proposed)
}
