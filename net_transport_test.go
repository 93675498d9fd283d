package raft

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// answer returns a consumer that answers each request with the matching
// response from resps, or with err.
func answer(resps map[reflect.Type]interface{}, err error, got chan<- interface{}) func(RPC) {
	return func(rpc RPC) {
		if got != nil {
			got <- rpc.Command
		}
		rpc.Respond(resps[reflect.TypeOf(rpc.Command)], err)
	}
}

// TestNetTransport_RoundTripEachRPC sends every RPC type between two
// transports over loopback TCP and checks the consumer sees exactly the
// request and the caller gets exactly the response.
func TestNetTransport_RoundTripEachRPC(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", nil)
	aeResp := vecAppendEntriesResponse()
	aeResp.NoRetryBackoff = true
	rvResp := &RequestVoteResponse{RPCHeader: vecFollowerHeader(), Term: 7, Granted: true, Peers: []byte("x")}
	pvResp := &RequestPreVoteResponse{RPCHeader: vecFollowerHeader(), Term: 9, Granted: true}
	tnResp := &TimeoutNowResponse{RPCHeader: vecFollowerHeader()}
	resps := map[reflect.Type]interface{}{
		reflect.TypeOf(&AppendEntriesRequest{}):  aeResp,
		reflect.TypeOf(&RequestVoteRequest{}):    rvResp,
		reflect.TypeOf(&RequestPreVoteRequest{}): pvResp,
		reflect.TypeOf(&TimeoutNowRequest{}):     tnResp,
	}
	got := make(chan interface{}, 1)
	serveRPCs(t, server, answer(resps, nil, got))
	target := server.LocalAddr()

	type rpcCase struct {
		name string
		req  interface{}
		want interface{}
		call func() (interface{}, error)
	}
	var cases []rpcCase
	ae := vecEntriesRequest()
	cases = append(cases, rpcCase{"AppendEntries", ae, aeResp, func() (interface{}, error) {
		var r AppendEntriesResponse
		return &r, client.AppendEntries("b", target, ae, &r)
	}})
	rv := vecRequestVote(true)
	cases = append(cases, rpcCase{"RequestVote", rv, rvResp, func() (interface{}, error) {
		var r RequestVoteResponse
		return &r, client.RequestVote("b", target, rv, &r)
	}})
	pv := &RequestPreVoteRequest{RPCHeader: vecLeaderHeader(), Term: 9, LastLogIndex: 1 << 40, LastLogTerm: 8}
	cases = append(cases, rpcCase{"RequestPreVote", pv, pvResp, func() (interface{}, error) {
		var r RequestPreVoteResponse
		return &r, client.RequestPreVote("b", target, pv, &r)
	}})
	tn := &TimeoutNowRequest{RPCHeader: vecLeaderHeader()}
	cases = append(cases, rpcCase{"TimeoutNow", tn, tnResp, func() (interface{}, error) {
		var r TimeoutNowResponse
		return &r, client.TimeoutNow("b", target, tn, &r)
	}})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := c.call()
			if err != nil {
				t.Fatal(err)
			}
			if req := <-got; !reflect.DeepEqual(req, c.req) {
				t.Fatalf("consumer got %#v, want %#v", req, c.req)
			}
			if !reflect.DeepEqual(resp, c.want) {
				t.Fatalf("caller got %#v, want %#v", resp, c.want)
			}
		})
	}
}

// TestNetTransport_RemoteErrorKeepsConnection checks that an error answer
// reaches the caller as a *RemoteError with the peer's text, and that the
// connection, whose frame was read whole, is reused.
func TestNetTransport_RemoteErrorKeepsConnection(t *testing.T) {
	stream := newCountingStream(t)
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Stream = stream })
	serveRPCs(t, server, func(rpc RPC) { rpc.Respond(nil, errors.New("log not found")) })
	for i := 0; i < 3; i++ {
		var resp AppendEntriesResponse
		resp.Term = 99
		err := client.AppendEntries("b", server.LocalAddr(), vecEntriesRequest(), &resp)
		var remote *RemoteError
		if !errors.As(err, &remote) || remote.Message != "log not found" {
			t.Fatalf("got %v, want a remote error", err)
		}
		if errors.Is(err, ErrUnsupportedRPC) {
			t.Fatal("an ordinary error matched ErrUnsupportedRPC")
		}
		if !reflect.DeepEqual(resp, AppendEntriesResponse{}) {
			t.Fatalf("response not reset: %#v", resp)
		}
	}
	if n := stream.dials.Load(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
}

