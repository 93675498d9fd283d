package raft

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"
)

// InmemTransport is a Transport that connects nodes of one process through
// channels. Peers are wired by hand with Connect; Disconnect cuts links, which
// makes it the transport of choice for tests of partitions.
type InmemTransport struct {
	mu         sync.RWMutex
	consumerCh chan RPC
	localAddr  ServerAddress
	peers      map[ServerAddress]*InmemTransport
	pipelines  []*inmemPipeline
	timeout    time.Duration
	shutdownCh chan struct{}
	closeOnce  sync.Once
}

// NewInmemTransport returns a transport at addr, or at a random address
// when addr is empty, with a 500ms timeout on every call.
func NewInmemTransport(addr ServerAddress) (ServerAddress, *InmemTransport) {
	return NewInmemTransportWithTimeout(addr, 500*time.Millisecond)
}

// NewInmemTransportWithTimeout is NewInmemTransport with the time a call
// may wait for the peer to take the request, and again for its answer.
func NewInmemTransportWithTimeout(addr ServerAddress, timeout time.Duration) (ServerAddress, *InmemTransport) {
	if addr == "" {
		addr = ServerAddress(randomID())
	}
	t := &InmemTransport{
		consumerCh: make(chan RPC, 16),
		localAddr:  addr,
		peers:      make(map[ServerAddress]*InmemTransport),
		timeout:    timeout,
		shutdownCh: make(chan struct{}),
	}
	return addr, t
}

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms; a time-based
		// fallback still gives distinct addresses within one process.
		return fmt.Sprintf("inmem-%d", time.Now().UnixNano())
	}
	return hex.EncodeToString(b[:])
}

// Consumer returns the channel of received RPCs.
func (t *InmemTransport) Consumer() <-chan RPC { return t.consumerCh }

// LocalAddr returns the transport's address.
func (t *InmemTransport) LocalAddr() ServerAddress { return t.localAddr }

// AppendEntriesPipeline returns a pipeline to target, or an error if the
// target is not connected.
func (t *InmemTransport) AppendEntriesPipeline(id ServerID, target ServerAddress) (AppendPipeline, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.shutdownCh:
		return nil, ErrTransportShutdown
	default:
	}
	peer, ok := t.peers[target]
	if !ok {
		return nil, fmt.Errorf("failed to connect to peer: %v", target)
	}
	p := newInmemPipeline(t, peer, target)
	t.pipelines = append(t.pipelines, p)
	return p, nil
}

// AppendEntries sends one request and waits for the answer.
func (t *InmemTransport) AppendEntries(id ServerID, target ServerAddress, args *AppendEntriesRequest, resp *AppendEntriesResponse) error {
	out, err := t.makeRPC(target, args, nil, t.timeout)
	if err != nil {
		return err
	}
	*resp = *out.(*AppendEntriesResponse)
	return nil
}

// RequestVote sends one request and waits for the answer.
func (t *InmemTransport) RequestVote(id ServerID, target ServerAddress, args *RequestVoteRequest, resp *RequestVoteResponse) error {
	out, err := t.makeRPC(target, args, nil, t.timeout)
	if err != nil {
		return err
	}
	*resp = *out.(*RequestVoteResponse)
	return nil
}

// RequestPreVote sends one request and waits for the answer.
func (t *InmemTransport) RequestPreVote(id ServerID, target ServerAddress, args *RequestPreVoteRequest, resp *RequestPreVoteResponse) error {
	out, err := t.makeRPC(target, args, nil, t.timeout)
	if err != nil {
		return err
	}
	*resp = *out.(*RequestPreVoteResponse)
	return nil
}

// RequestReadIndex sends one request and waits for the answer.
func (t *InmemTransport) RequestReadIndex(id ServerID, target ServerAddress, args *ReadIndexRequest, resp *ReadIndexResponse) error {
	out, err := t.makeRPC(target, args, nil, t.timeout)
	if err != nil {
		return err
	}
	*resp = *out.(*ReadIndexResponse)
	return nil
}

