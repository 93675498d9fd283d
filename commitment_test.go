package raft

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// naiveQuorumMatch finds the largest candidate index that more than half of
// the voters have reached, by trying every value.
func naiveQuorumMatch(matches []uint64) uint64 {
	var best uint64
	for _, cand := range matches {
		n := 0
		for _, m := range matches {
			if m >= cand {
				n++
			}
		}
		if n > len(matches)/2 && cand > best {
			best = cand
		}
	}
	return best
}

func TestQuorumMatchIndexAgainstNaive(t *testing.T) {
	seed := uint64(20261130)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < 50000; i++ {
		n := 1 + rng.IntN(9)
		matches := make([]uint64, n)
		for j := range matches {
			matches[j] = uint64(rng.IntN(20))
		}
		in := fmt.Sprint(matches)
		want := naiveQuorumMatch(matches)
		if got := quorumMatchIndex(matches); got != want {
			t.Fatalf("seed %d case %d: quorumMatchIndex(%s) = %d, want %d", seed, i, in, got, want)
		}
	}
}

func TestQuorumMatchIndexTable(t *testing.T) {
	cases := []struct {
		in   []uint64
		want uint64
	}{
		{nil, 0},
		{[]uint64{5}, 5},
		{[]uint64{5, 3}, 3},
		{[]uint64{1, 5, 3}, 3},
		{[]uint64{1, 2, 9, 9}, 2},
		{[]uint64{7, 7, 1, 1, 7}, 7},
		{[]uint64{0, 0, 0, 10, 10}, 0},
	}
	for _, c := range cases {
		in := fmt.Sprint(c.in)
		if got := quorumMatchIndex(c.in); got != c.want {
			t.Errorf("quorumMatchIndex(%s) = %d, want %d", in, got, c.want)
		}
	}
}

func voters(ids ...ServerID) Configuration {
	var c Configuration
	for _, id := range ids {
		c.Servers = append(c.Servers, Server{Suffrage: Voter, ID: id, Address: ServerAddress(id)})
	}
	return c
}

func TestCommitmentWaitsForStartIndex(t *testing.T) {
	ch := make(chan struct{}, 1)
	c := newCommitment(ch, voters("a", "b", "c"), 10)
	c.match("a", 9)
	c.match("b", 9)
	if got := c.getCommitIndex(); got != 0 {
		t.Fatalf("committed %d before the term's first entry 10", got)
	}
	c.match("b", 10)
	c.match("a", 12)
	if got := c.getCommitIndex(); got != 10 {
		t.Fatalf("commit = %d, want 10", got)
	}
	select {
	case <-ch:
	default:
		t.Fatal("no notification on commit advance")
	}
}

func TestCommitmentIgnoresNonVotersAndRegressions(t *testing.T) {
	ch := make(chan struct{}, 1)
	conf := voters("a", "b", "c")
	conf.Servers = append(conf.Servers, Server{Suffrage: Nonvoter, ID: "n", Address: "n"})
	c := newCommitment(ch, conf, 1)
	c.match("n", 100)
	c.match("a", 100)
	if got := c.getCommitIndex(); got != 0 {
		t.Fatalf("non-voter counted: commit = %d", got)
	}
	c.match("b", 50)
	if got := c.getCommitIndex(); got != 50 {
		t.Fatalf("commit = %d, want 50", got)
	}
	c.match("b", 20)
	if got := c.getCommitIndex(); got != 50 {
		t.Fatalf("regressing match moved commit to %d", got)
	}
}

// TestCommitmentMatchDoesNotAllocate: match runs for every acknowledgement
// from every follower, so recomputing the commit index must not allocate.
func TestCommitmentMatchDoesNotAllocate(t *testing.T) {
	var servers []Server
	for i := range 5 {
		id := ServerID(fmt.Sprintf("s%d", i))
		servers = append(servers, Server{ID: id, Address: ServerAddress(id), Suffrage: Voter})
	}
	commitCh := make(chan struct{}, 1)
	c := newCommitment(commitCh, Configuration{Servers: servers}, 1)
	index := uint64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		index++
		for _, s := range servers {
			c.match(s.ID, index)
		}
		select {
		case <-commitCh:
		default:
		}
	})
	if allocs != 0 {
		t.Fatalf("match allocated %.1f times per round of acknowledgements", allocs)
	}
	if got := c.getCommitIndex(); got != index {
		t.Fatalf("commit index %d, want %d", got, index)
	}
}
