package raft

import (
	"errors"
	"fmt"
	"time"
)

// Errors of membership changes.
var (
	// ErrConfigurationChangeInProgress is returned when a membership change
	// is asked for while another has not finished: changes go one at a
	// time.
	ErrConfigurationChangeInProgress = errors.New("a configuration change is already in progress")
	// ErrConfigurationChanged is returned when prevIndex does not match the
	// index of the latest configuration: someone else changed it first.
	ErrConfigurationChanged = errors.New("configuration changed since prevIndex")
	// ErrCatchUpStalled is returned by AddVoter when the new server stopped
	// making progress catching up as a non-voter.
	ErrCatchUpStalled = errors.New("new voter stopped catching up")
)

// configChangeCommand is the kind of membership change asked for.
type configChangeCommand uint8

const (
	addVoter configChangeCommand = iota
	addNonvoter
	demoteVoter
	removeServer
)

// configChangeFuture is the future of a membership change. It completes
// when the final configuration is committed.
type configChangeFuture struct {
	deferError
	command   configChangeCommand
	id        ServerID
	address   ServerAddress
	prevIndex uint64
	index     uint64
}

// Index returns the index of the committed configuration entry.
func (c *configChangeFuture) Index() uint64 { return c.index }

// nextConfiguration applies one membership change to conf. It is pure so
// the rules can be tested on their own. It returns the new configuration
// and whether anything changed.
func nextConfiguration(conf Configuration, cmd configChangeCommand, id ServerID, addr ServerAddress) (Configuration, bool, error) {
	next := conf.Clone()
	i := -1
	for k, s := range next.Servers {
		if s.ID == id {
			i = k
		}
	}
	switch cmd {
	case addVoter, addNonvoter:
		suffrage := Voter
		if cmd == addNonvoter {
			suffrage = Nonvoter
		}
		if i < 0 {
			next.Servers = append(next.Servers, Server{Suffrage: suffrage, ID: id, Address: addr})
			break
		}
		s := &next.Servers[i]
		if s.Address == addr && (s.Suffrage == suffrage || (cmd == addNonvoter && s.Suffrage == Voter)) {
			// Already there; adding a non-voter never demotes a voter.
			return conf, false, nil
		}
		s.Address = addr
		if cmd == addVoter {
			s.Suffrage = Voter
		}
	case demoteVoter:
		if i < 0 || next.Servers[i].Suffrage != Voter {
			return conf, false, nil
		}
		next.Servers[i].Suffrage = Nonvoter
	case removeServer:
		if i < 0 {
			return conf, false, nil
		}
		next.Servers = append(next.Servers[:i], next.Servers[i+1:]...)
	}
	if err := ValidateConfiguration(next); err != nil {
		return conf, false, err
	}
	return next, true, nil
}

// AddVoter adds a voting server, or promotes a non-voter. A server that is
// new or behind first joins as a non-voter and is promoted once its log is
// within MaxAppendEntries of the leader's, so adding it never costs
// availability while it catches up. The future completes when the server
// is a voter in the committed configuration. prevIndex, if not zero, must
// be the index of the latest configuration or the change fails with
// ErrConfigurationChanged. timeout bounds the hand-over (0 for none).
func (r *Raft) AddVoter(id ServerID, address ServerAddress, prevIndex uint64, timeout time.Duration) IndexFuture {
	return r.changeConfig(addVoter, id, address, prevIndex, timeout)
}

// AddNonvoter adds a server that receives the log but never votes or counts
// toward a quorum. It leaves a voter's suffrage unchanged.
func (r *Raft) AddNonvoter(id ServerID, address ServerAddress, prevIndex uint64, timeout time.Duration) IndexFuture {
	return r.changeConfig(addNonvoter, id, address, prevIndex, timeout)
}

// DemoteVoter makes a voter a non-voter.
func (r *Raft) DemoteVoter(id ServerID, prevIndex uint64, timeout time.Duration) IndexFuture {
	return r.changeConfig(demoteVoter, id, "", prevIndex, timeout)
}

// RemoveServer removes a server. A leader that removes itself steps down
// once the change commits, and shuts down if Config.ShutdownOnRemove.
func (r *Raft) RemoveServer(id ServerID, prevIndex uint64, timeout time.Duration) IndexFuture {
	return r.changeConfig(removeServer, id, "", prevIndex, timeout)
}

func (r *Raft) changeConfig(cmd configChangeCommand, id ServerID, addr ServerAddress, prevIndex uint64, timeout time.Duration) IndexFuture {
	if r.getRole() != Leader {
		if r.getRole() == Shutdown {
			return errorFuture{ErrRaftShutdown}
		}
		return errorFuture{ErrNotLeader}
	}
	f := &configChangeFuture{command: cmd, id: id, address: addr, prevIndex: prevIndex}
	f.init()
	ctx, cancel := timeoutContext(timeout)
	defer cancel()
	if err := handOver(ctx, r.configChangeCh, f, r.shutdownCh); err != nil {
		return errorFuture{err}
	}
	return f
}

// configChange is the leader's membership change in progress.
type configChange struct {
	f *configChangeFuture
	// waitIndex is the configuration entry being committed, 0 if none.
	waitIndex uint64
	// final says the entry at waitIndex ends the change.
	final bool
	// catchingUp says the server joined as a non-voter and is being
	// brought up to date before its promotion.
	catchingUp   bool
	joined       time.Time
	lastProgress time.Time
	lastMatch    uint64
}

