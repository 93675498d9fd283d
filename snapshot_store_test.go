package raft

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// Helpers and tests shared by the snapshot stores.

// snapshotPeerTransport is a Transport whose only working method is
// EncodePeer, so tests can see that stores build Peers through it.
type snapshotPeerTransport struct {
	Transport
	prefix string
}

func (p snapshotPeerTransport) EncodePeer(id ServerID, addr ServerAddress) []byte {
	return []byte(p.prefix + string(addr))
}

// goldenSnapshotConfig is the configuration hashicorp/raft was given when it
// wrote testdata/wire/snapshot.
func goldenSnapshotConfig() Configuration {
	return Configuration{Servers: []Server{
		{Suffrage: Voter, ID: "node-a", Address: "127.0.0.1:7001"},
		{Suffrage: Voter, ID: "node-b", Address: "127.0.0.1:7002"},
		{Suffrage: Nonvoter, ID: "node-c", Address: "127.0.0.1:7003"},
	}}
}

// snapshotTestData returns n bytes that depend on seed, so a snapshot's
// content identifies it.
func snapshotTestData(seed uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(uint64(i)*31 + seed*7)
	}
	return b
}

// mustSnapshot writes and closes a snapshot and returns its ID.
func mustSnapshot(t testing.TB, s SnapshotStore, term, index uint64, data []byte) string {
	t.Helper()
	sink, err := s.Create(SnapshotVersionMax, index, term, goldenSnapshotConfig(), index, nil)
	if err != nil {
		t.Fatalf("Create(term %d, index %d): %v", term, index, err)
	}
	if _, err := sink.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return sink.ID()
}

// readSnapshot opens a snapshot and reads it to the end.
func readSnapshot(s SnapshotStore, id string) (*SnapshotMeta, []byte, error) {
	meta, rc, err := s.Open(id)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(rc)
	return meta, data, errors.Join(err, rc.Close())
}

// listIDs returns the IDs List reports, in its order.
func listIDs(t testing.TB, s SnapshotStore) []string {
	t.Helper()
	metas, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	ids := make([]string, 0, len(metas))
	for _, m := range metas {
		ids = append(ids, m.ID)
	}
	return ids
}

// snapshotStores builds a fresh store of each kind that keeps snapshots.
func snapshotStores(t *testing.T) map[string]SnapshotStore {
	fs, err := NewFileSnapshotStore(t.TempDir(), 3, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]SnapshotStore{"file": fs, "inmem": NewInmemSnapshotStore()}
}

func TestSnapshotStoresRejectUnknownVersion(t *testing.T) {
	for name, s := range snapshotStores(t) {
		for _, v := range []SnapshotVersion{SnapshotVersionMin - 1, SnapshotVersionMax + 1} {
			if _, err := s.Create(v, 1, 1, goldenSnapshotConfig(), 1, nil); !errors.Is(err, ErrUnsupportedSnapshotVersion) {
				t.Errorf("%s: Create(version %d) error = %v, want ErrUnsupportedSnapshotVersion", name, v, err)
			}
		}
	}
}

