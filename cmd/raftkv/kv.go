package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/consensuskit/raft"
)

// command is one write to the key-value store, as replicated in the log.
type command struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// kvFSM is a replicated map of strings.
type kvFSM struct {
	mu   sync.RWMutex
	data map[string]string
}

func newKVFSM() *kvFSM { return &kvFSM{data: make(map[string]string)} }

// Apply applies a set or delete; a malformed command changes nothing and
// reports the error to the proposer.
func (k *kvFSM) Apply(l *raft.Log) interface{} {
	var c command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return fmt.Errorf("bad command at %d: %w", l.Index, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch c.Op {
	case "set":
		k.data[c.Key] = c.Value
	case "delete":
		delete(k.data, c.Key)
	default:
		return fmt.Errorf("unknown op %q at %d", c.Op, l.Index)
	}
	return nil
}

// Get reads the local copy.
func (k *kvFSM) Get(key string) (string, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	v, ok := k.data[key]
	return v, ok
}

// Snapshot copies the map so Persist can write it while Apply goes on.
func (k *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	c := make(map[string]string, len(k.data))
	for key, v := range k.data {
		c[key] = v
	}
	return kvSnapshot(c), nil
}

// Restore replaces the map with a snapshot.
func (k *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data := make(map[string]string)
	if err := json.NewDecoder(rc).Decode(&data); err != nil {
		return err
	}
	k.mu.Lock()
	k.data = data
	k.mu.Unlock()
	return nil
}

type kvSnapshot map[string]string

func (s kvSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(map[string]string(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s kvSnapshot) Release() {}