// TestNetTransport_UnexpectedCommandIsUnsupportedRPC checks that an old
// peer's refusal of pre-vote is recognisable with errors.Is.
func TestNetTransport_UnexpectedCommandIsUnsupportedRPC(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", nil)
	serveRPCs(t, server, func(rpc RPC) { rpc.Respond(nil, errors.New("unexpected command")) })
	var resp RequestPreVoteResponse
	err := client.RequestPreVote("b", server.LocalAddr(), &RequestPreVoteRequest{Term: 3}, &resp)
	if !errors.Is(err, ErrUnsupportedRPC) {
		t.Fatalf("got %v, want ErrUnsupportedRPC", err)
	}
}

// TestNetTransport_PoolReuse checks that sequential calls share one
// connection, that concurrent calls open more, and that at most MaxPool
// idle ones are kept.
func TestNetTransport_PoolReuse(t *testing.T) {
	stream := newCountingStream(t)
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Stream = stream; c.MaxPool = 2 })
	release := make(chan struct{})
	var hold atomic.Bool
	serveRPCs(t, server, func(rpc RPC) {
		go func() {
			if hold.Load() {
				<-release
			}
			rpc.Respond(&AppendEntriesResponse{Success: true}, nil)
		}()
	})
	for i := 0; i < 5; i++ {
		var resp AppendEntriesResponse
		if err := client.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp); err != nil {
			t.Fatal(err)
		}
	}
	if n := stream.dials.Load(); n != 1 {
		t.Fatalf("%d dials for sequential calls, want 1", n)
	}

	hold.Store(true)
	callsHeldOnOwnConns(t, stream, 4, release, func() error {
		var resp AppendEntriesResponse
		return client.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp)
	})
	client.mu.Lock()
	pooled := len(client.pool[server.LocalAddr()])
	client.mu.Unlock()
	if pooled != 2 {
		t.Fatalf("%d pooled connections, want MaxPool=2", pooled)
	}
}

// TestNetTransport_StalePooledConnNotReused checks that a connection idle for
// more than half the idle timeout is replaced by a new one.
func TestNetTransport_StalePooledConnNotReused(t *testing.T) {
	stream := newCountingStream(t)
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Stream = stream; c.IdleTimeout = time.Hour })
	serveRPCs(t, server, func(rpc RPC) { rpc.Respond(&AppendEntriesResponse{}, nil) })
	call := func() {
		var resp AppendEntriesResponse
		if err := client.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{}, &resp); err != nil {
			t.Fatal(err)
		}
	}
	call()
	client.mu.Lock()
	client.pool[server.LocalAddr()][0].idleSince = time.Now().Add(-31 * time.Minute)
	client.mu.Unlock()
	call()
	if n := stream.dials.Load(); n != 2 {
		t.Fatalf("%d dials, want 2", n)
	}
}

// TestNetTransport_DropClosesIdleConns checks that once a peer closes a
// connection under a request, the other idle connections to it are closed
// too: a restarted peer left them all dead, and reusing them would fail
// one request each.
func TestNetTransport_DropClosesIdleConns(t *testing.T) {
	stream := newCountingStream(t)
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Stream = stream; c.MaxPool = 3 })
	release := make(chan struct{})
	serveRPCs(t, server, func(rpc RPC) {
		go func() {
			<-release
			rpc.Respond(&ReadIndexResponse{Success: true}, nil)
		}()
	})
	const parallel = 3
	callsHeldOnOwnConns(t, stream, parallel, release, func() error {
		var resp ReadIndexResponse
		return client.RequestReadIndex("b", server.LocalAddr(), &ReadIndexRequest{Term: 1}, &resp)
	})
	idle := func() int {
		client.mu.Lock()
		defer client.mu.Unlock()
		return len(client.pool[server.LocalAddr()])
	}
	if n := idle(); n != parallel {
		t.Fatalf("%d idle connections, want %d", n, parallel)
	}

	// The peer goes away, closing every connection; the next request meets
	// a dead one.
	addr := server.LocalAddr()
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	var resp ReadIndexResponse
	err := client.RequestReadIndex("b", addr, &ReadIndexRequest{Term: 1}, &resp)
	if err == nil || !isConnDropped(err) {
		t.Fatalf("request on a connection the peer closed: %v, want a dropped connection", err)
	}
	if n := idle(); n != 0 {
		t.Fatalf("%d idle connections kept after the peer dropped one, want 0", n)
	}
	dials := stream.dials.Load()
	if err := client.RequestReadIndex("b", addr, &ReadIndexRequest{Term: 1}, &resp); err == nil {
		t.Fatal("a request to a closed peer succeeded")
	}
	if n := stream.dials.Load(); n != dials+1 {
		t.Fatalf("the request after the drop dialled %d times, want once", n-dials)
	}
}

