package raft

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadIndexObservesAcknowledgedWrites(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	for k := 0; k < 20; k++ {
		cmd := fmt.Sprintf("w%d", k)
		c.apply([]byte(cmd))
		for i, r := range c.nodes {
			c.waitKnowsLeader(i, l)
			f := r.ReadIndex(time.Second)
			if err := f.Error(); err != nil {
				t.Fatalf("ReadIndex on node %d (%v): %v", i, r.State(), err)
			}
			h := c.fsms[i].applied()
			if len(h) == 0 || string(h[len(h)-1]) != cmd {
				last := "nothing"
				if len(h) > 0 {
					last = string(h[len(h)-1])
				}
				t.Fatalf("node %d read after write %q sees %s", i, cmd, last)
			}
		}
	}
}

func TestReadIndexBatchesHeartbeatRounds(t *testing.T) {
	// Production timeouts: a round that takes longer than an election
	// timeout fails its reads (safely), and a thousand goroutines under the
	// race detector on a loaded 2-core machine took longer than 100ms.
	c := newCluster(t, 3, withConfig(func(_ int, conf *Config) {
		conf.HeartbeatTimeout = time.Second
		conf.ElectionTimeout = time.Second
		conf.LeaderLeaseTimeout = 500 * time.Millisecond
	}))
	l := c.waitLeader()
	c.apply([]byte("x"))
	r := c.nodes[l]
	rounds := func() uint64 { n, _ := strconv.ParseUint(r.Stats()["read_heartbeat_rounds"], 10, 64); return n }
	before := rounds()
	const reads = 1000
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for i := 0; i < reads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.ReadIndex(0).Error(); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d reads failed, the first with: %v", n, firstErr.Load())
	}
	used := rounds() - before
	t.Logf("%d reads used %d heartbeat rounds", reads, used)
	if used == 0 || used*10 > reads {
		t.Fatalf("%d reads used %d heartbeat rounds; want at least 10 reads per round", reads, used)
	}
}

func TestReadIndexDeposedLeaderSafe(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	c.apply([]byte("x"))
	c.disconnect(l)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		f := c.nodes[l].ReadIndex(0)
		if err := f.Error(); err == nil {
			t.Fatal("a leader cut off from its quorum completed a ReadIndex in safe mode")
		}
	}
}

func TestReadIndexLeaseEndsBeforeNewLeader(t *testing.T) {
	var mu sync.Mutex
	elected := map[int]time.Time{}
	c := newCluster(t, 3, withConfig(func(i int, conf *Config) {
		conf.ReadConsistency = ReadConsistencyLease
		conf.LeaseClockDrift = 10 * time.Millisecond
	}))
	// The filter runs on the node's own goroutine as it becomes leader,
	// before it can serve anything: the exact moment of election.
	for i, r := range c.nodes {
		i := i
		r.RegisterObserver(NewObserver(make(chan Observation, 16), false, func(o *Observation) bool {
			if o.Data == Leader {
				mu.Lock()
				if _, ok := elected[i]; !ok {
					elected[i] = time.Now()
				}
				mu.Unlock()
			}
			return false
		}))
	}
	l := c.waitLeader()
	c.apply([]byte("x"))
	// Reads go through the lease: no heartbeat round per read.
	r := c.nodes[l]
	for k := 0; k < 50; k++ {
		if err := r.ReadIndex(0).Error(); err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	if n, _ := strconv.ParseUint(r.Stats()["reads_by_lease"], 10, 64); n == 0 {
		t.Fatal("no read was served by the lease")
	}
	mu.Lock()
	delete(elected, l)
	mu.Unlock()
	c.disconnect(l)
	var lastOK time.Time
	okAfterCut := 0
	var others []int
	for i := range c.nodes {
		if i != l {
			others = append(others, i)
		}
	}
	newLeaderSeen := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(elected) > 0
	}
	for !newLeaderSeen() {
		if err := r.ReadIndex(0).Error(); err == nil {
			lastOK = time.Now()
			okAfterCut++
		}
	}
	nl := c.waitLeader(others...)
	mu.Lock()
	at := elected[nl]
	mu.Unlock()
	t.Logf("%d lease reads completed on the cut-off leader; the last %v before the new leader", okAfterCut, at.Sub(lastOK))
	if !lastOK.IsZero() && !lastOK.Before(at) {
		t.Fatalf("the old leader served a lease read at %v, after the new leader was elected at %v", lastOK, at)
	}
	// Once the lease is over, the old leader serves nothing.
	for k := 0; k < 10; k++ {
		if err := r.ReadIndex(0).Error(); err == nil {
			t.Fatal("the old leader served a read after a new leader was elected")
		}
	}
}

// In a cluster whose nodes all drop ReadIndex, follower reads never
// succeed and end up refused with ErrReadIndexNotSupported; the first
// drops are reported as transient, and leadership may move meanwhile.
func TestReadIndexNotSupportedByLeader(t *testing.T) {
	c := newCluster(t, 3, withTransportWrapper(func(i int, it *InmemTransport) Transport {
		return &noReadIndexPeer{it}
	}))
	l := c.waitLeader()
	c.apply([]byte("x"))
	f := (l + 1) % 3
	waitFor(t, 5*time.Second, "the follower to know the leader", func() bool { return c.nodes[f].Leader() != "" })
	refused := 0
	waitFor(t, watchdog, "follower reads to be refused as not supported", func() bool {
		err := c.nodes[f].ReadIndex(0).Error()
		switch {
		case err == nil:
			t.Fatal("a follower read succeeded against leaders without ReadIndex")
		case errors.Is(err, ErrReadIndexNotSupported):
			refused++
		}
		return refused >= 3
	})
}

// noReadIndexPeer behaves like a hashicorp/raft peer for ReadIndex: the
// connection is dropped.
type noReadIndexPeer struct {
	*InmemTransport
}

func (n *noReadIndexPeer) inner() *InmemTransport { return n.InmemTransport }

func (n *noReadIndexPeer) RequestReadIndex(id ServerID, target ServerAddress, args *ReadIndexRequest, resp *ReadIndexResponse) error {
	return fmt.Errorf("reading response: %w", errEOFForTest)
}

var errEOFForTest = fmt.Errorf("connection closed: %w", io.EOF)

// A follower's read waits until it has applied the read index, so it needs
// the commit index that covers it. The leader does not push every new commit
// index to the followers at once (they learn it with the next entries or
// after CommitTimeout), so it must send it when a follower asks for a read
// index. With a CommitTimeout far longer than the test, a read could not
// complete otherwise.
func TestFollowerReadGetsCommitIndexWithoutCommitTimeout(t *testing.T) {
	c := newCluster(t, 3, withConfig(func(i int, conf *Config) {
		conf.CommitTimeout = time.Hour
	}))
	l := c.waitLeader()
	for k := 0; k < 5; k++ {
		cmd := fmt.Sprintf("w%d", k)
		c.apply([]byte(cmd))
		for i, r := range c.nodes {
			if i == l {
				continue
			}
			c.waitKnowsLeader(i, l)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := r.ReadIndex(time.Second).ErrorContext(ctx)
			cancel()
			if err != nil {
				t.Fatalf("follower %d read after write %q: %v", i, cmd, err)
			}
			h := c.fsms[i].applied()
			if len(h) == 0 || string(h[len(h)-1]) != cmd {
				t.Fatalf("follower %d read after write %q sees %d commands", i, cmd, len(h))
			}
		}
	}
}
