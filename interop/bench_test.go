package interop

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consensuskit/raft"
	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
)

// Settings of the side-by-side benchmarks, the same for both libraries.
// MaxAppendEntries is left at each library's default: both use 64.
const (
	// benchLeaderLease is the LeaderLeaseTimeout of every node; heartbeat
	// and election timeouts are the suite's (1s).
	benchLeaderLease = 500 * time.Millisecond
	// benchMaxPool and benchNetTimeout are the arguments given to both
	// libraries' NewTCPTransport.
	benchMaxPool    = 3
	benchNetTimeout = 10 * time.Second
	// benchCommandSize is the size of every command applied.
	benchCommandSize = 128
	// benchWarmupOps operations run, untimed, on each new cluster before
	// the measurement, so connections and pipelines are open and the
	// leader's no-op is committed.
	benchWarmupOps = 256
)

// benchLibs is the order in which the libraries run within one callers
// count, so both are measured in every benchmark run.
var benchLibs = []library{ours, hashicorp}

// benchCommand is the command of every Apply. It is only ever read.
var benchCommand = []byte(strings.Repeat("0123456789abcdef", benchCommandSize/16))

// tally is the benchmark FSM of both libraries: it only counts the
// commands applied to it.
type tally struct{ n atomic.Uint64 }

// hashiTally adapts tally to hashicorp/raft's FSM.
type hashiTally struct{ *tally }

func (f hashiTally) Apply(*hraft.Log) interface{}         { return f.n.Add(1) }
func (f hashiTally) Snapshot() (hraft.FSMSnapshot, error) { return hashiNothing{}, nil }
func (f hashiTally) Restore(rc io.ReadCloser) error       { return rc.Close() }

// hashiNothing is a hashicorp/raft FSM snapshot with no content.
type hashiNothing struct{}

func (hashiNothing) Persist(sink hraft.SnapshotSink) error { return sink.Close() }
func (hashiNothing) Release()                              {}

// oursTally adapts tally to our FSM.
type oursTally struct{ *tally }

func (f oursTally) Apply(*raft.Log) interface{}         { return f.n.Add(1) }
func (f oursTally) Snapshot() (raft.FSMSnapshot, error) { return oursNothing{}, nil }
func (f oursTally) Restore(rc io.ReadCloser) error      { return rc.Close() }

// oursNothing is an FSM snapshot of ours with no content.
type oursNothing struct{}

func (oursNothing) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (oursNothing) Release()                             {}

// benchCluster is a 3-server cluster of one library whose nodes dial each
// other directly (no tap proxies), as a deployment would.
type benchCluster struct {
	lib    library
	nodes  []*node
	tallys []*tally
	logs   *lockedBuffer
}

// startBenchCluster starts a 3-server cluster of lib over loopback TCP, with
// in-memory log and stable stores and a snapshot store that keeps nothing,
// waits until it has a leader every node agrees on, and returns it with
// that leader. The cluster is shut down when the current run of b ends, and
// its logs are printed if b failed.
func startBenchCluster(b *testing.B, lib library) (*benchCluster, *node) {
	b.Helper()
	c := &benchCluster{lib: lib, logs: &lockedBuffer{}}
	before := runtime.NumGoroutine()
	b.Cleanup(func() {
		if b.Failed() {
			b.Logf("node logs:\n%s", c.logs.String())
		}
	})
	b.Cleanup(func() {
		c.shutdown(b)
		checkGoroutinesEnd(b, before)
	})

	// Transports first: their listeners choose the addresses that go into
	// the configuration.
	for k := 1; k <= 3; k++ {
		n := &node{id: fmt.Sprintf("%c%d", lib[0], k), lib: lib}
		switch lib {
		case hashicorp:
			tr, err := hraft.NewTCPTransport("127.0.0.1:0", nil, benchMaxPool, benchNetTimeout, c.logs)
			if err != nil {
				b.Fatalf("hashicorp transport for %s: %v", n.id, err)
			}
			n.ht, n.addr = tr, string(tr.LocalAddr())
		case ours:
			tr, err := raft.NewTCPTransport("127.0.0.1:0", nil, benchMaxPool, benchNetTimeout, c.logs)
			if err != nil {
				b.Fatalf("our transport for %s: %v", n.id, err)
			}
			n.ot, n.addr = tr, string(tr.LocalAddr())
		}
		c.nodes = append(c.nodes, n)
		c.tallys = append(c.tallys, &tally{})
	}

	var hservers []hraft.Server
	var oservers []raft.Server
	for _, n := range c.nodes {
		hservers = append(hservers, hraft.Server{Suffrage: hraft.Voter, ID: hraft.ServerID(n.id), Address: hraft.ServerAddress(n.addr)})
		oservers = append(oservers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n.id), Address: raft.ServerAddress(n.addr)})
	}
	for k, n := range c.nodes {
		logger := hclog.New(&hclog.LoggerOptions{Name: n.id, Output: c.logs, Level: logLevel()})
		switch lib {
		case hashicorp:
			conf := hraft.DefaultConfig()
			conf.LocalID = hraft.ServerID(n.id)
			conf.HeartbeatTimeout = heartbeatTimeout
			conf.ElectionTimeout = electionTimeout
			conf.LeaderLeaseTimeout = benchLeaderLease
			conf.Logger = logger
			store := hraft.NewInmemStore()
			snaps := hraft.NewDiscardSnapshotStore()
			if err := hraft.BootstrapCluster(conf, store, store, snaps, n.ht, hraft.Configuration{Servers: hservers}); err != nil {
				b.Fatalf("bootstrap %s: %v", n.id, err)
			}
			r, err := hraft.NewRaft(conf, hashiTally{c.tallys[k]}, store, store, snaps, n.ht)
			if err != nil {
				b.Fatalf("start %s: %v", n.id, err)
			}
			n.hr = r
		case ours:
			conf := raft.DefaultConfig()
			conf.LocalID = raft.ServerID(n.id)
			conf.HeartbeatTimeout = heartbeatTimeout
			conf.ElectionTimeout = electionTimeout
			conf.LeaderLeaseTimeout = benchLeaderLease
			conf.Logger = logger
			store := raft.NewInmemStore()
			snaps := raft.NewDiscardSnapshotStore()
			if err := raft.BootstrapCluster(conf, store, store, snaps, n.ot, raft.Configuration{Servers: oservers}); err != nil {
				b.Fatalf("bootstrap %s: %v", n.id, err)
			}
			r, err := raft.NewRaft(conf, oursTally{c.tallys[k]}, store, store, snaps, n.ot)
			if err != nil {
				b.Fatalf("start %s: %v", n.id, err)
			}
			n.or = r
		}
	}
	return c, c.waitLeader(b)
}

