package raft_test

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/consensuskit/raft"
)

// counter is a tiny FSM: it counts the commands applied.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Apply(*raft.Log) interface{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}
func (c *counter) Snapshot() (raft.FSMSnapshot, error) { return nil, fmt.Errorf("not needed here") }
func (c *counter) Restore(rc io.ReadCloser) error      { return rc.Close() }

// Example runs a three-server cluster in one process over the in-memory
// transport, the same code as the README's quick start.
func Example() {
	ids := []raft.ServerID{"a", "b", "c"}
	var servers []raft.Server
	transports := map[raft.ServerID]*raft.InmemTransport{}
	for _, id := range ids {
		addr, t := raft.NewInmemTransport(raft.ServerAddress(id))
		transports[id] = t
		servers = append(servers, raft.Server{ID: id, Address: addr})
	}
	for _, a := range transports { // wire every transport to every other
		for _, b := range transports {
			a.Connect(b.LocalAddr(), b)
		}
	}
	var nodes []*raft.Raft
	for _, id := range ids {
		conf := raft.DefaultConfig()
		conf.LocalID = id
		store := raft.NewInmemStore()
		snaps := raft.NewDiscardSnapshotStore()
		cluster := raft.Configuration{Servers: servers}
		if err := raft.BootstrapCluster(conf, store, store, snaps, transports[id], cluster); err != nil {
			panic(err)
		}
		node, err := raft.NewRaft(conf, &counter{}, store, store, snaps, transports[id])
		if err != nil {
			panic(err)
		}
		defer node.Shutdown()
		nodes = append(nodes, node)
	}
	for {
		for _, node := range nodes {
			if node.State() == raft.Leader {
				f := node.Apply([]byte("increment"), time.Second)
				if err := f.Error(); err != nil {
					panic(err)
				}
				fmt.Println("applied at index", f.Index(), "count is", f.Response())
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Output:
	// applied at index 3 count is 1
}
