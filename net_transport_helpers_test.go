package raft

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// watchdog is how long a test waits for something that must happen. It is
// a hang detector, not a speed requirement: far above any expected time on
// a loaded machine.
const watchdog = 20 * time.Second

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger returns a debug-level logger whose output is shown only when
// the test fails.
func testLogger(t testing.TB, name string) (hclog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", name, buf.String())
		}
	})
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: buf, Level: hclog.Debug}), buf
}

// newTestTransport starts a transport on a loopback port, closed when the
// test ends. mod may adjust its configuration.
func newTestTransport(t testing.TB, name string, mod func(*NetworkTransportConfig)) (*NetworkTransport, *syncBuffer) {
	t.Helper()
	logger, buf := testLogger(t, name)
	cfg := &NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second, Logger: logger}
	if mod != nil {
		mod(cfg)
	}
	var trans *NetworkTransport
	if cfg.Stream != nil {
		trans = NewNetworkTransportWithConfig(cfg)
	} else {
		var err error
		trans, err = NewTCPTransportWithConfig("127.0.0.1:0", nil, cfg)
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = trans.Close() })
	return trans, buf
}

// serveRPCs runs handle on every RPC the transport receives until the test
// ends.
func serveRPCs(t testing.TB, trans *NetworkTransport, handle func(RPC)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case rpc := <-trans.Consumer():
				handle(rpc)
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		wg.Wait()
	})
}

// countingStream wraps a StreamLayer and counts dials and accepts.
type countingStream struct {
	StreamLayer
	dials   atomic.Int64
	accepts atomic.Int64
}

func (s *countingStream) Dial(addr ServerAddress, timeout time.Duration) (net.Conn, error) {
	s.dials.Add(1)
	return s.StreamLayer.Dial(addr, timeout)
}

func (s *countingStream) Accept() (net.Conn, error) {
	c, err := s.StreamLayer.Accept()
	if err == nil {
		s.accepts.Add(1)
	}
	return c, err
}

func newCountingStream(t testing.TB) *countingStream {
	t.Helper()
	s, err := NewTCPStreamLayer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &countingStream{StreamLayer: s}
}

// pollUntil polls cond until it holds, failing the test after the watchdog.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(watchdog)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// within runs fn and fails the test if it has not returned within the
// watchdog: fn must not hang. It reports whether fn returned, and may be
// called from any goroutine.
func within(t testing.TB, what string, fn func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
		return true
	case <-time.After(watchdog):
		t.Errorf("%s did not return", what)
		return false
	}
}
