package raft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// testFSM records every command applied, in order.
type testFSM struct {
	mu          sync.Mutex
	data        [][]byte
	indexes     []uint64
	restores    int
	restoredLen int
}

func (f *testFSM) Apply(l *Log) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = append(f.data, append([]byte(nil), l.Data...))
	f.indexes = append(f.indexes, l.Index)
	return len(f.data)
}

// Snapshot copies the applied commands; Persist writes them as a JSON
// array.
func (f *testFSM) Snapshot() (FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &testSnapshot{data: append([][]byte(nil), f.data...)}, nil
}

// Restore replaces the applied commands with a snapshot's.
func (f *testFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var data [][]byte
	if err := json.NewDecoder(rc).Decode(&data); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = data
	f.indexes = nil
	f.restores++
	f.restoredLen = len(data)
	return nil
}

type testSnapshot struct {
	data [][]byte
}

func (s *testSnapshot) Persist(sink SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s.data); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *testSnapshot) Release() {}

func (f *testFSM) applied() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.data...)
}

func (f *testFSM) restoredCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restoredLen
}

func (f *testFSM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.data)
}

// nodeLogger is silent unless RAFT_TEST_LOG names a level.
func nodeLogger(name string) hclog.Logger {
	level := hclog.Off
	if v := os.Getenv("RAFT_TEST_LOG"); v != "" {
		level = hclog.LevelFromString(v)
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: os.Stderr})
}

// testConfig has short timeouts so cluster tests run fast.
func testConfig(id ServerID) *Config {
	c := DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.Logger = nodeLogger(string(id))
	return c
}

// cluster is a set of nodes over InmemTransport, for tests.
type cluster struct {
	t      testing.TB
	n      int
	nodes  []*Raft
	fsms   []*testFSM
	logs   []LogStore
	stable []StableStore
	trans  []Transport
	addrs  []ServerAddress
	confs  []*Config
	// wrap, if set, wraps each node's transport (fault injection).
	wrap func(i int, t *InmemTransport) Transport
	// newTrans, if set, builds node i's transport instead of an
	// InmemTransport; it must reuse c.addrs[i] when that is set.
	newTrans func(i int) Transport
	// down tracks which nodes are shut down.
	down []bool
	// snaps are the nodes' snapshot stores (discarding by default).
	snaps []SnapshotStore
	// bootstrapped is how many nodes (the first ones) form the initial
	// configuration; the others start empty, to be added.
	bootstrapped int
}

type clusterOption func(*cluster)

func withConfig(f func(i int, c *Config)) clusterOption {
	return func(c *cluster) {
		for i, conf := range c.confs {
			f(i, conf)
		}
	}
}

func withLogStores(f func(i int) LogStore) clusterOption {
	return func(c *cluster) {
		for i := range c.logs {
			c.logs[i] = f(i)
		}
	}
}

// withBootstrapped makes only the first k nodes the initial cluster.
func withBootstrapped(k int) clusterOption {
	return func(c *cluster) { c.bootstrapped = k }
}

func withSnapshotStores(f func(i int) SnapshotStore) clusterOption {
	return func(c *cluster) {
		for i := range c.snaps {
			c.snaps[i] = f(i)
		}
	}
}

func withTransportWrapper(w func(i int, t *InmemTransport) Transport) clusterOption {
	return func(c *cluster) { c.wrap = w }
}

// newCluster builds, bootstraps and starts n nodes.
func newCluster(t testing.TB, n int, opts ...clusterOption) *cluster {
	t.Helper()
	c := &cluster{t: t, n: n, bootstrapped: n}
	for i := 0; i < n; i++ {
		id := ServerID(fmt.Sprintf("node%d", i))
		store := NewInmemStore()
		c.logs = append(c.logs, store)
		c.stable = append(c.stable, store)
		c.addrs = append(c.addrs, "")
		c.confs = append(c.confs, testConfig(id))
		c.fsms = append(c.fsms, &testFSM{})
		c.nodes = append(c.nodes, nil)
		c.trans = append(c.trans, nil)
		c.down = append(c.down, true)
		c.snaps = append(c.snaps, NewDiscardSnapshotStore())
	}
	for _, o := range opts {
		o(c)
	}
	for i := 0; i < n; i++ {
		c.makeTransport(i)
	}
	c.connectAll()
	var conf Configuration
	for i := 0; i < c.bootstrapped; i++ {
		conf.Servers = append(conf.Servers, Server{Suffrage: Voter, ID: c.confs[i].LocalID, Address: c.addrs[i]})
	}
	for i := 0; i < n; i++ {
		if i >= c.bootstrapped {
			c.start(i)
			continue
		}
		if err := BootstrapCluster(c.confs[i], c.logs[i], c.stable[i], c.snaps[i], c.trans[i], conf); err != nil {
			t.Fatalf("bootstrap node %d: %v", i, err)
		}
		c.start(i)
	}
	t.Cleanup(c.shutdown)
	return c
}

func (c *cluster) makeTransport(i int) {
	if c.newTrans != nil {
		c.trans[i] = c.newTrans(i)
		c.addrs[i] = c.trans[i].LocalAddr()
		return
	}
	if c.addrs[i] == "" {
		c.addrs[i] = ServerAddress(fmt.Sprintf("addr%d", i))
	}
	_, it := NewInmemTransportWithTimeout(c.addrs[i], 200*time.Millisecond)
	var tr Transport = it
	if c.wrap != nil {
		tr = c.wrap(i, it)
	}
	c.trans[i] = tr
}

