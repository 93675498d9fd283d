package rafttest

import (
	"testing"
	"time"

	"github.com/consensuskit/raft"
)

// TestCheckSameSequenceCatchesDivergence shows the agreement check can
// fail: two servers whose records differ at one index are reported.
func TestCheckSameSequenceCatchesDivergence(t *testing.T) {
	c := New(t, Options{Servers: 3})
	l, err := c.WaitForLeader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := c.Server(l)
	if err := r.Apply(EncodePut("a", "1"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForApplied(r.AppliedIndex(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSameSequence(); err != nil {
		t.Fatalf("agreeing servers reported as diverging: %v", err)
	}
	// Forge a divergent record on one follower.
	f := c.Followers()[0]
	c.Nodes[f].rec.record(&raft.Log{Index: r.AppliedIndex(), Data: []byte("forged")})
	if err := c.CheckSameSequence(); err == nil {
		t.Fatal("a forged divergence went unnoticed")
	}
}

// TestClusterCrashRestartOnWal restarts a server of a wal cluster over TCP
// from disk and checks it catches up.
func TestClusterCrashRestartOnWal(t *testing.T) {
	c := New(t, Options{Servers: 3, Store: WalStore, Transport: TCPTransport})
	l, err := c.WaitForLeader(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := c.Server(l)
	for k := 0; k < 50; k++ {
		if err := r.Apply(EncodePut("k", "v"), time.Second).Error(); err != nil {
			t.Fatal(err)
		}
	}
	f := c.Followers()[0]
	c.Crash(f)
	if c.Up(f) {
		t.Fatal("crashed server reported up")
	}
	c.Restart(f)
	if err := c.WaitForApplied(r.AppliedIndex(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	_, fsm, _ := c.Server(f)
	if got := fsm.(*KV).Get("k"); got != "v" {
		t.Fatalf("restarted server reads %q", got)
	}
	if err := c.CheckSameSequence(); err != nil {
		t.Fatal(err)
	}
}
