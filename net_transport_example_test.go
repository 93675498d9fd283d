package raft_test

import (
	"fmt"
	"io"
	"time"

	"github.com/consensuskit/raft"
)

// Two transports on loopback: one answers AppendEntries from its consumer
// channel, the other sends one.
func ExampleNewTCPTransport() {
	follower, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 5*time.Second, io.Discard)
	if err != nil {
		panic(err)
	}
	defer follower.Close()
	leader, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 5*time.Second, io.Discard)
	if err != nil {
		panic(err)
	}
	defer leader.Close()

	go func() {
		rpc := <-follower.Consumer()
		req := rpc.Command.(*raft.AppendEntriesRequest)
		rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, LastLog: 1, Success: true}, nil)
	}()

	var resp raft.AppendEntriesResponse
	req := &raft.AppendEntriesRequest{Term: 1, Entries: []*raft.Log{{Index: 1, Term: 1, Data: []byte("x")}}}
	if err := leader.AppendEntries("follower", follower.LocalAddr(), req, &resp); err != nil {
		panic(err)
	}
	fmt.Println(resp.Success, resp.LastLog)
	// Output: true 1
}
