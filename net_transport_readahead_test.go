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

// TestNetTransport_MalformedRequestReadAheadClosesAfterAnswers sends a good
// AppendEntries followed by a malformed one in the same write: the good one
// is still handed over and answered, then the connection is closed, and the
// malformed one never reaches the consumer.
func TestNetTransport_MalformedRequestReadAheadClosesAfterAnswers(t *testing.T) {
	trans, _ := newTestTransport(t, "server", nil)
	c := rawDial(t, trans)
	var e wireEncoder
	good := &AppendEntriesRequest{
		RPCHeader: RPCHeader{ProtocolVersion: 3, ID: []byte("leader"), Addr: []byte("leader")},
		Term:      1,
		Entries:   []*Log{{Index: 1, Term: 1, Type: LogCommand, Data: []byte("x")}},
	}
	if err := e.request(good); err != nil {
		t.Fatal(err)
	}
	// An AppendEntries whose Term is a string.
	e.buf = append(e.buf, mustHex(t, "0081"+fixstr("Term")+"a0")...)
	if _, err := c.Write(e.buf); err != nil {
		t.Fatal(err)
	}
	select {
	case rpc := <-trans.Consumer():
		if req, ok := rpc.Command.(*AppendEntriesRequest); !ok || req.Term != 1 {
			t.Fatalf("handed over %#v, want the good request", rpc.Command)
		}
		rpc.Respond(&AppendEntriesResponse{Term: 1, LastLog: 1, Success: true}, nil)
	case <-time.After(watchdog):
		t.Fatal("the good request was not handed over")
	}
	if err := c.SetReadDeadline(time.Now().Add(watchdog)); err != nil {
		t.Fatal(err)
	}
	d := wireReader{r: bufio.NewReader(c)}
	d.startFrame(1 << 20)
	var resp AppendEntriesResponse
	if err := d.readResponse(&resp); err != nil || !resp.Success || resp.LastLog != 1 {
		t.Fatalf("answer to the good request: %+v, %v", resp, err)
	}
	awaitServerClose(t, c)
	select {
	case rpc := <-trans.Consumer():
		t.Fatalf("the malformed request reached the consumer: %#v", rpc.Command)
	default:
	}
}
