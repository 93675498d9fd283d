package raft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestRestartAllServers(t *testing.T) {
	c := newCluster(t, 3)
	c.waitLeader()
	for i := 0; i < 100; i++ {
		c.apply([]byte(fmt.Sprintf("v%d", i)))
	}
	c.waitApplied(100)
	before := c.fsms[0].applied()
	terms := make([]uint64, 3)
	lasts := make([]uint64, 3)
	for i := 0; i < 3; i++ {
		terms[i] = c.nodes[i].CurrentTerm()
		lasts[i] = c.nodes[i].LastIndex()
		c.crash(i)
	}
	for i := 0; i < 3; i++ {
		c.restart(i)
		if got := c.nodes[i].CurrentTerm(); got != terms[i] {
			t.Fatalf("node %d restarted in term %d, had %d", i, got, terms[i])
		}
		if got := c.nodes[i].LastIndex(); got != lasts[i] {
			t.Fatalf("node %d restarted with last index %d, had %d", i, got, lasts[i])
		}
	}
	c.waitLeader()
	c.waitApplied(100)
	for i, f := range c.fsms {
		after := f.applied()
		for k := range before {
			if !bytes.Equal(after[k], before[k]) {
				t.Fatalf("node %d replayed %q at %d, had %q", i, after[k], k, before[k])
			}
		}
	}
	c.apply([]byte("more"))
	c.waitApplied(101)
	c.checkSamePrefix()
}

// stallStore blocks StoreLogs while armed, until released.
type stallStore struct {
	*InmemStore
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s *stallStore) StoreLogs(logs []*Log) error {
	if s.armed.Load() {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		<-s.release
	}
	return s.InmemStore.StoreLogs(logs)
}

func TestShutdownFailsPendingFutures(t *testing.T) {
	store := &stallStore{InmemStore: NewInmemStore(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	c := newCluster(t, 1, withLogStores(func(int) LogStore { return store }))
	r := c.nodes[c.waitLeader()]
	c.apply([]byte("ok"))
	store.armed.Store(true)
	var pending []Future
	for i := 0; i < 5; i++ {
		pending = append(pending, r.Apply([]byte(fmt.Sprintf("stuck%d", i)), 0))
	}
	pending = append(pending, r.Barrier(0))
	<-store.entered
	// A wait bounded by a context gives up without the operation.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if err := pending[0].ErrorContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ErrorContext on a stuck write: %v, want deadline exceeded", err)
	}
	cancel()

	done := make(chan struct{})
	go func() {
		r.Shutdown()
		close(done)
	}()
	for i, f := range pending {
		if err := f.Error(); !errors.Is(err, ErrRaftShutdown) {
			t.Fatalf("pending future %d: %v, want ErrRaftShutdown", i, err)
		}
	}
	// Shutdown completes once the stuck disk write returns.
	close(store.release)
	<-done
	c.down[0] = true
	if err := r.Shutdown().Error(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := r.Apply([]byte("late"), 0).Error(); !errors.Is(err, ErrRaftShutdown) {
		t.Fatalf("Apply after shutdown: %v", err)
	}
	if err := r.Barrier(0).Error(); !errors.Is(err, ErrRaftShutdown) {
		t.Fatalf("Barrier after shutdown: %v", err)
	}
	if err := r.VerifyLeader().Error(); !errors.Is(err, ErrRaftShutdown) {
		t.Fatalf("VerifyLeader after shutdown: %v", err)
	}
	if err := r.GetConfiguration().Error(); !errors.Is(err, ErrRaftShutdown) {
		t.Fatalf("GetConfiguration after shutdown: %v", err)
	}
	if r.State() != Shutdown {
		t.Fatalf("state after shutdown: %v", r.State())
	}
}

func TestShutdownConcurrentWithApply(t *testing.T) {
	c := newCluster(t, 3)
	r := c.nodes[c.waitLeader()]
	var futures []ApplyFuture
	for i := 0; i < 500; i++ {
		futures = append(futures, r.Apply([]byte(fmt.Sprintf("x%d", i)), 0))
	}
	c.shutdown()
	for i, f := range futures {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f.ErrorContext(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("future %d never completed after Shutdown", i)
		}
		if err != nil && !errors.Is(err, ErrRaftShutdown) && !errors.Is(err, ErrLeadershipLost) && !errors.Is(err, ErrNotLeader) {
			t.Fatalf("future %d: unexpected error %v", i, err)
		}
	}
}

// TestRestartedFollowerLearnsCommitWithoutNewWrites: a follower that
// restarts with its whole log but no commit index must be told the commit
// index even if no write follows, or it never applies what it holds.
func TestRestartedFollowerLearnsCommitWithoutNewWrites(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	for i := 0; i < 50; i++ {
		c.apply([]byte(fmt.Sprintf("v%d", i)))
	}
	c.waitApplied(50)
	f := (l + 1) % 3
	c.crash(f)
	c.restart(f)
	c.waitApplied(50, f)
}
