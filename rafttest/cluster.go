package rafttest

import (
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/consensuskit/raft"
	"github.com/consensuskit/raft/wal"
	"github.com/hashicorp/go-hclog"
)

// TransportKind chooses how a Cluster's servers talk.
type TransportKind int

const (
	// InmemTransport connects servers through channels.
	InmemTransport TransportKind = iota
	// TCPTransport connects servers over loopback TCP.
	TCPTransport
)

// StoreKind chooses where a Cluster's servers keep their log and state.
type StoreKind int

const (
	// InmemStore keeps everything in memory; a crash keeps every write
	// the store acknowledged (see Cluster.Crash).
	InmemStore StoreKind = iota
	// WalStore keeps everything in wal directories under the test's temp
	// dir; a restart after a crash reopens them from disk.
	WalStore
)

// Options configure a Cluster.
type Options struct {
	// Servers is the number of servers, all voters.
	Servers int
	// Transport and Store choose the transport and the stores.
	Transport TransportKind
	Store     StoreKind
	// FSM builds a server's FSM, again after each restart.
	FSM func(i int) raft.FSM
	// Config adjusts each server's config after the harness's defaults
	// (short timeouts, silent logs).
	Config func(i int, c *raft.Config)
	// Seed drives the FaultTransports.
	Seed uint64
}

// Node is one server of a Cluster.
type Node struct {
	ID      raft.ServerID
	Addr    raft.ServerAddress
	Raft    *raft.Raft
	FSM     raft.FSM
	Faults  *FaultTransport
	rec     *recordingFSM
	inmem   *raft.InmemTransport
	logs    raft.LogStore
	stable  raft.StableStore
	snaps   raft.SnapshotStore
	walDir  string
	walOpen *wal.Store
	// crash wraps logs and stable while the server runs, so Crash can
	// strike in the middle of a write; starts counts the runs, to seed it.
	crash  *crashStore
	starts uint64
	up     bool
}

// Cluster is a set of servers under test.
type Cluster struct {
	t    testing.TB
	opts Options
	mu   sync.Mutex
	// Nodes are the servers, in creation order.
	Nodes []*Node

	// unsynced and lost count the writes crashes caught in their unsynced
	// window, and those of them that lost data (see Crash).
	unsynced, lost int
}

// New starts a bootstrapped cluster. It stops when the test ends.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	c := &Cluster{t: t, opts: opts}
	var conf raft.Configuration
	for i := 0; i < opts.Servers; i++ {
		n := &Node{ID: raft.ServerID(fmt.Sprintf("s%d", i)), snaps: raft.NewInmemSnapshotStore()}
		c.Nodes = append(c.Nodes, n)
		c.openStores(i)
		c.makeTransport(i)
		conf.Servers = append(conf.Servers, raft.Server{ID: n.ID, Address: n.Addr})
	}
	c.wireInmem()
	for i, n := range c.Nodes {
		if err := raft.BootstrapCluster(c.config(i), n.logs, n.stable, n.snaps, n.Faults, conf); err != nil {
			t.Fatalf("bootstrap %s: %v", n.ID, err)
		}
	}
	for i := range c.Nodes {
		c.start(i)
	}
	t.Cleanup(c.Shutdown)
	return c
}

func (c *Cluster) config(i int) *raft.Config {
	conf := raft.DefaultConfig()
	conf.LocalID = c.Nodes[i].ID
	conf.HeartbeatTimeout = 150 * time.Millisecond
	conf.ElectionTimeout = 150 * time.Millisecond
	conf.LeaderLeaseTimeout = 150 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotInterval = 100 * time.Millisecond
	conf.SnapshotThreshold = 200
	conf.TrailingLogs = 50
	level := hclog.Off
	if v := os.Getenv("RAFT_TEST_LOG"); v != "" {
		level = hclog.LevelFromString(v)
	}
	conf.Logger = hclog.New(&hclog.LoggerOptions{Name: string(conf.LocalID), Level: level, Output: os.Stderr})
	if c.opts.Config != nil {
		c.opts.Config(i, conf)
	}
	return conf
}

