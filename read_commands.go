package raft

// ReadIndexRequest asks the leader for a read index on behalf of a
// follower. It is this library's own RPC (type byte 5), unknown to
// hashicorp/raft.
type ReadIndexRequest struct {
	RPCHeader
	// Term is the follower's current term.
	Term uint64
}

// GetRPCHeader returns the request's header.
func (r *ReadIndexRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// ReadIndexResponse answers a ReadIndexRequest.
type ReadIndexResponse struct {
	RPCHeader
	// Term is the responder's current term.
	Term uint64
	// ReadIndex is the commit index the leader confirmed with a quorum.
	ReadIndex uint64
	// Success is false when the responder is not (or no longer) leader.
	Success bool
}

// GetRPCHeader returns the response's header.
func (r *ReadIndexResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// WithReadIndex is implemented by transports that can carry follower
// ReadIndex requests.
type WithReadIndex interface {
	// RequestReadIndex sends one ReadIndex request and waits for the
	// answer.
	RequestReadIndex(id ServerID, target ServerAddress, args *ReadIndexRequest, resp *ReadIndexResponse) error
}
