package raft

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestApplyQueueFailsTasksPushedAfterClose: the run goroutine can commit
// entries after the FSM goroutine has stopped; their futures and any
// snapshot request must fail at once rather than wait forever.
func TestApplyQueueFailsTasksPushedAfterClose(t *testing.T) {
	q := newApplyQueue()
	before := &logFuture{}
	before.init()
	q.push(applyTask{first: 1, last: 1, futures: []*logFuture{before}})
	left := q.close()
	if len(left) != 1 || left[0].futures[0] != before {
		t.Fatalf("close returned %v, want the one queued task", left)
	}

	after := &logFuture{}
	after.init()
	q.push(applyTask{first: 2, last: 2, futures: []*logFuture{after}})
	snap := &fsmSnapshotRequest{reply: make(chan fsmSnapshotResult, 1)}
	q.push(applyTask{snapshot: snap})
	source := &closeRecorder{}
	restore := &fsmRestoreRequest{source: source, reply: make(chan error, 1)}
	q.push(applyTask{restore: restore})

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := after.ErrorContext(ctx); !errors.Is(err, ErrRaftShutdown) {
		t.Fatalf("future pushed after close: %v, want ErrRaftShutdown", err)
	}
	select {
	case res := <-snap.reply:
		if !errors.Is(res.err, ErrRaftShutdown) {
			t.Fatalf("snapshot request pushed after close: %v", res.err)
		}
	default:
		t.Fatal("snapshot request pushed after close got no answer")
	}
	select {
	case err := <-restore.reply:
		if !errors.Is(err, ErrRaftShutdown) {
			t.Fatalf("restore request pushed after close: %v", err)
		}
	default:
		t.Fatal("restore request pushed after close got no answer")
	}
	// The FSM closes a restore's reader; a restore that never reaches it
	// must not leak the snapshot file.
	if !source.closed {
		t.Fatal("the failed restore's snapshot reader was not closed")
	}
	if got := q.takeAll(); len(got) != 0 {
		t.Fatalf("closed queue kept %d tasks", len(got))
	}
}

// closeRecorder is a snapshot reader that records being closed.
type closeRecorder struct {
	closed bool
}

func (c *closeRecorder) Read([]byte) (int, error) { return 0, io.EOF }
func (c *closeRecorder) Close() error             { c.closed = true; return nil }