// lazySnapshot produces size bytes (byte i is i mod 251) without holding
// them, and blocks after half until gate is closed.
type lazySnapshot struct {
	size, off int64
	gate      <-chan struct{}
}

func (s *lazySnapshot) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	if s.off >= s.size/2 && s.gate != nil {
		<-s.gate
		s.gate = nil
	}
	n := int64(len(p))
	if n > s.size-s.off {
		n = s.size - s.off
	}
	if s.off < s.size/2 && s.off+n > s.size/2 {
		n = s.size/2 - s.off
	}
	for i := int64(0); i < n; i++ {
		p[i] = byte((s.off + i) % 251)
	}
	s.off += n
	return int(n), nil
}

// TestNetTransport_InstallSnapshotStreams checks that the snapshot is
// streamed, not buffered: the consumer gets the RPC and reads the first half
// while the sender cannot produce the second half until then. It also
// checks that exactly Size bytes arrive, that the Reader ends there, that
// no more than Size bytes are taken from the caller's reader, and that the
// connection is not reused afterwards.
func TestNetTransport_InstallSnapshotStreams(t *testing.T) {
	const size = 3<<20 + 17
	stream := newCountingStream(t)
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Stream = stream })
	gate := make(chan struct{})
	consumerErr := make(chan error, 1)
	serveRPCs(t, server, func(rpc RPC) {
		req, ok := rpc.Command.(*InstallSnapshotRequest)
		if !ok {
			rpc.Respond(&AppendEntriesResponse{}, nil)
			return
		}
		first := make([]byte, size/2)
		_, err := io.ReadFull(rpc.Reader, first)
		close(gate)
		rest, err2 := io.ReadAll(rpc.Reader)
		all := append(first, rest...)
		want := make([]byte, size)
		_, _ = io.ReadFull(&lazySnapshot{size: size}, want)
		switch {
		case err != nil || err2 != nil:
			consumerErr <- fmt.Errorf("reading snapshot: %v, %v", err, err2)
		case int64(len(all)) != req.Size || !bytes.Equal(all, want):
			consumerErr <- fmt.Errorf("got %d bytes, want %d matching", len(all), req.Size)
		default:
			consumerErr <- nil
		}
		rpc.Respond(&InstallSnapshotResponse{Term: 7, Success: true}, nil)
	})
	// The source holds one byte more than Size; it must be left unread.
	src := io.MultiReader(&lazySnapshot{size: size, gate: gate}, bytes.NewReader([]byte{0xee}))
	req := &InstallSnapshotRequest{RPCHeader: vecLeaderHeader(), Term: 7, Size: size, SnapshotVersion: 1}
	var resp InstallSnapshotResponse
	if err := client.InstallSnapshot("b", server.LocalAddr(), req, &resp, src); err != nil {
		t.Fatal(err)
	}
	if err := <-consumerErr; err != nil {
		t.Fatal(err)
	}
	if !resp.Success || resp.Term != 7 {
		t.Fatalf("response %#v", resp)
	}
	if rest, _ := io.ReadAll(src); !bytes.Equal(rest, []byte{0xee}) {
		t.Fatalf("transport read past Size: %d bytes left, want 1", len(rest))
	}
	var ae AppendEntriesResponse
	if err := client.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{}, &ae); err != nil {
		t.Fatal(err)
	}
	if n := stream.dials.Load(); n != 2 {
		t.Fatalf("%d dials, want 2: the snapshot connection must not be reused", n)
	}
}

// TestNetTransport_InstallSnapshotUnreadDataDrained checks that a consumer
// may answer without reading the data: the rest is skipped and the caller
// gets the answer.
func TestNetTransport_InstallSnapshotUnreadDataDrained(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", nil)
	serveRPCs(t, server, func(rpc RPC) {
		_, _ = io.ReadFull(rpc.Reader, make([]byte, 10))
		rpc.Respond(&InstallSnapshotResponse{Term: 3}, errors.New("disk full"))
	})
	req := &InstallSnapshotRequest{Term: 3, Size: 1 << 20}
	var resp InstallSnapshotResponse
	err := client.InstallSnapshot("b", server.LocalAddr(), req, &resp, &lazySnapshot{size: 1 << 20})
	var remote *RemoteError
	if !errors.As(err, &remote) || remote.Message != "disk full" {
		t.Fatalf("got %v, want the consumer's error", err)
	}
}

