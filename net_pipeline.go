package raft

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// netPipeline sends AppendEntries back to back on a connection of its own
// and matches the answers to the requests in order.
//
// Nothing here may park a caller on a broken connection: every wait selects
// on the pipeline's close and break signals, breaking the pipeline closes
// the connection (which ends any read or write blocked on it), and every
// read and write has a deadline, so a peer that stalls breaks the pipeline
// within Timeout.
type netPipeline struct {
	trans *NetworkTransport
	conn  *netConn

	// sendMu keeps frames whole and in the order their futures are queued.
	sendMu sync.Mutex
	// slots holds one token per request sent and not yet answered.
	slots chan struct{}
	// inflight holds the futures of those requests, in send order.
	inflight chan *appendFuture
	doneCh   chan AppendFuture

	closeCh   chan struct{}
	closeOnce sync.Once
	brokenCh  chan struct{}
	breakOnce sync.Once
	brokenErr error
	// stopped is set, under sendMu, once the decoder stopped taking
	// futures: no future may be queued after that.
	stopped     bool
	decoderDone chan struct{}
}

func newNetPipeline(t *NetworkTransport, c *netConn) *netPipeline {
	n := t.cfg.MaxRPCsInFlight
	return &netPipeline{
		trans:       t,
		conn:        c,
		slots:       make(chan struct{}, n),
		inflight:    make(chan *appendFuture, n),
		doneCh:      make(chan AppendFuture, n),
		closeCh:     make(chan struct{}),
		brokenCh:    make(chan struct{}),
		decoderDone: make(chan struct{}),
	}
}

// fail breaks the pipeline: the connection is closed and every later or
// waiting AppendEntries fails with an error wrapping ErrPipelineShutdown and
// cause.
func (p *netPipeline) fail(cause error) {
	p.breakOnce.Do(func() {
		if errors.Is(cause, ErrPipelineShutdown) {
			p.brokenErr = cause
		} else {
			p.brokenErr = fmt.Errorf("%w: %w", ErrPipelineShutdown, p.trans.shutdownError(cause))
		}
		close(p.brokenCh)
		_ = p.conn.conn.Close()
	})
}

// err returns why the pipeline no longer accepts requests, or nil.
func (p *netPipeline) err() error {
	select {
	case <-p.closeCh:
		return ErrPipelineShutdown
	case <-p.brokenCh:
		return p.brokenErr
	default:
		return nil
	}
}

// AppendEntries writes the request and returns its future, which is
// delivered on Consumer once answered. It blocks while MaxRPCsInFlight
// requests are unanswered, and fails, promptly, once the pipeline is closed
// or its connection broke (both wrap ErrPipelineShutdown) or when the write
// fails or times out (which breaks the pipeline).
func (p *netPipeline) AppendEntries(args *AppendEntriesRequest, resp *AppendEntriesResponse) (AppendFuture, error) {
	f := &appendFuture{args: args, resp: resp}
	f.init()
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if err := p.err(); err != nil {
		return nil, err
	}
	select {
	case p.slots <- struct{}{}:
	case <-p.closeCh:
		return nil, ErrPipelineShutdown
	case <-p.brokenCh:
		return nil, p.brokenErr
	}
	// A slot freed by a failing decoder does not make the pipeline usable.
	if err := p.err(); err != nil || p.stopped {
		<-p.slots
		if err == nil {
			err = ErrPipelineShutdown
		}
		return nil, err
	}
	f.start = time.Now()
	err := p.conn.conn.SetWriteDeadline(deadline(p.trans.cfg.Timeout))
	if err == nil {
		err = p.conn.send(args)
	}
	if err != nil {
		<-p.slots
		p.fail(err)
		return nil, p.brokenErr
	}
	p.inflight <- f
	return f, nil
}

// Consumer returns the channel on which futures are delivered, in the order
// their requests were sent.
func (p *netPipeline) Consumer() <-chan AppendFuture { return p.doneCh }

// Close stops the pipeline and closes its connection; futures still
// unanswered complete with ErrPipelineShutdown. It returns once the
// pipeline's goroutine has exited, which closing the connection makes
// prompt whatever the peer does. It always returns nil.
func (p *netPipeline) Close() error {
	p.closeOnce.Do(func() {
		close(p.closeCh)
		p.fail(ErrPipelineShutdown)
		p.trans.untrack(p)
	})
	<-p.decoderDone
	return nil
}

// decodeLoop reads the answers, completes the futures in order and hands
// them to the consumer, until the pipeline is closed or breaks.
func (p *netPipeline) decodeLoop() {
	defer p.trans.wg.Done()
	defer close(p.decoderDone)
	for {
		var f *appendFuture
		select {
		case f = <-p.inflight:
		case <-p.brokenCh:
			p.drain()
			return
		}
		err := p.conn.conn.SetReadDeadline(deadline(p.trans.cfg.Timeout))
		if err == nil {
			err = p.conn.receive(f.resp, p.trans.cfg.MaxFrameSize)
		}
		<-p.slots
		var remote *RemoteError
		if err != nil && !errors.As(err, &remote) {
			p.fail(err)
			f.respond(p.brokenErr)
			p.deliver(f)
			p.drain()
			return
		}
		f.respond(err)
		p.deliver(f)
	}
}

// drain fails the futures still queued once the connection is gone. Taking
// sendMu waits out a write in progress (the connection is closed, so it
// ends) and makes sure none is queued afterwards.
func (p *netPipeline) drain() {
	p.sendMu.Lock()
	p.stopped = true
	p.sendMu.Unlock()
	for {
		select {
		case f := <-p.inflight:
			<-p.slots
			f.respond(p.brokenErr)
			p.deliver(f)
		default:
			return
		}
	}
}

// deliver hands a completed future to the consumer, unless the pipeline is
// closed: then nobody reads the channel, and the future is already
// complete for whoever holds it.
func (p *netPipeline) deliver(f *appendFuture) {
	select {
	case p.doneCh <- f:
	case <-p.closeCh:
	}
}
