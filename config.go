package raft

import (
	"fmt"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
)

// ProtocolVersion is the version of the Raft wire protocol spoken. Only 3,
// hashicorp/raft's current protocol, is supported.
type ProtocolVersion int

const (
	// ProtocolVersionMin is the oldest protocol version supported.
	ProtocolVersionMin ProtocolVersion = 3
	// ProtocolVersionMax is the newest protocol version supported.
	ProtocolVersionMax ProtocolVersion = 3
)

// Config holds a node's settings. Build one with DefaultConfig, set LocalID,
// and check it with ValidateConfig (NewRaft does).
type Config struct {
	// ProtocolVersion is the wire protocol version; it must be 3.
	ProtocolVersion ProtocolVersion

	// HeartbeatTimeout is how long a follower waits without hearing from
	// the leader before it starts a (pre-)election. The actual wait is
	// randomized between one and two times this value.
	HeartbeatTimeout time.Duration

	// ElectionTimeout is how long a candidate waits for an election to
	// succeed before starting another, randomized between one and two times
	// this value. A voter that heard from a leader within it refuses votes.
	ElectionTimeout time.Duration

	// CommitTimeout bounds how long a follower may go without learning of
	// a commit index change while no new entries flow.
	CommitTimeout time.Duration

	// MaxAppendEntries is the most entries sent in one AppendEntries
	// request, and the most Apply calls batched into one disk write.
	MaxAppendEntries int

	// BatchApplyCh makes the apply channel as large as MaxAppendEntries so
	// concurrent Apply calls queue without waiting for the run loop.
	BatchApplyCh bool

	// ShutdownOnRemove makes a node shut itself down once it is removed
	// from the configuration.
	ShutdownOnRemove bool

	// TrailingLogs is how many entries are kept after a snapshot, so
	// slightly lagging followers can catch up from the log.
	TrailingLogs uint64

	// SnapshotInterval is how often the node checks whether to snapshot.
	SnapshotInterval time.Duration

	// SnapshotThreshold is how many entries must accumulate since the last
	// snapshot before a new one is taken.
	SnapshotThreshold uint64

	// LeaderLeaseTimeout is how long a leader keeps leading without hearing
	// from a quorum of voters. It must not exceed HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration

	// LocalID is this server's unique identity. It is required.
	LocalID ServerID

	// NotifyCh, if set, receives true when this node becomes leader and
	// false when it stops being leader. Sends block, so the channel must
	// be drained (or buffered).
	NotifyCh chan<- bool

	// Logger receives the node's logs. Nil means an hclog logger to stderr
	// at Info level, which is silent in normal operation.
	Logger hclog.Logger

	// Metrics receives the node's timings and counters. Nil means the
	// go-metrics global sink.
	Metrics *metrics.Metrics

	// NoSnapshotRestoreOnStart skips restoring the newest snapshot at
	// start, for FSMs that persist their own state.
	NoSnapshotRestoreOnStart bool

	// ReadConsistency chooses how ReadIndex confirms leadership: a heartbeat
	// round (ReadConsistencySafe, the default) or the leader lease
	// (ReadConsistencyLease, which trusts clocks; see its documentation).
	ReadConsistency ReadConsistency

	// LeaseClockDrift is how much shorter than HeartbeatTimeout the leader
	// lease is, to absorb clocks running at different rates. It must be
	// below HeartbeatTimeout; 0 means a tenth of HeartbeatTimeout.
	LeaseClockDrift time.Duration

	// PreVoteDisabled turns off the pre-vote round (thesis section 9.6)
	// that keeps a partitioned server from disrupting the cluster when it
	// returns.
	PreVoteDisabled bool
}

// DefaultConfig returns a Config with the defaults suited to a LAN
// deployment. LocalID must still be set.
func DefaultConfig() *Config {
	return &Config{
		ProtocolVersion:    ProtocolVersionMax,
		HeartbeatTimeout:   1000 * time.Millisecond,
		ElectionTimeout:    1000 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		MaxAppendEntries:   64,
		ShutdownOnRemove:   true,
		TrailingLogs:       10240,
		SnapshotInterval:   120 * time.Second,
		SnapshotThreshold:  8192,
		LeaderLeaseTimeout: 500 * time.Millisecond,
	}
}

// maxAppendEntriesLimit bounds MaxAppendEntries so one request stays a
// reasonable size.
const maxAppendEntriesLimit = 1024

// ValidateConfig checks every setting and returns an error naming the first
// bad field. The error wraps ErrInvalidConfig.
func ValidateConfig(c *Config) error {
	bad := func(field, format string, args ...interface{}) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if c == nil {
		return fmt.Errorf("%w: config is nil", ErrInvalidConfig)
	}
	if c.ProtocolVersion < ProtocolVersionMin || c.ProtocolVersion > ProtocolVersionMax {
		return bad("ProtocolVersion", "must be between %d and %d, got %d",
			ProtocolVersionMin, ProtocolVersionMax, c.ProtocolVersion)
	}
	if c.LocalID == "" {
		return bad("LocalID", "cannot be empty")
	}
	if c.HeartbeatTimeout < 5*time.Millisecond {
		return bad("HeartbeatTimeout", "is too low (%v < 5ms)", c.HeartbeatTimeout)
	}
	if c.ElectionTimeout < 5*time.Millisecond {
		return bad("ElectionTimeout", "is too low (%v < 5ms)", c.ElectionTimeout)
	}
	if c.CommitTimeout < time.Millisecond {
		return bad("CommitTimeout", "is too low (%v < 1ms)", c.CommitTimeout)
	}
	if c.MaxAppendEntries <= 0 {
		return bad("MaxAppendEntries", "must be positive, got %d", c.MaxAppendEntries)
	}
	if c.MaxAppendEntries > maxAppendEntriesLimit {
		return bad("MaxAppendEntries", "is too large (%d > %d)", c.MaxAppendEntries, maxAppendEntriesLimit)
	}
	if c.SnapshotInterval < 5*time.Millisecond {
		return bad("SnapshotInterval", "is too low (%v < 5ms)", c.SnapshotInterval)
	}
	if c.SnapshotThreshold == 0 {
		return bad("SnapshotThreshold", "must be positive")
	}
	if c.LeaderLeaseTimeout < 5*time.Millisecond {
		return bad("LeaderLeaseTimeout", "is too low (%v < 5ms)", c.LeaderLeaseTimeout)
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		return bad("LeaderLeaseTimeout", "(%v) cannot be larger than HeartbeatTimeout (%v)",
			c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.ReadConsistency != ReadConsistencySafe && c.ReadConsistency != ReadConsistencyLease {
		return bad("ReadConsistency", "is unknown (%d)", c.ReadConsistency)
	}
	if c.LeaseClockDrift < 0 || c.LeaseClockDrift >= c.HeartbeatTimeout {
		return bad("LeaseClockDrift", "(%v) must be at least 0 and below HeartbeatTimeout (%v)", c.LeaseClockDrift, c.HeartbeatTimeout)
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		return bad("ElectionTimeout", "(%v) must be at least HeartbeatTimeout (%v)",
			c.ElectionTimeout, c.HeartbeatTimeout)
	}
	return nil
}
