package raft

import (
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
)

// Defaults of NetworkTransportConfig.
const (
	// defaultMaxRPCsInFlight is how many AppendEntries a pipeline keeps
	// outstanding, the same default as hashicorp/raft.
	defaultMaxRPCsInFlight = 2
	// defaultTimeout bounds a dial, a request or a response when the
	// configuration gives no timeout.
	defaultTimeout = 10 * time.Second
	// defaultIdleTimeout is how long a server keeps a connection on which
	// nothing arrives between requests. Peers keep pooled connections for
	// votes that may sit idle between elections, so it is generous.
	defaultIdleTimeout = 10 * time.Minute
	// defaultMaxFrameSize bounds the bytes of one request or response,
	// snapshot data excluded (it is streamed, never held whole).
	defaultMaxFrameSize = 64 << 20
	// defaultMaxEntries bounds the entries of one AppendEntries request;
	// hashicorp/raft sends at most 1024.
	defaultMaxEntries = 16384
	// defaultMaxInboundConns bounds the received connections served at
	// once. A peer holds at most MaxPool idle connections to us (3 in
	// most deployments), one per synchronous call in flight beyond those
	// (heartbeats, votes, and on a follower one per linearizable read it
	// forwards), one pipeline, and one snapshot stream; add connections a
	// peer dropped across a partition, which linger here until
	// IdleTimeout. A 7-server cluster uses a few dozen. 1024 leaves room
	// for bursts of forwarded reads while capping what a flood of idle
	// connections costs at some 22 MiB (measured: a goroutine and a
	// 16 KiB read buffer each) and within common descriptor limits.
	defaultMaxInboundConns = 1024
	// refusalLogInterval is the least time between two log lines about
	// refused connections, so a flood cannot flood the log too.
	refusalLogInterval = 5 * time.Second
	// snapshotTimeoutScale is the amount of snapshot data each Timeout is
	// stretched for: InstallSnapshot gets Timeout * max(1, Size/256 KiB),
	// as in hashicorp/raft.
	snapshotTimeoutScale = 256 << 10
)

// ServerAddressProvider maps a server's ID to its current address, for
// deployments where addresses change. When it fails, the transport uses the
// address the caller gave.
type ServerAddressProvider interface {
	// ServerAddr returns the address of the server with the given ID, or an
	// error if it is not known.
	ServerAddr(id ServerID) (ServerAddress, error)
}

// NetworkTransportConfig configures a NetworkTransport. Only Stream is
// required; zero fields take the documented defaults.
type NetworkTransportConfig struct {
	// ServerAddressProvider, if set, is asked for each target's address.
	ServerAddressProvider ServerAddressProvider

	// Logger receives the transport's logs. It defaults to an hclog
	// logger named "raft-net" writing to stderr at Info level; nothing is
	// logged at Info or above in normal operation.
	Logger hclog.Logger

	// Stream carries the connections.
	Stream StreamLayer

	// MaxPool is how many idle connections are kept per peer for reuse.
	MaxPool int

	// MaxRPCsInFlight is how many AppendEntries a pipeline may have
	// outstanding (default 2). A value of 1 disables pipelining:
	// AppendEntriesPipeline then returns ErrPipelineNotSupported.
	MaxRPCsInFlight int

	// Timeout bounds each dial, and the sending and answering of each
	// request (default 10s). It also bounds how long a peer may take to
	// finish sending a request once it started one, and how long a
	// received connection may wait before its first request (peers send
	// one as soon as they connect). InstallSnapshot gets Timeout scaled by
	// the snapshot's size.
	Timeout time.Duration

	// IdleTimeout is how long a received connection may stay silent
	// between requests before it is closed (default 10 minutes); before
	// its first request the shorter of Timeout and IdleTimeout applies.
	// Pooled connections idle for more than half of it are not reused.
	IdleTimeout time.Duration

	// MaxInboundConns bounds how many received connections are served at
	// once (default 1024, far above what a cluster needs; a negative value
	// means no bound, for stream layers that limit connections
	// themselves). Once it is reached, each newly accepted connection is
	// closed before anything is read from it, counted in the
	// raft.net.connsRefused metric, and reported in a warning logged at
	// most every few seconds; a peer whose connection is refused sees its
	// call fail as if the connection had broken. Raise it if followers
	// serve many linearizable reads at once: each read a follower forwards
	// holds a connection to the leader until answered.
	MaxInboundConns int

	// MaxFrameSize bounds the bytes of one received request or response,
	// snapshot data excluded (default 64 MiB). A larger frame closes the
	// connection.
	MaxFrameSize int64

	// MaxEntries bounds the entries of one received AppendEntries request
	// (default 16384). A request with more closes the connection.
	MaxEntries int

	// Metrics receives the transport's counters. Nil means go-metrics'
	// default (global) instance at the time the transport is created.
	Metrics *metrics.Metrics

	// MsgpackUseNewTimeFormat sends log entry times in the msgpack
	// timestamp layout rather than time.Time's binary form. Received times
	// are read in either layout regardless.
	MsgpackUseNewTimeFormat bool

	// refusalLogInterval overrides refusalLogInterval when positive, for
	// tests.
	refusalLogInterval time.Duration
}

// withDefaults returns the configuration with zero fields filled in.
func (c NetworkTransportConfig) withDefaults() NetworkTransportConfig {
	if c.Logger == nil {
		c.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft-net", Level: hclog.DefaultLevel})
	}
	if c.MaxRPCsInFlight <= 0 {
		c.MaxRPCsInFlight = defaultMaxRPCsInFlight
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = defaultIdleTimeout
	}
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = defaultMaxFrameSize
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = defaultMaxEntries
	}
	if c.MaxInboundConns == 0 {
		c.MaxInboundConns = defaultMaxInboundConns
	}
	if c.Metrics == nil {
		c.Metrics = metrics.Default()
	}
	if c.refusalLogInterval <= 0 {
		c.refusalLogInterval = refusalLogInterval
	}
	if c.MaxPool < 0 {
		c.MaxPool = 0
	}
	return c
}
