package raft

import (
	"context"
	"errors"
	"math/rand"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// respondEcho answers AppendEntries with LastLog set to the request's
// PrevLogEntry, so answers can be matched to requests.
func respondEcho(rpc RPC) {
	req, ok := rpc.Command.(*AppendEntriesRequest)
	if !ok {
		rpc.Respond(nil, errors.New("unexpected command"))
		return
	}
	rpc.Respond(&AppendEntriesResponse{Term: req.Term, LastLog: req.PrevLogEntry, Success: true}, nil)
}

// collect reads a pipeline's consumer until it is closed by the test's end.
func collect(p AppendPipeline, stop <-chan struct{}) <-chan AppendFuture {
	out := make(chan AppendFuture, 1024)
	go func() {
		for {
			select {
			case f := <-p.Consumer():
				out <- f
			case <-stop:
				return
			}
		}
	}()
	return out
}

// TestPipeline_DeliversInOrder sends many requests on a pipeline and checks
// that each future is delivered in send order with its own answer.
func TestPipeline_DeliversInOrder(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.MaxRPCsInFlight = 4 })
	serveRPCs(t, server, respondEcho)
	p, err := client.AppendEntriesPipeline("b", server.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 200
	sent := make(chan AppendFuture, n)
	go func() {
		for i := 0; i < n; i++ {
			f, err := p.AppendEntries(&AppendEntriesRequest{Term: 2, PrevLogEntry: uint64(i), Entries: []*Log{{Index: uint64(i + 1), Data: []byte("x")}}}, &AppendEntriesResponse{})
			if err != nil {
				t.Error(err)
				close(sent)
				return
			}
			sent <- f
		}
		close(sent)
	}()
	for i := 0; i < n; i++ {
		var got AppendFuture
		select {
		case got = <-p.Consumer():
		case <-time.After(watchdog):
			t.Fatalf("future %d not delivered", i)
		}
		want, ok := <-sent
		if !ok {
			t.Fatal("sender failed")
		}
		if got != want {
			t.Fatalf("future %d delivered out of order", i)
		}
		if err := got.Error(); err != nil {
			t.Fatal(err)
		}
		if got.Response().LastLog != uint64(i) || got.Request().PrevLogEntry != uint64(i) || got.Start().IsZero() {
			t.Fatalf("future %d has answer %d", i, got.Response().LastLog)
		}
	}
}

// TestPipeline_SlotsLimitWrites checks the in-flight limit: with the
// server holding every answer, MaxRPCsInFlight requests take every slot, so
// the next AppendEntries must wait, and an answer lets it through.
func TestPipeline_SlotsLimitWrites(t *testing.T) {
	const maxInFlight = 3
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.MaxRPCsInFlight = maxInFlight })
	held := make(chan RPC, 16)
	serveRPCs(t, server, func(rpc RPC) { held <- rpc })
	p, err := client.AppendEntriesPipeline("b", server.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	stop := make(chan struct{})
	defer close(stop)
	_ = collect(p, stop)
	for i := 0; i < maxInFlight; i++ {
		if _, err := p.AppendEntries(&AppendEntriesRequest{PrevLogEntry: uint64(i)}, &AppendEntriesResponse{}); err != nil {
			t.Fatal(err)
		}
	}
	slots := p.(*netPipeline).slots
	if len(slots) != maxInFlight || cap(slots) != maxInFlight {
		t.Fatalf("%d of %d slots taken after %d requests; the next must wait", len(slots), cap(slots), maxInFlight)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.AppendEntries(&AppendEntriesRequest{PrevLogEntry: maxInFlight}, &AppendEntriesResponse{})
		done <- err
	}()
	// The server serves one request at a time: answering it frees a slot.
	respondEcho(<-held)
	within(t, "AppendEntries once a slot is free", func() { err = <-done })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < maxInFlight; i++ {
		respondEcho(<-held)
	}
}

