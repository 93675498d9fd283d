package raft

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"slices"
	"testing"
)

func TestInmemSnapshotStoreEmpty(t *testing.T) {
	s := NewInmemSnapshotStore()
	metas, err := s.List()
	if err != nil || metas == nil || len(metas) != 0 {
		t.Errorf("List on an empty store = %v, %v, want an empty list", metas, err)
	}
	if _, _, err := s.Open("1-1-1"); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("Open on an empty store error = %v, want ErrSnapshotNotFound", err)
	}
}

func TestInmemSnapshotStoreKeepsOnlyLatest(t *testing.T) {
	s := NewInmemSnapshotStore()
	first := mustSnapshot(t, s, 1, 10, []byte("first"))
	if !regexp.MustCompile(`^1-10-[0-9]+$`).MatchString(first) {
		t.Errorf("ID %q is not <term>-<index>-<unix ms>", first)
	}
	second := mustSnapshot(t, s, 1, 20, []byte("second"))
	if got := listIDs(t, s); !slices.Equal(got, []string{second}) {
		t.Errorf("List = %v, want [%s]", got, second)
	}
	if _, _, err := s.Open(first); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("Open(replaced) error = %v, want ErrSnapshotNotFound", err)
	}
	meta, data, err := readSnapshot(s, second)
	if err != nil || string(data) != "second" || meta.Size != 6 || meta.Index != 20 {
		t.Errorf("Open(latest) = %+v, %q, %v", meta, data, err)
	}
	// Same term and index again: a distinct, newer snapshot.
	again := mustSnapshot(t, s, 1, 20, []byte("again"))
	if again == second {
		t.Fatalf("two snapshots got the same ID %s", again)
	}
	if got := listIDs(t, s); !slices.Equal(got, []string{again}) {
		t.Errorf("List = %v, want [%s]", got, again)
	}
}

// TestInmemSnapshotStoreOlderCloseDoesNotReplaceNewer closes two sinks out
// of order: the store must keep the newer snapshot.
func TestInmemSnapshotStoreOlderCloseDoesNotReplaceNewer(t *testing.T) {
	s := NewInmemSnapshotStore()
	older, err := s.Create(SnapshotVersionMax, 10, 1, goldenSnapshotConfig(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	newer := mustSnapshot(t, s, 1, 20, []byte("newer"))
	if err := older.Close(); err != nil {
		t.Fatal(err)
	}
	if got := listIDs(t, s); !slices.Equal(got, []string{newer}) {
		t.Errorf("List = %v, want [%s]", got, newer)
	}
}

// TestInmemSnapshotStoreReadersAreIndependent checks that readers, the
// metadata handed out and a later snapshot do not disturb one another.
func TestInmemSnapshotStoreReadersAreIndependent(t *testing.T) {
	s := NewInmemSnapshotStore()
	id := mustSnapshot(t, s, 1, 10, []byte("0123456789"))

	meta1, r1, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	_, r2, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(r1, head); err != nil || string(head) != "0123" {
		t.Fatalf("first reader read %q, %v", head, err)
	}
	if all, err := io.ReadAll(r2); err != nil || string(all) != "0123456789" {
		t.Errorf("second reader read %q, %v, want all the data", all, err)
	}

	// Scribbling on the returned metadata does not reach the store.
	meta1.Peers[0] ^= 0xff
	meta1.Configuration.Servers[0].ID = "changed"
	meta2, _, err := readSnapshot(s, id)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := encodeSnapshotPeers(goldenSnapshotConfig(), nil)
	if !bytes.Equal(meta2.Peers, want) || meta2.Configuration.Servers[0].ID != "node-a" {
		t.Errorf("store's metadata changed through a returned copy: %+v", meta2)
	}

	// A newer snapshot replaces the stored one but not an open reader's data.
	mustSnapshot(t, s, 1, 20, []byte("abcdefghij"))
	if rest, err := io.ReadAll(r1); err != nil || string(rest) != "456789" {
		t.Errorf("first reader read %q, %v after replacement, want the old data", rest, err)
	}
	if err := errors.Join(r1.Close(), r2.Close()); err != nil {
		t.Fatal(err)
	}
}

// TestInmemSnapshotStoreCancelAfterCloseKeepsData checks that a deferred
// Cancel after a successful Close does not wipe the stored data.
func TestInmemSnapshotStoreCancelAfterCloseKeepsData(t *testing.T) {
	s := NewInmemSnapshotStore()
	sink, err := s.Create(SnapshotVersionMax, 10, 1, goldenSnapshotConfig(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Cancel(); err != nil {
		t.Fatal(err)
	}
	if _, data, err := readSnapshot(s, sink.ID()); err != nil || string(data) != "kept" {
		t.Errorf("after Close then Cancel the snapshot reads %q, %v", data, err)
	}
}
