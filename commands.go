package raft

// The RPC messages. Their Go field names are the keys of the msgpack maps on
// the wire (hashicorp/raft protocol version 3), so they must not be renamed;
// the embedded RPCHeader's fields are inlined into each map.

// RPCHeader identifies the sender of every request and response.
type RPCHeader struct {
	// ProtocolVersion is the sender's protocol version (3).
	ProtocolVersion int
	// ID is the sender's ServerID.
	ID []byte
	// Addr is the sender's ServerAddress, as encoded by its transport.
	Addr []byte
}

// WithRPCHeader is implemented by every RPC request and response.
type WithRPCHeader interface {
	// GetRPCHeader returns the message's header.
	GetRPCHeader() RPCHeader
}

// AppendEntriesRequest replicates log entries, and doubles as the heartbeat
// when it carries none.
type AppendEntriesRequest struct {
	RPCHeader
	// Term is the leader's current term.
	Term uint64
	// Leader is the leader's address, kept for old peers.
	Leader []byte
	// PrevLogEntry is the index of the entry just before Entries.
	PrevLogEntry uint64
	// PrevLogTerm is the term of the entry at PrevLogEntry.
	PrevLogTerm uint64
	// Entries are the new entries; nil for a heartbeat.
	Entries []*Log
	// LeaderCommitIndex is the leader's commit index.
	LeaderCommitIndex uint64
}

// GetRPCHeader returns the request's header.
func (r *AppendEntriesRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// AppendEntriesResponse answers an AppendEntriesRequest.
type AppendEntriesResponse struct {
	RPCHeader
	// Term is the responder's current term, for the leader to step down.
	Term uint64
	// LastLog is a hint for the leader's next index on failure: the
	// responder's last index, or the index before the first entry of a
	// conflicting term, so repair skips a whole term per round trip.
	LastLog uint64
	// Success is true when the entries were stored.
	Success bool
	// NoRetryBackoff asks the leader to retry at once.
	NoRetryBackoff bool
}

// GetRPCHeader returns the response's header.
func (r *AppendEntriesResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// RequestVoteRequest asks for a vote in an election.
type RequestVoteRequest struct {
	RPCHeader
	// Term is the candidate's term.
	Term uint64
	// Candidate is the candidate's address, kept for old peers.
	Candidate []byte
	// LastLogIndex is the index of the candidate's last entry.
	LastLogIndex uint64
	// LastLogTerm is the term of the candidate's last entry.
	LastLogTerm uint64
	// LeadershipTransfer is set when the election was started by a
	// leadership transfer, so voters ignore their current leader.
	LeadershipTransfer bool
}

// GetRPCHeader returns the request's header.
func (r *RequestVoteRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// RequestVoteResponse answers a RequestVoteRequest.
type RequestVoteResponse struct {
	RPCHeader
	// Term is the responder's current term.
	Term uint64
	// Peers is deprecated and always nil.
	Peers []byte
	// Granted is true when the vote was given.
	Granted bool
}

// GetRPCHeader returns the response's header.
func (r *RequestVoteResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// RequestPreVoteRequest asks whether a vote would be granted, without
// changing any term (thesis section 9.6).
type RequestPreVoteRequest struct {
	RPCHeader
	// Term is the term the candidate would campaign in.
	Term uint64
	// LastLogIndex is the index of the candidate's last entry.
	LastLogIndex uint64
	// LastLogTerm is the term of the candidate's last entry.
	LastLogTerm uint64
}

// GetRPCHeader returns the request's header.
func (r *RequestPreVoteRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// RequestPreVoteResponse answers a RequestPreVoteRequest.
type RequestPreVoteResponse struct {
	RPCHeader
	// Term is the responder's current term.
	Term uint64
	// Granted is true when a vote would be given.
	Granted bool
}

// GetRPCHeader returns the response's header.
func (r *RequestPreVoteResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// InstallSnapshotRequest sends a snapshot to a follower whose next entry
// was compacted away. Size bytes of snapshot data follow it.
type InstallSnapshotRequest struct {
	RPCHeader
	// SnapshotVersion is the snapshot format version.
	SnapshotVersion SnapshotVersion
	// Term is the leader's current term.
	Term uint64
	// Leader is the leader's address, kept for old peers.
	Leader []byte
	// LastLogIndex is the last index the snapshot covers.
	LastLogIndex uint64
	// LastLogTerm is the term of that entry.
	LastLogTerm uint64
	// Peers is the legacy peer list, kept for old peers.
	Peers []byte
	// Configuration is the encoded configuration as of the snapshot.
	Configuration []byte
	// ConfigurationIndex is the index at which that configuration was
	// appended.
	ConfigurationIndex uint64
	// Size is the number of snapshot bytes that follow.
	Size int64
}

// GetRPCHeader returns the request's header.
func (r *InstallSnapshotRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// InstallSnapshotResponse answers an InstallSnapshotRequest.
type InstallSnapshotResponse struct {
	RPCHeader
	// Term is the responder's current term.
	Term uint64
	// Success is true when the snapshot was installed.
	Success bool
}

// GetRPCHeader returns the response's header.
func (r *InstallSnapshotResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// TimeoutNowRequest tells a follower to start an election at once, as the
// last step of a leadership transfer.
type TimeoutNowRequest struct {
	RPCHeader
}

// GetRPCHeader returns the request's header.
func (r *TimeoutNowRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// TimeoutNowResponse answers a TimeoutNowRequest.
type TimeoutNowResponse struct {
	RPCHeader
}

// GetRPCHeader returns the response's header.
func (r *TimeoutNowResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }
