package rafttest

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/consensuskit/raft"
)

// ErrFault is returned by a FaultTransport for a message it dropped or a
// link it cut.
var ErrFault = errors.New("rafttest: injected fault")

// Faults are the message faults a FaultTransport injects on the calls it
// makes, as probabilities per call.
type Faults struct {
	// DropRequest drops the request before it is sent.
	DropRequest float64
	// DropResponse delivers the request but loses the answer.
	DropResponse float64
	// Duplicate delivers the request twice.
	Duplicate float64
	// MaxDelay delays each call by a random time up to it; concurrent
	// calls are reordered by it.
	MaxDelay time.Duration
}

// FaultTransport wraps a node's Transport and injects faults into the
// calls the node makes: message faults drawn from a seeded source, and cut
// links (one-way: cutting A's link to B stops A's requests to B, not B's to
// A). It implements raft.WithPreVote, raft.WithClose and raft.WithReadIndex
// when the wrapped transport does.
type FaultTransport struct {
	raft.Transport

	mu     sync.Mutex
	rng    *rand.Rand
	faults Faults
	cut    map[raft.ServerAddress]bool
	// down marks crashed servers: nothing reaches them until they restart.
	// Unlike cut links, Heal leaves them.
	down map[raft.ServerAddress]bool
	// dead says this transport's own server crashed: it sends nothing.
	dead bool
}

// NewFaultTransport wraps t, drawing faults from seed.
func NewFaultTransport(t raft.Transport, seed uint64) *FaultTransport {
	return &FaultTransport{
		Transport: t,
		rng:       rand.New(rand.NewPCG(seed, 0x5eed)),
		cut:       map[raft.ServerAddress]bool{},
		down:      map[raft.ServerAddress]bool{},
	}
}

// SetFaults changes the message faults.
func (f *FaultTransport) SetFaults(faults Faults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = faults
}

// Cut stops every request to target until Restore.
func (f *FaultTransport) Cut(target raft.ServerAddress) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut[target] = true
}

// Restore undoes Cut for target.
func (f *FaultTransport) Restore(target raft.ServerAddress) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cut, target)
}

// RestoreAll undoes every Cut.
func (f *FaultTransport) RestoreAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut = map[raft.ServerAddress]bool{}
}

// setDown marks target as crashed (or restarted, with false).
func (f *FaultTransport) setDown(target raft.ServerAddress, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if down {
		f.down[target] = true
	} else {
		delete(f.down, target)
	}
}

// kill makes the transport's own server send nothing more.
func (f *FaultTransport) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = true
}

// unreachable reports whether a request to target cannot be delivered now.
func (f *FaultTransport) unreachable(target raft.ServerAddress) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unreachableLocked(target)
}

func (f *FaultTransport) unreachableLocked(target raft.ServerAddress) bool {
	return f.dead || f.cut[target] || f.down[target]
}

type fate struct {
	cut, dropReq, dropResp, dup bool
	delay                       time.Duration
}

func (f *FaultTransport) draw(target raft.ServerAddress) fate {
	f.mu.Lock()
	defer f.mu.Unlock()
	fa := fate{
		cut:      f.unreachableLocked(target),
		dropReq:  f.rng.Float64() < f.faults.DropRequest,
		dropResp: f.rng.Float64() < f.faults.DropResponse,
		dup:      f.rng.Float64() < f.faults.Duplicate,
	}
	if f.faults.MaxDelay > 0 {
		fa.delay = time.Duration(f.rng.Int64N(int64(f.faults.MaxDelay)))
	}
	return fa
}

// reach applies a drawn fate's cut and delay to a request for target: it
// fails if the link is cut, before or (the link may be cut, or a server
// crash, meanwhile) after the delay.
func (f *FaultTransport) reach(fa fate, target raft.ServerAddress) error {
	if !fa.cut && fa.delay > 0 {
		time.Sleep(fa.delay)
		fa.cut = f.unreachable(target)
	}
	if fa.cut {
		return fmt.Errorf("%w: link to %s cut", ErrFault, target)
	}
	return nil
}

