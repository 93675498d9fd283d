package raft

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// NetworkTransport is a Transport over a StreamLayer, speaking hashicorp/raft
// protocol version 3's wire format, so its nodes and hashicorp/raft's can be
// members of one cluster.
//
// Each request is one type byte and one msgpack map; each answer is an error
// text and a msgpack map; one connection carries requests one after another
// and is answered in order. Synchronous calls borrow a connection from a
// per-peer pool, pipelines own one, and InstallSnapshot uses one that is
// closed afterwards. Every dial, write and read has a deadline, at most
// MaxInboundConns received connections are served at once, and Close
// unblocks every call and stops every goroutine the transport started.
type NetworkTransport struct {
	cfg       NetworkTransportConfig
	stream    StreamLayer
	logger    hclog.Logger
	consumeCh chan RPC
	hint      atomic.Pointer[func(term uint64, at time.Time)]

	mu sync.Mutex
	// pool holds idle connections per peer, the most recently used last.
	pool map[ServerAddress][]*netConn
	// open holds everything Close must close: connections in use (sent on
	// or served) and pipelines.
	open map[io.Closer]struct{}
	// inbound counts the received connections being served, against
	// MaxInboundConns.
	inbound int
	closed  bool

	shutdownCh chan struct{}
	closeOnce  sync.Once
	// wg counts the goroutines the transport started; Close waits for them.
	wg sync.WaitGroup
}

// NewNetworkTransport returns a transport over stream that keeps up to maxPool
// idle connections per peer, bounds each network operation by timeout, and
// logs to logOutput (stderr when nil). It starts accepting connections at
// once.
func NewNetworkTransport(stream StreamLayer, maxPool int, timeout time.Duration, logOutput io.Writer) *NetworkTransport {
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft-net", Output: logOutput, Level: hclog.DefaultLevel})
	return NewNetworkTransportWithLogger(stream, maxPool, timeout, logger)
}

// NewNetworkTransportWithLogger is NewNetworkTransport with an hclog logger.
func NewNetworkTransportWithLogger(stream StreamLayer, maxPool int, timeout time.Duration, logger hclog.Logger) *NetworkTransport {
	return NewNetworkTransportWithConfig(&NetworkTransportConfig{Stream: stream, MaxPool: maxPool, Timeout: timeout, Logger: logger})
}

// NewNetworkTransportWithConfig returns a transport with the given
// configuration, zero fields taking their defaults. It starts accepting
// connections on config.Stream at once.
func NewNetworkTransportWithConfig(config *NetworkTransportConfig) *NetworkTransport {
	cfg := config.withDefaults()
	t := &NetworkTransport{
		cfg:        cfg,
		stream:     cfg.Stream,
		logger:     cfg.Logger,
		consumeCh:  make(chan RPC),
		pool:       make(map[ServerAddress][]*netConn),
		open:       make(map[io.Closer]struct{}),
		shutdownCh: make(chan struct{}),
	}
	t.wg.Add(1)
	go t.acceptLoop()
	return t
}

// Consumer returns the channel on which received requests are delivered.
// Each must be answered with RPC.Respond.
func (t *NetworkTransport) Consumer() <-chan RPC { return t.consumeCh }

// LocalAddr returns the address the stream layer advertises.
func (t *NetworkTransport) LocalAddr() ServerAddress {
	return ServerAddress(t.stream.Addr().String())
}

// EncodePeer returns the address's bytes: peers on the network are known by
// address on the wire.
func (t *NetworkTransport) EncodePeer(id ServerID, addr ServerAddress) []byte { return []byte(addr) }

// DecodePeer reverses EncodePeer.
func (t *NetworkTransport) DecodePeer(b []byte) ServerAddress { return ServerAddress(b) }

// SetContactHint registers fn, called for every AppendEntries request with a
// non-zero term, with the term and the time the request's first byte arrived,
// before the request is queued on Consumer. fn runs on a connection's
// goroutine and must return quickly; it only delays the node's election
// timer.
func (t *NetworkTransport) SetContactHint(fn func(term uint64, at time.Time)) {
	if fn == nil {
		t.hint.Store(nil)
		return
	}
	t.hint.Store(&fn)
}

// IsShutdown reports whether Close was called.
func (t *NetworkTransport) IsShutdown() bool {
	select {
	case <-t.shutdownCh:
		return true
	default:
		return false
	}
}

// Close stops the transport: it stops accepting, closes every connection,
// fails every call in flight and every pipeline, and returns once all the
// transport's goroutines have exited. Later calls fail with
// ErrTransportShutdown. It always returns nil.
func (t *NetworkTransport) Close() error {
	t.closeOnce.Do(func() {
		close(t.shutdownCh)
		t.mu.Lock()
		t.closed = true
		var closers []io.Closer
		for _, conns := range t.pool {
			for _, c := range conns {
				closers = append(closers, c)
			}
		}
		t.pool = nil
		for c := range t.open {
			closers = append(closers, c)
		}
		t.mu.Unlock()
		_ = t.stream.Close()
		for _, c := range closers {
			_ = c.Close()
		}
	})
	t.wg.Wait()
	return nil
}

// track registers c to be closed by Close, and counts a goroutine for it
// when withGoroutine is set. It fails once the transport is closed, so
// nothing is opened after Close has gathered what to close.
func (t *NetworkTransport) track(c io.Closer, withGoroutine bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrTransportShutdown
	}
	t.open[c] = struct{}{}
	if withGoroutine {
		t.wg.Add(1)
	}
	return nil
}

func (t *NetworkTransport) untrack(c io.Closer) {
	t.mu.Lock()
	delete(t.open, c)
	t.mu.Unlock()
}

// admit registers a received connection to be served on a goroutine of its
// own, as track does, if it fits within MaxInboundConns; otherwise it fails
// with errInboundFull. Counting here, under the lock that Close takes,
// rather than in the goroutine keeps a burst of accepts from overshooting
// the bound.
func (t *NetworkTransport) admit(conn net.Conn) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrTransportShutdown
	}
	if limit := t.cfg.MaxInboundConns; limit > 0 && t.inbound >= limit {
		return errInboundFull
	}
	t.inbound++
	t.open[conn] = struct{}{}
	t.wg.Add(1)
	return nil
}

// leave undoes admit once the connection is no longer served, freeing its
// slot.
func (t *NetworkTransport) leave(conn net.Conn) {
	t.mu.Lock()
	delete(t.open, conn)
	t.inbound--
	t.mu.Unlock()
}

// inboundConns returns how many received connections are being served.
func (t *NetworkTransport) inboundConns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inbound
}

// shutdownError makes the error of a call cut short by Close say so.
func (t *NetworkTransport) shutdownError(err error) error {
	if t.IsShutdown() && !errors.Is(err, ErrTransportShutdown) {
		return fmt.Errorf("%w: %w", ErrTransportShutdown, err)
	}
	return err
}

// snapshotTimeout stretches timeout for a snapshot of size bytes:
// timeout * max(1, size/256 KiB), saturating instead of overflowing.
func snapshotTimeout(timeout time.Duration, size int64) time.Duration {
	scale := size / snapshotTimeoutScale
	if scale <= 1 {
		return timeout
	}
	if scale > int64(math.MaxInt64/timeout) {
		return math.MaxInt64
	}
	return timeout * time.Duration(scale)
}

// deadline returns the time d from now, as a net.Conn deadline.
func deadline(d time.Duration) time.Time {
	return time.Now().Add(d)
}

var _ interface {
	Transport
	WithPreVote
	WithClose
	WithContactHint
} = (*NetworkTransport)(nil)
