package raft

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metrics "github.com/armon/go-metrics"
)

// withTCP makes the cluster talk over loopback TCP. wrap, if set, wraps
// each node's stream layer (for fault injection).
func withTCP(t testing.TB, wrap func(i int, s StreamLayer) StreamLayer) clusterOption {
	return withTCPConfig(t, wrap, nil)
}

// withTCPConfig is withTCP with tune, if set, adjusting each node's
// transport configuration.
func withTCPConfig(t testing.TB, wrap func(i int, s StreamLayer) StreamLayer, tune func(*NetworkTransportConfig)) clusterOption {
	return func(c *cluster) {
		c.newTrans = func(i int) Transport {
			bind := "127.0.0.1:0"
			if c.addrs[i] != "" {
				bind = string(c.addrs[i])
			}
			var stream StreamLayer
			var err error
			// A restarted node rebinds its old port, which the kernel may
			// hold briefly.
			for attempt := 0; attempt < 50; attempt++ {
				stream, err = NewTCPStreamLayer(bind, nil)
				if err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("listen for node %d: %v", i, err)
			}
			if wrap != nil {
				stream = wrap(i, stream)
			}
			cfg := &NetworkTransportConfig{
				Stream:  stream,
				MaxPool: 3,
				Timeout: 2 * time.Second,
				Logger:  nodeLogger(fmt.Sprintf("net%d", i)),
			}
			if tune != nil {
				tune(cfg)
			}
			return NewNetworkTransportWithConfig(cfg)
		}
	}
}

// applyLoad writes continuously through whichever node leads until stop
// is closed, and reports how many writes were acknowledged.
func applyLoad(c *cluster, stop <-chan struct{}, acked *atomic.Int64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				var leader *Raft
				for i, r := range c.nodes {
					if !c.down[i] && r.State() == Leader {
						leader = r
					}
				}
				if leader == nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				err := leader.ApplyContext(ctx, []byte(fmt.Sprintf("w%d-%d", w, k))).ErrorContext(ctx)
				cancel()
				if err == nil {
					acked.Add(1)
				}
			}
		}(w)
	}
	return &wg
}

func TestTCPClusterCommits(t *testing.T) {
	c := newCluster(t, 3, withTCP(t, nil))
	c.waitLeader()
	for i := 0; i < 200; i++ {
		c.apply([]byte(fmt.Sprintf("tcp-%d", i)))
	}
	c.waitApplied(200)
	c.checkSamePrefix()
}

// TestTCPClusterSurvivesHostileConnections attacks every node with raw
// connections carrying an unknown type byte, garbage, a half-sent frame, a
// huge declaration, or nothing at all, while clients keep writing: each
// bad connection is closed and the cluster keeps committing.
func TestTCPClusterSurvivesHostileConnections(t *testing.T) {
	c := newCluster(t, 3, withTCP(t, nil))
	c.waitLeader()
	stop := make(chan struct{})
	var acked atomic.Int64
	wg := applyLoad(c, stop, &acked)
	stopLoad := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopLoad()

	heartbeat := loadHexVector(t, "append_entries_heartbeat.request.hex")
	attacks := map[string][]byte{
		"unknown type byte": {0x09, 0x80},
		"garbage":           []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"half-sent frame":   heartbeat[:len(heartbeat)/2],
		"huge string":       {0x00, 0x81, 0xa4, 'A', 'd', 'd', 'r', 0xdb, 0xff, 0xff, 0xff, 0xf0},
		"huge array":        {0x00, 0x81, 0xa7, 'E', 'n', 't', 'r', 'i', 'e', 's', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"nothing":           nil,
	}
	var idle []net.Conn
	for round := 0; round < 3; round++ {
		before := acked.Load()
		for name, payload := range attacks {
			for i := range c.nodes {
				conn, err := net.Dial("tcp", string(c.addrs[i]))
				if err != nil {
					t.Fatalf("%s: dial node %d: %v", name, i, err)
				}
				if payload == nil {
					// A slowloris holds its connection open and sends
					// nothing; it must cost the node nothing but a socket.
					idle = append(idle, conn)
					continue
				}
				if _, err := conn.Write(payload); err != nil {
					t.Fatalf("%s: write: %v", name, err)
				}
				if name == "half-sent frame" {
					idle = append(idle, conn)
					continue
				}
				// The node must close a connection that sent a bad frame.
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 256)
				for {
					if _, err := conn.Read(buf); err != nil {
						if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
							t.Fatalf("%s: node %d kept the connection open", name, i)
						}
						break
					}
				}
				_ = conn.Close()
			}
		}
		waitFor(t, 10*time.Second, "commits to continue during the attack", func() bool {
			return acked.Load() >= before+20
		})
	}
	for _, conn := range idle {
		_ = conn.Close()
	}
	stopLoad()
	c.checkSamePrefix()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestTCPClusterPipelineChaos cuts and stalls the nodes' TCP connections,
