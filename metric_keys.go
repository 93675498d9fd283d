package raft

// metricKeys holds the names of the metrics emitted on every request, write
// or commit, built once per node. A []string literal passed to go-metrics
// escapes to the heap, so naming the metric at each call cost one
// allocation per metric per request, about a quarter of all allocations on
// the write path. Sharing needs every key to have no spare capacity:
// go-metrics copies a key before adding a prefix, but some sinks (statsd,
// statsite) append labels to the key they are given, which on a slice with
// room to spare would write into the shared array from many goroutines.
// Slice literals have none, and TestMetricKeysHaveNoSpareCapacity holds
// that.
type metricKeys struct {
	fsmApplyBatch     []string
	fsmApplyBatchNum  []string
	commitTime        []string
	dispatchNumLogs   []string
	apply             []string
	commitNumLogs     []string
	leaderStoreLogs   []string
	rpcAppendEntries  []string
	followerStoreLogs []string
}

func newMetricKeys() metricKeys {
	return metricKeys{
		fsmApplyBatch:     []string{"raft", "fsm", "applyBatch"},
		fsmApplyBatchNum:  []string{"raft", "fsm", "applyBatchNum"},
		commitTime:        []string{"raft", "commitTime"},
		dispatchNumLogs:   []string{"raft", "leader", "dispatchNumLogs"},
		apply:             []string{"raft", "apply"},
		commitNumLogs:     []string{"raft", "commitNumLogs"},
		leaderStoreLogs:   []string{"raft", "leader", "storeLogs"},
		rpcAppendEntries:  []string{"raft", "rpc", "appendEntries"},
		followerStoreLogs: []string{"raft", "follower", "storeLogs"},
	}
}

// peerMetricKeys are a replicator's per-request metric names, which carry
// the follower's ID.
type peerMetricKeys struct {
	appendRPC      []string
	appendPipeline []string
	heartbeat      []string
}

func newPeerMetricKeys(id ServerID) peerMetricKeys {
	return peerMetricKeys{
		appendRPC:      []string{"raft", "replication", "appendEntries", "rpc", string(id)},
		appendPipeline: []string{"raft", "replication", "appendEntries", "pipeline", string(id)},
		heartbeat:      []string{"raft", "replication", "heartbeat", string(id)},
	}
}
