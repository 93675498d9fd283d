package raft

import (
	"errors"
	"sync"
	"sync/atomic"
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
	// fail, when set, is returned by StoreLogs, which then stores nothing.
	fail error
	// reads counts the GetLog calls that reach the store.
	reads atomic.Int64
}

func (s *countingLogStore) GetLog(index uint64, log *Log) error {
	s.reads.Add(1)
	return s.InmemStore.GetLog(index, log)
}

func (s *countingLogStore) StoreLogs(logs []*Log) error {
	s.mu.Lock()
	var idx []uint64
	for _, l := range logs {
		idx = append(idx, l.Index)
	}
	s.calls = append(s.calls, idx)
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	return s.InmemStore.StoreLogs(logs)
}

func (s *countingLogStore) StoreLog(l *Log) error { return s.StoreLogs([]*Log{l}) }

// TestFollowerWritesQueuedAppendEntriesTogether queues three AppendEntries
// that extend the log one after another, then a heartbeat, and checks that
// the follower writes the three requests' entries with one StoreLogs,
// answers each as it would have alone, and then handles the heartbeat.
func TestFollowerWritesQueuedAppendEntriesTogether(t *testing.T) {
	store := &countingLogStore{InmemStore: NewInmemStore()}
	trans, conf, queue, resps := queuedFollower(t, store)
	// Index 1 is the bootstrap configuration, of term 1.
	for i := uint64(2); i <= 4; i++ {
		queue(appendAfter(i, 1))
	}
	queue(&AppendEntriesRequest{RPCHeader: leaderHeader, Term: 2, PrevLogEntry: 4, PrevLogTerm: 2, LeaderCommitIndex: 4})
	store.mu.Lock()
	store.calls = nil // forget the bootstrap's write
	store.mu.Unlock()

	fsm := &testFSM{}
	r, err := NewRaft(conf, fsm, store, store, NewDiscardSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	for i, rr := range awaitAnswers(t, *resps) {
		resp, ok := rr.Response.(*AppendEntriesResponse)
		want := uint64(min(i+2, 4))
		if rr.Error != nil || !ok || !resp.Success || resp.LastLog != want || resp.Term != 2 {
			t.Fatalf("answer %d: %+v %v, want success with LastLog %d", i, rr.Response, rr.Error, want)
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

// TestFollowerBatchWriteFailureFailsEveryRequest makes the write of a batch
// fail: every request in it is answered with failure and the follower's last
// index, and nothing they carried is committed.
func TestFollowerBatchWriteFailureFailsEveryRequest(t *testing.T) {
	store := &countingLogStore{InmemStore: NewInmemStore()}
	trans, conf, queue, resps := queuedFollower(t, store)
	queue(appendAfter(2, 3))
	queue(appendAfter(3, 3))
	store.mu.Lock()
	store.calls = nil
	store.fail = errors.New("disk gone")
	store.mu.Unlock()

	r, err := NewRaft(conf, &testFSM{}, store, store, NewDiscardSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	for i, rr := range awaitAnswers(t, *resps) {
		resp, ok := rr.Response.(*AppendEntriesResponse)
		if !ok || resp.Success || resp.LastLog != 1 {
			t.Fatalf("answer %d: %+v %v, want failure with LastLog 1", i, rr.Response, rr.Error)
		}
	}
	store.mu.Lock()
	calls := store.calls
	store.mu.Unlock()
	if len(calls) != 1 || len(calls[0]) != 2 {
		t.Fatalf("StoreLogs calls %v, want one with entries 2 and 3", calls)
	}
	if c := r.getCommitIndex(); c > 1 {
		t.Fatalf("commit index %d after a failed write, want at most 1", c)
	}
}

// leaderHeader is the header of the requests queuedFollower's tests send.
var leaderHeader = RPCHeader{ProtocolVersion: 3, ID: []byte("l"), Addr: []byte("l")}

// appendAfter is the term-2 request carrying entry i, after i-1 (the
// bootstrap entry of term 1 for i = 2), with the given leader commit.
func appendAfter(i, commit uint64) *AppendEntriesRequest {
	prevTerm := uint64(2)
	if i == 2 {
		prevTerm = 1
	}
	return &AppendEntriesRequest{RPCHeader: leaderHeader, Term: 2, PrevLogEntry: i - 1, PrevLogTerm: prevTerm,
		Entries: []*Log{{Index: i, Term: 2, Type: LogCommand, Data: []byte{byte(i)}}}, LeaderCommitIndex: commit}
}

// queuedFollower bootstraps follower "f" of a two-voter cluster with leader
// "l" on store, and returns its transport, its config, a function that
// queues a request before the node starts, and the queued requests' answer
// channels.
// awaitAnswers waits for the answer to each queued request, in order.
func awaitAnswers(t *testing.T, resps []chan RPCResponse) []RPCResponse {
	t.Helper()
	var out []RPCResponse
	for i, ch := range resps {
		select {
		case rr := <-ch:
			out = append(out, rr)
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d not answered", i)
		}
	}
	return out
}

func queuedFollower(t *testing.T, store *countingLogStore) (*queuedTransport, *Config, func(*AppendEntriesRequest), *[]chan RPCResponse) {
	t.Helper()
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
	resps := new([]chan RPCResponse)
	queue := func(req *AppendEntriesRequest) {
		ch := make(chan RPCResponse, 1)
		*resps = append(*resps, ch)
		trans.ch <- RPC{Command: req, RespChan: ch}
	}
	return trans, conf, queue, resps
}
