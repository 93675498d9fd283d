package raft

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestStepDownWithCompactedLogKeepsLastIndex: a leader whose log was
// compacted away entirely (TrailingLogs = 0) must still know, after
// stepping down, that its history ends at the snapshot; otherwise it would
// vote for candidates missing committed entries.
func TestStepDownWithCompactedLogKeepsLastIndex(t *testing.T) {
	c := newCluster(t, 3, inmemSnapshots(), snapshotConfig(1_000_000, 0))
	l := c.waitLeader()
	writeN(t, c, "v", 5)
	if err := c.nodes[l].Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	snapIndex := c.nodes[l].lastSnapshotIndex()
	if last, _ := c.logs[l].LastIndex(); last != 0 {
		t.Fatalf("log not empty after compaction with TrailingLogs=0 (last %d)", last)
	}
	c.disconnect(l)
	waitFor(t, 10*time.Second, "the cut-off leader to step down", func() bool { return c.nodes[l].State() != Leader })
	if got := c.nodes[l].LastIndex(); got < snapIndex {
		t.Fatalf("after stepping down the last index is %d, below the snapshot's %d", got, snapIndex)
	}
}

// TestUserRestoreWaitsForQuorum: Restore reports success only once a
// quorum holds the restored state; a leader cut off from its followers
// must not.
func TestUserRestoreWaitsForQuorum(t *testing.T) {
	c := newCluster(t, 3, inmemSnapshots(), snapshotConfig(1_000_000, 1000))
	l := c.waitLeader()
	writeN(t, c, "a", 10)
	meta, data := takeSnapshotBytes(t, c.nodes[l])
	c.disconnect(l)
	err := c.nodes[l].Restore(meta, bytes.NewReader(data), 0)
	if err == nil {
		t.Fatal("Restore succeeded on a leader cut off from every follower")
	}
	if !errors.Is(err, ErrLeadershipLost) && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrRaftShutdown) {
		t.Fatalf("Restore without a quorum: %v", err)
	}
}

// TestStartDiscardsLogDisagreeingWithSnapshot: a crash during an install
// can leave a log that conflicts with the newest snapshot; on start it is
// dropped, while a log that agrees with the snapshot is kept.
func TestStartDiscardsLogDisagreeingWithSnapshot(t *testing.T) {
	for _, agree := range []bool{false, true} {
		t.Run(fmt.Sprintf("agree=%v", agree), func(t *testing.T) {
			store := NewInmemStore()
			for i := uint64(1); i <= 20; i++ {
				term := uint64(1)
				if agree && i >= 10 {
					term = 2
				}
				_ = store.StoreLog(&Log{Index: i, Term: term, Data: []byte("x")})
			}
			_ = store.SetUint64([]byte(keyCurrentTerm), 2)
			snaps := NewInmemSnapshotStore()
			conf := Configuration{Servers: []Server{{ID: "n", Address: "n"}}}
			sink, err := snaps.Create(SnapshotVersionMax, 10, 2, conf, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = (&testSnapshot{data: [][]byte{[]byte("s")}}).Persist(sink)
			_, trans := NewInmemTransport("n")
			r, err := NewRaft(testConfig("n"), &testFSM{}, store, store, snaps, trans)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Shutdown()
			last, _ := store.LastIndex()
			if agree && last != 20 {
				t.Fatalf("a log agreeing with the snapshot was cut to %d", last)
			}
			if !agree && last != 0 {
				t.Fatalf("a log conflicting with the snapshot was kept up to %d", last)
			}
			if !agree && r.LastIndex() != 10 {
				t.Fatalf("last index %d, want the snapshot's 10", r.LastIndex())
			}
		})
	}
}

// TestTimeoutNowOnlyFromCurrentLeader: a TimeoutNow from anyone but the
// follower's current leader (a delayed one from an old leader, say) is
// refused, so it cannot start an election that ignores the leader.
func TestTimeoutNowOnlyFromCurrentLeader(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	c.apply([]byte("x"))
	f := (l + 1) % 3
	other := (l + 2) % 3
	_, fake := NewInmemTransport("fake")
	defer fake.Close()
	fake.Connect(c.addrs[f], inmem(c.trans[f]))
	term := c.nodes[l].CurrentTerm()
	req := &TimeoutNowRequest{RPCHeader: RPCHeader{ProtocolVersion: 3, ID: []byte(c.confs[other].LocalID), Addr: []byte(c.addrs[other])}}
	var resp TimeoutNowResponse
	if err := fake.TimeoutNow(c.confs[f].LocalID, c.addrs[f], req, &resp); err == nil {
		t.Fatal("a TimeoutNow from a server that is not the leader was accepted")
	}
	end := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(end) {
		if c.nodes[f].CurrentTerm() != term {
			t.Fatalf("the follower campaigned after a TimeoutNow from a non-leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
