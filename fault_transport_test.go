package raft

import (
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

var errInjected = errors.New("injected fault")

// faultTransport wraps an InmemTransport and drops requests and replies and
// delays calls, driven by a seeded random source so runs are reproducible.
type faultTransport struct {
	*InmemTransport

	mu       sync.Mutex
	rng      *rand.Rand
	dropReq  float64
	dropResp float64
	maxDelay time.Duration

	// onAppend, if set, sees every synchronous AppendEntries that got an
	// answer.
	onAppend func(target ServerAddress, req *AppendEntriesRequest, resp *AppendEntriesResponse)
}

func newFaultTransport(t *InmemTransport, seed uint64) *faultTransport {
	return &faultTransport{InmemTransport: t, rng: rand.New(rand.NewPCG(seed, 7))}
}

func (f *faultTransport) inner() *InmemTransport { return f.InmemTransport }

func (f *faultTransport) setFaults(dropReq, dropResp float64, maxDelay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropReq, f.dropResp, f.maxDelay = dropReq, dropResp, maxDelay
}

// decide draws the fate of one call.
func (f *faultTransport) decide() (dropReq, dropResp bool, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dropReq = f.rng.Float64() < f.dropReq
	dropResp = f.rng.Float64() < f.dropResp
	if f.maxDelay > 0 {
		delay = time.Duration(f.rng.Int64N(int64(f.maxDelay)))
	}
	return
}

func (f *faultTransport) around(call func() error) error {
	dropReq, dropResp, delay := f.decide()
	if delay > 0 {
		time.Sleep(delay)
	}
	if dropReq {
		return errInjected
	}
	if err := call(); err != nil {
		return err
	}
	if dropResp {
		return errInjected
	}
	return nil
}

func (f *faultTransport) AppendEntries(id ServerID, target ServerAddress, args *AppendEntriesRequest, resp *AppendEntriesResponse) error {
	err := f.around(func() error { return f.InmemTransport.AppendEntries(id, target, args, resp) })
	if err == nil && f.onAppend != nil {
		f.onAppend(target, args, resp)
	}
	return err
}

func (f *faultTransport) RequestVote(id ServerID, target ServerAddress, args *RequestVoteRequest, resp *RequestVoteResponse) error {
	return f.around(func() error { return f.InmemTransport.RequestVote(id, target, args, resp) })
}

func (f *faultTransport) RequestPreVote(id ServerID, target ServerAddress, args *RequestPreVoteRequest, resp *RequestPreVoteResponse) error {
	return f.around(func() error { return f.InmemTransport.RequestPreVote(id, target, args, resp) })
}

func (f *faultTransport) AppendEntriesPipeline(id ServerID, target ServerAddress) (AppendPipeline, error) {
	p, err := f.InmemTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	fp := &faultPipeline{AppendPipeline: p, f: f, out: make(chan AppendFuture, inmemPipelineDepth), stop: make(chan struct{})}
	go fp.forward()
	return fp, nil
}

// faultPipeline drops pipelined requests (as a send error) and replies (as
// a failed future).
type faultPipeline struct {
	AppendPipeline
	f    *faultTransport
	out  chan AppendFuture
	stop chan struct{}
	once sync.Once
}

type failedAppend struct {
	AppendFuture
}

func (failedAppend) Error() error { return errInjected }

func (p *faultPipeline) AppendEntries(args *AppendEntriesRequest, resp *AppendEntriesResponse) (AppendFuture, error) {
	dropReq, _, delay := p.f.decide()
	if delay > 0 {
		time.Sleep(delay)
	}
	if dropReq {
		return nil, errInjected
	}
	return p.AppendPipeline.AppendEntries(args, resp)
}

func (p *faultPipeline) forward() {
	for {
		select {
		case fut := <-p.AppendPipeline.Consumer():
			if _, dropResp, _ := p.f.decide(); dropResp {
				fut = failedAppend{fut}
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

func (p *faultPipeline) Consumer() <-chan AppendFuture { return p.out }

func (p *faultPipeline) Close() error {
	p.once.Do(func() { close(p.stop) })
	return p.AppendPipeline.Close()
}