// TestNetTransport_InstallSnapshotShortData checks that a source shorter
// than Size fails the call instead of sending a short snapshot, and the
// server does not hand the consumer a Reader that ends early without
// saying so.
func TestNetTransport_InstallSnapshotShortData(t *testing.T) {
	server, _ := newTestTransport(t, "server", func(c *NetworkTransportConfig) { c.Timeout = 300 * time.Millisecond })
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Timeout = 300 * time.Millisecond })
	readErr := make(chan error, 1)
	serveRPCs(t, server, func(rpc RPC) {
		_, err := io.ReadAll(rpc.Reader)
		readErr <- err
		rpc.Respond(&InstallSnapshotResponse{}, nil)
	})
	req := &InstallSnapshotRequest{Size: 100}
	var resp InstallSnapshotResponse
	err := client.InstallSnapshot("b", server.LocalAddr(), req, &resp, bytes.NewReader(make([]byte, 40)))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	if err := <-readErr; err == nil {
		t.Fatal("consumer read a short snapshot without an error")
	}
	if err := client.InstallSnapshot("b", server.LocalAddr(), &InstallSnapshotRequest{Size: -1}, &resp, nil); !errors.Is(err, ErrMalformedFrame) {
		t.Fatalf("negative size: got %v", err)
	}
}

// TestNetTransport_CloseUnblocksCalls checks that Close ends a call waiting
// for an answer that will never come, with ErrTransportShutdown, and that
// later calls fail the same way.
func TestNetTransport_CloseUnblocksCalls(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Timeout = time.Hour })
	received := make(chan struct{}, 1)
	serveRPCs(t, server, func(rpc RPC) { received <- struct{}{} }) // never answers
	errc := make(chan error, 1)
	go func() {
		var resp AppendEntriesResponse
		errc <- client.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp)
	}()
	<-received
	within(t, "Close", func() { _ = client.Close() })
	var err error
	within(t, "the blocked call", func() { err = <-errc })
	if !errors.Is(err, ErrTransportShutdown) {
		t.Fatalf("blocked call got %v, want ErrTransportShutdown", err)
	}
	var resp RequestVoteResponse
	if err := client.RequestVote("b", server.LocalAddr(), &RequestVoteRequest{}, &resp); !errors.Is(err, ErrTransportShutdown) {
		t.Fatalf("call after Close got %v", err)
	}
	if _, err := client.AppendEntriesPipeline("b", server.LocalAddr()); !errors.Is(err, ErrTransportShutdown) {
		t.Fatalf("pipeline after Close got %v", err)
	}
	// The server's connection goroutine waits for the consumer's answer;
	// its Close must end it too (goleak checks nothing is left).
	within(t, "server Close", func() { _ = server.Close() })
}

// TestNetTransport_CallTimesOut checks that a peer that never answers costs
// the caller one Timeout and an error, not a hang.
func TestNetTransport_CallTimesOut(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Timeout = 100 * time.Millisecond })
	serveRPCs(t, server, func(rpc RPC) {}) // never answers
	var resp RequestVoteResponse
	err := client.RequestVote("b", server.LocalAddr(), &RequestVoteRequest{}, &resp)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
}

