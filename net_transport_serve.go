package raft

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Accept backoff after a failing Accept, so a persistent error (out of file
// descriptors, say) does not spin.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// errConnDone ends a served connection normally: the peer closed it, or left
// it idle, between requests.
var errConnDone = errors.New("connection finished")

// errInboundFull refuses a connection beyond MaxInboundConns.
var errInboundFull = errors.New("too many inbound connections")

// refusalLog spaces out the warnings about refused connections: the first
// refusal after a quiet interval is logged at once, later ones are counted
// and reported with the next line. It belongs to the accept loop alone.
type refusalLog struct {
	every   time.Duration
	last    time.Time
	pending int
	remote  net.Addr
}

// refused notes a refusal at now of a connection from remote, and says
// whether to log now and how many refusals the line reports.
func (l *refusalLog) refused(now time.Time, remote net.Addr) (logNow bool, count int) {
	l.pending++
	l.remote = remote
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		return false, 0
	}
	count, l.pending, l.last = l.pending, 0, now
	return true, count
}

// acceptLoop accepts connections and serves each on its own goroutine until
// the transport closes. Connections beyond MaxInboundConns are closed
// unread, right here: a goroutine each would let a flood cost what the
// bound is meant to spare.
func (t *NetworkTransport) acceptLoop() {
	defer t.wg.Done()
	refusals := refusalLog{every: t.cfg.refusalLogInterval}
	// Refusals not yet reported when the loop ends would otherwise never
	// be; the metric has them, but the log should not undercount.
	defer func() {
		if refusals.pending > 0 {
			t.logRefusals(refusals.pending, refusals.remote)
		}
	}()
	backoff := time.Duration(0)
	for {
		conn, err := t.stream.Accept()
		if err != nil {
			if t.IsShutdown() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			t.logger.Error("failed to accept connection", "error", err, "retry_in", backoff)
			timer := time.NewTimer(backoff)
			select {
			case <-timer.C:
			case <-t.shutdownCh:
				timer.Stop()
				return
			}
			continue
		}
		backoff = 0
		err = t.admit(conn)
		if err == nil {
			go t.serve(conn)
			continue
		}
		if !errors.Is(err, errInboundFull) {
			_ = conn.Close()
			return
		}
		// Counted before the close, so a client that sees its connection
		// refused can already read the count.
		t.cfg.Metrics.IncrCounter(metricConnsRefused, 1)
		remote := conn.RemoteAddr()
		_ = conn.Close()
		if logNow, n := refusals.refused(time.Now(), remote); logNow {
			t.logRefusals(n, remote)
		}
	}
}

// metricConnsRefused counts connections closed unread for exceeding
// MaxInboundConns.
var metricConnsRefused = []string{"raft", "net", "connsRefused"}

// logRefusals reports n refused connections, the latest from remote.
func (t *NetworkTransport) logRefusals(n int, remote net.Addr) {
	t.logger.Warn("too many inbound connections, closing new ones unread",
		"max_inbound_conns", t.cfg.MaxInboundConns, "refused_since_last_report", n, "last_remote", remote)
}

// handshaker is a connection with a handshake to complete before use, such
// as a *tls.Conn.
type handshaker interface {
	HandshakeContext(ctx context.Context) error
}

