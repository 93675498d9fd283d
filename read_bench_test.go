package raft

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRead compares, in one run, the ways to read linearizably on a
// 3-server cluster: ReadIndex with a heartbeat round (safe), ReadIndex
// under the leader lease, and the Barrier-based read hashicorp/raft users
// write by hand; over InmemTransport and loopback TCP, with 16 concurrent
// readers. Each op is one confirmed read.
func BenchmarkRead(b *testing.B) {
	for _, tr := range []string{"inmem", "tcp"} {
		for _, mode := range []string{"readindex-safe", "readindex-lease", "barrier"} {
			b.Run(fmt.Sprintf("transport=%s/mode=%s", tr, mode), func(b *testing.B) {
				opts := []clusterOption{withConfig(func(i int, conf *Config) {
					conf.HeartbeatTimeout = time.Second
					conf.ElectionTimeout = time.Second
					conf.LeaderLeaseTimeout = 500 * time.Millisecond
					if mode == "readindex-lease" {
						conf.ReadConsistency = ReadConsistencyLease
					}
				})}
				if tr == "tcp" {
					opts = append(opts, withTCP(b, nil))
				}
				c := newCluster(b, 3, opts...)
				r := c.nodes[c.waitLeader()]
				if err := r.Apply([]byte("x"), 0).Error(); err != nil {
					b.Fatal(err)
				}
				var next, failed atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for w := 0; w < 16; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							var err error
							if mode == "barrier" {
								err = r.Barrier(0).Error()
							} else {
								err = r.ReadIndex(0).Error()
							}
							if err != nil {
								failed.Add(1)
							}
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				if n := failed.Load(); n > 0 {
					b.Fatalf("%d reads failed", n)
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reads/s")
				b.ReportMetric(float64(elapsed.Microseconds())*16/float64(b.N), "µs/read")
			})
		}
	}
}
