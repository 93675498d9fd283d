package raft

import (
	"io"
)

// SnapshotVersion is the format version of a snapshot. Version 1 is the
// only one written; it carries the configuration in the metadata.
type SnapshotVersion int

const (
	// SnapshotVersionMin is the oldest snapshot version understood.
	SnapshotVersionMin SnapshotVersion = 0
	// SnapshotVersionMax is the newest snapshot version understood and the
	// one written.
	SnapshotVersionMax SnapshotVersion = 1
)

// SnapshotMeta describes a stored snapshot. Its JSON form is the meta.json
// of a FileSnapshotStore, shared with hashicorp/raft.
type SnapshotMeta struct {
	// Version is the snapshot's format version.
	Version SnapshotVersion
	// ID uniquely names the snapshot within its store.
	ID string
	// Index is the last log index the snapshot covers.
	Index uint64
	// Term is the term of that entry.
	Term uint64
	// Peers is the legacy peer list, kept for old peers.
	Peers []byte
	// Configuration is the membership as of Index.
	Configuration Configuration
	// ConfigurationIndex is where that configuration was appended.
	ConfigurationIndex uint64
	// Size is the size of the snapshot data in bytes.
	Size int64
}

// SnapshotStore stores snapshots of the FSM.
type SnapshotStore interface {
	// Create starts a new snapshot. Nothing is visible to List until the
	// sink is closed without error.
	Create(version SnapshotVersion, index, term uint64, configuration Configuration,
		configurationIndex uint64, trans Transport) (SnapshotSink, error)
	// List returns the stored snapshots, newest first.
	List() ([]*SnapshotMeta, error)
	// Open returns a snapshot's metadata and data. The caller closes the
	// reader.
	Open(id string) (*SnapshotMeta, io.ReadCloser, error)
}

// SnapshotSink receives a snapshot's data from FSMSnapshot.Persist.
type SnapshotSink interface {
	io.WriteCloser
	// ID returns the snapshot's ID.
	ID() string
	// Cancel abandons the snapshot; nothing of it is kept.
	Cancel() error
}
