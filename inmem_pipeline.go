package raft

import (
	"fmt"
	"sync"
	"time"
)

// inmemPipelineDepth bounds the requests in flight on one pipeline.
const inmemPipelineDepth = 128

type inmemPipeline struct {
	trans    *InmemTransport
	peer     *InmemTransport
	peerAddr ServerAddress

	inflight   chan *inmemInflight
	doneCh     chan AppendFuture
	shutdownCh chan struct{}
	closeOnce  sync.Once
}

type inmemInflight struct {
	future *appendFuture
	respCh chan RPCResponse
}

func newInmemPipeline(trans, peer *InmemTransport, addr ServerAddress) *inmemPipeline {
	p := &inmemPipeline{
		trans:      trans,
		peer:       peer,
		peerAddr:   addr,
		inflight:   make(chan *inmemInflight, inmemPipelineDepth),
		doneCh:     make(chan AppendFuture, inmemPipelineDepth),
		shutdownCh: make(chan struct{}),
	}
	go p.decodeResponses()
	return p
}

// decodeResponses completes the futures in send order.
func (p *inmemPipeline) decodeResponses() {
	timeout := p.trans.timeout
	for {
		select {
		case in := <-p.inflight:
			timer := time.NewTimer(timeout)
			select {
			case rpcResp := <-in.respCh:
				timer.Stop()
				if rpcResp.Error != nil {
					in.future.respond(rpcResp.Error)
				} else {
					*in.future.resp = *rpcResp.Response.(*AppendEntriesResponse)
					in.future.respond(nil)
				}
			case <-timer.C:
				in.future.respond(fmt.Errorf("%w: pipelined response from %v", ErrTimeout, p.peerAddr))
			case <-p.shutdownCh:
				timer.Stop()
				in.future.respond(ErrPipelineShutdown)
				select {
				case p.doneCh <- in.future:
				default:
				}
				p.failInflight()
				return
			}
			select {
			case p.doneCh <- in.future:
			case <-p.shutdownCh:
				return
			}
		case <-p.shutdownCh:
			p.failInflight()
			return
		}
	}
}

// failInflight completes the requests still in flight with an error and
// delivers them, so the pipeline's user learns it broke.
func (p *inmemPipeline) failInflight() {
	for {
		select {
		case in := <-p.inflight:
			in.future.respond(ErrPipelineShutdown)
			select {
			case p.doneCh <- in.future:
			default:
			}
		default:
			return
		}
	}
}

func (p *inmemPipeline) AppendEntries(args *AppendEntriesRequest, resp *AppendEntriesResponse) (AppendFuture, error) {
	// Checked first: a select with several ready cases picks at random, and
	// a closed pipeline must never deliver another request.
	select {
	case <-p.shutdownCh:
		return nil, ErrPipelineShutdown
	default:
	}
	f := &appendFuture{start: time.Now(), args: args, resp: resp}
	f.init()
	respCh := make(chan RPCResponse, 1)
	timer := time.NewTimer(p.trans.timeout)
	defer timer.Stop()
	select {
	case p.peer.consumerCh <- RPC{Command: args, RespChan: respCh}:
	case <-timer.C:
		return nil, fmt.Errorf("%w: pipelined send to %v", ErrTimeout, p.peerAddr)
	case <-p.shutdownCh:
		return nil, ErrPipelineShutdown
	case <-p.peer.shutdownCh:
		return nil, fmt.Errorf("peer %v: %w", p.peerAddr, ErrTransportShutdown)
	}
	select {
	case p.inflight <- &inmemInflight{future: f, respCh: respCh}:
		return f, nil
	case <-p.shutdownCh:
		return nil, ErrPipelineShutdown
	}
}

func (p *inmemPipeline) Consumer() <-chan AppendFuture { return p.doneCh }

func (p *inmemPipeline) Close() error {
	p.closeOnce.Do(func() { close(p.shutdownCh) })
	return nil
}
