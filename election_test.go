package raft

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestInitialElection(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d servers", n), func(t *testing.T) {
			// The production timeouts, so a starved CI machine does not
			// miss heartbeats: this test is about stability.
			c := newCluster(t, n, withConfig(func(i int, conf *Config) {
				d := DefaultConfig()
				conf.HeartbeatTimeout = d.HeartbeatTimeout
				conf.ElectionTimeout = d.ElectionTimeout
				conf.LeaderLeaseTimeout = d.LeaderLeaseTimeout
			}))
			l := c.waitLeader()
			// Every node agrees on the leader once it has heard from it.
			waitFor(t, 5*time.Second, "all nodes to know the leader", func() bool {
				for _, r := range c.nodes {
					if _, id := r.LeaderWithID(); id != c.confs[l].LocalID {
						return false
					}
				}
				return true
			})
			term := c.nodes[l].CurrentTerm()
			// With no failures, nobody starts another election.
			end := time.Now().Add(2 * time.Second)
			for time.Now().Before(end) {
				for i, r := range c.nodes {
					if got := r.CurrentTerm(); got != term {
						t.Fatalf("node %d moved to term %d (leader elected in %d) without a failure", i, got, term)
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			if ls := c.leaders(); len(ls) != 1 || ls[0] != l {
				t.Fatalf("leaders = %v, want [%d]", ls, l)
			}
		})
	}
}

func TestReElection(t *testing.T) {
	c := newCluster(t, 3)
	l1 := c.waitLeader()
	c.apply([]byte("before"))

	c.disconnect(l1)
	var others []int
	for i := 0; i < 3; i++ {
		if i != l1 {
			others = append(others, i)
		}
	}
	l2 := c.waitLeader(others...)
	if l2 == l1 {
		t.Fatalf("disconnected leader %d still elected", l1)
	}
	// The old leader, cut off, accepts a write it can never commit.
	stale := c.nodes[l1].Apply([]byte("lost"), 0)
	c.apply([]byte("after"))

	c.reconnect(l1)
	if err := stale.Error(); err == nil {
		t.Fatalf("write on the partitioned old leader succeeded")
	}
	c.apply([]byte("final"))
	c.waitApplied(3)
	waitFor(t, 5*time.Second, "old leader to follow", func() bool {
		return c.nodes[l1].State() == Follower
	})
	c.checkSamePrefix()
	for i, f := range c.fsms {
		for _, cmd := range f.applied() {
			if string(cmd) == "lost" {
				t.Fatalf("node %d applied the uncommitted entry of the deposed leader", i)
			}
		}
	}
	// The old leader's uncommitted entry was replaced in its log too.
	var l Log
	for idx := uint64(1); idx <= c.nodes[l1].LastIndex(); idx++ {
		if err := c.logs[l1].GetLog(idx, &l); err == nil && string(l.Data) == "lost" {
			t.Fatalf("old leader's log still holds its uncommitted entry at %d", idx)
		}
	}
}

func TestNoLeaderWithoutMajority(t *testing.T) {
	c := newCluster(t, 5)
	l := c.waitLeader()
	c.apply([]byte("one"))
	// Cut the leader and two followers off: the two remaining cannot elect.
	cut := []int{l, (l + 1) % 5, (l + 2) % 5}
	for _, i := range cut {
		c.disconnect(i)
	}
	rest := []int{(l + 3) % 5, (l + 4) % 5}
	// The isolated leader steps down once its lease on the quorum expires.
	waitFor(t, 5*time.Second, "isolated leader to step down", func() bool {
		return c.nodes[l].State() != Leader
	})
	commits := map[int]uint64{}
	for _, i := range rest {
		commits[i] = c.nodes[i].CommitIndex()
	}
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		for i := range c.nodes {
			if c.nodes[i].State() == Leader {
				t.Fatalf("node %d became leader without a majority", i)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, i := range rest {
		if got := c.nodes[i].CommitIndex(); got != commits[i] {
			t.Fatalf("node %d committed to %d without a majority (was %d)", i, got, commits[i])
		}
	}
	// Progress resumes when a majority is back.
	for _, i := range cut {
		c.reconnect(i)
	}
	c.waitLeader()
	c.apply([]byte("two"))
	c.waitApplied(2)
	c.checkSamePrefix()
}

func TestFollowerRejectsApply(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	c.apply([]byte("x"))
	f := (l + 1) % 3
	err := c.nodes[f].Apply([]byte("y"), 0).Error()
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Apply on follower: %v, want ErrNotLeader", err)
	}
	if errB := c.nodes[f].Barrier(0).Error(); !errors.Is(errB, ErrNotLeader) {
		t.Fatalf("Barrier on follower: %v, want ErrNotLeader", errB)
	}
	if errV := c.nodes[f].VerifyLeader().Error(); !errors.Is(errV, ErrNotLeader) {
		t.Fatalf("VerifyLeader on follower: %v, want ErrNotLeader", errV)
	}
}
