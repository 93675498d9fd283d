// Command raftkv is the project's demo: a replicated key-value store of
// three servers in one process over the in-memory transport. It writes
// keys, stops the leader, shows a new leader taking over with no write
// lost, brings the old leader back and shows it catching up.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/consensuskit/raft"
	"github.com/hashicorp/go-hclog"
)

type server struct {
	id    raft.ServerID
	node  *raft.Raft
	fsm   *kvFSM
	store *raft.InmemStore
	trans *raft.InmemTransport
}

func main() {
	keys := flag.Int("keys", 100, "keys to write before and after the failover")
	verbose := flag.Bool("v", false, "show the library's debug logs")
	flag.Parse()
	if err := run(*keys, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "raftkv:", err)
		os.Exit(1)
	}
}

func run(keys int, verbose bool) error {
	level := hclog.Warn
	if verbose {
		level = hclog.Debug
	}
	ids := []raft.ServerID{"kv1", "kv2", "kv3"}
	servers := make([]*server, len(ids))
	var members []raft.Server
	for i, id := range ids {
		addr, t := raft.NewInmemTransport(raft.ServerAddress(id))
		servers[i] = &server{id: id, store: raft.NewInmemStore(), trans: t, fsm: newKVFSM()}
		members = append(members, raft.Server{ID: id, Address: addr})
	}
	connect(servers)
	config := func(id raft.ServerID) *raft.Config {
		c := raft.DefaultConfig()
		c.LocalID = id
		c.Logger = hclog.New(&hclog.LoggerOptions{Name: string(id), Level: level})
		return c
	}
	for _, s := range servers {
		snaps := raft.NewDiscardSnapshotStore()
		if err := raft.BootstrapCluster(config(s.id), s.store, s.store, snaps, s.trans, raft.Configuration{Servers: members}); err != nil {
			return err
		}
		if err := s.start(config(s.id)); err != nil {
			return err
		}
	}
	defer func() {
		for _, s := range servers {
			if s.node != nil {
				s.node.Shutdown()
			}
		}
	}()

	leader := waitLeader(servers)
	fmt.Printf("leader elected: %s (term %d)\n", leader.id, leader.node.CurrentTerm())
	start := time.Now()
	if err := writeKeys(servers, 0, keys); err != nil {
		return err
	}
	fmt.Printf("wrote %d keys in %v\n", keys, time.Since(start).Round(time.Millisecond))

	fmt.Printf("stopping the leader %s\n", leader.id)
	leader.node.Shutdown()
	leader.node = nil
	next := waitLeader(servers)
	fmt.Printf("new leader: %s (term %d)\n", next.id, next.node.CurrentTerm())
	if err := writeKeys(servers, keys, 2*keys); err != nil {
		return err
	}
	fmt.Printf("wrote %d more keys through the new leader\n", keys)

	fmt.Printf("restarting %s from its stores\n", leader.id)
	leader.fsm = newKVFSM()
	_, leader.trans = raft.NewInmemTransport(raft.ServerAddress(leader.id))
	connect(servers)
	if err := leader.start(config(leader.id)); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	want := fmt.Sprintf("value-%d", 2*keys-1)
	for {
		if v, _ := leader.fsm.Get(fmt.Sprintf("key-%d", 2*keys-1)); v == want {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not catch up", leader.id)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, s := range servers {
		for k := 0; k < 2*keys; k++ {
			if v, ok := s.fsm.Get(fmt.Sprintf("key-%d", k)); !ok || v != fmt.Sprintf("value-%d", k) {
				return fmt.Errorf("%s lost key-%d", s.id, k)
			}
		}
		fmt.Printf("%s holds all %d keys (applied index %d)\n", s.id, 2*keys, s.node.AppliedIndex())
	}
	return nil
}

func (s *server) start(conf *raft.Config) error {
	node, err := raft.NewRaft(conf, s.fsm, s.store, s.store, raft.NewDiscardSnapshotStore(), s.trans)
	if err != nil {
		return err
	}
	s.node = node
	return nil
}

// connect wires every transport to every other.
func connect(servers []*server) {
	for _, a := range servers {
		for _, b := range servers {
			if a != b {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
}

func waitLeader(servers []*server) *server {
	for {
		for _, s := range servers {
			if s.node != nil && s.node.State() == raft.Leader {
				return s
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeKeys sets key-i = value-i for i in [from, to) through the leader.
func writeKeys(servers []*server, from, to int) error {
	for i := from; i < to; i++ {
		cmd, err := json.Marshal(command{Op: "set", Key: fmt.Sprintf("key-%d", i), Value: fmt.Sprintf("value-%d", i)})
		if err != nil {
			return err
		}
		for attempt := 0; ; attempt++ {
			l := waitLeader(servers)
			f := l.node.Apply(cmd, time.Second)
			if err := f.Error(); err == nil {
				if resp, ok := f.Response().(error); ok && resp != nil {
					return resp
				}
				break
			} else if attempt == 50 {
				return fmt.Errorf("writing key-%d: %w", i, err)
			}
		}
	}
	return nil
}
