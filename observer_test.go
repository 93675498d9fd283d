package raft

import (
	"errors"
	"testing"
)

// stoppedNodeWithLeaderObserver returns a node that has been shut down,
// so that it makes no observations of its own (observe still delivers),
// and an observer of its leader changes, registered on it, whose channel
// holds size observations.
func stoppedNodeWithLeaderObserver(t *testing.T, size int) (*Raft, *Observer, chan Observation) {
	c := newCluster(t, 1)
	r := c.nodes[c.waitLeader()]
	c.shutdown()
	ch := make(chan Observation, size)
	o := NewObserver(ch, false, func(o *Observation) bool {
		_, ok := o.Data.(LeaderObservation)
		return ok
	})
	r.RegisterObserver(o)
	return r, o, ch
}

// TestObserverCountsAndDeregister: a non-blocking observer counts what it
// delivers and what its full channel made it drop, and a deregistered one
// gets nothing more.
func TestObserverCountsAndDeregister(t *testing.T) {
	r, o, ch := stoppedNodeWithLeaderObserver(t, 1)
	r.observe(LeaderObservation{LeaderID: "x"})
	r.observe(LeaderObservation{LeaderID: "y"})
	r.observe(PeerObservation{})
	if got := o.GetNumObserved(); got != 1 {
		t.Fatalf("observed %d, want 1 (the channel holds one)", got)
	}
	if got := o.GetNumDropped(); got != 1 {
		t.Fatalf("dropped %d, want 1", got)
	}
	if got := (<-ch).Data.(LeaderObservation).LeaderID; got != "x" {
		t.Fatalf("delivered leader %q, want x", got)
	}

	r.DeregisterObserver(o)
	r.observe(LeaderObservation{LeaderID: "z"})
	// Delivery happens inside observe, so the channel is final here.
	select {
	case ob := <-ch:
		t.Fatalf("deregistered observer got %+v", ob.Data)
	default:
	}
	if got := o.GetNumObserved() + o.GetNumDropped(); got != 2 {
		t.Fatalf("deregistered observer still counted: %d", got)
	}
}

// TestDiscardSnapshotStore: it accepts and forgets snapshots, lists none,
// and cannot open any.
func TestDiscardSnapshotStore(t *testing.T) {
	s := NewDiscardSnapshotStore()
	sink, err := s.Create(SnapshotVersionMax, 10, 2, Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := sink.Write([]byte("state")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if sink.ID() == "" {
		t.Fatal("sink has no ID")
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Cancel(); err != nil {
		t.Fatal(err)
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if _, _, err := s.Open(sink.ID()); !errors.Is(err, ErrSnapshotNotFound) {
		t.Fatalf("Open: %v, want ErrSnapshotNotFound", err)
	}
}
