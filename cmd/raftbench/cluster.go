package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/consensuskit/raft"
	"github.com/consensuskit/raft/wal"
	"github.com/hashicorp/go-hclog"
)

// cluster is the servers of one run and what must be released after it.
type cluster struct {
	nodes   []*raft.Raft
	wals    []*wal.Store
	closers []io.Closer
	tempDir string
}

// startCluster starts s.servers bootstrapped servers and waits for a leader.
func startCluster(s settings) (c *cluster, err error) {
	c = &cluster{}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	var dir string
	if s.store == "wal" {
		// A fresh directory every run: the servers' addresses change
		// from run to run, so old state would hold a stale membership.
		if dir, err = os.MkdirTemp(s.dir, "raftbench-"); err != nil {
			return c, err
		}
		c.tempDir = dir
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raftbench", Level: hclog.Warn, Output: os.Stderr})

	type member struct {
		conf   *raft.Config
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
		trans  raft.Transport
	}
	members := make([]member, s.servers)
	var servers []raft.Server
	var inmem []*raft.InmemTransport
	for i := range members {
		m := &members[i]
		id := raft.ServerID(fmt.Sprintf("s%d", i))
		m.conf = raft.DefaultConfig()
		m.conf.LocalID = id
		m.conf.Logger = logger.Named(string(id))
		if s.op == "lease" {
			m.conf.ReadConsistency = raft.ReadConsistencyLease
		}
		if err := c.openStores(s, dir, i, m.conf.Logger, &m.logs, &m.stable, &m.snaps); err != nil {
			return c, err
		}
		switch s.transport {
		case "tcp":
			t, err := raft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &raft.NetworkTransportConfig{
				MaxPool:         3,
				Timeout:         10 * time.Second,
				Logger:          m.conf.Logger,
				MaxRPCsInFlight: s.inflight,
			})
			if err != nil {
				return c, err
			}
			c.closers = append(c.closers, t)
			m.trans = t
		default:
			_, t := raft.NewInmemTransport(raft.ServerAddress(id))
			inmem = append(inmem, t)
			m.trans = t
		}
		servers = append(servers, raft.Server{ID: id, Address: m.trans.LocalAddr()})
	}
	for _, a := range inmem {
		for _, b := range inmem {
			if a != b {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	for _, m := range members {
		if err := raft.BootstrapCluster(m.conf, m.logs, m.stable, m.snaps, m.trans, raft.Configuration{Servers: servers}); err != nil {
			return c, err
		}
		r, err := raft.NewRaft(m.conf, &counter{}, m.logs, m.stable, m.snaps, m.trans)
		if err != nil {
			return c, err
		}
		c.nodes = append(c.nodes, r)
	}
	if _, err := c.leader(30 * time.Second); err != nil {
		return c, err
	}
	return c, nil
}

// openStores opens server i's stores: wal and file snapshots under dir, or
// in memory.
func (c *cluster) openStores(s settings, dir string, i int, logger hclog.Logger, logs *raft.LogStore, stable *raft.StableStore, snaps *raft.SnapshotStore) error {
	if s.store == "inmem" {
		st := raft.NewInmemStore()
		*logs, *stable, *snaps = st, st, raft.NewInmemSnapshotStore()
		return nil
	}
	base := filepath.Join(dir, fmt.Sprintf("s%d", i))
	w, err := wal.Open(filepath.Join(base, "wal"), wal.Options{Logger: logger})
	if err != nil {
		return err
	}
	c.closers = append(c.closers, w)
	c.wals = append(c.wals, w)
	fs, err := raft.NewFileSnapshotStoreWithLogger(base, 2, logger)
	if err != nil {
		return err
	}
	*logs, *stable, *snaps = w, w, fs
	return nil
}

// leader waits up to limit for a server that leads.
func (c *cluster) leader(limit time.Duration) (*raft.Raft, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, r := range c.nodes {
			if r.State() == raft.Leader {
				return r, nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, fmt.Errorf("no leader within %v", limit)
}

// close shuts every server down, then closes transports and stores, and
// removes the temporary directory.
func (c *cluster) close() {
	for _, r := range c.nodes {
		_ = r.Shutdown().Error()
	}
	for _, cl := range c.closers {
		_ = cl.Close()
	}
	if c.tempDir != "" {
		_ = os.RemoveAll(c.tempDir)
	}
}

// counter is the benchmark's FSM: it counts the commands applied, and its
// snapshot is the count.
type counter struct{ n atomic.Uint64 }

func (f *counter) Apply(*raft.Log) any { return f.n.Add(1) }

func (f *counter) Snapshot() (raft.FSMSnapshot, error) { return countSnapshot(f.n.Load()), nil }

func (f *counter) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var b [8]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return err
	}
	f.n.Store(binary.BigEndian.Uint64(b[:]))
	return nil
}

type countSnapshot uint64

func (s countSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(binary.BigEndian.AppendUint64(nil, uint64(s))); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (countSnapshot) Release() {}