// call runs one request under the drawn faults.
func (f *FaultTransport) call(target raft.ServerAddress, send func() error) error {
	fa := f.draw(target)
	if err := f.reach(fa, target); err != nil {
		return err
	}
	if fa.dropReq {
		return fmt.Errorf("%w: request to %s dropped", ErrFault, target)
	}
	if fa.dup {
		// The first copy's answer is discarded; the node sees the second.
		_ = send()
	}
	if err := send(); err != nil {
		return err
	}
	if fa.dropResp {
		return fmt.Errorf("%w: response from %s dropped", ErrFault, target)
	}
	return nil
}

// AppendEntries sends under faults.
func (f *FaultTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	return f.call(target, func() error { return f.Transport.AppendEntries(id, target, args, resp) })
}

// RequestVote sends under faults.
func (f *FaultTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return f.call(target, func() error { return f.Transport.RequestVote(id, target, args, resp) })
}

// RequestPreVote sends under faults, if the wrapped transport can.
func (f *FaultTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	pv, ok := f.Transport.(raft.WithPreVote)
	if !ok {
		return fmt.Errorf("%w: transport has no pre-vote", raft.ErrUnsupportedRPC)
	}
	return f.call(target, func() error { return pv.RequestPreVote(id, target, args, resp) })
}

// RequestReadIndex sends under faults, if the wrapped transport can.
func (f *FaultTransport) RequestReadIndex(id raft.ServerID, target raft.ServerAddress, args *raft.ReadIndexRequest, resp *raft.ReadIndexResponse) error {
	ri, ok := f.Transport.(raft.WithReadIndex)
	if !ok {
		return fmt.Errorf("%w: transport has no ReadIndex", raft.ErrReadIndexNotSupported)
	}
	return f.call(target, func() error { return ri.RequestReadIndex(id, target, args, resp) })
}

// TimeoutNow sends under faults.
func (f *FaultTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return f.call(target, func() error { return f.Transport.TimeoutNow(id, target, args, resp) })
}

// InstallSnapshot is never duplicated or dropped halfway (its data cannot
// be replayed), only cut or delayed.
func (f *FaultTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	if err := f.reach(f.draw(target), target); err != nil {
		return err
	}
	return f.Transport.InstallSnapshot(id, target, args, resp, data)
}

// AppendEntriesPipeline wraps the pipeline so its requests suffer the same
// faults: a dropped or cut request fails the send, a dropped response fails
// its future.
func (f *FaultTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if f.draw(target).cut {
		return nil, fmt.Errorf("%w: link to %s cut", ErrFault, target)
	}
	p, err := f.Transport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	fp := &faultPipeline{AppendPipeline: p, f: f, target: target, out: make(chan raft.AppendFuture, 256), stop: make(chan struct{})}
	go fp.forward()
	return fp, nil
}

// Close closes the wrapped transport if it can be.
func (f *FaultTransport) Close() error {
	if c, ok := f.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

type faultPipeline struct {
	raft.AppendPipeline
	f      *FaultTransport
	target raft.ServerAddress
	out    chan raft.AppendFuture
	stop   chan struct{}
	once   sync.Once
}

type failedFuture struct{ raft.AppendFuture }

func (failedFuture) Error() error { return fmt.Errorf("%w: pipelined response dropped", ErrFault) }

func (p *faultPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	fa := p.f.draw(p.target)
	if fa.dropReq {
		return nil, fmt.Errorf("%w: pipelined request dropped", ErrFault)
	}
	if err := p.f.reach(fa, p.target); err != nil {
		return nil, err
	}
	return p.AppendPipeline.AppendEntries(args, resp)
}

func (p *faultPipeline) forward() {
	for {
		select {
		case fut := <-p.AppendPipeline.Consumer():
			if fa := p.f.draw(p.target); fa.cut || fa.dropResp {
				fut = failedFuture{fut}
			}
			select {
			case p.out <- fut:
			case <-p.stop:
				return
			}
		case <-p.stop:
			return
		}
	}
}

func (p *faultPipeline) Consumer() <-chan raft.AppendFuture { return p.out }

func (p *faultPipeline) Close() error {
	p.once.Do(func() { close(p.stop) })
	return p.AppendPipeline.Close()
}

// SetContactHint forwards to the wrapped transport when it takes hints.
func (f *FaultTransport) SetContactHint(fn func(term uint64, at time.Time)) {
	if h, ok := f.Transport.(raft.WithContactHint); ok {
		h.SetContactHint(fn)
	}
}
