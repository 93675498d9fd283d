package raft

import (
	"fmt"
)

// ServerID is a server's unique, stable identity. It never changes, even
// when the server's address does.
type ServerID string

// ServerAddress is the network address at which a server's transport can be
// reached.
type ServerAddress string

// ServerSuffrage says whether a server takes part in elections and commits.
// The numeric values are part of the wire format.
type ServerSuffrage int

const (
	// Voter is a server whose vote counts in elections and whose match index
	// counts toward commitment.
	Voter ServerSuffrage = 0
	// Nonvoter is a server that receives the log but never counts toward a
	// quorum.
	Nonvoter ServerSuffrage = 1
	// Staging is kept only to decode configurations written by old peers;
	// it is treated like Nonvoter.
	Staging ServerSuffrage = 2
)

// String returns the suffrage's name.
func (s ServerSuffrage) String() string {
	switch s {
	case Voter:
		return "Voter"
	case Nonvoter:
		return "Nonvoter"
	case Staging:
		return "Staging"
	default:
		return fmt.Sprintf("ServerSuffrage(%d)", int(s))
	}
}

// Server is one member of a Configuration.
type Server struct {
	// Suffrage says whether the server votes.
	Suffrage ServerSuffrage
	// ID is the server's unique identity.
	ID ServerID
	// Address is where its transport listens.
	Address ServerAddress
}

// Configuration is the cluster's membership: the servers and their
// suffrage. It is replicated through the log as a LogConfiguration entry.
type Configuration struct {
	// Servers lists every member, in no particular order.
	Servers []Server
}

// Clone returns a deep copy of the configuration.
func (c Configuration) Clone() Configuration {
	return Configuration{Servers: append([]Server(nil), c.Servers...)}
}

// voters returns the number of voting members.
func (c Configuration) voters() int {
	n := 0
	for _, s := range c.Servers {
		if s.Suffrage == Voter {
			n++
		}
	}
	return n
}

// quorum returns the number of voters that form a majority.
func (c Configuration) quorum() int {
	return c.voters()/2 + 1
}

// server returns the member with the given ID.
func (c Configuration) server(id ServerID) (Server, bool) {
	for _, s := range c.Servers {
		if s.ID == id {
			return s, true
		}
	}
	return Server{}, false
}

// isVoter reports whether id is a voting member.
func (c Configuration) isVoter(id ServerID) bool {
	s, ok := c.server(id)
	return ok && s.Suffrage == Voter
}

// ValidateConfiguration checks that a configuration is usable: at least one
// voter, and no ID or address listed twice, none empty. It returns an error
// describing the first problem found.
func ValidateConfiguration(c Configuration) error {
	ids := make(map[ServerID]bool, len(c.Servers))
	addrs := make(map[ServerAddress]bool, len(c.Servers))
	voters := 0
	for _, s := range c.Servers {
		if s.ID == "" {
			return fmt.Errorf("%w: empty ID in configuration: %+v", ErrInvalidConfiguration, c)
		}
		if s.Address == "" {
			return fmt.Errorf("%w: empty address for server %q", ErrInvalidConfiguration, s.ID)
		}
		if ids[s.ID] {
			return fmt.Errorf("%w: duplicate ID %q", ErrInvalidConfiguration, s.ID)
		}
		if addrs[s.Address] {
			return fmt.Errorf("%w: duplicate address %q", ErrInvalidConfiguration, s.Address)
		}
		ids[s.ID] = true
		addrs[s.Address] = true
		switch s.Suffrage {
		case Voter:
			voters++
		case Nonvoter, Staging:
		default:
			return fmt.Errorf("%w: server %q has unknown suffrage %d", ErrInvalidConfiguration, s.ID, int(s.Suffrage))
		}
	}
	if voters == 0 {
		return fmt.Errorf("%w: need at least one voter", ErrInvalidConfiguration)
	}
	return nil
}

// configEntry is a configuration together with the index of the log entry
// that carried it.
type configEntry struct {
	index  uint64
	config Configuration
}

// configurations tracks the committed configuration and every configuration
// appended after it. Raft lets a configuration take effect when appended, so
// the latest one is the last of the list; when a log suffix is truncated the
// entries past the cut are dropped and the previous one is in force again.
type configurations struct {
	committed configEntry
	pending   []configEntry
}

// latest returns the configuration in force.
func (c *configurations) latest() configEntry {
	if n := len(c.pending); n > 0 {
		return c.pending[n-1]
	}
	return c.committed
}

// append records a configuration appended at index.
func (c *configurations) append(index uint64, conf Configuration) {
	c.pending = append(c.pending, configEntry{index: index, config: conf})
}

// commit marks every configuration at or below commitIndex as committed.
func (c *configurations) commit(commitIndex uint64) {
	i := 0
	for i < len(c.pending) && c.pending[i].index <= commitIndex {
		c.committed = c.pending[i]
		i++
	}
	if i > 0 {
		c.pending = append(c.pending[:0], c.pending[i:]...)
	}
}

// truncate forgets every configuration at or above index, because the log
// entries carrying them were deleted.
func (c *configurations) truncate(index uint64) {
	n := len(c.pending)
	for n > 0 && c.pending[n-1].index >= index {
		n--
	}
	c.pending = c.pending[:n]
}

// hasPending reports whether an appended configuration is not yet committed.
func (c *configurations) hasPending() bool {
	return len(c.pending) > 0
}
