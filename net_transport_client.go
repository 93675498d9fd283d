package raft

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// maxRetainedBuffer is the largest encode buffer a pooled connection keeps;
// one huge batch should not pin its memory for the connection's life.
const maxRetainedBuffer = 1 << 20

// netConn is a connection this transport opened to a peer.
type netConn struct {
	target    ServerAddress
	conn      net.Conn
	dec       wireReader
	enc       wireEncoder
	idleSince time.Time
}

// Close closes the connection.
func (c *netConn) Close() error { return c.conn.Close() }

// send writes one request frame.
func (c *netConn) send(req interface{}) error {
	c.enc.buf = c.enc.buf[:0]
	if err := c.enc.request(req); err != nil {
		return err
	}
	_, err := c.conn.Write(c.enc.buf)
	if cap(c.enc.buf) > maxRetainedBuffer {
		c.enc.buf = nil
	}
	return err
}

// receive reads one response frame into resp.
func (c *netConn) receive(resp interface{}, maxFrame int64) error {
	c.dec.startFrame(maxFrame)
	return c.dec.readResponse(resp)
}

// resolve returns the address to dial for a peer: the provider's answer when
// there is a provider that knows id, target otherwise.
func (t *NetworkTransport) resolve(id ServerID, target ServerAddress) ServerAddress {
	if t.cfg.ServerAddressProvider == nil {
		return target
	}
	addr, err := t.cfg.ServerAddressProvider.ServerAddr(id)
	if err != nil {
		t.logger.Warn("unable to get address for server, using fallback address", "id", id, "fallback", target, "error", err)
		return target
	}
	return addr
}

// getConn returns a connection to target, pooled or new, registered as in
// use so Close can cut it.
func (t *NetworkTransport) getConn(target ServerAddress) (*netConn, error) {
	if c := t.takePooled(target); c != nil {
		return c, nil
	}
	conn, err := t.stream.Dial(target, t.cfg.Timeout)
	if err != nil {
		return nil, t.shutdownError(fmt.Errorf("dial %s: %w", target, err))
	}
	c := &netConn{
		target: target,
		conn:   conn,
		dec:    wireReader{r: bufio.NewReaderSize(conn, 16<<10), maxEntries: t.cfg.MaxEntries},
		enc:    wireEncoder{newTime: t.cfg.MsgpackUseNewTimeFormat},
	}
	if err := t.track(c, false); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

// takePooled pops the most recently used idle connection to target. Ones
// idle for over half the idle timeout are closed instead: the peer may be
// about to close them, and a request on a dying connection would be lost.
func (t *NetworkTransport) takePooled(target ServerAddress) *netConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	conns := t.pool[target]
	for len(conns) > 0 {
		c := conns[len(conns)-1]
		conns[len(conns)-1] = nil
		conns = conns[:len(conns)-1]
		if time.Since(c.idleSince) < t.cfg.IdleTimeout/2 {
			t.pool[target] = conns
			t.open[c] = struct{}{}
			return c
		}
		_ = c.conn.Close()
	}
	delete(t.pool, target)
	return nil
}