// TestPipeline_CloseFailsInflight checks that closing a pipeline completes
// its unanswered futures with ErrPipelineShutdown, and refuses new requests.
func TestPipeline_CloseFailsInflight(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Timeout = time.Hour })
	serveRPCs(t, server, func(RPC) {}) // never answers
	p, err := client.AppendEntriesPipeline("b", server.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	var futures []AppendFuture
	for i := 0; i < 2; i++ {
		f, err := p.AppendEntries(&AppendEntriesRequest{}, &AppendEntriesResponse{})
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	within(t, "pipeline Close", func() { _ = p.Close() })
	for _, f := range futures {
		ctx, cancel := context.WithTimeout(context.Background(), watchdog)
		err := f.ErrorContext(ctx)
		cancel()
		if !errors.Is(err, ErrPipelineShutdown) {
			t.Fatalf("in-flight future got %v", err)
		}
	}
	if _, err := p.AppendEntries(&AppendEntriesRequest{}, &AppendEntriesResponse{}); !errors.Is(err, ErrPipelineShutdown) {
		t.Fatalf("AppendEntries after Close got %v", err)
	}
}

// TestPipeline_StalledPeerBreaksPipeline checks that a peer that stops
// answering breaks the pipeline within Timeout: futures fail with the
// deadline error, and a caller waiting for a slot is released with an error.
func TestPipeline_StalledPeerBreaksPipeline(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Timeout = 150 * time.Millisecond })
	serveRPCs(t, server, func(RPC) {})
	p, err := client.AppendEntriesPipeline("b", server.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	stop := make(chan struct{})
	defer close(stop)
	delivered := collect(p, stop)
	var futures []AppendFuture
	var lastErr error
	within(t, "AppendEntries on a stalled pipeline", func() {
		for {
			f, err := p.AppendEntries(&AppendEntriesRequest{}, &AppendEntriesResponse{})
			if err != nil {
				lastErr = err
				return
			}
			futures = append(futures, f)
		}
	})
	if !errors.Is(lastErr, ErrPipelineShutdown) {
		t.Fatalf("got %v, want an error wrapping ErrPipelineShutdown", lastErr)
	}
	for i, f := range futures {
		if err := f.Error(); !errors.Is(err, ErrPipelineShutdown) {
			t.Fatalf("future %d: %v", i, err)
		}
		select {
		case d := <-delivered:
			if d != f {
				t.Fatalf("future %d delivered out of order", i)
			}
		case <-time.After(watchdog):
			t.Fatalf("failed future %d not delivered", i)
		}
	}
}

// TestPipeline_TransportCloseUnblocksPipeline checks that closing the
// transport releases a caller blocked on a full pipeline and fails its
// futures.
func TestPipeline_TransportCloseUnblocksPipeline(t *testing.T) {
	server, _ := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Timeout = time.Hour })
	serveRPCs(t, server, func(RPC) {})
	p, err := client.AppendEntriesPipeline("b", server.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	var first AppendFuture
	errc := make(chan error, 1)
	go func() {
		for {
			f, err := p.AppendEntries(&AppendEntriesRequest{}, &AppendEntriesResponse{})
			if err != nil {
				errc <- err
				return
			}
			if first == nil {
				first = f
			}
			sent.Add(1)
		}
	}()
	pollUntil(t, "the pipeline to fill", func() bool { return sent.Load() == defaultMaxRPCsInFlight })
	within(t, "transport Close", func() { _ = client.Close() })
	var err2 error
	within(t, "the blocked AppendEntries", func() { err2 = <-errc })
	if !errors.Is(err2, ErrPipelineShutdown) {
		t.Fatalf("blocked caller got %v", err2)
	}
	if err := first.Error(); !errors.Is(err, ErrPipelineShutdown) {
		t.Fatalf("in-flight future got %v", err)
	}
}

// chaosStream wraps a StreamLayer so a test can cut its connections or make
// them stall: a stalled connection's reads and writes block until it is
// closed or their deadline passes, as they do when the network or the peer
// stops moving bytes.
type chaosStream struct {
	StreamLayer
	mu    sync.Mutex
	conns []*chaosConn
}

type chaosConn struct {
	net.Conn
	stalled   atomic.Bool
	closed    chan struct{}
	closeOnce sync.Once
	readDL    atomic.Int64
	writeDL   atomic.Int64
}

// stall blocks like an operation on a connection whose peer stopped: until
// the connection is closed or its deadline passes.
func (c *chaosConn) stall(dl *atomic.Int64) error {
	var expired <-chan time.Time
	if d := dl.Load(); d != 0 {
		timer := time.NewTimer(time.Until(time.Unix(0, d)))
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-c.closed:
		return net.ErrClosed
	case <-expired:
		return os.ErrDeadlineExceeded
	}
}

func (c *chaosConn) Read(p []byte) (int, error) {
	if c.stalled.Load() {
		return 0, c.stall(&c.readDL)
	}
	return c.Conn.Read(p)
}

func (c *chaosConn) Write(p []byte) (int, error) {
	if c.stalled.Load() {
		return 0, c.stall(&c.writeDL)
	}
	return c.Conn.Write(p)
}

func storeDeadline(dl *atomic.Int64, t time.Time) {
	if t.IsZero() {
		dl.Store(0)
	} else {
		dl.Store(t.UnixNano())
	}
}

func (c *chaosConn) SetDeadline(t time.Time) error {
	storeDeadline(&c.readDL, t)
	storeDeadline(&c.writeDL, t)
	return c.Conn.SetDeadline(t)
}

func (c *chaosConn) SetReadDeadline(t time.Time) error {
	storeDeadline(&c.readDL, t)
	return c.Conn.SetReadDeadline(t)
}

