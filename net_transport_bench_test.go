package raft

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// benchEntries returns n entries of 128 bytes of data each.
func benchEntries(n int) []*Log {
	entries := make([]*Log, n)
	for i := range entries {
		entries[i] = &Log{Index: uint64(1000 + i), Term: 5, Type: LogCommand, Data: bytes.Repeat([]byte{'d'}, 128),
			AppendedAt: time.Date(2026, 11, 29, 12, 0, 0, i, time.UTC)}
	}
	return entries
}

func benchRequest(n int) *AppendEntriesRequest {
	return &AppendEntriesRequest{RPCHeader: vecLeaderHeader(), Term: 5, Leader: vecLeaderAddr, PrevLogEntry: 999,
		PrevLogTerm: 5, Entries: benchEntries(n), LeaderCommitIndex: 998}
}

// benchPair starts two transports on loopback with a consumer answering
// every AppendEntries at once; the client pipelines up to inFlight requests.
func benchPair(b *testing.B, inFlight int) (client, server *NetworkTransport) {
	mk := func() *NetworkTransport {
		t, err := NewTCPTransportWithConfig("127.0.0.1:0", nil, &NetworkTransportConfig{MaxPool: 2, MaxRPCsInFlight: inFlight, Timeout: 10 * time.Second, Logger: hclog.NewNullLogger()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = t.Close() })
		return t
	}
	server, client = mk(), mk()
	resp := &AppendEntriesResponse{RPCHeader: vecFollowerHeader(), Term: 5, LastLog: 1064, Success: true}
	serveRPCs(b, server, func(rpc RPC) { rpc.Respond(resp, nil) })
	return client, server
}

// BenchmarkNetworkTransport_AppendEntries measures AppendEntries over
// loopback TCP, synchronous and pipelined (at the default depth of 2 and at
// 8), with 1 and 64 entries of 128 bytes. Allocations count both ends.
func BenchmarkNetworkTransport_AppendEntries(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("sync/entries=%d", n), func(b *testing.B) {
			client, server := benchPair(b, defaultMaxRPCsInFlight)
			req := benchRequest(n)
			var resp AppendEntriesResponse
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := client.AppendEntries("b", server.LocalAddr(), req, &resp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
		for _, inFlight := range []int{defaultMaxRPCsInFlight, 8} {
			b.Run(fmt.Sprintf("pipelined/inflight=%d/entries=%d", inFlight, n), func(b *testing.B) {
				client, server := benchPair(b, inFlight)
				req := benchRequest(n)
				p, err := client.AppendEntriesPipeline("b", server.LocalAddr())
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				done := make(chan error, 1)
				go func() {
					for i := 0; i < b.N; i++ {
						f := <-p.Consumer()
						if err := f.Error(); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if _, err := p.AppendEntries(req, &AppendEntriesResponse{}); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
			})
		}
	}
}