// serve answers the requests arriving on one connection, in order, until the
// peer closes it, it misbehaves, or the transport closes. Whatever the peer
// sends, only this connection is affected.
func (t *NetworkTransport) serve(conn net.Conn) {
	defer t.wg.Done()
	defer func() {
		// Closed before its slot is freed, so the descriptors in use never
		// exceed the bound.
		_ = conn.Close()
		t.leave(conn)
	}()
	if hs, ok := conn.(handshaker); ok {
		// Bounded, so a peer cannot hold a connection by never finishing
		// its handshake.
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.Timeout)
		err := hs.HandshakeContext(ctx)
		cancel()
		switch {
		case err == nil:
		case t.IsShutdown():
			return
		case errors.Is(err, io.EOF):
			// A port probe or health check, not an attack.
			t.logger.Debug("connection closed during handshake", "remote", conn.RemoteAddr())
			return
		default:
			t.logger.Warn("handshake failed, closing connection", "remote", conn.RemoteAddr(), "error", err)
			return
		}
	}
	s := &servedConn{
		t:    t,
		conn: conn,
		dec:  wireReader{r: bufio.NewReaderSize(conn, 16<<10), maxEntries: t.cfg.MaxEntries},
	}
	for {
		err := s.serveOne()
		if err == nil {
			continue
		}
		switch {
		case t.IsShutdown():
		case errors.Is(err, errConnDone):
			t.logger.Debug("connection closed", "remote", conn.RemoteAddr(), "reason", err)
		case errors.Is(err, errPeerGone):
			// A peer that restarts or shuts down leaves answers
			// undelivered; in a rolling restart that is every
			// connection, and nothing an operator must act on.
			t.logger.Debug("peer left before its answer", "remote", conn.RemoteAddr(), "error", err)
		default:
			t.logger.Warn("closing connection", "remote", conn.RemoteAddr(), "error", err)
		}
		return
	}
}

// servedConn is the state of one connection being served.
type servedConn struct {
	t    *NetworkTransport
	conn net.Conn
	dec  wireReader
	enc  wireEncoder
	// respChs are the answer channels of the requests read ahead, reused
	// from one batch to the next; batch is the batch being served.
	respChs []chan RPCResponse
	batch   []served
	// spoken is set once the peer started its first request.
	spoken bool
}

// maxReadAhead bounds how many AppendEntries requests serveOne reads before
// answering the first.
const maxReadAhead = 16

// served is one request read from the connection and its answer channel.
type served struct {
	rpc    RPC
	respCh chan RPCResponse
	snap   *snapshotReader
}

// serveOne reads a request, hands it to the consumer, and writes the answer.
// Between requests the peer may stay silent for IdleTimeout; once a request
// has started it must arrive whole within Timeout (snapshot data within the
// scaled timeout).
//
// A pipelining leader sends AppendEntries requests back to back. Those
// already in the read buffer behind the first are read too, and all are
// handed over together, so that a follower finds them queued and can write
// their entries with one sync (see appendBatch); they are answered in order.
func (s *servedConn) serveOne() error {
	t := s.t
	wait := t.cfg.IdleTimeout
	if !s.spoken {
		// Peers, hashicorp/raft's included, connect in order to send a
		// request at once (a pipeline's first one follows within its
		// CommitTimeout). A connection silent from the start is a probe,
		// a leak or an attack, and should not hold one of the
		// MaxInboundConns slots for a whole IdleTimeout.
		wait = min(wait, t.cfg.Timeout)
	}
	if err := s.conn.SetReadDeadline(deadline(wait)); err != nil {
		return err
	}
	typ, err := s.dec.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("%w: %w", errConnDone, err)
		}
		return err
	}
	s.spoken = true
	first, err := s.readRequest(typ, 0)
	if err != nil {
		return err
	}
	batch := append(s.batch[:0], first)
	var readErr error
	if _, ok := first.rpc.Command.(*AppendEntriesRequest); ok {
		for len(batch) < maxReadAhead && s.dec.r.Buffered() > 0 {
			next, err := s.dec.r.Peek(1)
			if err != nil || next[0] != rpcAppendEntries {
				break
			}
			_, _ = s.dec.r.ReadByte()
			req, err := s.readRequest(rpcAppendEntries, len(batch))
			if err != nil {
				// Answer what was read whole, then drop the connection.
				readErr = err
				break
			}
			batch = append(batch, req)
		}
	}
	s.batch = batch
	for _, b := range batch {
		select {
		case t.consumeCh <- b.rpc:
		case <-t.shutdownCh:
			return ErrTransportShutdown
		}
	}
	for _, b := range batch {
		var resp RPCResponse
		select {
		case resp = <-b.respCh:
		case <-t.shutdownCh:
			return ErrTransportShutdown
		}
		if b.snap != nil {
			// Whatever the consumer left unread is still on the stream
			// ahead of anything else; skip it so the peer gets its
			// answer.
			if err := b.snap.finish(); err != nil {
				return fmt.Errorf("draining snapshot data: %w", err)
			}
		}
		if err := s.writeResponse(resp); err != nil {
			return err
		}
		if b.snap != nil {
			return fmt.Errorf("%w: snapshot installed", errConnDone)
		}
	}
	// The array is kept for the next batch, but not the requests: a
	// connection idle for minutes should not pin their entries.
	clear(batch)
	return readErr
}