// startConfigChange takes a membership change request on the leader.
func (r *Raft) startConfigChange(f *configChangeFuture) {
	ls := r.leader
	switch {
	case ls.transfer != nil:
		f.respond(ErrLeadershipTransferInProgress)
		return
	case ls.change != nil || r.configs.hasPending():
		f.respond(ErrConfigurationChangeInProgress)
		return
	}
	if latest := r.configs.latest(); f.prevIndex != 0 && f.prevIndex != latest.index {
		f.respond(fmt.Errorf("%w: latest is %d, caller expected %d", ErrConfigurationChanged, latest.index, f.prevIndex))
		return
	}
	ls.change = &configChange{f: f}
	r.advanceConfigChange()
}

// advanceConfigChange moves the change in progress along; it is called
// when it starts, on every commit, and on the leader's ticks.
func (r *Raft) advanceConfigChange() {
	ls := r.leader
	ch := ls.change
	if ch == nil {
		return
	}
	// No change before the leader's first entry of its term commits: until
	// then it may not know the latest committed configuration.
	if r.getCommitIndex() < ls.startIndex {
		return
	}
	if ch.waitIndex != 0 {
		if r.getCommitIndex() < ch.waitIndex {
			return
		}
		if ch.final {
			ch.f.index = ch.waitIndex
			ch.f.respond(nil)
			ls.change = nil
			return
		}
		ch.waitIndex = 0
		ch.catchingUp = true
		ch.joined = time.Now()
		ch.lastProgress = ch.joined
	}
	latest := r.configs.latest().config
	f := ch.f
	if f.command == addVoter && !ch.catchingUp && !latest.isVoter(f.id) {
		// Join as a non-voter first, unless already one.
		if s, ok := latest.server(f.id); !ok || s.Address != f.address {
			next, _, err := nextConfiguration(latest, addNonvoter, f.id, f.address)
			if err != nil {
				f.respond(err)
				ls.change = nil
				return
			}
			ch.waitIndex = r.appendConfiguration(next)
			return
		}
		ch.catchingUp = true
		ch.joined = time.Now()
		ch.lastProgress = ch.joined
	}
	if ch.catchingUp {
		rp, ok := ls.replicators[f.id]
		if !ok {
			f.respond(fmt.Errorf("%w: no replication to %s", ErrCatchUpStalled, f.id))
			ls.change = nil
			return
		}
		match := rp.match.Load()
		if match > ch.lastMatch {
			ch.lastMatch = match
			ch.lastProgress = time.Now()
		}
		// A server that has not answered since it joined is not caught up,
		// however short the log: promoting a dead server would raise the
		// quorum with a vote that never comes.
		answered := rp.lastContact().After(ch.joined)
		if !answered || match+uint64(r.conf.MaxAppendEntries) < r.getLastIndex() {
			if time.Since(ch.lastProgress) > 10*r.rc().ElectionTimeout {
				f.respond(fmt.Errorf("%w: %s at %d, leader at %d", ErrCatchUpStalled, f.id, match, r.getLastIndex()))
				ls.change = nil
			}
			return
		}
		ch.catchingUp = false
	}
	next, changed, err := nextConfiguration(latest, f.command, f.id, f.address)
	if err != nil {
		f.respond(err)
		ls.change = nil
		return
	}
	if !changed {
		f.index = r.configs.latest().index
		f.respond(nil)
		ls.change = nil
		return
	}
	ch.waitIndex = r.appendConfiguration(next)
	ch.final = true
}

// appendConfiguration appends a configuration entry, which takes effect at
// once: replication, commitment and elections follow the new membership.
func (r *Raft) appendConfiguration(next Configuration) uint64 {
	ls := r.leader
	data, err := EncodeConfiguration(next)
	if err != nil {
		// Encoding a validated configuration cannot fail.
		r.logger.Error("cannot encode configuration", "error", err)
		return 0
	}
	f := &logFuture{log: Log{Type: LogConfiguration, Data: data}}
	f.init()
	r.dispatchLogs([]*logFuture{f})
	index := f.log.Index
	old := r.configs.latest().config
	r.configs.append(index, next)
	r.publishConfig()
	ls.commitment.setConfiguration(next)
	for _, s := range next.Servers {
		if s.ID == r.localID {
			continue
		}
		if rp, ok := ls.replicators[s.ID]; !ok || rp.peer.Address != s.Address {
			if ok {
				rp.stop()
			}
			r.startReplicator(s)
			if _, was := old.server(s.ID); !was {
				r.observe(PeerObservation{Peer: s})
			}
		}
	}
	for id, rp := range ls.replicators {
		if _, ok := next.server(id); !ok {
			rp.stop()
			delete(ls.replicators, id)
			r.observe(PeerObservation{Removed: true, Peer: rp.peer})
		}
	}
	r.logger.Debug("appended configuration", "index", index, "servers", next.Servers)
	return index
}

// checkSelfRemoved steps a leader down once a committed configuration no
// longer has it as a voter, and shuts a removed one down if configured.
func (r *Raft) checkSelfRemoved() {
	committed := r.configs.committed.config
	if committed.isVoter(r.localID) {
		return
	}
	_, member := committed.server(r.localID)
	r.logger.Debug("leader no longer a voter in the committed configuration, stepping down", "member", member)
	r.becomeFollower()
	if !member && r.conf.ShutdownOnRemove {
		go r.Shutdown()
	}
}
