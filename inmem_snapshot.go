package raft

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// InmemSnapshotStore is a SnapshotStore that keeps only the newest snapshot,
// in memory. It suits tests and examples; everything is lost with the
// process, and each snapshot is held whole in memory while being written.
// Like the file store, a snapshot becomes visible only when its sink is
// closed. It is safe for concurrent use.
type InmemSnapshotStore struct {
	mu sync.Mutex
	// latest is the newest closed snapshot, nil before the first. Its data
	// is never modified once stored, so readers can share it.
	latest *inmemSnapshot
	// lastMillis keeps IDs unique, as in FileSnapshotStore.
	lastMillis int64
	// now is the clock for names; tests replace it to force collisions.
	now func() time.Time
}

// inmemSnapshot is one finished snapshot.
type inmemSnapshot struct {
	meta SnapshotMeta
	data []byte
}

// NewInmemSnapshotStore returns an empty in-memory snapshot store.
func NewInmemSnapshotStore() *InmemSnapshotStore {
	return &InmemSnapshotStore{now: time.Now}
}

// Create starts a snapshot whose data is buffered in memory until the sink
// is closed. Peers is filled as by FileSnapshotStore.Create. It fails with
// ErrUnsupportedSnapshotVersion for an unknown version.
func (m *InmemSnapshotStore) Create(version SnapshotVersion, index, term uint64, configuration Configuration,
	configurationIndex uint64, trans Transport) (SnapshotSink, error) {
	if err := checkSnapshotVersion(version); err != nil {
		return nil, err
	}
	peers, err := encodeSnapshotPeers(configuration, trans)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	ms := max(m.now().UnixMilli(), m.lastMillis+1)
	m.lastMillis = ms
	m.mu.Unlock()
	return &inmemSnapshotSink{
		store: m,
		meta: SnapshotMeta{
			Version:            version,
			ID:                 snapshotName(term, index, ms),
			Index:              index,
			Term:               term,
			Peers:              peers,
			Configuration:      configuration.Clone(),
			ConfigurationIndex: configurationIndex,
		},
	}, nil
}

// List returns the newest snapshot's metadata, or an empty list when no
// snapshot has been closed yet. It never fails.
func (m *InmemSnapshotStore) List() ([]*SnapshotMeta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.latest == nil {
		return []*SnapshotMeta{}, nil
	}
	return []*SnapshotMeta{cloneSnapshotMeta(&m.latest.meta)}, nil
}

// Open returns the metadata and data of snapshot id. The reader is
// independent of the store and of other readers: a later snapshot replacing
// this one does not change what it reads. Open fails with
// ErrSnapshotNotFound unless id is the newest snapshot.
func (m *InmemSnapshotStore) Open(id string) (*SnapshotMeta, io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.latest == nil || m.latest.meta.ID != id {
		return nil, nil, fmt.Errorf("%w: in-memory store does not hold %q", ErrSnapshotNotFound, id)
	}
	return cloneSnapshotMeta(&m.latest.meta), io.NopCloser(bytes.NewReader(m.latest.data)), nil
}

// publish makes s the stored snapshot unless a newer one is already there,
// so sinks closed out of order cannot replace a newer snapshot by an older.
func (m *InmemSnapshotStore) publish(s *inmemSnapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.latest == nil || compareSnapshotsNewestFirst(&s.meta, &m.latest.meta) < 0 {
		m.latest = s
	}
}

// inmemSnapshotSink buffers one snapshot.
type inmemSnapshotSink struct {
	store *InmemSnapshotStore
	mu    sync.Mutex
	meta  SnapshotMeta
	buf   bytes.Buffer
	done  bool
}

// ID returns the snapshot's ID.
func (s *inmemSnapshotSink) ID() string { return s.meta.ID }

// Write appends p to the snapshot. It fails with ErrSnapshotSinkClosed after
// Close or Cancel.
func (s *inmemSnapshotSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return 0, fmt.Errorf("%w: snapshot %s", ErrSnapshotSinkClosed, s.meta.ID)
	}
	return s.buf.Write(p)
}

// Close stores the snapshot, replacing the previous one unless that one is
// newer. It fails with ErrSnapshotSinkClosed when called twice or after
// Cancel.
func (s *inmemSnapshotSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return fmt.Errorf("%w: snapshot %s", ErrSnapshotSinkClosed, s.meta.ID)
	}
	s.done = true
	s.meta.Size = int64(s.buf.Len())
	// The sink is done, so its buffer is never written again and can be
	// shared with readers without copying.
	s.store.publish(&inmemSnapshot{meta: s.meta, data: s.buf.Bytes()})
	return nil
}

// Cancel discards the snapshot. It is a no-op after Close or Cancel and
// never fails.
func (s *inmemSnapshotSink) Cancel() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	s.buf = bytes.Buffer{}
	return nil
}

// cloneSnapshotMeta returns a deep copy, so callers cannot alter what a
// store holds through the metadata it hands out.
func cloneSnapshotMeta(m *SnapshotMeta) *SnapshotMeta {
	c := *m
	c.Peers = bytes.Clone(m.Peers)
	c.Configuration = m.Configuration.Clone()
	return &c
}
