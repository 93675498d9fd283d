package interop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/consensuskit/raft"
)

// readDeadline bounds each follower read: far longer than a refused or a
// served read takes, so reaching it means the read hung.
const readDeadline = 10 * time.Second

// followerRead runs a ReadIndex on our node f and waits for its outcome,
// failing the test if it neither succeeds nor fails within readDeadline.
func followerRead(c *cluster, f *node) (uint64, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readDeadline)
	defer cancel()
	fut := f.or.ReadIndex(rpcTimeout)
	err := fut.ErrorContext(ctx)
	if ctx.Err() != nil && err == ctx.Err() {
		c.t.Fatalf("ReadIndex on %s hung: no outcome within %v; cluster:%s", f.id, readDeadline, c.status())
	}
	if err != nil {
		return 0, err
	}
	return fut.Index(), nil
}

// maxRefusalAttempts bounds the follower reads it may take before our
// follower of a hashicorp leader refuses them as not supported. Our node
// needs a few dropped connections in a row (a single one could be a
// restart or a closed idle connection of a leader of ours); this is well
// above that number, and reaching it means the node never decided.
const maxRefusalAttempts = 10

// TestFollowerReadIndexAgainstHashicorpLeader: our follower of a hashicorp
// leader asks it for a read index with our own RPC type 5, which hashicorp
// does not know and answers by closing the connection. A dropped
// connection alone is not proof (a leader of ours drops one when it
// restarts), so the first reads may fail as ordinary transient errors;
// within maxRefusalAttempts reads, promptly each, the follower must
// refuse with ErrReadIndexNotSupported, and from then on refuse at once,
// twice over, without sending anything. No read may ever succeed (it would
// be served from an unconfirmed, possibly stale state), and the cluster
// must go on: a write through the leader still commits and reaches our
// follower.
func TestFollowerReadIndexAgainstHashicorpLeader(t *testing.T) {
	c, leader := electLeaderOf(t, []library{hashicorp, hashicorp, ours}, hashicorp, clusterOptions{})
	o1 := c.node("o1")
	acked := c.writeStrict(leader, "a", 20)
	c.waitFor("o1 to apply the first writes", func() bool { return len(o1.fsm.history()) == len(acked) })

	readIndexRequests := func() int {
		return len(c.net.requestsWhere(func(e rpcEvent) bool {
			return e.From == o1.id && e.To == leader.id && e.Type == rpcReadIndex
		}))
	}
	// sent counts the reads that went on the wire: all but those refused
	// for want of a known leader, which o1 should not lack here anyway.
	sent := 0
	for attempt := 1; ; attempt++ {
		if attempt > maxRefusalAttempts {
			t.Fatalf("%d ReadIndex calls on %s, following hashicorp leader %s, and none refused as not supported",
				maxRefusalAttempts, o1.id, leader.id)
		}
		index, err := followerRead(c, o1)
		if err == nil {
			t.Fatalf("read %d: ReadIndex on %s, following hashicorp leader %s, succeeded with index %d; "+
				"no hashicorp leader can confirm one", attempt, o1.id, leader.id, index)
		}
		if !errors.Is(err, raft.ErrNotLeader) {
			sent++
		}
		t.Logf("read %d: %v", attempt, err)
		if errors.Is(err, raft.ErrReadIndexNotSupported) {
			break
		}
	}
	// The refusal came from the wire: the tap saw every ReadIndex request
	// reach the hashicorp leader, and saw no answer to any. The tap records
	// a request just after forwarding it, so wait for the last one.
	c.waitFor(fmt.Sprintf("the tap to record o1's %d ReadIndex requests to the leader", sent), func() bool {
		return readIndexRequests() >= sent
	})
	if n := readIndexRequests(); n != sent {
		t.Fatalf("the tap saw %d ReadIndex requests from %s to %s, want the %d reads that were sent", n, o1.id, leader.id, sent)
	}
	// Now refused at once: the answer is ErrReadIndexNotSupported and no
	// request leaves o1.
	for k := 1; k <= 2; k++ {
		if _, err := followerRead(c, o1); !errors.Is(err, raft.ErrReadIndexNotSupported) {
			t.Fatalf("read %d after the refusal: ReadIndex on %s returned %v, want an error matching ErrReadIndexNotSupported", k, o1.id, err)
		}
	}
	if answered := c.net.eventsWhere(func(e rpcEvent) bool { return e.Type == rpcReadIndex }); len(answered) != 0 {
		t.Fatalf("hashicorp answered a ReadIndex request: %v", answered)
	}

	// The cluster still works, across the library boundary.
	if !leader.isLeader() {
		t.Fatalf("%s lost leadership after the refused reads; cluster:%s", leader.id, c.status())
	}
	acked = append(acked, c.writeStrict(leader, "b", 20)...)
	h := c.converged(c.nodes)
	proposed := map[string]bool{}
	for _, cmd := range acked {
		proposed[cmd] = true
	}
	c.checkAcked(h, acked, proposed)
	// The writes took long enough for the tap to record a request the
	// refused reads would have sent.
	if n := readIndexRequests(); n != sent {
		t.Fatalf("the tap saw %d ReadIndex requests from %s to %s, want %d: a read refused as not supported went on the wire",
			n, o1.id, leader.id, sent)
	}
}

