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
	c := newCluster(t, 3)
	l := c.waitLeader()
	r := c.nodes[l]
	for i := range 20 {
		r.Apply([]byte(fmt.Sprintf("w%d", i)), 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.BarrierContext(ctx).Error(); err != nil {
		t.Fatalf("barrier on the leader: %v", err)
	}
	if n := c.fsms[l].count(); n != 20 {
		t.Fatalf("barrier returned with %d of 20 writes applied", n)
	}
	if err := c.nodes[(l+1)%3].BarrierContext(ctx).Error(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("barrier on a follower: %v, want ErrNotLeader", err)
	}
}
