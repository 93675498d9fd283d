package raft

import (
	"errors"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metrics "github.com/armon/go-metrics"
	"go.uber.org/goleak"
)

// newTestMetrics returns a metrics instance that keeps what it receives in
// memory, named "test", with no collector goroutine.
func newTestMetrics(t *testing.T) (*metrics.Metrics, *metrics.InmemSink) {
	t.Helper()
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	cfg := metrics.DefaultConfig("test")
	cfg.EnableRuntimeMetrics = false
	cfg.EnableHostname = false
	m, err := metrics.New(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	return m, sink
}

// counterSum adds up a counter over every interval the sink holds.
func counterSum(sink *metrics.InmemSink, name string) float64 {
	var sum float64
	for _, iv := range sink.Data() {
		iv.RLock()
		if c, ok := iv.Counters[name]; ok {
			sum += c.Sum
		}
		iv.RUnlock()
	}
	return sum
}

const refusedMetric = "test.raft.net.connsRefused"

// holdIdle opens n raw connections that send nothing and waits until the
// server serves all of them, so that the next connection meets a full
// server.
func holdIdle(t *testing.T, server *NetworkTransport, n int) []net.Conn {
	t.Helper()
	before := server.inboundConns()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = rawDial(t, server)
	}
	pollUntil(t, "the idle connections to be served", func() bool { return server.inboundConns() == before+n })
	return conns
}

// assertStillOpen fails the test if the server closed c. The short read
// deadline only bounds the check: an open connection gives a timeout
// whatever the machine's speed, a closed one EOF.
func assertStillOpen(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a served connection was closed: read returned %v", err)
	}
}

// TestNetTransport_InboundLimitRefusesExtraConns fills a server limited to
// four connections with idle ones, and checks that further connections,
// a real peer's included, are closed unread and counted, that the held ones
// stay open, and that a peer is served again once slots free up.
func TestNetTransport_InboundLimitRefusesExtraConns(t *testing.T) {
	const limit, extra = 4, 3
	m, sink := newTestMetrics(t)
	server, logs := newTestTransport(t, "server", func(c *NetworkTransportConfig) {
		c.MaxInboundConns = limit
		c.Metrics = m
		// Only the limit may close anything here.
		c.Timeout = time.Hour
		c.IdleTimeout = time.Hour
		// One line for the first refusal; the rest are reported at Close.
		c.refusalLogInterval = time.Hour
	})
	client, _ := newTestTransport(t, "client", nil)
	var delivered atomic.Int64
	serveRPCs(t, server, func(rpc RPC) {
		delivered.Add(1)
		rpc.Respond(&AppendEntriesResponse{Success: true}, nil)
	})

	held := holdIdle(t, server, limit)
	for i := 0; i < extra; i++ {
		awaitServerClose(t, rawDial(t, server))
	}
	var resp AppendEntriesResponse
	if err := client.AppendEntries("s", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp); err == nil {
		t.Fatal("a call succeeded although the server was full")
	}
	if n := delivered.Load(); n != 0 {
		t.Fatalf("%d requests were read from refused connections", n)
	}
	if n := server.inboundConns(); n != limit {
		t.Fatalf("%d connections served, want %d", n, limit)
	}
	for _, c := range held {
		assertStillOpen(t, c)
	}
	pollUntil(t, "every refusal to be counted", func() bool { return counterSum(sink, refusedMetric) == extra+1 })

	_ = held[0].Close()
	_ = held[1].Close()
	pollUntil(t, "two slots to free up", func() bool { return server.inboundConns() == limit-2 })
	if err := client.AppendEntries("s", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp); err != nil || !resp.Success {
		t.Fatalf("call after slots freed up: %v", err)
	}
	if n := counterSum(sink, refusedMetric); n != extra+1 {
		t.Fatalf("refusal counter is %v after a served call, want %d", n, extra+1)
	}

	warnings := func() []string {
		var lines []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "too many inbound connections") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	if w := warnings(); len(w) != 1 || !strings.Contains(w[0], "[WARN]") || !strings.Contains(w[0], "refused_since_last_report=1 ") {
		t.Fatalf("want one warning for the first refusal, got %q", w)
	}
	_ = server.Close()
	if w := warnings(); len(w) != 2 || !strings.Contains(w[1], "refused_since_last_report=3 ") {
		t.Fatalf("want the later refusals reported at Close, got %q", w)
	}
}

