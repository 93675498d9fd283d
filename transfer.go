package raft

import (
	"errors"
	"fmt"
	"time"
)

// ErrLeadershipTransferFailed is returned when the chosen server did not
// take over within an election timeout; the leader then accepts writes
// again.
var ErrLeadershipTransferFailed = errors.New("leadership transfer did not complete")

// transferFuture is the future of a leadership transfer.
type transferFuture struct {
	deferError
	id      ServerID
	address ServerAddress
}

// transferState is a leadership transfer in progress on the leader.
type transferState struct {
	f        *transferFuture
	target   Server
	deadline time.Time
	sent     bool
	result   chan error
}

// LeadershipTransfer hands leadership to the most up-to-date voter. While
// it runs the leader refuses writes with ErrLeadershipTransferInProgress;
// it brings the target up to date, tells it to campaign at once, and the
// future completes when this node has stepped down. It fails with
// ErrLeadershipTransferFailed after an election timeout.
func (r *Raft) LeadershipTransfer() Future {
	return r.LeadershipTransferToServer("", "")
}

// LeadershipTransferToServer is LeadershipTransfer to a chosen voter.
func (r *Raft) LeadershipTransferToServer(id ServerID, address ServerAddress) Future {
	if r.getRole() != Leader {
		if r.getRole() == Shutdown {
			return errorFuture{ErrRaftShutdown}
		}
		return errorFuture{ErrNotLeader}
	}
	f := &transferFuture{id: id, address: address}
	f.init()
	ctx, cancel := timeoutContext(0)
	defer cancel()
	if err := handOver(ctx, r.transferCh, f, r.shutdownCh); err != nil {
		return errorFuture{err}
	}
	return f
}

// startTransfer begins a transfer on the leader.
func (r *Raft) startTransfer(f *transferFuture) {
	ls := r.leader
	if ls.transfer != nil {
		f.respond(ErrLeadershipTransferInProgress)
		return
	}
	if ls.change != nil {
		f.respond(ErrConfigurationChangeInProgress)
		return
	}
	latest := r.configs.latest().config
	var target Server
	if f.id != "" {
		s, ok := latest.server(f.id)
		if !ok || s.Suffrage != Voter || s.ID == r.localID {
			f.respond(fmt.Errorf("%w: %s is not another voter", ErrNotVoter, f.id))
			return
		}
		target = s
	} else {
		var best uint64
		found := false
		for _, s := range latest.Servers {
			rp, ok := ls.replicators[s.ID]
			if s.Suffrage != Voter || s.ID == r.localID || !ok {
				continue
			}
			if m := rp.match.Load(); !found || m > best {
				best, target, found = m, s, true
			}
		}
		if !found {
			f.respond(fmt.Errorf("%w: no other voter to hand leadership to", ErrLeadershipTransferFailed))
			return
		}
	}
	ls.transfer = &transferState{f: f, target: target, deadline: time.Now().Add(r.rc().ElectionTimeout), result: make(chan error, 1)}
	r.logger.Debug("leadership transfer started", "target", target.ID)
	r.advanceTransfer()
}

// advanceTransfer sends TimeoutNow once the target has every entry, and
// gives up after the deadline.
func (r *Raft) advanceTransfer() {
	ls := r.leader
	tr := ls.transfer
	if tr == nil {
		return
	}
	select {
	case err := <-tr.result:
		if err != nil && r.shuttingDown() {
			// The shutdown closed the transport under TimeoutNow; leaving
			// leadership fails the transfer with ErrRaftShutdown.
			return
		}
		if err != nil {
			r.failTransfer(fmt.Errorf("%w: %v", ErrLeadershipTransferFailed, err))
			return
		}
	default:
	}
	if time.Now().After(tr.deadline) {
		r.failTransfer(fmt.Errorf("%w: %s did not take over in time", ErrLeadershipTransferFailed, tr.target.ID))
		return
	}
	if tr.sent {
		return
	}
	rp, ok := ls.replicators[tr.target.ID]
	if !ok {
		r.failTransfer(fmt.Errorf("%w: %s is gone", ErrLeadershipTransferFailed, tr.target.ID))
		return
	}
	if rp.match.Load() < r.getLastIndex() {
		rp.notify()
		return
	}
	tr.sent = true
	ls.timeoutNowSent = true
	req := &TimeoutNowRequest{RPCHeader: r.header()}
	r.goroutines.Add(1)
	go func() {
		defer r.goroutines.Done()
		var resp TimeoutNowResponse
		tr.result <- r.trans.TimeoutNow(tr.target.ID, tr.target.Address, req, &resp)
	}()
}

func (r *Raft) failTransfer(err error) {
	ls := r.leader
	r.logger.Warn("leadership transfer failed", "error", err)
	ls.transfer.f.respond(err)
	ls.transfer = nil
}
