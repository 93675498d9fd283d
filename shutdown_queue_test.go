package raft

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	restore := &fsmRestoreRequest{reply: make(chan error, 1)}
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
	if got := q.takeAll(); len(got) != 0 {
		t.Fatalf("closed queue kept %d tasks", len(got))
	}
}

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
			break
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
// completes.
func TestShutdownRacingBatchedApplies(t *testing.T) {
	c := newCluster(t, 3, withConfig(func(_ int, conf *Config) {
		conf.BatchApplyCh = true
	}))
	r := c.nodes[c.waitLeader()]
	const writers = 8
	futures := make([][]ApplyFuture, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				f := r.Apply([]byte(fmt.Sprintf("w%d-%d", w, i)), 0)
				if _, ok := f.(errorFuture); ok {
					return
				}
				futures[w] = append(futures[w], f)
			}
		}()
	}
	waitFor(t, 10*time.Second, "some writes applied", func() bool { return r.AppliedIndex() > 200 })
	c.shutdown()
	wg.Wait()
	for w := range futures {
		for i, f := range futures[w] {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := f.ErrorContext(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("writer %d future %d of %d never completed after Shutdown", w, i, len(futures[w]))
			}
			if err != nil && !errors.Is(err, ErrRaftShutdown) && !errors.Is(err, ErrLeadershipLost) && !errors.Is(err, ErrNotLeader) {
				t.Fatalf("writer %d future %d: %v", w, i, err)
			}
		}
	}
}