// waitLeader polls until one node leads and the others name it as their
// leader in its term, failing b after waitLimit.
func (c *benchCluster) waitLeader(b *testing.B) *node {
	b.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if l := c.agreedLeader(); l != nil {
			return l
		}
		if time.Now().After(deadline) {
			b.Fatalf("no %s leader agreed on within %v:%s", c.lib, waitLimit, c.status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// agreedLeader returns the only leader if every other node follows it in
// its term, nil otherwise.
func (c *benchCluster) agreedLeader() *node {
	var leader *node
	for _, n := range c.nodes {
		if n.isLeader() {
			if leader != nil {
				return nil
			}
			leader = n
		}
	}
	if leader == nil {
		return nil
	}
	term := leader.term()
	for _, n := range c.nodes {
		if n != leader && (n.leaderID() != leader.id || n.term() != term) {
			return nil
		}
	}
	return leader
}

// tallyOf is the FSM of n.
func (c *benchCluster) tallyOf(n *node) *tally {
	return c.tallys[slices.Index(c.nodes, n)]
}

// status describes every node, for failure messages.
func (c *benchCluster) status() string {
	var s strings.Builder
	for k, n := range c.nodes {
		if n.hr == nil && n.or == nil {
			fmt.Fprintf(&s, "\n  %s: not started", n.id)
			continue
		}
		fmt.Fprintf(&s, "\n  %s: %s term=%d leader=%q applied=%d", n.id, n.state(), n.term(), n.leaderID(), c.tallys[k].n.Load())
	}
	return s.String()
}

// shutdown stops every node, or only closes the transport of a node whose
// Raft never started. hashicorp/raft's NetworkTransport.Close leaves its
// pooled outgoing connections open, and with them the peer's goroutine
// reading each one, so they are closed with CloseStreams.
func (c *benchCluster) shutdown(b *testing.B) {
	for _, n := range c.nodes {
		var err error
		switch {
		case n.hr != nil || n.or != nil:
			err = n.stop()
		case n.ht != nil:
			err = n.ht.Close()
		case n.ot != nil:
			err = n.ot.Close()
		}
		if err != nil {
			b.Errorf("shutting down %s: %v", n.id, err)
		}
		if n.ht != nil {
			n.ht.CloseStreams()
		}
	}
}

// checkGoroutinesEnd fails b unless the number of goroutines falls back to
// before, the count taken when the cluster was started, within waitLimit:
// a cluster must leave nothing running once shut down. (The interop module
// has no goleak TestMain, and benchmarks would not be checked by one per
// run.)
func checkGoroutinesEnd(b *testing.B, before int) {
	b.Helper()
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			stacks := make([]byte, 1<<20)
			stacks = stacks[:runtime.Stack(stacks, true)]
			b.Errorf("%d goroutines still running %v after shutdown, %d before the cluster started:\n%s",
				runtime.NumGoroutine(), waitLimit, before, stacks)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runOps performs total calls of op from callers goroutines and returns how
// long each call took, in no particular order. It stops at the first error
// and returns it.
func runOps(callers, total int, op func() error) ([]time.Duration, error) {
	var (
		next     atomic.Int64
		failed   atomic.Bool
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	took := make([][]time.Duration, callers)
	for g := range callers {
		took[g] = make([]time.Duration, 0, total/callers+1)
		wg.Go(func() {
			for next.Add(1) <= int64(total) && !failed.Load() {
				start := time.Now()
				err := op()
				took[g] = append(took[g], time.Since(start))
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return slices.Concat(took...), firstErr
}

// percentile returns the q-quantile (0 < q <= 1) of sorted, by the
// nearest-rank rule.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(k, 0)]
}

// measure runs b.N calls of op from callers goroutines as the timed part of
// b, and reports throughput and latency percentiles.
func measure(b *testing.B, callers int, op func() error) {
	b.Helper()
	b.ResetTimer()
	start := time.Now()
	took, err := runOps(callers, b.N, op)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("operation failed: %v", err)
	}
	slices.Sort(took)
	micros := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(micros(percentile(took, 0.50)), "p50-µs")
	b.ReportMetric(micros(percentile(took, 0.99)), "p99-µs")
}

// warmUp runs benchWarmupOps calls of op, untimed, from callers goroutines.
func warmUp(b *testing.B, callers int, op func() error) {
	b.Helper()
	if _, err := runOps(callers, benchWarmupOps, op); err != nil {
		b.Fatalf("warm-up failed: %v", err)
	}
}

// BenchmarkApplyVsHashicorp measures write throughput and latency of this
// library against hashicorp/raft v1.8.0, side by side in one run. For each
// library it starts a 3-server cluster over loopback TCP (each library's
// own NetworkTransport from NewTCPTransport, dialling peers directly, maxPool
// 3, 10s timeout), with its in-memory log and stable store, a snapshot
// store that keeps nothing, an FSM that only counts, heartbeat and election
// timeouts of 1s, a 500ms leader lease and the default MaxAppendEntries (64
// in both). One operation is an Apply of a 128-byte command on the leader,
// waited on until its Error returns, issued by 1, 16 and 64 concurrent
// callers. Besides ns/op it reports ops/s and the p50 and p99 latency of
// one operation in microseconds. Each run of a sub-benchmark starts its own
// cluster, warms it up, measures, and shuts it down.
//
// Run it from the interop directory with
//
//	go test -run '^$' -bench 'ApplyVsHashicorp' -benchtime 3s -count 3 .
//
// and compare the libraries with benchstat -col /lib.
func BenchmarkApplyVsHashicorp(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			for _, lib := range benchLibs {
				b.Run("lib="+string(lib), func(b *testing.B) {
					c, leader := startBenchCluster(b, lib)
					apply := func() error { return leader.apply(benchCommand)() }
					warmUp(b, callers, apply)
					measure(b, callers, apply)
					// Both libraries complete an Apply only once the
					// leader's FSM has applied it.
					if got, want := c.tallyOf(leader).n.Load(), uint64(benchWarmupOps+b.N); got != want {
						b.Fatalf("leader %s applied %d commands, want %d", leader.id, got, want)
					}
				})
			}
		})
	}
}

// BenchmarkVerifyLeaderVsHashicorp measures the cost of the leadership check
// behind a linearizable read, in this library and in hashicorp/raft v1.8.0,
// side by side in one run: on the same clusters as
// BenchmarkApplyVsHashicorp, 16 concurrent callers each call VerifyLeader on
// the leader and wait until its Error returns. The line lib=ours-readindex
// measures our ReadIndex on the leader instead (default ReadConsistencySafe:
// a heartbeat round confirms leadership, then the read index must be
// applied), the call a linearizable read of ours makes. It reports ops/s
// and the p50 and p99 latency of one call in microseconds.
//
// Run it from the interop directory with
//
//	go test -run '^$' -bench 'VerifyLeaderVsHashicorp' -benchtime 3s -count 3 .
func BenchmarkVerifyLeaderVsHashicorp(b *testing.B) {
	const callers = 16
	cases := []struct {
		name string
		lib  library
		op   func(leader *node) error
	}{
		{"ours", ours, func(n *node) error { return n.or.VerifyLeader().Error() }},
		{"hashicorp", hashicorp, func(n *node) error { return n.hr.VerifyLeader().Error() }},
		{"ours-readindex", ours, func(n *node) error { return n.or.ReadIndex(rpcTimeout).Error() }},
	}
	b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
		for _, tc := range cases {
			b.Run("lib="+tc.name, func(b *testing.B) {
				_, leader := startBenchCluster(b, tc.lib)
				op := func() error { return tc.op(leader) }
				warmUp(b, callers, func() error { return leader.apply(benchCommand)() })
				warmUp(b, callers, op)
				measure(b, callers, op)
			})
		}
	})
}