// TestNetTransport_SilentConnFreesItsSlot checks that a connection that
// never sends a request gives its slot back after Timeout, however long
// IdleTimeout is, while a connection that has carried a request keeps the
// longer allowance.
func TestNetTransport_SilentConnFreesItsSlot(t *testing.T) {
	const timeout = 200 * time.Millisecond
	server, _ := newTestTransport(t, "server", func(c *NetworkTransportConfig) {
		c.MaxInboundConns = 1
		c.Timeout = timeout
		c.IdleTimeout = time.Hour
	})
	stream := newCountingStream(t)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Stream = stream })
	serveRPCs(t, server, func(rpc RPC) { rpc.Respond(&AppendEntriesResponse{Success: true}, nil) })

	silent := holdIdle(t, server, 1)[0]
	awaitServerClose(t, silent)
	pollUntil(t, "the slot to free up", func() bool { return server.inboundConns() == 0 })

	var resp AppendEntriesResponse
	if err := client.AppendEntries("s", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp); err != nil {
		t.Fatal(err)
	}
	// Not a synchronisation: this is the idle time under test. A slower
	// machine only makes it longer, which the check tolerates.
	time.Sleep(3 * timeout)
	if err := client.AppendEntries("s", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp); err != nil {
		t.Fatalf("a connection idle after a request was closed before IdleTimeout: %v", err)
	}
	if n := stream.dials.Load(); n != 1 {
		t.Fatalf("%d dials, want the pooled connection reused", n)
	}
}

// TestNetTransport_InboundLimitNoLeakOnClose closes a full server that has
// been refusing connections and checks that the held connections are cut
// and no goroutine is left behind.
func TestNetTransport_InboundLimitNoLeakOnClose(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	logger, _ := testLogger(t, "server")
	server, err := NewTCPTransportWithConfig("127.0.0.1:0", nil, &NetworkTransportConfig{
		MaxInboundConns: 2,
		Timeout:         time.Hour,
		IdleTimeout:     time.Hour,
		Logger:          logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	held := holdIdle(t, server, 2)
	for i := 0; i < 5; i++ {
		awaitServerClose(t, rawDial(t, server))
	}
	within(t, "Close", func() { _ = server.Close() })
	for _, c := range held {
		awaitServerClose(t, c)
	}
	if n := server.inboundConns(); n != 0 {
		t.Fatalf("%d connections still counted after Close", n)
	}
	goleak.VerifyNone(t, ignore)
}

// TestRefusalLog checks the spacing of refusal warnings: the first refusal
// after a quiet interval is reported at once, the ones within the interval
// with the next line.
func TestRefusalLog(t *testing.T) {
	l := refusalLog{every: 5 * time.Second}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at    time.Duration
		log   bool
		count int
	}{
		{0, true, 1},
		{time.Second, false, 0},
		{2 * time.Second, false, 0},
		{5 * time.Second, true, 3},
		{9 * time.Second, false, 0},
		{time.Minute, true, 2},
		{time.Minute + 5*time.Second, true, 1},
	}
	for i, s := range steps {
		logNow, n := l.refused(t0.Add(s.at), nil)
		if logNow != s.log || n != s.count {
			t.Fatalf("step %d at %v: got (%v, %d), want (%v, %d)", i, s.at, logNow, n, s.log, s.count)
		}
	}
	if l.pending != 0 {
		t.Fatalf("%d refusals pending after a report", l.pending)
	}
}

// TestMaxInboundConnsDefaults checks that zero takes the default, a
// negative value disables the bound, and a positive one is kept.
func TestMaxInboundConnsDefaults(t *testing.T) {
	for in, want := range map[int]int{0: defaultMaxInboundConns, -1: -1, 7: 7} {
		if got := (NetworkTransportConfig{MaxInboundConns: in}).withDefaults().MaxInboundConns; got != want {
			t.Errorf("MaxInboundConns %d became %d, want %d", in, got, want)
		}
	}
}