// TestNetTransport_ContactHint checks that the hint runs, with the term and
// arrival time, before an AppendEntries is queued, and only for
// AppendEntries carrying a term.
func TestNetTransport_ContactHint(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", nil)
	var hints atomic.Int64
	var lastTerm atomic.Uint64
	var lastAt atomic.Int64
	server.SetContactHint(func(term uint64, at time.Time) {
		lastTerm.Store(term)
		lastAt.Store(at.UnixNano())
		hints.Add(1)
	})
	seen := make(chan int64, 4)
	serveRPCs(t, server, func(rpc RPC) {
		seen <- hints.Load()
		rpc.Respond(&AppendEntriesResponse{}, nil)
	})
	before := time.Now()
	var resp AppendEntriesResponse
	if err := client.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{Term: 12}, &resp); err != nil {
		t.Fatal(err)
	}
	if n := <-seen; n != 1 {
		t.Fatalf("consumer saw the request after %d hints, want 1", n)
	}
	if lastTerm.Load() != 12 {
		t.Fatalf("hint term %d", lastTerm.Load())
	}
	if at := time.Unix(0, lastAt.Load()); at.Before(before) || at.After(time.Now()) {
		t.Fatalf("hint time %v outside the call", at)
	}
	_ = client.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{}, &resp)
	var rv RequestVoteResponse
	_ = client.RequestVote("b", server.LocalAddr(), &RequestVoteRequest{Term: 13}, &rv)
	<-seen
	<-seen
	if n := hints.Load(); n != 1 {
		t.Fatalf("%d hints, want 1: none for term 0 or for RequestVote", n)
	}
}

type addrProvider map[ServerID]ServerAddress

func (p addrProvider) ServerAddr(id ServerID) (ServerAddress, error) {
	if a, ok := p[id]; ok {
		return a, nil
	}
	return "", fmt.Errorf("unknown server %q", id)
}

// TestNetTransport_ServerAddressProvider checks that the provider's address
// wins over the caller's, and that the caller's is used when the provider
// does not know the server.
func TestNetTransport_ServerAddressProvider(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	serveRPCs(t, server, func(rpc RPC) { rpc.Respond(&RequestVoteResponse{Granted: true}, nil) })
	provider := addrProvider{"b": server.LocalAddr()}
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.ServerAddressProvider = provider })
	var resp RequestVoteResponse
	// Port 1 on loopback is closed: reaching the server proves the
	// provider's address was used.
	if err := client.RequestVote("b", "127.0.0.1:1", &RequestVoteRequest{}, &resp); err != nil || !resp.Granted {
		t.Fatalf("via provider: %v, %#v", err, resp)
	}
	if err := client.RequestVote("unknown", server.LocalAddr(), &RequestVoteRequest{}, &resp); err != nil {
		t.Fatalf("fallback: %v", err)
	}
}

// TestNetTransport_Addresses checks LocalAddr and the peer encoding.
func TestNetTransport_Addresses(t *testing.T) {
	trans, _ := newTestTransport(t, "t", nil)
	tcp, ok := trans.stream.Addr().(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() || string(trans.LocalAddr()) != tcp.String() {
		t.Fatalf("LocalAddr %q", trans.LocalAddr())
	}
	enc := trans.EncodePeer("id", "127.0.0.1:9")
	if string(enc) != "127.0.0.1:9" || trans.DecodePeer(enc) != "127.0.0.1:9" {
		t.Fatalf("EncodePeer gave %q", enc)
	}
}

// TestNetTransport_ConstructorErrors checks the advertise address rules.
func TestNetTransport_ConstructorErrors(t *testing.T) {
	if _, err := NewTCPTransport("0.0.0.0:0", nil, 1, time.Second, io.Discard); !errors.Is(err, ErrNotAdvertisable) {
		t.Fatalf("unspecified bind address: %v", err)
	}
	if _, err := NewTCPTransport("127.0.0.1:0", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, 1, time.Second, io.Discard); !errors.Is(err, ErrNotTCP) {
		t.Fatalf("UDP advertise address: %v", err)
	}
	adv := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 7000}
	trans, err := NewTCPTransport("127.0.0.1:0", adv, 1, time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	if trans.LocalAddr() != "127.0.0.2:7000" {
		t.Fatalf("LocalAddr %q, want the advertised one", trans.LocalAddr())
	}
}

// TestNetTransport_PipelineNeedsTwoInFlight checks that MaxRPCsInFlight 1
// turns pipelining off.
func TestNetTransport_PipelineNeedsTwoInFlight(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.MaxRPCsInFlight = 1 })
	if _, err := client.AppendEntriesPipeline("b", server.LocalAddr()); !errors.Is(err, ErrPipelineNotSupported) {
		t.Fatalf("got %v", err)
	}
}

// callsHeldOnOwnConns makes n concurrent calls that the server holds until
// release is closed, so each needs a connection of its own: it waits until
// stream has dialled n times, releases the calls, and fails the test if any
// call failed.
func callsHeldOnOwnConns(t *testing.T, stream *countingStream, n int, release chan struct{}, call func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- call()
		}()
	}
	pollUntil(t, "every call to reach the server", func() bool { return stream.dials.Load() == int64(n) })
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
