package raft

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestBarrierContext: on the leader the barrier completes once every
// earlier write is applied; on a follower it fails with ErrNotLeader.
func TestBarrierContext(t *testing.T) {
	// Timeouts long enough that a loaded machine does not change leaders
	// midway.
	c := newCluster(t, 3, withConfig(func(_ int, conf *Config) {
		conf.HeartbeatTimeout = time.Second
		conf.ElectionTimeout = time.Second
		conf.LeaderLeaseTimeout = time.Second
	}))
	l := c.waitLeader()
	r := c.nodes[l]
	var writes []ApplyFuture
	for i := range 20 {
		writes = append(writes, r.Apply([]byte(fmt.Sprintf("w%d", i)), 0))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.BarrierContext(ctx).Error(); err != nil {
		t.Fatalf("barrier on the leader: %v", err)
	}
	if n := c.fsms[l].count(); n != 20 {
		t.Fatalf("barrier returned with %d of 20 writes applied", n)
	}
	for i, w := range writes {
		if err := w.Error(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if err := c.nodes[(l+1)%3].BarrierContext(ctx).Error(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("barrier on a follower: %v, want ErrNotLeader", err)
	}
}