// readRequest reads the rest of a request of type typ, whose type byte was
// just read, within Timeout, and prepares it for the consumer with answer
// channel number slot.
func (s *servedConn) readRequest(typ byte, slot int) (served, error) {
	t := s.t
	arrived := time.Now()
	if err := s.conn.SetReadDeadline(arrived.Add(t.cfg.Timeout)); err != nil {
		return served{}, err
	}
	s.dec.startFrame(t.cfg.MaxFrameSize)
	req, err := s.dec.readRequest(typ)
	if err != nil {
		return served{}, fmt.Errorf("reading request of type %d: %w", typ, err)
	}
	for len(s.respChs) <= slot {
		s.respChs = append(s.respChs, make(chan RPCResponse, 1))
	}
	out := served{rpc: RPC{Command: req, RespChan: s.respChs[slot]}, respCh: s.respChs[slot]}
	switch r := req.(type) {
	case *AppendEntriesRequest:
		if fn := t.hint.Load(); fn != nil && r.Term > 0 {
			(*fn)(r.Term, arrived)
		}
	case *InstallSnapshotRequest:
		if err := s.conn.SetReadDeadline(arrived.Add(snapshotTimeout(t.cfg.Timeout, r.Size))); err != nil {
			return served{}, err
		}
		out.snap = &snapshotReader{r: io.LimitedReader{R: s.dec.r, N: r.Size}}
		out.rpc.Reader = out.snap
	}
	return out, nil
}

// writeResponse encodes and writes one answer within Timeout. A response the
// encoder refuses (the node's bug) goes out as an error, so the peer is
// still answered.
func (s *servedConn) writeResponse(resp RPCResponse) error {
	s.enc.buf = s.enc.buf[:0]
	if err := s.enc.response(resp.Response, resp.Error); err != nil {
		s.t.logger.Error("failed to encode response", "error", err)
		s.enc = wireEncoder{buf: s.enc.buf[:0]}
		if err := s.enc.response(nil, fmt.Errorf("failed to encode response: %w", err)); err != nil {
			return err
		}
	}
	if err := s.conn.SetWriteDeadline(deadline(s.t.cfg.Timeout)); err != nil {
		return err
	}
	_, err := s.conn.Write(s.enc.buf)
	if cap(s.enc.buf) > maxRetainedBuffer {
		s.enc.buf = nil
	}
	if err != nil {
		if isConnDropped(err) {
			return fmt.Errorf("%w: writing response: %w", errPeerGone, err)
		}
		return fmt.Errorf("writing response: %w", err)
	}
	return nil
}

// errPeerGone marks an answer the peer was no longer there to receive: it
// closed or reset the connection after sending its request.
var errPeerGone = errors.New("peer closed the connection")

// snapshotReader is RPC.Reader for InstallSnapshot: exactly Size bytes of
// the stream. Once the RPC is answered it stops serving reads, so a consumer
// that keeps reading cannot race with the connection's next use.
type snapshotReader struct {
	mu   sync.Mutex
	r    io.LimitedReader
	done bool
}

// Read reads snapshot data. It returns io.EOF after Size bytes, and
// io.ErrUnexpectedEOF if the stream ends before.
func (s *snapshotReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return 0, fmt.Errorf("snapshot data read after the RPC was answered: %w", io.ErrClosedPipe)
	}
	n, err := s.r.Read(p)
	if errors.Is(err, io.EOF) && s.r.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// finish stops reads and skips the data the consumer did not read.
func (s *snapshotReader) finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if _, err := io.Copy(io.Discard, &s.r); err != nil {
		return err
	}
	if s.r.N > 0 {
		return io.ErrUnexpectedEOF
	}
	return nil
}
