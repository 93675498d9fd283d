package raft

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkApply measures committed writes per second through the leader,
// for 1 and 3 servers over InmemTransport, with 1, 16 and 64 callers
// applying concurrently. Each op is one Apply of a 128-byte command waited
// on until applied.
func BenchmarkApply(b *testing.B) {
	for _, servers := range []int{1, 3} {
		for _, callers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("servers=%d/callers=%d", servers, callers), func(b *testing.B) {
				benchApply(b, servers, callers)
			})
		}
	}
}

// BenchmarkApplyTCP is BenchmarkApply for a 3-server cluster over loopback
// TCP with the NetworkTransport.
func BenchmarkApplyTCP(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("servers=3/callers=%d", callers), func(b *testing.B) {
			benchApply(b, 3, callers, withTCP(b, nil))
		})
	}
}

func benchApply(b *testing.B, servers, callers int, opts ...clusterOption) {
	opts = append(opts, withConfig(func(i int, conf *Config) {
		// Production-like timeouts: the benchmark must not
		// measure elections.
		conf.HeartbeatTimeout = time.Second
		conf.ElectionTimeout = time.Second
		conf.LeaderLeaseTimeout = 500 * time.Millisecond
	}))
	c := newCluster(b, servers, opts...)
	r := c.nodes[c.waitLeader()]
	cmd := make([]byte, 128)
	var next atomic.Int64
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < callers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := r.Apply(cmd, 0).Error(); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d applies failed", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

// BenchmarkFollowerCatchUp measures how long a follower that was down while
// 100,000 entries were committed needs, after restarting, to apply them all.
func BenchmarkFollowerCatchUp(b *testing.B) {
	const entries = 100000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := newCluster(b, 3, withConfig(func(i int, conf *Config) {
			conf.HeartbeatTimeout = time.Second
			conf.ElectionTimeout = time.Second
			conf.LeaderLeaseTimeout = 500 * time.Millisecond
		}))
		l := c.waitLeader()
		f := (l + 1) % 3
		c.crash(f)
		cmd := make([]byte, 128)
		var last ApplyFuture
		for k := 0; k < entries; k++ {
			last = c.nodes[l].Apply(cmd, 0)
		}
		if err := last.Error(); err != nil {
			b.Fatalf("writing: %v", err)
		}
		target := last.Index()
		b.StartTimer()
		start := time.Now()
		c.restart(f)
		for c.nodes[f].AppliedIndex() < target {
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(elapsed.Seconds(), "s/catchup")
		b.ReportMetric(float64(entries)/elapsed.Seconds(), "entries/s")
		c.shutdown()
	}
}
