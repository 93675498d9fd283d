package raft

import (
	"testing"
	"time"

	metrics "github.com/armon/go-metrics"
)

// gatedStore holds every StoreLogs until gate is closed, and tells entered
// when one has started.
type gatedStore struct {
	*InmemStore
	entered chan struct{}
	gate    chan struct{}
}

func (s *gatedStore) StoreLogs(logs []*Log) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.gate
	return s.InmemStore.StoreLogs(logs)
}

// The local writer counts the leader toward the quorum itself, and only once
// its write returned: nothing here reads doneCh, as the run goroutine would,
// yet the single voter's entries commit when, and not before, its store has
// them.
func TestLocalWriterCountsLeaderOnceDurable(t *testing.T) {
	mc := metrics.DefaultConfig("test")
	mc.EnableRuntimeMetrics = false // its collector goroutine never stops
	m, err := metrics.New(mc, &metrics.BlackholeSink{})
	if err != nil {
		t.Fatal(err)
	}
	store := &gatedStore{InmemStore: NewInmemStore(), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	r := &Raft{conf: *DefaultConfig(), logs: store, localID: "a", metrics: m}
	commitCh := make(chan struct{}, 1)
	conf := Configuration{Servers: []Server{{Suffrage: Voter, ID: "a", Address: "a"}}}
	ls := &leaderState{pending: newPendingLogs(), commitment: newCommitment(commitCh, conf, 1)}
	w := newLocalWriter(r, ls)
	r.goroutines.Add(1)
	go w.run()
	defer func() {
		w.stop()
		<-w.exited
	}()

	logs := []*Log{{Index: 1, Term: 1}, {Index: 2, Term: 1}}
	ls.pending.add(logs)
	w.submit(logs)
	select {
	case <-store.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer never wrote")
	}
	if c := ls.commitment.getCommitIndex(); c != 0 {
		t.Fatalf("commit index %d while the leader's write is in progress, want 0", c)
	}
	close(store.gate)
	select {
	case <-commitCh:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader's durable write never reached the commitment")
	}
	if c := ls.commitment.getCommitIndex(); c != 2 {
		t.Fatalf("commit index %d after the write, want 2", c)
	}
	if _, ok := ls.pending.get(2); ok {
		t.Fatal("entry 2 still pending after the store took it")
	}
	select {
	case <-w.doneCh:
		t.Fatal("the writer signalled the run goroutine without a failure")
	default:
	}
}
