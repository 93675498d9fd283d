package raft

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestUnreliableNetwork drops 10% of requests and of replies and delays
// messages at random, while clients write through whichever node leads.
// Every acknowledged write must be applied exactly once, in the same order,
// on every server.
func TestUnreliableNetwork(t *testing.T) {
	seed := testSeed(t)
	var fts []*faultTransport
	var mu sync.Mutex
	c := newCluster(t, 5, withTransportWrapper(func(i int, it *InmemTransport) Transport {
		ft := newFaultTransport(it, seed+uint64(i))
		ft.setFaults(0.1, 0.1, 5*time.Millisecond)
		mu.Lock()
		fts = append(fts, ft)
		mu.Unlock()
		return ft
	}))
	c.waitLeader()

	const clients, each = 5, 40
	var wg sync.WaitGroup
	var ackMu sync.Mutex
	acked := map[string]bool{}
	attempted := map[string]bool{}
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; k < each; k++ {
				cmd := fmt.Sprintf("c%d-%d", w, k)
				for attempt := 0; attempt < 50; attempt++ {
					// A fresh command per attempt: a retried write whose first
					// attempt's outcome is unknown may legitimately apply twice.
					try := fmt.Sprintf("%s-a%d", cmd, attempt)
					var leader *Raft
					for i, r := range c.nodes {
						if !c.down[i] && r.State() == Leader {
							leader = r
						}
					}
					if leader == nil {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					ackMu.Lock()
					attempted[try] = true
					ackMu.Unlock()
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					err := leader.ApplyContext(ctx, []byte(try)).ErrorContext(ctx)
					cancel()
					if err == nil {
						ackMu.Lock()
						acked[try] = true
						ackMu.Unlock()
						break
					}
				}
			}
		}(w)
	}
	wg.Wait()
	// Heal the network so every server can catch up, then check.
	for _, ft := range fts {
		ft.setFaults(0, 0, 0)
	}
	c.waitLeader()
	idx := c.apply([]byte("end"))
	waitFor(t, 20*time.Second, "every node to apply the end marker", func() bool {
		for _, r := range c.nodes {
			if r.AppliedIndex() < idx {
				return false
			}
		}
		return true
	})
	c.checkSamePrefix()
	if len(acked) < clients*each/2 {
		t.Fatalf("only %d writes succeeded: the network is too unreliable for the test to mean much", len(acked))
	}
	for i, f := range c.fsms {
		seen := map[string]int{}
		for _, cmd := range f.applied() {
			seen[string(cmd)]++
			if seen[string(cmd)] > 1 {
				t.Fatalf("node %d applied %q twice", i, cmd)
			}
			if string(cmd) != "end" && !attempted[string(cmd)] {
				t.Fatalf("node %d applied %q, which nobody wrote", i, cmd)
			}
		}
		for cmd := range acked {
			if seen[cmd] != 1 {
				t.Fatalf("node %d applied acknowledged write %q %d times", i, cmd, seen[cmd])
			}
		}
	}
	t.Logf("seed %d: %d writes acknowledged", seed, len(acked))
}