// release puts a healthy connection back in the pool, or closes it when the
// pool is full or the transport closed.
func (t *NetworkTransport) release(c *netConn) {
	t.mu.Lock()
	delete(t.open, c)
	if !t.closed && len(t.pool[c.target]) < t.cfg.MaxPool {
		c.idleSince = time.Now()
		t.pool[c.target] = append(t.pool[c.target], c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	_ = c.conn.Close()
}

// dropIdle closes every idle connection to target. It is called when the
// peer closed a connection under a request: the usual causes (the peer
// restarted, or closed connections it found idle) leave the idle ones dead
// too, and each would otherwise fail one more request before being
// dropped. Failing those requests one after another would also look, to a
// follower, like a leader that refuses ReadIndex again and again (see
// readSupport). A redial costs one round trip.
func (t *NetworkTransport) dropIdle(target ServerAddress) {
	t.mu.Lock()
	conns := t.pool[target]
	delete(t.pool, target)
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.conn.Close()
	}
}

// discard closes a connection whose stream can no longer be trusted.
func (t *NetworkTransport) discard(c *netConn) {
	t.untrack(c)
	_ = c.conn.Close()
}

// roundTrip sends req to the peer and reads its answer into resp. The
// connection goes back to the pool after a complete exchange, including one
// the peer answered with an error; after anything else it is closed, since
// what is left on it is unknown.
func (t *NetworkTransport) roundTrip(name string, id ServerID, target ServerAddress, req, resp interface{}) error {
	target = t.resolve(id, target)
	c, err := t.getConn(target)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	err = c.conn.SetDeadline(deadline(t.cfg.Timeout))
	if err == nil {
		err = c.send(req)
	}
	if err == nil {
		err = c.receive(resp, t.cfg.MaxFrameSize)
	}
	var remote *RemoteError
	if err == nil || errors.As(err, &remote) {
		t.release(c)
	} else {
		t.discard(c)
		if isConnDropped(err) {
			t.dropIdle(target)
		}
		err = t.shutdownError(err)
	}
	if err != nil {
		return fmt.Errorf("%s to %s: %w", name, target, err)
	}
	return nil
}

// AppendEntries sends one AppendEntries request and waits for the answer.
// It fails when the peer cannot be reached or does not answer within the
// timeout, with a *RemoteError when the peer answered with an error, and
// with ErrTransportShutdown after Close.
func (t *NetworkTransport) AppendEntries(id ServerID, target ServerAddress, args *AppendEntriesRequest, resp *AppendEntriesResponse) error {
	return t.roundTrip("append entries", id, target, args, resp)
}

// RequestVote sends one RequestVote request and waits for the answer. It
// fails as AppendEntries does.
func (t *NetworkTransport) RequestVote(id ServerID, target ServerAddress, args *RequestVoteRequest, resp *RequestVoteResponse) error {
	return t.roundTrip("request vote", id, target, args, resp)
}

// RequestPreVote sends one RequestPreVote request and waits for the answer.
// It fails as AppendEntries does; against a peer too old to know pre-vote,
// the error matches ErrUnsupportedRPC.
func (t *NetworkTransport) RequestPreVote(id ServerID, target ServerAddress, args *RequestPreVoteRequest, resp *RequestPreVoteResponse) error {
	return t.roundTrip("request pre-vote", id, target, args, resp)
}

// RequestReadIndex asks the leader for a read index (this library's own
// RPC). A peer that does not know it, such as hashicorp/raft, closes the
// connection, which surfaces here as an I/O error.
func (t *NetworkTransport) RequestReadIndex(id ServerID, target ServerAddress, args *ReadIndexRequest, resp *ReadIndexResponse) error {
	return t.roundTrip("request read index", id, target, args, resp)
}

// TimeoutNow asks the peer to start an election at once and waits for the
// answer. It fails as AppendEntries does.
func (t *NetworkTransport) TimeoutNow(id ServerID, target ServerAddress, args *TimeoutNowRequest, resp *TimeoutNowResponse) error {
	return t.roundTrip("timeout now", id, target, args, resp)
}

// InstallSnapshot sends the request, then exactly args.Size bytes streamed
// from data, and waits for the answer, on a connection closed afterwards.
// The deadline is Timeout scaled by the size (one Timeout per 256 KiB). It
// fails as AppendEntries does, and also when data ends before args.Size
// bytes or args.Size is negative.
func (t *NetworkTransport) InstallSnapshot(id ServerID, target ServerAddress, args *InstallSnapshotRequest, resp *InstallSnapshotResponse, data io.Reader) error {
	if args.Size < 0 {
		return fmt.Errorf("install snapshot: %w: negative size %d", ErrMalformedFrame, args.Size)
	}
	target = t.resolve(id, target)
	c, err := t.getConn(target)
	if err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	// The peer reads the data straight off the stream; nothing may follow
	// it, so this connection is never reused.
	defer t.discard(c)
	err = c.conn.SetDeadline(deadline(snapshotTimeout(t.cfg.Timeout, args.Size)))
	if err == nil {
		err = c.send(args)
	}
	if err == nil {
		var n int64
		n, err = io.CopyN(c.conn, data, args.Size)
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("snapshot data ended after %d of %d bytes: %w", n, args.Size, io.ErrUnexpectedEOF)
		}
	}
	if err == nil {
		err = c.receive(resp, t.cfg.MaxFrameSize)
	}
	if err != nil {
		return fmt.Errorf("install snapshot to %s: %w", target, t.shutdownError(err))
	}
	return nil
}

// AppendEntriesPipeline opens a connection to the peer dedicated to
// pipelined AppendEntries. It returns ErrPipelineNotSupported when
// MaxRPCsInFlight is below 2, and fails when the peer cannot be reached or
// the transport is closed.
func (t *NetworkTransport) AppendEntriesPipeline(id ServerID, target ServerAddress) (AppendPipeline, error) {
	if t.cfg.MaxRPCsInFlight < 2 {
		return nil, ErrPipelineNotSupported
	}
	target = t.resolve(id, target)
	c, err := t.getConn(target)
	if err != nil {
		return nil, fmt.Errorf("append entries pipeline: %w", err)
	}
	// The connection now belongs to the pipeline, which Close will close.
	t.untrack(c)
	p := newNetPipeline(t, c)
	if err := t.track(p, true); err != nil {
		_ = c.conn.Close()
		return nil, err
	}
	go p.decodeLoop()
	return p, nil
}