// pipelined ones included, over and over under write load: replication
// must never park (the cluster keeps committing once the strikes stop),
// and Shutdown must return promptly (hashicorp/raft issue 612).
func TestTCPClusterPipelineChaos(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(int64(seed)))
	var mu sync.Mutex
	var streams []*chaosStream
	c := newCluster(t, 3, withTCP(t, func(i int, s StreamLayer) StreamLayer {
		cs := &chaosStream{StreamLayer: s}
		mu.Lock()
		streams = append(streams, cs)
		mu.Unlock()
		return cs
	}))
	c.waitLeader()
	stop := make(chan struct{})
	var acked atomic.Int64
	wg := applyLoad(c, stop, &acked)
	for strike := 0; strike < 60; strike++ {
		mu.Lock()
		s := streams[rng.Intn(len(streams))]
		mu.Unlock()
		s.strike(rng)
		time.Sleep(time.Duration(5+rng.Intn(30)) * time.Millisecond)
	}
	// After the strikes, every node must catch up: nothing is parked.
	before := acked.Load()
	waitFor(t, 20*time.Second, "commits to resume after the strikes", func() bool {
		return acked.Load() >= before+50
	})
	close(stop)
	wg.Wait()
	c.waitLeader()
	idx := c.apply([]byte("end"))
	waitFor(t, 20*time.Second, "every node to apply the end marker", func() bool {
		for _, r := range c.nodes {
			if r.AppliedIndex() < idx {
				return false
			}
		}
		return true
	})
	c.checkSamePrefix()
	// Stall every connection, then shut down: Shutdown must not wait on
	// a stuck pipeline.
	mu.Lock()
	for _, s := range streams {
		s.mu.Lock()
		for _, conn := range s.conns {
			conn.stalled.Store(true)
		}
		s.mu.Unlock()
	}
	mu.Unlock()
	for i, r := range c.nodes {
		done := make(chan struct{})
		go func() {
			r.Shutdown()
			close(done)
		}()
		select {
		case <-done:
			c.down[i] = true
		case <-time.After(15 * time.Second):
			t.Fatalf("Shutdown of node %d did not return with stalled connections", i)
		}
	}
}

// slowStore makes StoreLogs take delay while armed, like a disk that
// stalls.
type slowStore struct {
	*InmemStore
	armed atomic.Bool
	delay time.Duration
	calls atomic.Int64
}

func (s *slowStore) StoreLogs(logs []*Log) error {
	if s.armed.Load() {
		s.calls.Add(1)
		time.Sleep(s.delay)
	}
	return s.InmemStore.StoreLogs(logs)
}

// TestTCPBusyFollowerStaysQuiet stalls a follower's disk for several times
// its heartbeat timeout on every write, under load. Heartbeats queue behind
// the write; the follower must hear them (and the transport's early contact
// notes) before deciding to campaign, so it never times out.
func TestTCPBusyFollowerStaysQuiet(t *testing.T) {
	stores := []*slowStore{{InmemStore: NewInmemStore(), delay: 400 * time.Millisecond},
		{InmemStore: NewInmemStore(), delay: 400 * time.Millisecond},
		{InmemStore: NewInmemStore(), delay: 400 * time.Millisecond}}
	sinks := make([]*metrics.InmemSink, 3)
	c := newCluster(t, 3, withTCP(t, nil), withLogStores(func(i int) LogStore { return stores[i] }),
		withConfig(func(i int, conf *Config) {
			conf.HeartbeatTimeout = 150 * time.Millisecond
			conf.ElectionTimeout = 150 * time.Millisecond
			conf.LeaderLeaseTimeout = 150 * time.Millisecond
			sinks[i] = metrics.NewInmemSink(time.Hour, time.Hour)
			mc := metrics.DefaultConfig("n")
			mc.EnableRuntimeMetrics = false
			mc.EnableHostname = false
			m, err := metrics.New(mc, sinks[i])
			if err != nil {
				t.Fatal(err)
			}
			conf.Metrics = m
		}))
	l := c.waitLeader()
	f := (l + 1) % 3
	timeouts := func() float32 {
		var n float32
		for _, iv := range sinks[f].Data() {
			iv.RLock()
			if v, ok := iv.Counters["n.raft.transition.heartbeat_timeout"]; ok {
				n += float32(v.Sum)
			}
			iv.RUnlock()
		}
		return n
	}
	base := timeouts()
	stores[f].armed.Store(true)
	stop := make(chan struct{})
	var acked atomic.Int64
	wg := applyLoad(c, stop, &acked)
	waitFor(t, 30*time.Second, "the follower's disk to stall 6 times", func() bool {
		return stores[f].calls.Load() >= 6
	})
	close(stop)
	wg.Wait()
	stores[f].armed.Store(false)
	if n := timeouts() - base; n > 0 {
		t.Fatalf("busy follower hit its heartbeat timeout %v times while the leader was alive", n)
	}
	if c.nodes[f].State() != Follower {
		t.Fatalf("busy follower is %v", c.nodes[f].State())
	}
}
