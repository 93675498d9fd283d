package raft

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// brokenPipeStream hands out server connections whose writes fail as they
// do when the peer has closed the connection.
type brokenPipeStream struct{ StreamLayer }

type brokenPipeConn struct{ net.Conn }

func (c brokenPipeConn) Write([]byte) (int, error) {
	return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}
}

func (s brokenPipeStream) Accept() (net.Conn, error) {
	c, err := s.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	return brokenPipeConn{c}, nil
}

// TestNetTransport_PeerGoneBeforeAnswerIsNotAWarning checks that an answer
// the peer left too early to receive is logged at debug level: rolling
// restarts cause it on every connection, and a warning per connection
// would cry wolf.
func TestNetTransport_PeerGoneBeforeAnswerIsNotAWarning(t *testing.T) {
	inner, err := NewTCPStreamLayer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	server, logs := newTestTransport(t, "server", func(c *NetworkTransportConfig) { c.Stream = brokenPipeStream{inner} })
	client, _ := newTestTransport(t, "client", nil)
	serveRPCs(t, server, func(rpc RPC) { rpc.Respond(&AppendEntriesResponse{Success: true}, nil) })
	var resp AppendEntriesResponse
	if err := client.AppendEntries("s", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp); err == nil {
		t.Fatal("the call succeeded although the server could not answer")
	}
	pollUntil(t, "the dropped answer to be logged", func() bool {
		return strings.Contains(logs.String(), "peer left before its answer")
	})
	if strings.Contains(logs.String(), "[WARN]") {
		t.Fatalf("a warning was logged for a peer that left:\n%s", logs.String())
	}
}
