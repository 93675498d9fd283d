package raft

import "errors"

// Sentinel errors. Every error the library returns either is one of these or
// wraps one, so callers can test for them with errors.Is.
var (
	// ErrNotLeader is returned when an operation that needs the leader is
	// called on a node that is not the leader.
	ErrNotLeader = errors.New("node is not the leader")
	// ErrLeadershipLost is returned when the node lost leadership before the
	// operation completed. Whether the operation took effect is unknown.
	ErrLeadershipLost = errors.New("leadership lost while committing log")
	// ErrAbortedByRestore is returned when a user restore aborted an
	// operation in flight.
	ErrAbortedByRestore = errors.New("snapshot restored while committing log")
	// ErrRaftShutdown is returned by every operation on a node that has been
	// shut down, and by every future still pending at shutdown.
	ErrRaftShutdown = errors.New("raft is already shutdown")
	// ErrEnqueueTimeout is returned when an operation could not be handed to
	// the node within its timeout.
	ErrEnqueueTimeout = errors.New("timed out enqueuing operation")
	// ErrNothingNewToSnapshot is returned when a snapshot is asked for but
	// nothing was applied since the last one.
	ErrNothingNewToSnapshot = errors.New("nothing new to snapshot")
	// ErrUnsupportedProtocol is returned when an operation needs a protocol
	// version the cluster does not speak.
	ErrUnsupportedProtocol = errors.New("operation not supported with current protocol version")
	// ErrCantBootstrap is returned by BootstrapCluster when the node already
	// has state: a term, log entries or a snapshot.
	ErrCantBootstrap = errors.New("bootstrap only works on new clusters")
	// ErrNotVoter is returned when an operation needs a voter and this node
	// is not one.
	ErrNotVoter = errors.New("node is not a voter")
	// ErrLeadershipTransferInProgress is returned by writes while the leader
	// is handing leadership to another server.
	ErrLeadershipTransferInProgress = errors.New("leadership transfer in progress")
	// ErrLogNotFound is returned by a LogStore for an index it does not hold.
	ErrLogNotFound = errors.New("log not found")
	// ErrKeyNotFound may be returned by a StableStore for a missing key.
	ErrKeyNotFound = errors.New("not found")
	// ErrPipelineNotSupported is returned by a Transport that cannot
	// pipeline AppendEntries; the library then replicates synchronously.
	ErrPipelineNotSupported = errors.New("pipelining not supported")
	// ErrPipelineShutdown is returned by a pipeline that has been closed.
	ErrPipelineShutdown = errors.New("append pipeline closed")
	// ErrTransportShutdown is returned by a transport that has been closed.
	ErrTransportShutdown = errors.New("transport shutdown")
	// ErrTimeout is returned when an operation did not finish within the
	// time it was given.
	ErrTimeout = errors.New("timed out")
	// ErrInvalidConfig is wrapped by every error ValidateConfig returns.
	ErrInvalidConfig = errors.New("invalid raft config")
	// ErrStorage is wrapped by errors caused by a failing LogStore or
	// StableStore.
	ErrStorage = errors.New("storage failure")
)

// ErrInvalidConfiguration is wrapped by every error ValidateConfiguration
// returns.
var ErrInvalidConfiguration = errors.New("invalid configuration")

// ErrSnapshotNotFound is returned by a SnapshotStore asked to open a
// snapshot it does not hold.
var ErrSnapshotNotFound = errors.New("snapshot not found")

// errCommittedConflict reports a leader asking to overwrite a committed
// entry, which a correct leader never does.
var errCommittedConflict = errors.New("refusing to overwrite a committed entry")
