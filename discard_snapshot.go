package raft

import (
	"fmt"
	"io"
)

// DiscardSnapshotStore is a SnapshotStore that keeps nothing. It suits
// tests and nodes whose FSM is rebuilt from the log alone; a node using it
// can never send a snapshot to a lagging follower.
type DiscardSnapshotStore struct{}

// NewDiscardSnapshotStore returns a store that discards every snapshot.
func NewDiscardSnapshotStore() *DiscardSnapshotStore {
	return &DiscardSnapshotStore{}
}

// Create returns a sink that discards what is written to it.
func (d *DiscardSnapshotStore) Create(version SnapshotVersion, index, term uint64,
	configuration Configuration, configurationIndex uint64, trans Transport) (SnapshotSink, error) {
	return &discardSnapshotSink{}, nil
}

// List returns no snapshots.
func (d *DiscardSnapshotStore) List() ([]*SnapshotMeta, error) {
	return nil, nil
}

// Open always fails: nothing is stored.
func (d *DiscardSnapshotStore) Open(id string) (*SnapshotMeta, io.ReadCloser, error) {
	return nil, nil, fmt.Errorf("%w: discard snapshot store holds no snapshot %q", ErrSnapshotNotFound, id)
}

type discardSnapshotSink struct{}

func (d *discardSnapshotSink) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardSnapshotSink) Close() error                { return nil }
func (d *discardSnapshotSink) ID() string                  { return "discard" }
func (d *discardSnapshotSink) Cancel() error               { return nil }
