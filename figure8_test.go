package raft

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// testSeed returns RAFT_TEST_SEED if set, else a fresh seed, and logs it
// so a failing run can be replayed.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("RAFT_TEST_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("bad RAFT_TEST_SEED: %v", err)
		}
		seed = s
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with RAFT_TEST_SEED=%d", seed)
		}
	})
	return seed
}

// completedOK reports whether f has already completed without error.
func completedOK(f Future) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return f.ErrorContext(ctx) == nil
}

// TestFigure8 repeatedly crashes leaders that hold uncommitted entries
// (the scenario of figure 8 of the Raft paper) and checks that nothing
// acknowledged as committed is ever lost or changed.
func TestFigure8(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 8))
	const n = 5
	c := newCluster(t, n)
	c.waitLeader()
	var acked []string
	up := n
	for iter := 0; iter < 100; iter++ {
		leader := -1
		for i, r := range c.nodes {
			if !c.down[i] && r.State() == Leader {
				leader = i
			}
		}
		if leader >= 0 {
			cmd := fmt.Sprintf("it%d", iter)
			f := c.nodes[leader].Apply([]byte(cmd), 0)
			// Sometimes give the entry time to commit, sometimes not.
			if rng.IntN(2) == 0 {
				time.Sleep(time.Duration(rng.IntN(13)) * time.Millisecond)
			} else {
				time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
			}
			if completedOK(f) {
				acked = append(acked, cmd)
			}
			c.crash(leader)
			up--
		} else {
			time.Sleep(time.Duration(10+rng.IntN(40)) * time.Millisecond)
		}
		if up < 3 {
			for {
				i := rng.IntN(n)
				if c.down[i] {
					c.restart(i)
					up++
					break
				}
			}
		}
	}
	for i := 0; i < n; i++ {
		if c.down[i] {
			c.restart(i)
		}
	}
	c.waitLeader()
	idx := c.apply([]byte("final"))
	waitFor(t, 20*time.Second, "every node to apply the final entry", func() bool {
		for _, r := range c.nodes {
			if r.AppliedIndex() < idx {
				return false
			}
		}
		return true
	})
	c.checkSamePrefix()
	final := map[string]bool{}
	for _, cmd := range c.fsms[0].applied() {
		final[string(cmd)] = true
	}
	for _, cmd := range acked {
		if !final[cmd] {
			t.Fatalf("acknowledged entry %q was lost", cmd)
		}
	}
	t.Logf("seed %d: %d of 100 entries acknowledged before their leader crashed", seed, len(acked))
}
