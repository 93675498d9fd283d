package interop

import (
	"fmt"
	"testing"

	hraft "github.com/hashicorp/raft"
)

// shapes are the mixed cluster compositions under test.
var shapes = []struct {
	name string
	libs []library
}{
	{"2hashicorp+1ours", []library{hashicorp, hashicorp, ours}},
	{"1hashicorp+2ours", []library{hashicorp, ours, ours}},
}

// electLeaderOf starts a cluster of libs whose leader runs lib, and checks
// on the wire how it got there:
//
//   - The first election is always won by the first hashicorp node: our
//     nodes are muzzled (they answer but cannot campaign) and any other
//     hashicorp node is isolated, so h1's quorum must come from our nodes.
//     The tap must show one of them granting h1's pre-vote and then its
//     vote for the term h1 won: hashicorp's pre-vote and vote are
//     understood and answered by us.
//   - For our node to lead, that hashicorp leader then hands leadership over
//     with LeadershipTransferToServer: it sends TimeoutNow to our node,
//     which must accept it and campaign at once with LeadershipTransfer set,
//     and the hashicorp servers must grant that vote.
func electLeaderOf(t *testing.T, libs []library, lib library, opts clusterOptions) (*cluster, *node) {
	t.Helper()
	h1 := "h1" // the first hashicorp node, by startCluster's naming
	opts.firstLeader = h1
	counts := map[library]int{}
	for _, lib := range libs {
		counts[lib]++
		id := fmt.Sprintf("%c%d", lib[0], counts[lib])
		switch {
		case id == h1:
		case lib == ours:
			opts.muzzled = append(opts.muzzled, id)
		default:
			opts.isolated = append(opts.isolated, id)
		}
	}
	c := startCluster(t, libs, opts)
	first := c.node(h1)

	if !opts.preVoteDisabled {
		// The grants h1 counted may still be on their way through the tap
		// when it is seen leading; wait for them rather than race them.
		granted := func(typ rpcType) func() bool {
			return func() bool {
				return len(c.net.eventsWhere(func(e rpcEvent) bool {
					return e.From == h1 && c.node(e.To).lib == ours && e.Type == typ &&
						e.Req.Term == first.term() && e.Err == "" && e.Resp.Granted
				})) > 0
			}
		}
		c.waitFor("one of our nodes to grant h1's pre-vote", granted(rpcRequestPreVote))
		c.waitFor("one of our nodes to grant h1's vote", granted(rpcRequestVote))
	}
	if lib == hashicorp {
		return c, first
	}

	target := c.first(ours)
	if err := first.hr.LeadershipTransferToServer(hraft.ServerID(target.id), hraft.ServerAddress(target.addr)).Error(); err != nil {
		t.Fatalf("hashicorp leader could not transfer leadership to our node %s: %v; cluster:%s", target.id, err, c.status())
	}
	leader := c.waitLeader(c.nodes)
	if leader != target {
		t.Fatalf("after transfer to %s the leader is %s", target.id, leader.id)
	}
	timeoutNow := c.net.eventsWhere(func(e rpcEvent) bool {
		return e.From == h1 && e.To == target.id && e.Type == rpcTimeoutNow
	})
	if len(timeoutNow) != 1 || timeoutNow[0].Err != "" {
		t.Fatalf("want one TimeoutNow from h1 to %s answered without error, got %v", target.id, timeoutNow)
	}
	transferVotes := func() []rpcEvent {
		return c.net.eventsWhere(func(e rpcEvent) bool {
			return e.From == target.id && e.Type == rpcRequestVote && e.Req.Term == leader.term()
		})
	}
	// Every other voter still had a live leader (h1) when the vote came,
	// so each grant was given only because the request was marked as a
	// transfer; with two hashicorp nodes, both voters are hashicorp's.
	c.waitFor("a grant of our node's transfer vote", func() bool {
		for _, e := range transferVotes() {
			if e.Err == "" && e.Resp.Granted {
				return true
			}
		}
		return false
	})
	for _, e := range transferVotes() {
		if !e.Req.LeadershipTransfer {
			t.Errorf("our node campaigned after TimeoutNow without LeadershipTransfer set: %v", e)
		}
	}
	// The transfer is a leader election that skips pre-vote by design.
	if pre := c.net.eventsWhere(func(e rpcEvent) bool {
		return e.From == target.id && e.Type == rpcRequestPreVote
	}); len(pre) != 0 {
		t.Errorf("our node sent pre-votes for a transfer election: %v", pre)
	}
	return c, leader
}

// TestMixedClusterWritesAndFailover runs each cluster shape with each
// library leading: 1,000 writes must commit and reach every FSM as the same
// history; then the leader is killed, a new leader must be elected (with a
// pre-vote the other survivor granted) and take 200 more writes; the
// survivors must still agree, and the dead leader's history must be a
// prefix of theirs.
func TestMixedClusterWritesAndFailover(t *testing.T) {
	for _, shape := range shapes {
		for _, lib := range []library{hashicorp, ours} {
			t.Run(fmt.Sprintf("%s/%s-leads", shape.name, lib), func(t *testing.T) {
				c, leader := electLeaderOf(t, shape.libs, lib, clusterOptions{})
				if leader.lib != lib {
					t.Fatalf("leader %s runs %s, want %s", leader.id, leader.lib, lib)
				}

				acked := c.writeStrict(leader, "a", 1000)
				h := c.converged(c.nodes)
				if len(h) != len(acked) {
					t.Fatalf("%d commands applied, %d acknowledged", len(h), len(acked))
				}
				for k, cmd := range commands(h) {
					if cmd != acked[k] {
						t.Fatalf("position %d holds %q, want %q", k, short(h[k]), acked[k][:7])
					}
				}
				if !leader.isLeader() {
					t.Fatalf("%s lost leadership during the writes; cluster:%s", leader.id, c.status())
				}

				// Kill the leader; the survivors elect a new one.
				oldTerm := leader.term()
				if err := leader.stop(); err != nil {
					t.Fatalf("stopping leader %s: %v", leader.id, err)
				}
				survivors := c.live()
				next := c.waitLeader(survivors)
				t.Logf("leader %s (%s) killed at term %d; %s (%s) elected at term %d",
					leader.id, leader.lib, oldTerm, next.id, next.lib, next.term())
				var other *node
				for _, n := range survivors {
					if n != next {
						other = n
					}
				}
				// With the old leader dead, the new one needed the other
				// survivor's pre-vote for the very term it won.
				won := next.term()
				c.waitFor("the winning pre-vote to be recorded", func() bool {
					return len(c.net.eventsWhere(func(e rpcEvent) bool {
						return e.From == next.id && e.To == other.id && e.Type == rpcRequestPreVote &&
							e.Req.Term == won && e.Err == "" && e.Resp.Granted
					})) > 0
				})

				more, proposed := c.writeAny("b", 200)
				for _, cmd := range acked {
					proposed[cmd] = true
				}
				h2 := c.converged(survivors)
				c.checkAcked(h2, append(append([]string(nil), acked...), more...), proposed)
				if dead := leader.fsm.history(); !isPrefix(dead, h2) {
					t.Fatalf("the killed leader's history is not a prefix of the survivors': %s", firstDifference(dead, h2[:min(len(dead), len(h2))]))
				}
			})
		}
	}
}