func TestSnapshotStoresHideUnclosedSnapshots(t *testing.T) {
	for name, s := range snapshotStores(t) {
		sink, err := s.Create(SnapshotVersionMax, 5, 2, goldenSnapshotConfig(), 3, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sink.Write([]byte("partial")); err != nil {
			t.Fatal(err)
		}
		if ids := listIDs(t, s); len(ids) != 0 {
			t.Errorf("%s: List before Close = %v, want nothing", name, ids)
		}
		if _, _, err := s.Open(sink.ID()); !errors.Is(err, ErrSnapshotNotFound) {
			t.Errorf("%s: Open before Close error = %v, want ErrSnapshotNotFound", name, err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		meta, data, err := readSnapshot(s, sink.ID())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(data) != "partial" || meta.Size != 7 || meta.Index != 5 || meta.Term != 2 ||
			meta.ConfigurationIndex != 3 || meta.Version != SnapshotVersionMax || meta.ID != sink.ID() {
			t.Errorf("%s: got meta %+v data %q", name, meta, data)
		}
	}
}

func TestSnapshotStoresSinkLifecycle(t *testing.T) {
	for name, s := range snapshotStores(t) {
		prev := mustSnapshot(t, s, 1, 10, []byte("previous"))

		sink, err := s.Create(SnapshotVersionMax, 20, 1, goldenSnapshotConfig(), 20, nil)
		if err != nil {
			t.Fatal(err)
		}
		// An FSM that fails half-way through Persist: some bytes, then
		// the engine cancels.
		if _, err := sink.Write(bytes.Repeat([]byte{0xee}, 100_000)); err != nil {
			t.Fatal(err)
		}
		if err := sink.Cancel(); err != nil {
			t.Fatalf("%s: Cancel: %v", name, err)
		}
		if err := sink.Cancel(); err != nil {
			t.Errorf("%s: second Cancel: %v, want nil", name, err)
		}
		if _, err := sink.Write([]byte("x")); !errors.Is(err, ErrSnapshotSinkClosed) {
			t.Errorf("%s: Write after Cancel error = %v, want ErrSnapshotSinkClosed", name, err)
		}
		if err := sink.Close(); !errors.Is(err, ErrSnapshotSinkClosed) {
			t.Errorf("%s: Close after Cancel error = %v, want ErrSnapshotSinkClosed", name, err)
		}
		if ids := listIDs(t, s); len(ids) != 1 || ids[0] != prev {
			t.Errorf("%s: List after Cancel = %v, want [%s]", name, ids, prev)
		}
		if _, data, err := readSnapshot(s, prev); err != nil || string(data) != "previous" {
			t.Errorf("%s: previous snapshot reads %q, %v", name, data, err)
		}

		done, err := s.Create(SnapshotVersionMax, 30, 1, goldenSnapshotConfig(), 30, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := done.Close(); err != nil {
			t.Fatal(err)
		}
		if err := done.Close(); !errors.Is(err, ErrSnapshotSinkClosed) {
			t.Errorf("%s: second Close error = %v, want ErrSnapshotSinkClosed", name, err)
		}
		if _, err := done.Write([]byte("x")); !errors.Is(err, ErrSnapshotSinkClosed) {
			t.Errorf("%s: Write after Close error = %v, want ErrSnapshotSinkClosed", name, err)
		}
		if err := done.Cancel(); err != nil {
			t.Errorf("%s: Cancel after Close = %v, want nil", name, err)
		}
		if ids := listIDs(t, s); len(ids) == 0 || ids[0] != done.ID() {
			t.Errorf("%s: Cancel after Close removed the snapshot: List = %v", name, ids)
		}
	}
}

func TestSnapshotStoresFillPeersThroughTransport(t *testing.T) {
	for name, s := range snapshotStores(t) {
		sink, err := s.Create(SnapshotVersionMax, 1, 1, goldenSnapshotConfig(), 1, snapshotPeerTransport{prefix: "x:"})
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		meta, _, err := readSnapshot(s, sink.ID())
		if err != nil {
			t.Fatal(err)
		}
		want, err := encodeMsgpack([][]byte{[]byte("x:127.0.0.1:7001"), []byte("x:127.0.0.1:7002")})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(meta.Peers, want) {
			t.Errorf("%s: Peers = %x, want %x", name, meta.Peers, want)
		}
	}
}

// TestSnapshotStoresConcurrentUse runs writers, listers and readers at once;
// under -race it checks the stores' locking, and every snapshot read back
// must hold exactly the data written for it.
func TestSnapshotStoresConcurrentUse(t *testing.T) {
	for name, s := range snapshotStores(t) {
		t.Run(name, func(t *testing.T) {
			const writers, perWriter = 4, 6
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWriter {
						index := uint64(w*perWriter + i + 1)
						sink, err := s.Create(SnapshotVersionMax, index, 1, goldenSnapshotConfig(), index, nil)
						if err != nil {
							errs <- err
							return
						}
						data := snapshotTestData(index, 1000+int(index))
						if _, err := sink.Write(data); err != nil {
							errs <- err
							return
						}
						if i%3 == 2 {
							err = sink.Cancel()
						} else {
							err = sink.Close()
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range writers * perWriter {
						metas, err := s.List()
						if err != nil {
							errs <- err
							return
						}
						for _, m := range metas {
							got, data, err := readSnapshot(s, m.ID)
							if errors.Is(err, ErrSnapshotNotFound) {
								continue // replaced or reaped since List
							}
							if err != nil {
								errs <- err
								return
							}
							if want := snapshotTestData(got.Index, 1000+int(got.Index)); !bytes.Equal(data, want) {
								errs <- fmt.Errorf("snapshot %s: wrong data", m.ID)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			ids := listIDs(t, s)
			if len(ids) == 0 {
				t.Fatal("nothing listed after concurrent writes")
			}
			newest, _, err := readSnapshot(s, ids[0])
			if err != nil {
				t.Fatal(err)
			}
			// The highest index closed (not cancelled) is the last of the
			// last writer with i%3 != 2.
			if want := uint64(writers*perWriter - 1); newest.Index != want {
				t.Errorf("newest snapshot index = %d, want %d", newest.Index, want)
			}
		})
	}
}

// setSnapshotClock replaces a store's naming clock.
func setSnapshotClock(t *testing.T, s SnapshotStore, now func() time.Time) {
	switch s := s.(type) {
	case *FileSnapshotStore:
		s.now = now
	case *InmemSnapshotStore:
		s.now = now
	default:
		t.Fatalf("no clock in %T", s)
	}
}

// TestSnapshotStoresIDsFollowCreationOrder stops and then rewinds the clock:
// IDs must stay distinct, and a snapshot created later must still count as
// newer than an earlier one of the same term and index.
func TestSnapshotStoresIDsFollowCreationOrder(t *testing.T) {
	for name, s := range snapshotStores(t) {
		wall := time.UnixMilli(5_000_000)
		setSnapshotClock(t, s, func() time.Time { return wall })
		var ids []string
		for i := range 3 {
			ids = append(ids, mustSnapshot(t, s, 2, 8, []byte{byte(i)}))
		}
		wall = wall.Add(-time.Hour)
		ids = append(ids, mustSnapshot(t, s, 2, 8, []byte{3}))
		if len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("%s: duplicate IDs %v", name, ids)
		}
		got := listIDs(t, s)
		if len(got) == 0 || got[0] != ids[3] {
			t.Errorf("%s: List = %v, want the last created, %s, first", name, got, ids[3])
		}
		if name == "file" && !slices.Equal(got, []string{ids[3], ids[2], ids[1]}) {
			t.Errorf("%s: List = %v, want %v", name, got, []string{ids[3], ids[2], ids[1]})
		}
	}
}