func (c *chaosConn) SetWriteDeadline(t time.Time) error {
	storeDeadline(&c.writeDL, t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *chaosConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (s *chaosStream) wrap(c net.Conn) net.Conn {
	cc := &chaosConn{Conn: c, closed: make(chan struct{})}
	s.mu.Lock()
	s.conns = append(s.conns, cc)
	s.mu.Unlock()
	return cc
}

func (s *chaosStream) Dial(addr ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := s.StreamLayer.Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	return s.wrap(c), nil
}

func (s *chaosStream) Accept() (net.Conn, error) {
	c, err := s.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	return s.wrap(c), nil
}

// strike cuts or stalls one recent connection.
func (s *chaosStream) strike(rng *rand.Rand) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		return
	}
	// Prefer recent connections: old ones are mostly dead already.
	recent := s.conns[max(0, len(s.conns)-8):]
	c := recent[rng.Intn(len(recent))]
	if rng.Intn(2) == 0 {
		_ = c.Close()
	} else {
		c.stalled.Store(true)
	}
}

// TestPipeline_ChaosNeverParksCaller drives several pipelines and
// synchronous calls under load while connections on both sides are cut or
// stalled at random, and checks that every call returns and every future
// completes, with an answer or an error, and that Close returns, whatever
// state the connections are in (hashicorp/raft issue 612 was a pipeline
// parking its user on a dead connection).
func TestPipeline_ChaosNeverParksCaller(t *testing.T) {
	serverBase, err := NewTCPStreamLayer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	clientBase, err := NewTCPStreamLayer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	serverChaos := &chaosStream{StreamLayer: serverBase}
	clientChaos := &chaosStream{StreamLayer: clientBase}
	const timeout = 100 * time.Millisecond
	server, _ := newTestTransport(t, "server", func(c *NetworkTransportConfig) { c.Stream = serverChaos; c.Timeout = timeout })
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) {
		c.Stream = clientChaos
		c.Timeout = timeout
		c.MaxRPCsInFlight = 3
	})
	serveRPCs(t, server, respondEcho)
	target := server.LocalAddr()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	worker := func(seed int64) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%4 == 3 {
				var resp AppendEntriesResponse
				if !within(t, "a synchronous call", func() {
					if client.AppendEntries("b", target, &AppendEntriesRequest{Term: 1}, &resp) == nil {
						ok.Add(1)
					} else {
						failed.Add(1)
					}
				}) {
					return
				}
				continue
			}
			if !runPipelineRound(t, client, target, &ok, &failed) {
				return
			}
		}
	}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go worker(int64(w))
	}
	rng := rand.New(rand.NewSource(1))
	const strikes = 60
	for i := 0; i < strikes; i++ {
		// Let some traffic through between strikes.
		before := ok.Load() + failed.Load()
		pollUntil(t, "traffic between strikes", func() bool { return ok.Load()+failed.Load() > before })
		if rng.Intn(2) == 0 {
			serverChaos.strike(rng)
		} else {
			clientChaos.strike(rng)
		}
	}
	close(stop)
	within(t, "the workers", wg.Wait)
	within(t, "client Close", func() { _ = client.Close() })
	within(t, "server Close", func() { _ = server.Close() })
	t.Logf("%d requests answered, %d failed", ok.Load(), failed.Load())
	if ok.Load() == 0 {
		t.Fatal("no request succeeded")
	}
}

// runPipelineRound opens a pipeline, sends a few requests and waits for all
// their futures, each within the watchdog, counting answers and errors. It
// reports false, after failing the test, if anything hung or misbehaved; it
// runs off the test goroutine, so it does not stop the test itself.
func runPipelineRound(t *testing.T, client *NetworkTransport, target ServerAddress, ok, failed *atomic.Int64) bool {
	var p AppendPipeline
	var err error
	if !within(t, "AppendEntriesPipeline", func() { p, err = client.AppendEntriesPipeline("b", target) }) {
		return false
	}
	if err != nil {
		failed.Add(1)
		return true
	}
	stop := make(chan struct{})
	defer close(stop)
	delivered := collect(p, stop)
	var futures []AppendFuture
	for j := 0; j < 8; j++ {
		var f AppendFuture
		if !within(t, "pipelined AppendEntries", func() {
			f, err = p.AppendEntries(&AppendEntriesRequest{Term: 1, PrevLogEntry: uint64(j)}, &AppendEntriesResponse{})
		}) {
			return false
		}
		if err != nil {
			failed.Add(1)
			break
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		ctx, cancel := context.WithTimeout(context.Background(), watchdog)
		err := f.ErrorContext(ctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			t.Error("a pipelined future never completed")
			return false
		case err == nil:
			if f.Response().LastLog != f.Request().PrevLogEntry {
				t.Errorf("answer %d matched to request %d", f.Response().LastLog, f.Request().PrevLogEntry)
				return false
			}
			ok.Add(1)
		default:
			failed.Add(1)
		}
		select {
		case d := <-delivered:
			if d != f {
				t.Error("future delivered out of order")
				return false
			}
		case <-time.After(watchdog):
			t.Error("a completed future was never delivered")
			return false
		}
	}
	return within(t, "pipeline Close", func() { _ = p.Close() })
}
