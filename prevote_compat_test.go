package raft

import (
	"testing"
)

// hashicorpStylePreVote answers pre-votes the way hashicorp/raft does: a
// response carries the term the candidate proposed, not the voter's own.
type hashicorpStylePreVote struct {
	*InmemTransport
}

func (h *hashicorpStylePreVote) inner() *InmemTransport { return h.InmemTransport }

func (h *hashicorpStylePreVote) RequestPreVote(id ServerID, target ServerAddress, args *RequestPreVoteRequest, resp *RequestPreVoteResponse) error {
	if err := h.InmemTransport.RequestPreVote(id, target, args, resp); err != nil {
		return err
	}
	resp.Term = args.Term
	return nil
}

// TestPreVoteGrantsCarryingTheProposedTerm: a granted pre-vote whose term is
// the proposed one (as hashicorp/raft sends it) must count as a grant, not
// as news of a newer term, or a candidate never gets past pre-vote.
func TestPreVoteGrantsCarryingTheProposedTerm(t *testing.T) {
	c := newCluster(t, 3, withTransportWrapper(func(i int, it *InmemTransport) Transport {
		return &hashicorpStylePreVote{it}
	}))
	l := c.waitLeader()
	if term := c.nodes[l].CurrentTerm(); term > 3 {
		t.Fatalf("leader elected only in term %d: candidates adopted the proposed terms of granted pre-votes", term)
	}
	c.apply([]byte("x"))
}
