package raft

import (
	"bufio"
	"testing"
	"time"
)

// TestNetTransport_ReadsQueuedAppendEntriesAhead sends three AppendEntries
// in one write, as a pipelining leader does, and checks that the server
// hands all three to the consumer before the first is answered (so a
// follower can write them with one sync), then answers them in order.
func TestNetTransport_ReadsQueuedAppendEntriesAhead(t *testing.T) {
	trans, _ := newTestTransport(t, "server", nil)
	c := rawDial(t, trans)
	var e wireEncoder
	for i := uint64(1); i <= 3; i++ {
		req := &AppendEntriesRequest{
			RPCHeader:    RPCHeader{ProtocolVersion: 3, ID: []byte("leader"), Addr: []byte("leader")},
			Term:         1,
			PrevLogEntry: i - 1,
			PrevLogTerm:  1,
			Entries:      []*Log{{Index: i, Term: 1, Type: LogCommand, Data: []byte("x")}},
		}
		if err := e.request(req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(e.buf); err != nil {
		t.Fatal(err)
	}
	var rpcs []RPC
	for len(rpcs) < 3 {
		select {
		case rpc := <-trans.Consumer():
			rpcs = append(rpcs, rpc)
		case <-time.After(watchdog):
			t.Fatalf("%d requests handed over before the first was answered, want 3", len(rpcs))
		}
	}
	for i, rpc := range rpcs {
		req, ok := rpc.Command.(*AppendEntriesRequest)
		if !ok || req.PrevLogEntry != uint64(i) {
			t.Fatalf("request %d is %#v, want AppendEntries after index %d", i, rpc.Command, i)
		}
	}
	// Answer out of order: the answers must still go out in request order.
	for _, i := range []int{2, 0, 1} {
		rpcs[i].Respond(&AppendEntriesResponse{Term: 1, LastLog: uint64(i + 1), Success: true}, nil)
	}
	if err := c.SetReadDeadline(time.Now().Add(watchdog)); err != nil {
		t.Fatal(err)
	}
	d := wireReader{r: bufio.NewReader(c)}
	for i := uint64(1); i <= 3; i++ {
		d.startFrame(1 << 20)
		var resp AppendEntriesResponse
		if err := d.readResponse(&resp); err != nil {
			t.Fatalf("reading answer %d: %v", i, err)
		}
		if resp.LastLog != i || !resp.Success {
			t.Fatalf("answer %d is %+v, want LastLog %d", i, resp, i)
		}
	}
}