// TestFollowerReadIndexUnderOurLeader is the positive case: with our node
// leading a mixed cluster, our follower's ReadIndex succeeds, and once it
// returns the follower's FSM holds every write acknowledged before the
// read began. Each round writes through the leader and reads on the
// follower at once, so a read that did not wait would often miss the
// write; the tap must show each read answered by our leader.
func TestFollowerReadIndexUnderOurLeader(t *testing.T) {
	c, leader := electLeaderOf(t, []library{hashicorp, ours, ours}, ours, clusterOptions{})
	var follower *node
	for _, n := range c.nodes {
		if n.lib == ours && n != leader {
			follower = n
		}
	}
	if follower == nil {
		t.Fatalf("no follower of ours; cluster:%s", c.status())
	}
	const rounds = 30
	for k := 0; k < rounds; k++ {
		cmd := c.command("r", k)
		af := leader.or.Apply(cmd, rpcTimeout)
		if err := af.Error(); err != nil {
			t.Fatalf("round %d: write through %s: %v; cluster:%s", k, leader.id, err, c.status())
		}
		index, err := followerRead(c, follower)
		if err != nil {
			t.Fatalf("round %d: ReadIndex on %s under our leader %s: %v; cluster:%s", k, follower.id, leader.id, err, c.status())
		}
		if index < af.Index() {
			t.Fatalf("round %d: read index %d is below the index %d of a write acknowledged before the read", k, index, af.Index())
		}
		if applied := follower.or.AppliedIndex(); applied < index {
			t.Fatalf("round %d: ReadIndex returned with %s applied only to %d, read index %d", k, follower.id, applied, index)
		}
		if !slices.ContainsFunc(follower.fsm.history(), func(a applied) bool { return a.Data == string(cmd) }) {
			t.Fatalf("round %d: after ReadIndex returned, %s's FSM lacks write %s acknowledged before it",
				k, follower.id, fmt.Sprintf("%q", cmd[:8]))
		}
	}
	// The tap records an answer just after forwarding it, so the last
	// ones may still be on their way.
	served := func() int {
		return len(c.net.eventsWhere(func(e rpcEvent) bool {
			return e.From == follower.id && e.To == leader.id && e.Type == rpcReadIndex && e.Err == "" && e.Resp.Success
		}))
	}
	c.waitFor(fmt.Sprintf("the tap to show %d ReadIndex requests answered with success by %s", rounds, leader.id),
		func() bool { return served() >= rounds })
	if n := served(); n != rounds {
		t.Fatalf("the tap saw %d successful ReadIndex exchanges from %s to %s, want %d", n, follower.id, leader.id, rounds)
	}
	c.converged(c.nodes)
}