// TestShutdownFailsAppliesLeftInBatchApplyCh: with BatchApplyCh, Apply
// can return a future that sits in the channel's buffer because the leader
// has stopped taking new entries (too many uncommitted). Shutdown must fail
// it, not leave it pending forever.
func TestShutdownFailsAppliesLeftInBatchApplyCh(t *testing.T) {
	store := &stallStore{InmemStore: NewInmemStore(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	c := newCluster(t, 1,
		withLogStores(func(int) LogStore { return store }),
		withConfig(func(_ int, conf *Config) {
			conf.BatchApplyCh = true
			conf.MaxAppendEntries = 1
		}))
	r := c.nodes[c.waitLeader()]
	c.apply([]byte("ok"))
	store.armed.Store(true)

	// With the disk stuck nothing commits; once the leader holds its
	// limit of uncommitted entries it stops reading the channel, the
	// buffer fills and a hand-over finally times out.
	var pending []ApplyFuture
	for i := 0; ; i++ {
		if i > 10*maxInflightBatches {
			t.Fatalf("hand-over never timed out after %d applies", i)
		}
		f := r.Apply([]byte(fmt.Sprintf("stuck%d", i)), 50*time.Millisecond)
		if ef, ok := f.(errorFuture); ok {
			if !errors.Is(ef.err, ErrEnqueueTimeout) {
				t.Fatalf("apply %d: %v, want ErrEnqueueTimeout", i, ef.err)
			}
			// A slow scheduler can time out a hand-over the leader was
			// about to take; only past its limit (and one in the
			// buffer) has it surely stopped reading.
			if len(pending) > maxInflightBatches {
				break
			}
			continue
		}
		pending = append(pending, f)
	}
	if len(r.applyCh) == 0 {
		t.Fatal("no future left in the apply channel's buffer")
	}

	done := make(chan struct{})
	go func() {
		r.Shutdown()
		close(done)
	}()
	close(store.release)
	<-done
	c.down[0] = true
	for i, f := range pending {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f.ErrorContext(ctx)
		cancel()
		// The first write may still commit if the leader sees its disk
		// write finish before it sees the shutdown.
		if err != nil && !errors.Is(err, ErrRaftShutdown) {
			t.Fatalf("future %d of %d: %v, want ErrRaftShutdown", i, len(pending), err)
		}
	}
}

// TestShutdownRacingBatchedApplies: Apply calls racing Shutdown on a
// buffered apply channel either fail at once or return a future that
// completes, and the answer is true of this node's FSM: success means it
// applied the command, ErrRaftShutdown that it did not.
func TestShutdownRacingBatchedApplies(t *testing.T) {
	c := newCluster(t, 3, withConfig(func(_ int, conf *Config) {
		conf.BatchApplyCh = true
	}))
	l := c.waitLeader()
	r := c.nodes[l]
	const writers = 8
	futures := make([][]ApplyFuture, writers)
	var wg sync.WaitGroup
	var stopped atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stopped.Add(1)
			for i := 0; ; i++ {
				f := r.Apply([]byte(fmt.Sprintf("w%d-%d", w, i)), 0)
				if _, ok := f.(errorFuture); ok {
					return
				}
				futures[w] = append(futures[w], f)
			}
		}()
	}
	// A leader change stops every writer early; the race with Shutdown is
	// then just smaller.
	waitFor(t, 10*time.Second, "some writes applied", func() bool {
		return r.AppliedIndex() > 200 || stopped.Load() == writers
	})
	c.shutdown()
	wg.Wait()
	applied := make(map[string]bool)
	for _, cmd := range c.fsms[l].applied() {
		applied[string(cmd)] = true
	}
	for w := range futures {
		for i, f := range futures[w] {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := f.ErrorContext(ctx)
			cancel()
			cmd := fmt.Sprintf("w%d-%d", w, i)
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("writer %d future %d of %d never completed after Shutdown", w, i, len(futures[w]))
			case err == nil && !applied[cmd]:
				t.Fatalf("%s succeeded but the leader's FSM never applied it", cmd)
			case errors.Is(err, ErrRaftShutdown) && applied[cmd]:
				t.Fatalf("%s failed with ErrRaftShutdown but the leader's FSM applied it", cmd)
			case err != nil && !errors.Is(err, ErrRaftShutdown) && !errors.Is(err, ErrLeadershipLost) && !errors.Is(err, ErrNotLeader):
				t.Fatalf("writer %d future %d: %v", w, i, err)
			}
		}
	}
}

// TestShutdownFailsReadInHeartbeatRound: a read waiting on a heartbeat
// round that no follower can answer fails with ErrRaftShutdown when the
// node shuts down, like every other future pending at shutdown.
func TestShutdownFailsReadInHeartbeatRound(t *testing.T) {
	c := newCluster(t, 3, withConfig(func(_ int, conf *Config) {
		// Long enough that neither the round's own limit (an election
		// timeout) nor the lease check ends the term before the test
		// shuts the node down.
		conf.HeartbeatTimeout = time.Second
		conf.LeaderLeaseTimeout = time.Second
		conf.ElectionTimeout = 5 * time.Second
	}))
	l := c.waitLeader()
	c.apply([]byte("x"))
	r := c.nodes[l]
	c.disconnect(l)
	before := r.readRounds.Load()
	read := r.ReadIndex(0)
	waitFor(t, 5*time.Second, "the read's heartbeat round to start", func() bool { return r.readRounds.Load() > before })
	shutdownFailsPending(t, c, l, read, "read pending at shutdown")
}

// shutdownFailsPending shuts node i down and checks that f, pending until
// then, fails with ErrRaftShutdown, as every pending future must.
func shutdownFailsPending(t *testing.T, c *cluster, i int, f Future, what string) {
	t.Helper()
	_ = c.nodes[i].Shutdown().Error()
	c.down[i] = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.ErrorContext(ctx); !errors.Is(err, ErrRaftShutdown) {
		t.Fatalf("%s: %v, want ErrRaftShutdown", what, err)
	}
}

