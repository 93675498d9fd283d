package rafttest

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/consensuskit/raft"
)

// KVCommand is a write to the KV FSM, as replicated in the log.
type KVCommand struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// KV is a replicated map of strings. Reads are local: make them
// linearizable with Raft.ReadIndex (or Raft.Barrier on the leader) first.
type KV struct {
	mu   sync.RWMutex
	data map[string]string
}

// NewKV returns an empty KV.
func NewKV() *KV {
	return &KV{data: map[string]string{}}
}

// EncodePut returns the log command that sets key to value.
func EncodePut(key, value string) []byte {
	b, _ := json.Marshal(KVCommand{Key: key, Value: value})
	return b
}

// Apply sets a key. A malformed command changes nothing and returns an
// error as its response.
func (k *KV) Apply(l *raft.Log) interface{} {
	var c KVCommand
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return fmt.Errorf("bad command at %d: %w", l.Index, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.data[c.Key] = c.Value
	return nil
}

// Get reads a key from this server's copy.
func (k *KV) Get(key string) string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.data[key]
}

// Snapshot copies the map.
func (k *KV) Snapshot() (raft.FSMSnapshot, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	c := make(map[string]string, len(k.data))
	for key, v := range k.data {
		c[key] = v
	}
	return kvSnapshot(c), nil
}

// Restore replaces the map.
func (k *KV) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data := map[string]string{}
	if err := json.NewDecoder(rc).Decode(&data); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.data = data
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