func (c *Cluster) openStores(i int) {
	n := c.Nodes[i]
	switch c.opts.Store {
	case WalStore:
		if n.walDir == "" {
			n.walDir = c.t.TempDir()
		}
		s, err := wal.Open(n.walDir, wal.Options{Logger: hclog.NewNullLogger()})
		if err != nil {
			c.t.Fatalf("open wal of %s: %v", n.ID, err)
		}
		n.walOpen, n.logs, n.stable = s, s, s
	default:
		if n.logs == nil {
			s := raft.NewInmemStore()
			n.logs, n.stable = s, s
		}
	}
}

func (c *Cluster) makeTransport(i int) {
	n := c.Nodes[i]
	var inner raft.Transport
	switch c.opts.Transport {
	case TCPTransport:
		bind := "127.0.0.1:0"
		if n.Addr != "" {
			bind = string(n.Addr)
		}
		var t *raft.NetworkTransport
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			t, err = raft.NewTCPTransportWithLogger(bind, nil, 3, 2*time.Second, hclog.NewNullLogger())
			if err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			c.t.Fatalf("listen for %s: %v", n.ID, err)
		}
		inner = t
	default:
		addr := n.Addr
		if addr == "" {
			addr = raft.ServerAddress(n.ID)
		}
		_, it := raft.NewInmemTransportWithTimeout(addr, 500*time.Millisecond)
		n.inmem = it
		inner = it
	}
	n.Addr = inner.LocalAddr()
	seed := c.opts.Seed*1000 + uint64(i)
	old := n.Faults
	n.Faults = NewFaultTransport(inner, seed)
	if old != nil {
		// Cut links and fault rates survive a restart.
		old.mu.Lock()
		n.Faults.faults = old.faults
		for a := range old.cut {
			n.Faults.cut[a] = true
		}
		for a := range old.down {
			n.Faults.down[a] = true
		}
		old.mu.Unlock()
	}
}

// wireInmem connects every in-memory transport to every other.
func (c *Cluster) wireInmem() {
	for _, a := range c.Nodes {
		for _, b := range c.Nodes {
			if a != b && a.inmem != nil && b.inmem != nil {
				a.inmem.Connect(b.Addr, b.inmem)
			}
		}
	}
}

func (c *Cluster) start(i int) {
	n := c.Nodes[i]
	var fsm raft.FSM
	if c.opts.FSM != nil {
		fsm = c.opts.FSM(i)
	} else {
		fsm = NewKV()
	}
	rec := newRecordingFSM(fsm)
	n.starts++
	n.crash = newCrashStore(n.logs, n.stable, c.opts.Seed*1000003+uint64(i)*1009+n.starts)
	r, err := raft.NewRaft(c.config(i), rec, n.crash, n.crash, n.snaps, n.Faults)
	if err != nil {
		c.t.Fatalf("start %s: %v", n.ID, err)
	}
	c.mu.Lock()
	n.Raft, n.FSM, n.rec, n.up = r, fsm, rec, true
	c.mu.Unlock()
}

// Server returns server i's node and FSM, and whether it runs. Use it
// rather than the Node fields while servers may restart.
func (c *Cluster) Server(i int) (*raft.Raft, raft.FSM, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.Nodes[i]
	return n.Raft, n.FSM, n.up
}

// Crash kills server i at once, as a killed process or a power cut would:
// from that instant it sends and receives nothing, and its stores take no
// more writes. Everything a store acknowledged is kept; a write it had not
// yet acknowledged is kept whole, kept in part (a prefix of the batch) or
// lost, as a seeded draw decides. The server's goroutines are then shut
// down, which changes nothing more in its stores.
func (c *Cluster) Crash(i int) {
	n := c.Nodes[i]
	c.mu.Lock()
	up := n.up
	n.up = false
	c.mu.Unlock()
	if !up {
		return
	}
	n.Faults.kill()
	for j, m := range c.Nodes {
		if j != i {
			m.Faults.setDown(n.Addr, true)
		}
	}
	caught, lost := n.crash.crash()
	c.mu.Lock()
	c.unsynced += caught
	c.lost += lost
	c.mu.Unlock()
	r, _, _ := c.Server(i)
	_ = r.Shutdown().Error()
	if n.walOpen != nil {
		_ = n.walOpen.Close()
		n.walOpen = nil
	}
}

