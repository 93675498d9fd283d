package raft

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const goldenSnapshotDir = "testdata/wire/snapshot"

// goldenSnapshotPeers is the Peers field of the captured meta.json: a
// msgpack fixarray of two raw strings, the voters' addresses.
var goldenSnapshotPeers = append(append([]byte{0x92, 0xae}, "127.0.0.1:7001"...), append([]byte{0xae}, "127.0.0.1:7002"...)...)

// goldenSnapshotName returns the directory name hashicorp/raft used.
func goldenSnapshotName(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenSnapshotDir, "dirname.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// installGoldenSnapshot lays the captured files out as a store directory
// under base and returns the snapshot's ID.
func installGoldenSnapshot(t *testing.T, base string) string {
	t.Helper()
	return copyGoldenSnapshot(t, base, goldenSnapshotName(t))
}

// copyGoldenSnapshot copies the captured files into <base>/snapshots/name.
func copyGoldenSnapshot(t *testing.T, base, name string) string {
	t.Helper()
	dir := filepath.Join(base, snapshotsDirName, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{snapshotMetaFile, snapshotStateFile} {
		b, err := os.ReadFile(filepath.Join(goldenSnapshotDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

func newTestFileSnapshotStore(t *testing.T, base string, retain int) *FileSnapshotStore {
	t.Helper()
	s, err := NewFileSnapshotStore(base, retain, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// snapshotDirEntries returns the names in <base>/snapshots, sorted.
func snapshotDirEntries(t *testing.T, base string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(base, snapshotsDirName))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func TestFileSnapshotStoreReadsHashicorpSnapshot(t *testing.T) {
	base := t.TempDir()
	id := installGoldenSnapshot(t, base)
	s := newTestFileSnapshotStore(t, base, 2)

	metas, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 {
		t.Fatalf("List returned %d snapshots, want 1", len(metas))
	}
	want := SnapshotMeta{
		Version:            1,
		ID:                 id,
		Index:              40,
		Term:               6,
		Peers:              goldenSnapshotPeers,
		Configuration:      goldenSnapshotConfig(),
		ConfigurationIndex: 35,
		Size:               16,
	}
	if len(goldenSnapshotPeers) != 31 {
		t.Fatalf("golden peers are %d bytes, want 31", len(goldenSnapshotPeers))
	}
	checkMeta := func(what string, got *SnapshotMeta) {
		t.Helper()
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("%s:\n got %s\nwant %s", what, gotJSON, wantJSON)
		}
	}
	checkMeta("List", metas[0])

	meta, data, err := readSnapshot(s, id)
	if err != nil {
		t.Fatalf("reading the captured snapshot: %v", err)
	}
	checkMeta("Open", meta)
	if wantData := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; !bytes.Equal(data, wantData) {
		t.Errorf("data = %x, want %x", data, wantData)
	}
	if err := s.Verify(id); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestFileSnapshotStoreWritesHashicorpFormat(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	sink, err := s.Create(1, 40, 6, goldenSnapshotConfig(), 35, snapshotPeerTransport{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte{0, 1, 2, 3, 4, 5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte{8, 9, 10, 11, 12, 13, 14, 15}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^6-40-[0-9]+$`).MatchString(sink.ID()) {
		t.Errorf("ID %q is not <term>-<index>-<unix ms>", sink.ID())
	}
	if got := snapshotDirEntries(t, base); !slices.Equal(got, []string{sink.ID()}) {
		t.Errorf("snapshots directory holds %v, want [%s]", got, sink.ID())
	}
	dir := filepath.Join(base, snapshotsDirName, sink.ID())
	for _, f := range []string{snapshotMetaFile, snapshotStateFile} {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(goldenSnapshotDir, f))
		if err != nil {
			t.Fatal(err)
		}
		// Only the time part of the name differs between runs.
		got = bytes.ReplaceAll(got, []byte(sink.ID()), []byte(goldenSnapshotName(t)))
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from hashicorp's:\n got %q\nwant %q", f, got, want)
		}
	}
}

func TestFileSnapshotStorePeersMatchCapture(t *testing.T) {
	got, err := encodeSnapshotPeers(goldenSnapshotConfig(), snapshotPeerTransport{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, goldenSnapshotPeers) {
		t.Errorf("peers = %x, want %x", got, goldenSnapshotPeers)
	}
	// Without a transport the addresses are used, as NetworkTransport does.
	if got, _ := encodeSnapshotPeers(goldenSnapshotConfig(), nil); !bytes.Equal(got, goldenSnapshotPeers) {
		t.Errorf("peers without transport = %x, want %x", got, goldenSnapshotPeers)
	}
}

func TestFileSnapshotStoreMetaWrittenAtCreate(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	sink, err := s.Create(1, 40, 6, goldenSnapshotConfig(), 35, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Cancel()
	if got := snapshotDirEntries(t, base); !slices.Equal(got, []string{sink.ID() + ".tmp"}) {
		t.Fatalf("snapshots directory holds %v while writing, want only %s.tmp", got, sink.ID())
	}
	b, err := os.ReadFile(filepath.Join(base, snapshotsDirName, sink.ID()+".tmp", snapshotMetaFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte(`"ConfigurationIndex":35,"Size":0,"CRC":null}`+"\n")) {
		t.Errorf("meta.json at Create = %s, want Size 0 and CRC null", b)
	}
}

func TestFileSnapshotStoreWriteFailureThenCancel(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	prev := mustSnapshot(t, s, 1, 10, []byte("previous"))

	sink, err := s.Create(1, 20, 1, goldenSnapshotConfig(), 20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte("some bytes")); err != nil {
		t.Fatal(err)
	}
	// Make the disk fail under the sink: its file is closed, so the next
	// write that gets past the buffer errors.
	if err := sink.(*fileSnapshotSink).state.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(make([]byte, 2*snapshotBufferSize)); err == nil {
		t.Fatal("Write to a failed file succeeded")
	}
	if err := sink.Cancel(); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got := listIDs(t, s); !slices.Equal(got, []string{prev}) {
		t.Errorf("List = %v, want [%s]", got, prev)
	}
	if got := snapshotDirEntries(t, base); !slices.Equal(got, []string{prev}) {
		t.Errorf("snapshots directory holds %v, want only %s", got, prev)
	}
}

func TestFileSnapshotStoreFailedCloseLeavesNothing(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	prev := mustSnapshot(t, s, 1, 10, []byte("previous"))

	sink, err := s.Create(1, 20, 1, goldenSnapshotConfig(), 20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	// Something in the way of meta.json (a directory of that name) makes
	// Close fail after state.bin is done: the .tmp directory must go.
	metaPath := filepath.Join(base, snapshotsDirName, sink.ID()+".tmp", snapshotMetaFile)
	if err := os.Remove(metaPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(metaPath, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err == nil || !strings.Contains(err.Error(), snapshotMetaFile) {
		t.Errorf("Close error = %v, want one naming %s", err, snapshotMetaFile)
	}
	if got := snapshotDirEntries(t, base); !slices.Equal(got, []string{prev}) {
		t.Errorf("snapshots directory holds %v, want only %s", got, prev)
	}
	if got := listIDs(t, s); !slices.Equal(got, []string{prev}) {
		t.Errorf("List = %v, want [%s]", got, prev)
	}
}

func TestFileSnapshotStoreIgnoresAndCleansCrashLeftovers(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	prev := mustSnapshot(t, s, 1, 10, []byte("previous"))

	// A crash mid-snapshot: data written, never closed.
	crashed, err := s.Create(1, 20, 1, goldenSnapshotConfig(), 20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer crashed.Cancel() // releases the file handle at the end
	if _, err := crashed.Write(make([]byte, 3*snapshotBufferSize)); err != nil {
		t.Fatal(err)
	}
	if got := listIDs(t, s); !slices.Equal(got, []string{prev}) {
		t.Errorf("List with a .tmp present = %v, want [%s]", got, prev)
	}
	if _, _, err := s.Open(crashed.ID() + ".tmp"); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("Open of the .tmp name error = %v, want ErrSnapshotNotFound", err)
	}

	// A crash after meta.json got its final content but before the
	// rename leaves a .tmp that looks complete; it is still not listed.
	complete := copyGoldenSnapshot(t, base, goldenSnapshotName(t)+snapshotTmpSuffix)
	if got := listIDs(t, s); !slices.Equal(got, []string{prev}) {
		t.Errorf("List with a complete-looking %s = %v, want [%s]", complete, got, prev)
	}

	// The restarted node's store removes the leftover.
	restarted := newTestFileSnapshotStore(t, base, 2)
	if got := snapshotDirEntries(t, base); !slices.Equal(got, []string{prev}) {
		t.Errorf("after restart the snapshots directory holds %v, want only %s", got, prev)
	}
	if got := listIDs(t, restarted); !slices.Equal(got, []string{prev}) {
		t.Errorf("List after restart = %v, want [%s]", got, prev)
	}
	if _, data, err := readSnapshot(restarted, prev); err != nil || string(data) != "previous" {
		t.Errorf("previous snapshot after restart reads %q, %v", data, err)
	}
}

func TestFileSnapshotStoreDetectsCorruptState(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	older := mustSnapshot(t, s, 1, 10, snapshotTestData(10, 300_000))
	newer := mustSnapshot(t, s, 1, 20, snapshotTestData(20, 300_000))

	path := filepath.Join(base, snapshotsDirName, newer, snapshotStateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[123_456] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}

	_, rc, err := s.Open(newer)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	_, err = io.ReadAll(rc)
	if !errors.Is(err, ErrSnapshotCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("reading a flipped byte: error = %v, want ErrSnapshotCorrupt naming %s", err, path)
	}
	// Reading on must not turn the failure into a clean EOF.
	if n, err2 := rc.Read(make([]byte, 10)); n != 0 || !errors.Is(err2, ErrSnapshotCorrupt) {
		t.Errorf("Read after the error = %d, %v, want 0, ErrSnapshotCorrupt", n, err2)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(newer); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Errorf("Verify(corrupt) = %v, want ErrSnapshotCorrupt", err)
	}

	// The engine falls back to the older snapshot, which is intact.
	if got := listIDs(t, s); !slices.Equal(got, []string{newer, older}) {
		t.Fatalf("List = %v, want [%s %s]", got, newer, older)
	}
	if err := s.Verify(older); err != nil {
		t.Errorf("Verify(older) = %v", err)
	}
	if _, data, err := readSnapshot(s, older); err != nil || !bytes.Equal(data, snapshotTestData(10, 300_000)) {
		t.Errorf("older snapshot: %d bytes, %v", len(data), err)
	}
}

func TestFileSnapshotStoreDetectsWrongSizeState(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	id := mustSnapshot(t, s, 1, 10, snapshotTestData(1, 1000))
	path := filepath.Join(base, snapshotsDirName, id, snapshotStateFile)
	if err := os.Truncate(path, 999); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(id); !errors.Is(err, ErrSnapshotCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a truncated state.bin error = %v, want ErrSnapshotCorrupt naming %s", err, path)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(id); !errors.Is(err, ErrSnapshotCorrupt) {
		t.Errorf("Open with state.bin missing error = %v, want ErrSnapshotCorrupt", err)
	}
}

// TestFileSnapshotStoreDetectsSizeMismatchWhileReading covers a file that
// changes length after Open: the size recorded in meta.json is enforced at
// EOF, not only at Open.
func TestFileSnapshotStoreDetectsSizeMismatchWhileReading(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	id := mustSnapshot(t, s, 1, 10, snapshotTestData(1, 1000))
	_, rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := os.Truncate(filepath.Join(base, snapshotsDirName, id, snapshotStateFile), 500); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrSnapshotCorrupt) || !strings.Contains(err.Error(), "read 500 bytes") {
		t.Errorf("reading a shrunk state.bin error = %v, want ErrSnapshotCorrupt about 500 bytes", err)
	}
}

func TestFileSnapshotStoreMalformedMeta(t *testing.T) {
	cases := map[string]string{
		"not json":      `{"Version":1,"ID":}`,
		"wrong types":   `{"Version":"one","Index":-3}`,
		"no CRC":        `{"Version":1,"Index":5,"Term":1,"Size":0,"CRC":null}`,
		"short CRC":     `{"Version":1,"Index":5,"Term":1,"Size":0,"CRC":"AAE="}`,
		"negative size": `{"Version":1,"Index":5,"Term":1,"Size":-1,"CRC":"AAAAAAAAAAA="}`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			var logs bytes.Buffer
			s, err := NewFileSnapshotStore(base, 2, &logs)
			if err != nil {
				t.Fatal(err)
			}
			good := mustSnapshot(t, s, 1, 10, []byte("good"))
			bad := mustSnapshot(t, s, 1, 20, []byte("bad"))
			path := filepath.Join(base, snapshotsDirName, bad, snapshotMetaFile)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Open(bad); !errors.Is(err, ErrSnapshotCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open error = %v, want ErrSnapshotCorrupt naming %s", err, path)
			}
			if wantAt, ok := map[string]string{"not json": "at byte 19", "wrong types": "at byte 16"}[name]; ok {
				if _, _, err := s.Open(bad); err == nil || !strings.Contains(err.Error(), wantAt) {
					t.Errorf("Open error = %v, want the offset (%s)", err, wantAt)
				}
			}
			if got := listIDs(t, s); !slices.Equal(got, []string{good}) {
				t.Errorf("List = %v, want only [%s]", got, good)
			}
			if !strings.Contains(logs.String(), path) {
				t.Errorf("List did not log the unusable %s; log:\n%s", path, logs.String())
			}
		})
	}
}

func TestFileSnapshotStoreRejectsUnsupportedVersionOnDisk(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	id := mustSnapshot(t, s, 1, 10, []byte("data"))
	path := filepath.Join(base, snapshotsDirName, id, snapshotMetaFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"Version":1`), []byte(`"Version":7`), 1)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(id); !errors.Is(err, ErrUnsupportedSnapshotVersion) {
		t.Errorf("Open error = %v, want ErrUnsupportedSnapshotVersion", err)
	}
	if got := listIDs(t, s); len(got) != 0 {
		t.Errorf("List = %v, want nothing", got)
	}
}

func TestFileSnapshotStoreRetention(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	var ids []string
	for i := uint64(1); i <= 4; i++ {
		ids = append(ids, mustSnapshot(t, s, 1, i*10, snapshotTestData(i, 100)))
	}
	want := []string{ids[3], ids[2]}
	if got := listIDs(t, s); !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	wantDisk := slices.Clone(want)
	slices.Sort(wantDisk)
	if got := snapshotDirEntries(t, base); !slices.Equal(got, wantDisk) {
		t.Errorf("on disk: %v, want %v", got, wantDisk)
	}
	// A new store sees the same retained snapshots, and one retaining
	// fewer lists only that many even before it has reaped anything.
	if got := listIDs(t, newTestFileSnapshotStore(t, base, 2)); !slices.Equal(got, want) {
		t.Errorf("List from a new store = %v, want %v", got, want)
	}
	if got := listIDs(t, newTestFileSnapshotStore(t, base, 1)); !slices.Equal(got, want[:1]) {
		t.Errorf("List with retain 1 = %v, want %v", got, want[:1])
	}
}

// TestFileSnapshotStoreIDIsDirectoryName renames a snapshot directory: it is
// listed and opened under its new name, since Open takes directory names.
func TestFileSnapshotStoreIDIsDirectoryName(t *testing.T) {
	base := t.TempDir()
	old := installGoldenSnapshot(t, base)
	renamed := "6-40-1"
	if err := os.Rename(filepath.Join(base, snapshotsDirName, old), filepath.Join(base, snapshotsDirName, renamed)); err != nil {
		t.Fatal(err)
	}
	s := newTestFileSnapshotStore(t, base, 2)
	if got := listIDs(t, s); !slices.Equal(got, []string{renamed}) {
		t.Errorf("List = %v, want [%s]", got, renamed)
	}
	if meta, _, err := readSnapshot(s, renamed); err != nil || meta.ID != renamed {
		t.Errorf("Open(%s) = %+v, %v", renamed, meta, err)
	}
}

// TestFileSnapshotStoreNeverReusesADirectory pins the clock so that every
// name collides, with a finished snapshot from an earlier store and with a
// .tmp directory being written by someone else.
func TestFileSnapshotStoreNeverReusesADirectory(t *testing.T) {
	base := t.TempDir()
	clock := func() time.Time { return time.UnixMilli(1_000_000) }
	first := newTestFileSnapshotStore(t, base, 10)
	first.now = clock
	a := mustSnapshot(t, first, 1, 5, []byte("a"))

	second := newTestFileSnapshotStore(t, base, 10)
	second.now = clock
	busy := snapshotName(1, 5, 1_000_001) + snapshotTmpSuffix
	if err := os.Mkdir(filepath.Join(base, snapshotsDirName, busy), 0o755); err != nil {
		t.Fatal(err)
	}
	b := mustSnapshot(t, second, 1, 5, []byte("b"))
	if b == a || b+snapshotTmpSuffix == busy {
		t.Fatalf("second store reused a name: %s (taken: %s, %s)", b, a, busy)
	}
	for id, want := range map[string]string{a: "a", b: "b"} {
		if _, data, err := readSnapshot(second, id); err != nil || string(data) != want {
			t.Errorf("snapshot %s reads %q, %v, want %q", id, data, err, want)
		}
	}
}

func TestFileSnapshotStoreListOrder(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 10)
	// Created out of order; the last two share term and index.
	a := mustSnapshot(t, s, 2, 5, nil)
	b := mustSnapshot(t, s, 1, 50, nil)
	c := mustSnapshot(t, s, 2, 9, nil)
	d := mustSnapshot(t, s, 3, 1, nil)
	e1 := mustSnapshot(t, s, 2, 7, nil)
	e2 := mustSnapshot(t, s, 2, 7, nil)
	if e1 == e2 {
		t.Fatalf("two snapshots got the same ID %s", e1)
	}
	want := []string{d, c, e2, e1, a, b}
	if got := listIDs(t, s); !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}

func TestFileSnapshotStoreOpenUnknown(t *testing.T) {
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 2)
	id := mustSnapshot(t, s, 1, 1, []byte("x"))
	// A sound snapshot outside the snapshots directory must stay out of reach.
	outside := installGoldenSnapshot(t, base)
	if err := os.Rename(filepath.Join(base, snapshotsDirName, outside), filepath.Join(base, outside)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", ".", "..", "1-2-3", "../" + id, "../" + outside, snapshotsDirName + "/" + id, id + ".tmp"} {
		if _, _, err := s.Open(bad); !errors.Is(err, ErrSnapshotNotFound) {
			t.Errorf("Open(%q) error = %v, want ErrSnapshotNotFound", bad, err)
		}
	}
	if err := s.Verify("1-2-3"); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("Verify(unknown) = %v, want ErrSnapshotNotFound", err)
	}
}

func TestNewFileSnapshotStoreErrors(t *testing.T) {
	if _, err := NewFileSnapshotStore(t.TempDir(), 0, io.Discard); !errors.Is(err, ErrInvalidSnapshotRetain) {
		t.Errorf("retain 0: error = %v, want ErrInvalidSnapshotRetain", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileSnapshotStore(file, 1, io.Discard); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("base is a file: error = %v, want one naming %s", err, file)
	}
	if _, err := NewFileSnapshotStoreWithLogger(t.TempDir(), 1, nil); err != nil {
		t.Errorf("nil logger: %v", err)
	}
	// The write check leaves nothing behind.
	base := t.TempDir()
	newTestFileSnapshotStore(t, base, 1)
	if got := snapshotDirEntries(t, base); len(got) != 0 {
		t.Errorf("new store left %v in its directory", got)
	}
}

// TestFileSnapshotStoreStreamsLargeSnapshot writes and reads 64 MiB and
// checks that the bytes allocated stay far below that: neither the sink nor
// the reader holds the snapshot whole.
func TestFileSnapshotStoreStreamsLargeSnapshot(t *testing.T) {
	const total = 64 << 20
	base := t.TempDir()
	s := newTestFileSnapshotStore(t, base, 1)
	chunk := snapshotTestData(3, 256<<10)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	sink, err := s.Create(SnapshotVersionMax, 1, 1, goldenSnapshotConfig(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for written := 0; written < total; written += len(chunk) {
		if _, err := sink.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	meta, rc, err := s.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	var read int64
	for {
		n, err := rc.Read(buf)
		read += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}

	runtime.ReadMemStats(&after)
	if meta.Size != total || read != total {
		t.Fatalf("size %d, read %d, want %d", meta.Size, read, total)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("writing and reading %d MiB allocated %d KiB; the data is being buffered", total>>20, alloc>>10)
	}
}

// TestFileSnapshotStoreOrdersTimesNumerically creates two snapshots of one
// term and index whose times differ in digit count: the later one is newer
// although its ID sorts first as a string.
func TestFileSnapshotStoreOrdersTimesNumerically(t *testing.T) {
	s := newTestFileSnapshotStore(t, t.TempDir(), 10)
	wall := time.UnixMilli(999)
	s.now = func() time.Time { return wall }
	early := mustSnapshot(t, s, 4, 4, nil)
	wall = time.UnixMilli(1000)
	late := mustSnapshot(t, s, 4, 4, nil)
	if want := []string{late, early}; !slices.Equal(listIDs(t, s), want) {
		t.Errorf("List = %v, want %v", listIDs(t, s), want)
	}
}

// TestFileSnapshotStoreOpenRacingReap opens the newest snapshot while
// another snapshot's Close reaps it (retain 1). Open must either return the
// intact snapshot or report it not found; it must never report a snapshot
// removed under it as corrupt.
func TestFileSnapshotStoreOpenRacingReap(t *testing.T) {
	s := newTestFileSnapshotStore(t, t.TempDir(), 1)
	id := mustSnapshot(t, s, 1, 1, snapshotTestData(1, 100))
	for i := uint64(2); i <= 50; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		var openErr error
		go func() {
			defer wg.Done()
			meta, data, err := readSnapshot(s, id)
			if err == nil && !bytes.Equal(data, snapshotTestData(meta.Index, 100)) {
				err = errors.New("wrong data")
			}
			if err != nil && !errors.Is(err, ErrSnapshotNotFound) {
				openErr = err
			}
		}()
		next := mustSnapshot(t, s, 1, i, snapshotTestData(i, 100))
		wg.Wait()
		if openErr != nil {
			t.Fatalf("Open(%s) racing its reap: %v", id, openErr)
		}
		id = next
	}

	// The same window, made deterministic: a reaper that takes the store's
	// lock tries to remove the snapshot while Open is between meta.json
	// and state.bin. It must find the lock held and leave Open intact.
	dir := filepath.Join(s.dir, id)
	s.openHook = func() {
		if s.mu.TryLock() {
			defer s.mu.Unlock()
			if err := os.RemoveAll(dir); err != nil {
				t.Error(err)
			}
		}
	}
	if _, data, err := readSnapshot(s, id); err != nil || len(data) != 100 {
		t.Errorf("Open with a reap in its window = %d bytes, %v", len(data), err)
	}
}
