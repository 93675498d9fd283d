package wal

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/consensuskit/raft"
	"github.com/hashicorp/go-hclog"
)

// The core cluster suite on wal stores: a 3-server cluster whose logs and
// stable state live in wal directories, restarted from disk.

type recordingFSM struct {
	mu   sync.Mutex
	cmds [][]byte
}

func (f *recordingFSM) Apply(l *raft.Log) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, append([]byte(nil), l.Data...))
	return nil
}

func (f *recordingFSM) Snapshot() (raft.FSMSnapshot, error) {
	return nil, fmt.Errorf("snapshots are not used in this suite")
}

func (f *recordingFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

func (f *recordingFSM) history() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.cmds...)
}

type walNode struct {
	dir   string
	store *Store
	trans *raft.InmemTransport
	fsm   *recordingFSM
	raft  *raft.Raft
}

type walCluster struct {
	t     *testing.T
	nodes []*walNode
	conf  raft.Configuration
}

func walConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 200 * time.Millisecond
	c.ElectionTimeout = 200 * time.Millisecond
	c.LeaderLeaseTimeout = 200 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.Logger = hclog.NewNullLogger()
	return c
}

func newWalCluster(t *testing.T, n int) *walCluster {
	c := &walCluster{t: t}
	for i := 0; i < n; i++ {
		id := raft.ServerID(fmt.Sprintf("w%d", i))
		c.nodes = append(c.nodes, &walNode{dir: t.TempDir()})
		c.conf.Servers = append(c.conf.Servers, raft.Server{ID: id, Address: raft.ServerAddress(id)})
	}
	for i := range c.nodes {
		c.open(i)
		node := c.nodes[i]
		if err := raft.BootstrapCluster(walConfig(c.conf.Servers[i].ID), node.store, node.store,
			raft.NewDiscardSnapshotStore(), node.trans, c.conf); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.nodes {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

// open opens node i's wal directory and a fresh transport wired to the
// others.
func (c *walCluster) open(i int) {
	node := c.nodes[i]
	s, err := Open(node.dir, Options{Metrics: discardMetrics()})
	if err != nil {
		c.t.Fatalf("open wal of node %d: %v", i, err)
	}
	node.store = s
	_, node.trans = raft.NewInmemTransport(c.conf.Servers[i].Address)
	for j, other := range c.nodes {
		if j != i && other.trans != nil {
			node.trans.Connect(other.trans.LocalAddr(), other.trans)
			other.trans.Connect(node.trans.LocalAddr(), node.trans)
		}
	}
}

func (c *walCluster) start(i int) {
	node := c.nodes[i]
	node.fsm = &recordingFSM{}
	r, err := raft.NewRaft(walConfig(c.conf.Servers[i].ID), node.fsm, node.store, node.store,
		raft.NewDiscardSnapshotStore(), node.trans)
	if err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	node.raft = r
}

// stop shuts node i down and closes its wal, as a crash after the last
// fsync would leave it.
func (c *walCluster) stop(i int) {
	node := c.nodes[i]
	if node.raft == nil {
		return
	}
	_ = node.raft.Shutdown().Error()
	node.raft = nil
	if err := node.store.Close(); err != nil {
		c.t.Errorf("close wal of node %d: %v", i, err)
	}
}

func (c *walCluster) restart(i int) {
	c.stop(i)
	c.open(i)
	c.start(i)
}

func (c *walCluster) leader() *raft.Raft {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.raft != nil && n.raft.State() == raft.Leader {
				return n.raft
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatal("no leader elected")
	return nil
}

func (c *walCluster) write(prefix string, n int) {
	c.t.Helper()
	for k := 0; k < n; k++ {
		cmd := []byte(fmt.Sprintf("%s-%d", prefix, k))
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			if err = c.leader().Apply(cmd, time.Second).Error(); err == nil {
				break
			}
		}
		if err != nil {
			c.t.Fatalf("write %s: %v", cmd, err)
		}
	}
}

// converge waits until every running node applied want commands, then
// checks they applied the same ones in the same order.
func (c *walCluster) converge(want int) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		done := true
		for _, n := range c.nodes {
			if n.raft != nil && len(n.fsm.history()) < want {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodes did not apply %d commands", want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ref := c.nodes[0].fsm.history()
	for i, n := range c.nodes {
		h := n.fsm.history()
		for k := 0; k < want; k++ {
			if !bytes.Equal(h[k], ref[k]) {
				c.t.Fatalf("node %d applied %q at %d, node 0 applied %q", i, h[k], k, ref[k])
			}
		}
	}
}

func TestClusterOnWal(t *testing.T) {
	c := newWalCluster(t, 3)
	c.write("a", 100)
	c.converge(100)

	// A follower crashes while writes go on and catches up from its wal.
	var f int
	for i, n := range c.nodes {
		if n.raft.State() != raft.Leader {
			f = i
			break
		}
	}
	c.stop(f)
	c.write("b", 100)
	c.open(f)
	c.start(f)
	c.converge(200)

	// Every server restarts from disk: same log, same term, same state.
	terms := make([]uint64, 3)
	lasts := make([]uint64, 3)
	for i, n := range c.nodes {
		terms[i], lasts[i] = n.raft.CurrentTerm(), n.raft.LastIndex()
		c.stop(i)
	}
	for i := range c.nodes {
		c.open(i)
		c.start(i)
		if got := c.nodes[i].raft.CurrentTerm(); got < terms[i] {
			t.Fatalf("node %d restarted in term %d, had %d", i, got, terms[i])
		}
		if got := c.nodes[i].raft.LastIndex(); got < lasts[i] {
			t.Fatalf("node %d restarted with last index %d, had %d", i, got, lasts[i])
		}
	}
	c.converge(200)
	c.write("c", 50)
	c.converge(250)

	// The leader restarts from its wal; another takes over and it rejoins.
	old := c.leader()
	var oi int
	for i, n := range c.nodes {
		if n.raft == old {
			oi = i
		}
	}
	c.restart(oi)
	c.write("d", 50)
	c.converge(300)
}
