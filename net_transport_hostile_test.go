package raft

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawDial opens a plain connection to a transport, closed at the test's end.
func rawDial(t *testing.T, trans *NetworkTransport) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", string(trans.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// awaitServerClose waits until the server closes c: a read ends in EOF or
// a reset. Anything the server answered before is discarded.
func awaitServerClose(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(watchdog)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server did not close the connection")
	}
}

// TestNetTransport_HostileFramesCloseOnlyThatConnection sends malformed
// frames on raw connections and checks that each such connection is closed
// with a warning, that nothing reaches the consumer, and that a healthy
// connection to the same server keeps working.
func TestNetTransport_HostileFramesCloseOnlyThatConnection(t *testing.T) {
	stream := newCountingStream(t)
	server, logs := newTestTransport(t, "server", nil)
	client, _ := newTestTransport(t, "client", func(c *NetworkTransportConfig) { c.Stream = stream })
	var delivered atomic.Int64
	serveRPCs(t, server, func(rpc RPC) {
		delivered.Add(1)
		rpc.Respond(&AppendEntriesResponse{Success: true}, nil)
	})
	healthyCall := func() {
		t.Helper()
		var resp AppendEntriesResponse
		if err := client.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp); err != nil || !resp.Success {
			t.Fatalf("healthy call: %v", err)
		}
	}
	healthyCall()

	cases := []struct {
		name, hex, log string
		halfClose      bool
	}{
		{"unknown type byte", "0980", "unknown RPC type 9", false},
		{"reserved format byte", "00c1", "expected a map", false},
		{"wrong field type", "0081" + fixstr("Term") + "a0", "expected an integer", false},
		{"nil entry", "0081" + fixstr("Entries") + "91c0", "nil log entry", false},
		{"negative snapshot size", "0281" + fixstr("Size") + "ff", "snapshot size -1", false},
		{"deep nesting", "0181" + fixstr("X") + strings.Repeat("91", 40) + "00", "nested deeper", false},
		{"half-sent frame", "0089" + fixstr("Addr"), "unexpected EOF", true},
		{"string of 4 GiB", "0081" + fixstr("Leader") + "dbffffffff", "frame exceeds transport limits", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := rawDial(t, server)
			if _, err := conn.Write(mustHex(t, c.hex)); err != nil {
				t.Fatal(err)
			}
			if c.halfClose {
				_ = conn.(*net.TCPConn).CloseWrite()
			}
			awaitServerClose(t, conn)
			pollUntil(t, "the warning to be logged", func() bool {
				return strings.Contains(logs.String(), "[WARN]  server: closing connection") && strings.Contains(logs.String(), c.log)
			})
			healthyCall()
		})
	}
	if n := delivered.Load(); n != int64(1+len(cases)) {
		t.Fatalf("%d RPCs delivered, want only the %d healthy ones", n, 1+len(cases))
	}
	if n := stream.dials.Load(); n != 1 {
		t.Fatalf("the healthy connection was redialled: %d dials", n)
	}
}

// TestNetTransport_HugeDeclarationsDoNotAllocate sends frames declaring
// enormous strings, arrays and maps, and a large string whose bytes never
// come, and checks that each connection is closed while the process
// allocates only a little memory in total.
func TestNetTransport_HugeDeclarationsDoNotAllocate(t *testing.T) {
	server, _ := newTestTransport(t, "server", func(c *NetworkTransportConfig) { c.Timeout = 300 * time.Millisecond })
	serveRPCs(t, server, func(rpc RPC) { rpc.Respond(&AppendEntriesResponse{}, nil) })
	frames := []string{
		"0081" + fixstr("Leader") + "dbffffffff",  // str32 of 4 GiB
		"0081" + fixstr("Entries") + "ddffffffff", // array32 of 2^32-1 entries
		"00dfffffffff", // map32 of 2^32-1 pairs
		"0081" + fixstr("Entries") + "9183" + fixstr("Data") + "c6ffffffff",      // bin32 of 4 GiB in an entry
		"0281" + fixstr("Configuration") + "dbffffffff",                          // str32 in a snapshot request
		"0081" + fixstr("Entries") + "9181" + fixstr("Data") + "db03c00000" + "", // 60 MiB declared, within limits, never sent
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i, f := range frames {
		conn := rawDial(t, server)
		payload := mustHex(t, f)
		if i == len(frames)-1 {
			payload = append(payload, make([]byte, 1024)...)
		}
		if _, err := conn.Write(payload); err != nil {
			t.Fatal(err)
		}
		awaitServerClose(t, conn)
	}
	runtime.ReadMemStats(&after)
	const budget = 16 << 20
	if d := after.TotalAlloc - before.TotalAlloc; d > budget {
		t.Fatalf("hostile frames made the process allocate %d bytes", d)
	}
	if after.HeapAlloc > before.HeapAlloc && after.HeapAlloc-before.HeapAlloc > budget {
		t.Fatalf("heap grew by %d bytes", after.HeapAlloc-before.HeapAlloc)
	}
}

// TestNetTransport_SlowSenders checks the read deadlines: a connection that
// never sends is closed after IdleTimeout, and one that starts a frame and
// stops is closed after Timeout even though its idle allowance is long.
func TestNetTransport_SlowSenders(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		server, logs := newTestTransport(t, "server", func(c *NetworkTransportConfig) {
			c.IdleTimeout = 200 * time.Millisecond
			c.Timeout = time.Hour
		})
		conn := rawDial(t, server)
		awaitServerClose(t, conn)
		pollUntil(t, "the debug log", func() bool { return strings.Contains(logs.String(), "i/o timeout") })
		if strings.Contains(logs.String(), "[WARN]") {
			t.Fatal("an idle connection was logged as a problem")
		}
	})
	t.Run("partial frame", func(t *testing.T) {
		server, logs := newTestTransport(t, "server", func(c *NetworkTransportConfig) {
			c.IdleTimeout = time.Hour
			c.Timeout = 200 * time.Millisecond
		})
		conn := rawDial(t, server)
		if _, err := conn.Write(mustHex(t, "0089"+fixstr("Addr"))); err != nil {
			t.Fatal(err)
		}
		awaitServerClose(t, conn)
		pollUntil(t, "the warning", func() bool { return strings.Contains(logs.String(), "[WARN]") })
	})
	t.Run("partial snapshot data", func(t *testing.T) {
		server, _ := newTestTransport(t, "server", func(c *NetworkTransportConfig) {
			c.IdleTimeout = time.Hour
			c.Timeout = 200 * time.Millisecond
		})
		readErr := make(chan error, 1)
		serveRPCs(t, server, func(rpc RPC) {
			_, err := io.ReadAll(rpc.Reader)
			readErr <- err
			rpc.Respond(&InstallSnapshotResponse{}, nil)
		})
		conn := rawDial(t, server)
		if _, err := conn.Write(mustHex(t, "0281"+fixstr("Size")+"10"+"0001020304")); err != nil {
			t.Fatal(err)
		}
		if err := <-readErr; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("consumer read got %v, want a deadline error", err)
		}
		awaitServerClose(t, conn)
	})
}
