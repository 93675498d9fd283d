package raft

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAgreementWithFollowerDown(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	c.apply([]byte("a"))
	down := (l + 1) % 3
	c.disconnect(down)
	for i := 0; i < 20; i++ {
		c.apply([]byte(fmt.Sprintf("while-down-%d", i)))
	}
	c.waitApplied(21, l, (l+2)%3)
	if got := c.fsms[down].count(); got > 1 {
		t.Fatalf("disconnected follower applied %d entries", got)
	}
	c.reconnect(down)
	c.waitApplied(21)
	c.checkSamePrefix()
}

func TestBarrierWaitsForApply(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	var futures []ApplyFuture
	for i := 0; i < 200; i++ {
		futures = append(futures, c.nodes[l].Apply([]byte(fmt.Sprintf("cmd-%d", i)), 0))
	}
	if err := c.nodes[l].Barrier(0).Error(); err != nil {
		t.Fatalf("barrier: %v", err)
	}
	// Every write issued before the barrier is applied when it returns.
	if got := c.fsms[l].count(); got != 200 {
		t.Fatalf("barrier returned with %d of 200 earlier commands applied", got)
	}
	for i, f := range futures {
		if err := f.Error(); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		if got := f.Response().(int); got != i+1 {
			t.Fatalf("apply %d: response %d, want the FSM's count %d", i, got, i+1)
		}
	}
}

func TestVerifyLeader(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	if err := c.nodes[l].VerifyLeader().Error(); err != nil {
		t.Fatalf("verify on the leader: %v", err)
	}
	// Depose the leader by cutting it off; it must not confirm itself.
	c.disconnect(l)
	f := c.nodes[l].VerifyLeader()
	err := f.Error()
	if err == nil {
		t.Fatal("VerifyLeader succeeded on a leader cut off from its quorum")
	}
	if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrLeadershipLost) {
		t.Fatalf("VerifyLeader on deposed leader: %v", err)
	}
	others := []int{(l + 1) % 3, (l + 2) % 3}
	nl := c.waitLeader(others...)
	c.reconnect(l)
	// Once the old leader hears the new term, its checks fail at once.
	waitFor(t, 5*time.Second, "old leader to follow", func() bool { return c.nodes[l].State() == Follower })
	if err := c.nodes[l].VerifyLeader().Error(); err == nil {
		t.Fatal("VerifyLeader succeeded on a follower")
	}
	if err := c.nodes[nl].VerifyLeader().Error(); err != nil && c.nodes[nl].State() == Leader {
		t.Fatalf("verify on the new leader: %v", err)
	}
}

func TestConcurrentApply(t *testing.T) {
	c := newCluster(t, 3)
	c.waitLeader()
	const workers, each = 100, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; k < each; k++ {
				// A write whose outcome is unknown (leadership lost) is
				// retried as a new command, so it may apply once or twice
				// under different names but never twice under one.
				for attempt := 0; attempt < 100; attempt++ {
					cmd := fmt.Sprintf("w%d-%d-a%d", w, k, attempt)
					var leader *Raft
					for _, r := range c.nodes {
						if r.State() == Leader {
							leader = r
						}
					}
					if leader == nil {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					if err := leader.Apply([]byte(cmd), 0).Error(); err == nil {
						mu.Lock()
						acked[cmd] = true
						mu.Unlock()
						break
					}
				}
			}
		}(w)
	}
	wg.Wait()
	if len(acked) != workers*each {
		t.Fatalf("%d of %d writes acknowledged", len(acked), workers*each)
	}
	c.waitApplied(workers * each)
	c.checkSamePrefix()
	for i, f := range c.fsms {
		seen := map[string]int{}
		for _, cmd := range f.applied() {
			seen[string(cmd)]++
			if seen[string(cmd)] > 1 {
				t.Fatalf("node %d applied %q twice", i, cmd)
			}
		}
		for cmd := range acked {
			if seen[cmd] != 1 {
				t.Fatalf("node %d applied acknowledged %q %d times", i, cmd, seen[cmd])
			}
		}
	}
}

// blockingStore makes a leader's disk write wait until its followers have
// stored the same entries: only a leader that replicates in parallel with
// its own write can make progress.
type blockingStore struct {
	*InmemStore
	node      func() *Raft
	followers []*InmemStore
	waited    *atomic.Int64
	shutdown  chan struct{}
}

func (b *blockingStore) StoreLogs(logs []*Log) error {
	if r := b.node(); r != nil && r.State() == Leader && len(logs) > 0 {
		last := logs[len(logs)-1].Index
		for {
			have := 0
			for _, f := range b.followers {
				if li, _ := f.LastIndex(); li >= last {
					have++
				}
			}
			if have == len(b.followers) {
				break
			}
			select {
			case <-b.shutdown:
				return fmt.Errorf("test store shut down")
			case <-time.After(time.Millisecond):
			}
		}
		b.waited.Add(1)
	}
	return b.InmemStore.StoreLogs(logs)
}

func TestParallelLeaderWrite(t *testing.T) {
	stores := []*InmemStore{NewInmemStore(), NewInmemStore(), NewInmemStore()}
	var waited atomic.Int64
	shutdown := make(chan struct{})
	defer close(shutdown)
	var c *cluster
	var mu sync.Mutex
	cl := newCluster(t, 3, withLogStores(func(i int) LogStore {
		var followers []*InmemStore
		for j, s := range stores {
			if j != i {
				followers = append(followers, s)
			}
		}
		node := func() *Raft {
			mu.Lock()
			defer mu.Unlock()
			if c == nil {
				return nil
			}
			return c.nodes[i]
		}
		return &blockingStore{InmemStore: stores[i], node: node, followers: followers, waited: &waited, shutdown: shutdown}
	}), withConfig(func(i int, conf *Config) {
		conf.HeartbeatTimeout = time.Second
		conf.ElectionTimeout = time.Second
		conf.LeaderLeaseTimeout = 500 * time.Millisecond
	}))
	mu.Lock()
	c = cl
	mu.Unlock()
	c.waitLeader()
	for i := 0; i < 50; i++ {
		c.apply([]byte(fmt.Sprintf("p%d", i)))
	}
	if waited.Load() == 0 {
		t.Fatal("the blocking store never waited: the test proves nothing")
	}
	c.waitApplied(50)
	c.checkSamePrefix()
}