// TestShutdownDoesNotWaitForSilentPeer: a leader replicating to a peer
// that accepts connections but never answers shuts down without waiting
// for the transport's timeout (an hour here) on the call in flight.
func TestShutdownDoesNotWaitForSilentPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		accepted []net.Conn
		readers  sync.WaitGroup
	)
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, conn)
			mu.Unlock()
			readers.Add(1)
			go func() {
				defer readers.Done()
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
	}()
	// The remaining servers elect a new leader, which also dials the
	// silent peer, so its connections are closed here rather than waited
	// on.
	defer func() {
		ln.Close()
		<-acceptDone
		mu.Lock()
		for _, conn := range accepted {
			conn.Close()
		}
		mu.Unlock()
		readers.Wait()
	}()
	c := newCluster(t, 3, withTCPConfig(t, nil, func(cfg *NetworkTransportConfig) {
		cfg.Timeout = time.Hour
	}))
	l := c.waitLeader()
	r := c.nodes[l]
	// Once an entry of the term commits, no configuration change is left
	// in progress.
	c.apply([]byte("x"))
	if err := r.AddNonvoter("silent", ServerAddress(ln.Addr().String()), 0, 0).Error(); err != nil {
		t.Fatal(err)
	}
	// The leader's replicator for the silent peer is now waiting on it.
	waitFor(t, 10*time.Second, "the leader to dial the silent peer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) > 0
	})
	done := make(chan struct{})
	go func() {
		_ = r.Shutdown().Error()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown still waiting on a peer that never answers")
	}
	c.down[l] = true
}

// TestShutdownFailsFollowerReadInFlight: a follower's read waiting on the
// leader's answer when the follower shuts down fails with ErrRaftShutdown,
// not with the error of the transport Shutdown closed under it.
func TestShutdownFailsFollowerReadInFlight(t *testing.T) {
	c := newCluster(t, 3, withConfig(func(_ int, conf *Config) {
		// The leader, cut off from its followers, must stay leader (and
		// its read round open) for the length of an attempt.
		conf.HeartbeatTimeout = time.Second
		conf.LeaderLeaseTimeout = time.Second
		conf.ElectionTimeout = 5 * time.Second
	}), func(c *cluster) {
		// Calls wait a minute for an answer, so the read is surely still
		// in flight when the follower shuts down.
		c.newTrans = func(i int) Transport {
			_, it := NewInmemTransportWithTimeout(ServerAddress(fmt.Sprintf("addr%d", i)), time.Minute)
			return it
		}
	})
	l := c.waitLeader()
	c.apply([]byte("x"))
	f := (l + 1) % 3
	c.waitKnowsLeader(f, l)
	// The leader hears the follower's read but cannot confirm it: its own
	// messages to the followers are lost.
	for i := range c.nodes {
		if i != l {
			inmem(c.trans[l]).Disconnect(c.addrs[i])
		}
	}
	leader := c.nodes[l]
	before := leader.readRounds.Load()
	read := c.nodes[f].ReadIndex(0)
	waitFor(t, 5*time.Second, "the leader's read round to start", func() bool { return leader.readRounds.Load() > before })
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := read.ErrorContext(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("the read ended before shutdown: %v", err)
	}
	shutdownFailsPending(t, c, f, read, "follower read in flight at shutdown")
}

// TestInmemTransportRefusesCallsAfterClose: after Close every call fails
// with ErrTransportShutdown, as the WithClose contract says, even though
// Close also forgets the peers.
func TestInmemTransportRefusesCallsAfterClose(t *testing.T) {
	addrA, a := NewInmemTransport("")
	addrB, b := NewInmemTransport("")
	a.Connect(addrB, b)
	b.Connect(addrA, a)
	defer b.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	var resp AppendEntriesResponse
	if err := a.AppendEntries("b", addrB, &AppendEntriesRequest{}, &resp); !errors.Is(err, ErrTransportShutdown) {
		t.Fatalf("AppendEntries after Close: %v, want ErrTransportShutdown", err)
	}
}
