package raft

import (
	"io"
	"time"
)

// RPC is a request received by a transport, handed to the node on the
// channel returned by Transport.Consumer.
type RPC struct {
	// Command is a pointer to one of the request structs of commands.go.
	Command interface{}
	// Reader carries the snapshot data of an InstallSnapshotRequest.
	Reader io.Reader
	// RespChan receives exactly one RPCResponse.
	RespChan chan<- RPCResponse
}

// Respond sends the response for the RPC. It must be called exactly once.
func (r *RPC) Respond(resp interface{}, err error) {
	r.RespChan <- RPCResponse{Response: resp, Error: err}
}

// RPCResponse is the answer to an RPC: a response struct, or an error.
type RPCResponse struct {
	// Response is a pointer to one of the response structs of commands.go.
	Response interface{}
	// Error is set when the request failed.
	Error error
}

// Transport carries RPCs between servers. Every method that sends must
// return within a bounded time, with an error if the peer did not answer.
type Transport interface {
	// Consumer returns the channel of RPCs received from other servers.
	Consumer() <-chan RPC
	// LocalAddr returns the address other servers reach this one at.
	LocalAddr() ServerAddress
	// AppendEntriesPipeline returns a pipeline for sending AppendEntries to
	// target without waiting for each answer, or ErrPipelineNotSupported.
	AppendEntriesPipeline(id ServerID, target ServerAddress) (AppendPipeline, error)
	// AppendEntries sends one AppendEntries request and waits for the answer.
	AppendEntries(id ServerID, target ServerAddress, args *AppendEntriesRequest, resp *AppendEntriesResponse) error
	// RequestVote sends one RequestVote request and waits for the answer.
	RequestVote(id ServerID, target ServerAddress, args *RequestVoteRequest, resp *RequestVoteResponse) error
	// InstallSnapshot sends a snapshot, reading exactly args.Size bytes of
	// data, and waits for the answer.
	InstallSnapshot(id ServerID, target ServerAddress, args *InstallSnapshotRequest, resp *InstallSnapshotResponse, data io.Reader) error
	// EncodePeer returns the bytes that identify a peer on the wire.
	EncodePeer(id ServerID, addr ServerAddress) []byte
	// DecodePeer reverses EncodePeer.
	DecodePeer([]byte) ServerAddress
	// TimeoutNow asks target to start an election at once.
	TimeoutNow(id ServerID, target ServerAddress, args *TimeoutNowRequest, resp *TimeoutNowResponse) error
}

// WithPreVote is implemented by transports that can send RequestPreVote.
// Without it, the node campaigns without a pre-vote round.
type WithPreVote interface {
	// RequestPreVote sends one pre-vote request and waits for the answer.
	RequestPreVote(id ServerID, target ServerAddress, args *RequestPreVoteRequest, resp *RequestPreVoteResponse) error
}

// WithClose is implemented by transports that hold resources; Shutdown
// closes them.
type WithClose interface {
	// Close releases the transport. Calls in flight fail; later calls fail
	// with ErrTransportShutdown.
	Close() error
}

// WithPeers is implemented by transports that are wired to their peers by
// hand, such as InmemTransport.
type WithPeers interface {
	// Connect makes peer reachable at its address through t.
	Connect(peer ServerAddress, t Transport)
	// Disconnect makes peer unreachable.
	Disconnect(peer ServerAddress)
	// DisconnectAll makes every peer unreachable.
	DisconnectAll()
}

// WithContactHint is implemented by transports that can tell the node, as
// soon as a request arrives and before it is queued, that a leader was heard
// from. The node uses the hint only to delay its own election timer, so a
// busy follower does not start an election while valid heartbeats wait in
// its queue; every decision is still taken on the node's own goroutine.
type WithContactHint interface {
	// SetContactHint registers fn, called with the arrival time of each
	// AppendEntries request carrying a term.
	SetContactHint(fn func(term uint64, at time.Time))
}

// AppendPipeline sends AppendEntries requests back to back on one stream and
// delivers their answers, in order, on Consumer.
type AppendPipeline interface {
	// AppendEntries sends a request without waiting for its answer. It may
	// block while too many requests are in flight, but returns an error
	// once the pipeline is closed or broken.
	AppendEntries(args *AppendEntriesRequest, resp *AppendEntriesResponse) (AppendFuture, error)
	// Consumer returns the channel of completed requests, in send order.
	Consumer() <-chan AppendFuture
	// Close stops the pipeline; requests in flight complete with an error.
	Close() error
}

// AppendFuture is one request sent on an AppendPipeline.
type AppendFuture interface {
	Future
	// Start returns when the request was sent.
	Start() time.Time
	// Request returns the request sent.
	Request() *AppendEntriesRequest
	// Response returns the answer; valid once Error returned nil.
	Response() *AppendEntriesResponse
}