// InstallSnapshot sends a snapshot and waits for the answer. The timeout
// grows with the snapshot: one timeout per 256 KiB, at least ten.
func (t *InmemTransport) InstallSnapshot(id ServerID, target ServerAddress, args *InstallSnapshotRequest, resp *InstallSnapshotResponse, data io.Reader) error {
	out, err := t.makeRPC(target, args, data, t.timeout*time.Duration(max(10, args.Size/(256<<10))))
	if err != nil {
		return err
	}
	*resp = *out.(*InstallSnapshotResponse)
	return nil
}

// TimeoutNow sends one request and waits for the answer.
func (t *InmemTransport) TimeoutNow(id ServerID, target ServerAddress, args *TimeoutNowRequest, resp *TimeoutNowResponse) error {
	out, err := t.makeRPC(target, args, nil, t.timeout)
	if err != nil {
		return err
	}
	*resp = *out.(*TimeoutNowResponse)
	return nil
}

func (t *InmemTransport) makeRPC(target ServerAddress, args interface{}, r io.Reader, timeout time.Duration) (interface{}, error) {
	// Checked first: Close also forgets every peer.
	select {
	case <-t.shutdownCh:
		return nil, ErrTransportShutdown
	default:
	}
	t.mu.RLock()
	peer, ok := t.peers[target]
	t.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("failed to connect to peer: %v", target)
	}
	respCh := make(chan RPCResponse, 1)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case peer.consumerCh <- RPC{Command: args, Reader: r, RespChan: respCh}:
	case <-timer.C:
		return nil, fmt.Errorf("%w: sending rpc to %v", ErrTimeout, target)
	case <-t.shutdownCh:
		return nil, ErrTransportShutdown
	case <-peer.shutdownCh:
		return nil, fmt.Errorf("peer %v: %w", target, ErrTransportShutdown)
	}
	select {
	case rpcResp := <-respCh:
		if rpcResp.Error != nil {
			return nil, rpcResp.Error
		}
		return rpcResp.Response, nil
	case <-timer.C:
		return nil, fmt.Errorf("%w: waiting for response from %v", ErrTimeout, target)
	case <-t.shutdownCh:
		return nil, ErrTransportShutdown
	}
}

// EncodePeer returns the address as bytes.
func (t *InmemTransport) EncodePeer(id ServerID, addr ServerAddress) []byte { return []byte(addr) }

// DecodePeer returns the bytes as an address.
func (t *InmemTransport) DecodePeer(buf []byte) ServerAddress { return ServerAddress(buf) }

// Connect makes peer reachable through trans, which must be an
// *InmemTransport; other transports are ignored.
func (t *InmemTransport) Connect(peer ServerAddress, trans Transport) {
	other, ok := trans.(*InmemTransport)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.peers[peer] = other
}

// Disconnect cuts the link to peer, closing pipelines to it.
func (t *InmemTransport) Disconnect(peer ServerAddress) {
	t.mu.Lock()
	delete(t.peers, peer)
	var keep, closing []*inmemPipeline
	for _, p := range t.pipelines {
		if p.peerAddr == peer {
			closing = append(closing, p)
		} else {
			keep = append(keep, p)
		}
	}
	t.pipelines = keep
	t.mu.Unlock()
	for _, p := range closing {
		_ = p.Close()
	}
}

// DisconnectAll cuts every link.
func (t *InmemTransport) DisconnectAll() {
	t.mu.Lock()
	t.peers = make(map[ServerAddress]*InmemTransport)
	closing := t.pipelines
	t.pipelines = nil
	t.mu.Unlock()
	for _, p := range closing {
		_ = p.Close()
	}
}

// Close shuts the transport: calls in flight and later calls fail.
func (t *InmemTransport) Close() error {
	t.closeOnce.Do(func() { close(t.shutdownCh) })
	t.DisconnectAll()
	return nil
}