// inmem returns the InmemTransport under t, or a detached one for other
// transports (which are wired by their own addresses, not by hand).
func inmem(t Transport) *InmemTransport {
	switch v := t.(type) {
	case *InmemTransport:
		return v
	case interface{ inner() *InmemTransport }:
		return v.inner()
	}
	_, detached := NewInmemTransport("detached")
	return detached
}

func (c *cluster) connectAll() {
	for i := 0; i < c.n; i++ {
		for j := 0; j < c.n; j++ {
			if i != j {
				inmem(c.trans[i]).Connect(c.addrs[j], inmem(c.trans[j]))
			}
		}
	}
}

func (c *cluster) start(i int) {
	c.t.Helper()
	r, err := NewRaft(c.confs[i], c.fsms[i], c.logs[i], c.stable[i], c.snaps[i], c.trans[i])
	if err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	c.nodes[i] = r
	c.down[i] = false
}

// crash stops node i; its stores survive.
func (c *cluster) crash(i int) {
	if c.down[i] {
		return
	}
	if err := c.nodes[i].Shutdown().Error(); err != nil {
		c.t.Fatalf("shutdown node %d: %v", i, err)
	}
	c.down[i] = true
	for j := 0; j < c.n; j++ {
		if j != i && !c.down[j] {
			inmem(c.trans[j]).Disconnect(c.addrs[i])
		}
	}
}

// restart starts node i again from its stores with a fresh FSM.
func (c *cluster) restart(i int) {
	c.t.Helper()
	c.fsms[i] = &testFSM{}
	c.makeTransport(i)
	for j := 0; j < c.n; j++ {
		if j != i {
			inmem(c.trans[i]).Connect(c.addrs[j], inmem(c.trans[j]))
			inmem(c.trans[j]).Connect(c.addrs[i], inmem(c.trans[i]))
		}
	}
	c.start(i)
}

// disconnect cuts node i off from every other node, both ways.
func (c *cluster) disconnect(i int) {
	inmem(c.trans[i]).DisconnectAll()
	for j := 0; j < c.n; j++ {
		if j != i {
			inmem(c.trans[j]).Disconnect(c.addrs[i])
		}
	}
}

// reconnect restores node i's links to every node that is up.
func (c *cluster) reconnect(i int) {
	for j := 0; j < c.n; j++ {
		if j != i {
			inmem(c.trans[i]).Connect(c.addrs[j], inmem(c.trans[j]))
			inmem(c.trans[j]).Connect(c.addrs[i], inmem(c.trans[i]))
		}
	}
}

func (c *cluster) shutdown() {
	for i := range c.nodes {
		if !c.down[i] {
			_ = c.nodes[i].Shutdown().Error()
			c.down[i] = true
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leaders returns the indexes of nodes that are up and believe they lead.
func (c *cluster) leaders() []int {
	var out []int
	for i, r := range c.nodes {
		if !c.down[i] && r.State() == Leader {
			out = append(out, i)
		}
	}
	return out
}

// waitLeader waits until exactly one node among those given (all that are
// up when none are given) leads, and returns it.
func (c *cluster) waitLeader(among ...int) int {
	c.t.Helper()
	if len(among) == 0 {
		for i := range c.nodes {
			if !c.down[i] {
				among = append(among, i)
			}
		}
	}
	leader := -1
	waitFor(c.t, 10*time.Second, "a single leader", func() bool {
		leader = -1
		count := 0
		var term uint64
		for _, i := range among {
			if c.nodes[i].State() == Leader {
				if count == 0 || c.nodes[i].CurrentTerm() > term {
					leader, term = i, c.nodes[i].CurrentTerm()
				}
				count++
			}
		}
		return count == 1
	})
	return leader
}

// apply proposes cmd until some leader commits it, returning the index.
func (c *cluster) apply(cmd []byte) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, r := range c.nodes {
			if c.down[i] || r.State() != Leader {
				continue
			}
			f := r.Apply(cmd, time.Second)
			if err := f.Error(); err == nil {
				return f.Index()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("could not commit %q", cmd)
	return 0
}

// waitKnowsLeader waits until node i names node l as its leader. A
// follower refuses reads until it has heard from the leader, which a loaded
// machine can delay past the first write (a write needs only a quorum).
func (c *cluster) waitKnowsLeader(i, l int) {
	c.t.Helper()
	waitFor(c.t, 10*time.Second, fmt.Sprintf("node %d to know leader %d", i, l), func() bool {
		_, id := c.nodes[i].LeaderWithID()
		return id == c.confs[l].LocalID
	})
}

// waitApplied waits until every listed node (all up nodes if none) has
// applied want commands.
func (c *cluster) waitApplied(want int, nodes ...int) {
	c.t.Helper()
	if len(nodes) == 0 {
		for i := range c.nodes {
			if !c.down[i] {
				nodes = append(nodes, i)
			}
		}
	}
	for _, i := range nodes {
		i := i
		waitFor(c.t, 15*time.Second, fmt.Sprintf("node %d to apply %d commands", i, want), func() bool {
			return c.fsms[i].count() >= want
		})
	}
}

// checkSamePrefix asserts every FSM's history is a prefix of the longest:
// every server applies the same commands in the same order.
func (c *cluster) checkSamePrefix() {
	c.t.Helper()
	// Read every history once, so concurrent applies cannot make one
	// longer than the longest seen.
	histories := make([][][]byte, len(c.fsms))
	var longest [][]byte
	for i, f := range c.fsms {
		histories[i] = f.applied()
		if len(histories[i]) > len(longest) {
			longest = histories[i]
		}
	}
	for i, h := range histories {
		for k, cmd := range h {
			if !bytes.Equal(cmd, longest[k]) {
				c.t.Fatalf("node %d applied %q at position %d, another node applied %q", i, cmd, k, longest[k])
			}
		}
	}
}