// Restart starts a crashed server again from its stores, with a fresh FSM.
func (c *Cluster) Restart(i int) {
	if c.Up(i) {
		return
	}
	c.openStores(i)
	c.makeTransport(i)
	c.wireInmem()
	for j, m := range c.Nodes {
		if j != i {
			m.Faults.setDown(c.Nodes[i].Addr, false)
		}
	}
	c.start(i)
}

// UnsyncedWrites returns how many writes crashes caught before their store
// acknowledged them, and how many of those lost all or part of their data.
func (c *Cluster) UnsyncedWrites() (caught, lost int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unsynced, c.lost
}

// Up reports whether server i runs.
func (c *Cluster) Up(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Nodes[i].up
}

// Partition cuts every link between the groups, both ways; servers not
// listed keep their links.
func (c *Cluster) Partition(groups ...[]int) {
	for gi, g := range groups {
		for gj, h := range groups {
			if gi == gj {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					c.Nodes[a].Faults.Cut(c.Nodes[b].Addr)
				}
			}
		}
	}
}

// CutOneWay stops from's requests to to, leaving to's requests to from.
func (c *Cluster) CutOneWay(from, to int) {
	c.Nodes[from].Faults.Cut(c.Nodes[to].Addr)
}

// Heal restores every link and clears message faults.
func (c *Cluster) Heal() {
	for _, n := range c.Nodes {
		n.Faults.RestoreAll()
		n.Faults.SetFaults(Faults{})
	}
}

// SetFaults sets the message faults of every server's transport.
func (c *Cluster) SetFaults(f Faults) {
	for _, n := range c.Nodes {
		n.Faults.SetFaults(f)
	}
}

// Leader returns the index of a running server that believes it leads, or
// -1.
func (c *Cluster) Leader() int {
	best, term := -1, uint64(0)
	for i := range c.Nodes {
		r, _, up := c.Server(i)
		if up && r.State() == raft.Leader && r.CurrentTerm() >= term {
			best, term = i, r.CurrentTerm()
		}
	}
	return best
}

// Followers returns the running servers that are not the leader.
func (c *Cluster) Followers() []int {
	l := c.Leader()
	var out []int
	for i := range c.Nodes {
		if i != l && c.Up(i) {
			out = append(out, i)
		}
	}
	return out
}

// WaitForLeader waits until some running server leads.
func (c *Cluster) WaitForLeader(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		if l := c.Leader(); l >= 0 {
			return l, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("no leader within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitForApplied waits until every running server applied index.
func (c *Cluster) WaitForApplied(index uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		done := true
		for i := range c.Nodes {
			if r, _, up := c.Server(i); up && r.AppliedIndex() < index {
				done = false
			}
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("servers did not apply index %d within %v", index, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// CheckSameSequence checks that every running server applied the same
// command at every index two of them applied (entries a server received
// inside a snapshot are not its own record and are not compared).
func (c *Cluster) CheckSameSequence() error {
	var ref map[uint64]string
	var refID raft.ServerID
	for _, n := range c.Nodes {
		c.mu.Lock()
		rec, up := n.rec, n.up
		c.mu.Unlock()
		if !up || rec == nil {
			continue
		}
		applied := rec.snapshotApplied()
		if ref == nil {
			ref, refID = applied, n.ID
			continue
		}
		for idx, cmd := range applied {
			if other, ok := ref[idx]; ok && other != cmd {
				return fmt.Errorf("index %d: %s applied %q, %s applied %q", idx, n.ID, cmd, refID, other)
			}
		}
	}
	return nil
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for i := range c.Nodes {
		c.Crash(i)
	}
}

var _ io.Closer = (*FaultTransport)(nil)
