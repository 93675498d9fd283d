package raft

import (
	"sync"
	"testing"
	"time"
)

// queuedTransport is an InmemTransport whose consumer is a channel the test
// fills, so requests can be queued before the node reads any.
type queuedTransport struct {
	*InmemTransport
	ch chan RPC
}

func (q *queuedTransport) Consumer() <-chan RPC { return q.ch }

// countingLogStore counts the StoreLogs calls that reach the store.
type countingLogStore struct {
	*InmemStore
	mu    sync.Mutex
	calls [][]uint64
}

func (s *countingLogStore) StoreLogs(logs []*Log) error {
	s.mu.Lock()
	var idx []uint64
	for _, l := range logs {
		idx = append(idx, l.Index)
	}
	s.calls = append(s.calls, idx)
	s.mu.Unlock()
	return s.InmemStore.StoreLogs(logs)
}

func (s *countingLogStore) StoreLog(l *Log) error { return s.StoreLogs([]*Log{l}) }

// TestFollowerWritesQueuedAppendEntriesTogether queues three AppendEntries
// that extend the log one after another, then a heartbeat, and checks that
// the follower writes the three requests' entries with one StoreLogs,
// answers each as it would have alone, and then handles the heartbeat.
func TestFollowerWritesQueuedAppendEntriesTogether(t *testing.T) {
	store := &countingLogStore{InmemStore: NewInmemStore()}
	_, inner := NewInmemTransport("f")
	trans := &queuedTransport{InmemTransport: inner, ch: make(chan RPC, 8)}
	conf := testConfig("f")
	// Long timeouts: the node must stay a follower of the test's leader.
	conf.HeartbeatTimeout = 5 * time.Second
	conf.ElectionTimeout = 5 * time.Second
	members := Configuration{Servers: []Server{{ID: "f", Address: "f"}, {ID: "l", Address: "l"}}}
	if err := BootstrapCluster(conf, store, store, NewDiscardSnapshotStore(), trans, members); err != nil {
		t.Fatal(err)
	}
	hdr := RPCHeader{ProtocolVersion: 3, ID: []byte("l"), Addr: []byte("l")}
	var resps []chan RPCResponse
	queue := func(req *AppendEntriesRequest) {
		ch := make(chan RPCResponse, 1)
		resps = append(resps, ch)
		trans.ch <- RPC{Command: req, RespChan: ch}
	}
	// Index 1 is the bootstrap configuration, of term 1.
	for i := uint64(2); i <= 4; i++ {
		prevTerm := uint64(2)
		if i == 2 {
			prevTerm = 1
		}
		queue(&AppendEntriesRequest{RPCHeader: hdr, Term: 2, PrevLogEntry: i - 1, PrevLogTerm: prevTerm,
			Entries: []*Log{{Index: i, Term: 2, Type: LogCommand, Data: []byte{byte(i)}}}, LeaderCommitIndex: 1})
	}
	queue(&AppendEntriesRequest{RPCHeader: hdr, Term: 2, PrevLogEntry: 4, PrevLogTerm: 2, LeaderCommitIndex: 4})
	store.mu.Lock()
	store.calls = nil // forget the bootstrap's write
	store.mu.Unlock()

	fsm := &testFSM{}
	r, err := NewRaft(conf, fsm, store, store, NewDiscardSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	for i, ch := range resps {
		select {
		case rr := <-ch:
			resp, ok := rr.Response.(*AppendEntriesResponse)
			want := uint64(min(i+2, 4))
			if rr.Error != nil || !ok || !resp.Success || resp.LastLog != want || resp.Term != 2 {
				t.Fatalf("answer %d: %+v %v, want success with LastLog %d", i, rr.Response, rr.Error, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d not answered", i)
		}
	}
	store.mu.Lock()
	calls := store.calls
	store.mu.Unlock()
	if len(calls) != 1 || len(calls[0]) != 3 || calls[0][0] != 2 {
		t.Fatalf("StoreLogs calls %v, want one with entries 2, 3 and 4", calls)
	}
	waitFor(t, 10*time.Second, "the heartbeat's commit index to be applied", func() bool {
		fsm.mu.Lock()
		defer fsm.mu.Unlock()
		return len(fsm.indexes) == 3
	})
}
