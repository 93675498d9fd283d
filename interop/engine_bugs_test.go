package interop

import (
	"testing"
)

// TestOurNodeWinsPreVoteAgainstHashicorpVoters is the reproduction of an
// engine bug found by this module (see README.md, "Known engine bugs").
//
// Only our node o1 may campaign (both hashicorp nodes are muzzled), so the
// election can only end with o1 leading at term 2, after a pre-vote at term
// 2 that both hashicorp voters grant. hashicorp/raft answers a granted
// pre-vote with Term set to the proposed term (the candidate's term + 1);
// our candidate treats any answer whose term exceeds its current term as
// news of a newer term, steps down and adopts it, so it never counts the
// grants, never wins, and climbs one term per round instead.
func TestOurNodeWinsPreVoteAgainstHashicorpVoters(t *testing.T) {
	c := startCluster(t, []library{hashicorp, hashicorp, ours}, clusterOptions{muzzled: []string{"h1", "h2"}})
	o1 := c.node("o1")

	// Rounds in which every hashicorp voter granted o1's pre-vote. With a
	// correct engine o1 wins in the first such round and sends no more;
	// three of them without a win mean the grants are being thrown away.
	grantedRounds := func() int {
		grants := map[uint64]int{}
		for _, e := range c.net.eventsWhere(func(e rpcEvent) bool {
			return e.From == "o1" && e.Type == rpcRequestPreVote && e.Err == "" && e.Resp.Granted
		}) {
			grants[e.Req.Term]++
		}
		rounds := 0
		for _, n := range grants {
			if n == 2 {
				rounds++
			}
		}
		return rounds
	}
	c.waitFor("o1 to lead, or to discard three granted pre-vote rounds", func() bool {
		return o1.isLeader() || grantedRounds() >= 3
	})
	if !o1.isLeader() {
		t.Fatalf("engine bug: our node o1 had its pre-vote granted by both hashicorp voters in %d rounds but never "+
			"started the real election; its term climbed to %d while theirs stayed at %d. Pre-vote answers:\n%v",
			grantedRounds(), o1.term(), c.node("h1").term(), c.net.eventsWhere(func(e rpcEvent) bool {
				return e.From == "o1" && e.Type == rpcRequestPreVote
			}))
	}
	if o1.term() != 2 {
		t.Fatalf("o1 won at term %d; one pre-vote round and one election from term 1 should give term 2", o1.term())
	}
	c.net.heal()
	leader := c.waitLeader(c.nodes)
	if leader != o1 {
		t.Fatalf("after the heal %s leads instead of o1", leader.id)
	}
	acked := c.writeStrict(o1, "a", 100)
	proposed := map[string]bool{}
	for _, cmd := range acked {
		proposed[cmd] = true
	}
	c.checkAcked(c.converged(c.nodes), acked, proposed)
}
