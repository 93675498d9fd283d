package raft

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
)

// batchFSM records the size of every batch it is given.
type batchFSM struct {
	testFSM
	mu      sync.Mutex
	batches []int
}

func (b *batchFSM) ApplyBatch(logs []*Log) []interface{} {
	b.mu.Lock()
	b.batches = append(b.batches, len(logs))
	b.mu.Unlock()
	out := make([]interface{}, len(logs))
	for i, l := range logs {
		out[i] = fmt.Sprintf("batched:%s", l.Data)
		b.testFSM.Apply(l)
	}
	return out
}

func TestBatchingFSMGetsWholeBatches(t *testing.T) {
	fsm := &batchFSM{}
	c := newCluster(t, 1)
	c.crash(0)
	c.fsms[0] = &fsm.testFSM
	c.makeTransport(0)
	r, err := NewRaft(c.confs[0], fsm, c.logs[0], c.stable[0], NewDiscardSnapshotStore(), c.trans[0])
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[0], c.down[0] = r, false
	c.waitLeader()
	var futures []ApplyFuture
	for i := 0; i < 500; i++ {
		futures = append(futures, r.Apply([]byte(fmt.Sprintf("%d", i)), 0))
	}
	for i, f := range futures {
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		if got, want := f.Response(), fmt.Sprintf("batched:%d", i); got != want {
			t.Fatalf("response %d = %v, want %v", i, got, want)
		}
	}
	fsm.mu.Lock()
	defer fsm.mu.Unlock()
	largest := 0
	for _, n := range fsm.batches {
		largest = max(largest, n)
	}
	if largest < 2 {
		t.Fatalf("500 queued applies reached the FSM one at a time (batches %v)", fsm.batches)
	}
}

func TestLeaderChAndNotifyCh(t *testing.T) {
	notify := make(chan bool, 10)
	c := newCluster(t, 3, withConfig(func(i int, conf *Config) { conf.NotifyCh = notify }))
	l := c.waitLeader()
	select {
	case v := <-c.nodes[l].LeaderCh():
		if !v {
			t.Fatal("LeaderCh sent false to the new leader")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LeaderCh never signalled leadership")
	}
	select {
	case v := <-notify:
		if !v {
			t.Fatal("NotifyCh sent false first")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NotifyCh never signalled leadership")
	}
	c.disconnect(l)
	select {
	case v := <-c.nodes[l].LeaderCh():
		if v {
			t.Fatal("LeaderCh sent true on losing leadership")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LeaderCh never signalled the loss of leadership")
	}
}

func TestStats(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	c.apply([]byte("x"))
	s := c.nodes[l].Stats()
	if s["state"] != "Leader" {
		t.Fatalf("state = %q", s["state"])
	}
	if s["num_peers"] != "2" {
		t.Fatalf("num_peers = %q, want 2", s["num_peers"])
	}
	if s["commit_index"] != fmt.Sprint(c.nodes[l].CommitIndex()) {
		t.Fatalf("commit_index = %q", s["commit_index"])
	}
	for _, k := range []string{"term", "last_log_index", "last_log_term", "applied_index", "fsm_pending", "last_contact", "latest_configuration", "protocol_version"} {
		if _, ok := s[k]; !ok {
			t.Errorf("Stats lacks %q", k)
		}
	}
	if str := c.nodes[l].String(); !strings.Contains(str, "Leader") {
		t.Fatalf("String() = %q", str)
	}
}

func TestMetricsEmitted(t *testing.T) {
	sink := metrics.NewInmemSink(time.Minute, time.Minute)
	mc := metrics.DefaultConfig("test")
	mc.EnableRuntimeMetrics = false // its collector goroutine never stops
	m, err := metrics.New(mc, sink)
	if err != nil {
		t.Fatal(err)
	}
	m.EnableHostname = false
	c := newCluster(t, 3, withConfig(func(i int, conf *Config) { conf.Metrics = m }))
	l := c.waitLeader()
	writeN(t, c, "x", 50)
	c.waitApplied(50)
	// The names of the metrics emitted per request are built once and
	// shared (metricKeys); the service prefix go-metrics adds must not
	// leak into them, or names would grow a prefix at every call.
	want := []string{
		"test.raft.apply", "test.raft.commitTime", "test.raft.election.started", "test.raft.state.leader",
		"test.raft.leader.storeLogs", "test.raft.leader.dispatchNumLogs", "test.raft.commitNumLogs",
		"test.raft.fsm.applyBatch", "test.raft.fsm.applyBatchNum",
		"test.raft.rpc.appendEntries", "test.raft.follower.storeLogs",
	}
	for i, conf := range c.confs {
		if i != l {
			want = append(want, "test.raft.replication.heartbeat."+string(conf.LocalID),
				"test.raft.replication.appendEntries.rpc."+string(conf.LocalID))
		}
	}
	seen := map[string]bool{}
	waitFor(t, 10*time.Second, "every per-request metric", func() bool {
		for _, iv := range sink.Data() {
			iv.RLock()
			for k := range iv.Counters {
				seen[k] = true
			}
			for k := range iv.Samples {
				seen[k] = true
			}
			for k := range iv.Gauges {
				seen[k] = true
			}
			iv.RUnlock()
		}
		for _, w := range want {
			if !seen[w] {
				return false
			}
		}
		return true
	})
	for k := range seen {
		if strings.Contains(k, "test.test.") {
			t.Errorf("metric %q carries the service prefix twice", k)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestSilentAtInfoInNormalOperation(t *testing.T) {
	var out lockedBuffer
	c := newCluster(t, 3, withConfig(func(i int, conf *Config) {
		// The production defaults: this test is about normal operation.
		d := DefaultConfig()
		conf.HeartbeatTimeout = d.HeartbeatTimeout
		conf.ElectionTimeout = d.ElectionTimeout
		conf.LeaderLeaseTimeout = d.LeaderLeaseTimeout
		conf.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: &out})
	}))
	c.waitLeader()
	for i := 0; i < 20; i++ {
		c.apply([]byte("x"))
	}
	c.waitApplied(20)
	if s := out.String(); s != "" {
		t.Fatalf("logs at Info level during an election and writes:\n%s", s)
	}
}

var _ io.Writer = (*lockedBuffer)(nil)
