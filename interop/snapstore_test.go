package interop

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"testing"

	"github.com/consensuskit/raft"
	hraft "github.com/hashicorp/raft"
)

// snapshotCase is what one side writes and the other must read back.
type snapshotCase struct {
	index, term, confIndex uint64
	servers                []raft.Server // the same servers in both libraries' types
	data                   []byte
}

func newSnapshotCase(t *testing.T) snapshotCase {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	// Bigger than either store's write buffer, and not a round size, so the
	// data crosses several buffer boundaries and the CRC covers a tail.
	data := make([]byte, 200<<10+rng.IntN(100<<10))
	for k := range data {
		data[k] = byte(rng.Uint32())
	}
	return snapshotCase{
		index:     1000 + rng.Uint64N(1<<40),
		term:      2 + rng.Uint64N(1000),
		confIndex: 1 + rng.Uint64N(999),
		servers: []raft.Server{
			{Suffrage: raft.Voter, ID: "h1", Address: "127.0.0.1:7001"},
			{Suffrage: raft.Voter, ID: "o1", Address: "127.0.0.1:7002"},
			{Suffrage: raft.Nonvoter, ID: "o2", Address: "127.0.0.1:7003"},
		},
		data: data,
	}
}

func (sc snapshotCase) hashiConfiguration() hraft.Configuration {
	var c hraft.Configuration
	for _, s := range sc.servers {
		c.Servers = append(c.Servers, hraft.Server{
			Suffrage: hraft.ServerSuffrage(s.Suffrage), ID: hraft.ServerID(s.ID), Address: hraft.ServerAddress(s.Address),
		})
	}
	return c
}

// snapshotDirName is the layout both libraries share under <base>/snapshots.
var snapshotDirName = regexp.MustCompile(`^(\d+)-(\d+)-(\d+)$`)

// onlySnapshotDir returns the single snapshot directory under base, checking
// that its name is <term>-<index>-<ms> for the case's term and index and
// that it holds meta.json and state.bin.
func onlySnapshotDir(t *testing.T, base string, sc snapshotCase) string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(base, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("want one entry under %s/snapshots, got %v", base, names)
	}
	name := entries[0].Name()
	m := snapshotDirName.FindStringSubmatch(name)
	if m == nil || m[1] != strconv.FormatUint(sc.term, 10) || m[2] != strconv.FormatUint(sc.index, 10) {
		t.Fatalf("snapshot directory %q is not <term %d>-<index %d>-<ms>", name, sc.term, sc.index)
	}
	for _, f := range []string{"meta.json", "state.bin"} {
		if _, err := os.Stat(filepath.Join(base, "snapshots", name, f)); err != nil {
			t.Fatalf("snapshot directory %s: %v", name, err)
		}
	}
	return name
}

// readAllClose reads a snapshot's data to the end and closes the reader;
// a reader that verifies a checksum reports a mismatch in either step.
func readAllClose(t *testing.T, who string, rc io.ReadCloser) []byte {
	t.Helper()
	got, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("%s: reading the snapshot data: %v", who, err)
	}
	return got
}

// TestFileSnapshotStoreHashicorpToOurs writes a snapshot with hashicorp's
// FileSnapshotStore and lists and opens it with ours: same ID, version,
// index, term, configuration (voters and a non-voter), configuration index,
// legacy peers, size and data, whose CRC our store checks.
func TestFileSnapshotStoreHashicorpToOurs(t *testing.T) {
	sc := newSnapshotCase(t)
	base := t.TempDir()
	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("store logs:\n%s", logs.String())
		}
	})

	hstore, err := hraft.NewFileSnapshotStore(base, 2, logs)
	if err != nil {
		t.Fatal(err)
	}
	// hashicorp's store encodes the legacy peer list through the transport;
	// the in-memory one encodes a peer as its address, as ours does with no
	// transport.
	_, htrans := hraft.NewInmemTransport("")
	defer func() { _ = htrans.Close() }()
	sink, err := hstore.Create(hraft.SnapshotVersionMax, sc.index, sc.term, sc.hashiConfiguration(), sc.confIndex, htrans)
	if err != nil {
		t.Fatal(err)
	}
	// Several writes of odd sizes, as an FSM would make them.
	for rest := sc.data; len(rest) > 0; {
		n := min(len(rest), 7919)
		if _, err := sink.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	name := onlySnapshotDir(t, base, sc)
	hmetas, err := hstore.List()
	if err != nil || len(hmetas) != 1 {
		t.Fatalf("hashicorp's own List: %v, %v", hmetas, err)
	}

	ostore, err := raft.NewFileSnapshotStore(base, 2, logs)
	if err != nil {
		t.Fatal(err)
	}
	metas, err := ostore.List()
	if err != nil {
		t.Fatalf("our List of a hashicorp-written store: %v", err)
	}
	if len(metas) != 1 {
		t.Fatalf("our List shows %d snapshots, want 1: %+v", len(metas), metas)
	}
	want := &raft.SnapshotMeta{
		Version:            raft.SnapshotVersion(hraft.SnapshotVersionMax),
		ID:                 name,
		Index:              sc.index,
		Term:               sc.term,
		Peers:              hmetas[0].Peers,
		Configuration:      raft.Configuration{Servers: sc.servers},
		ConfigurationIndex: sc.confIndex,
		Size:               int64(len(sc.data)),
	}
	if len(want.Peers) == 0 {
		t.Fatal("hashicorp wrote no legacy peer list; the comparison below would be empty")
	}
	if !reflect.DeepEqual(metas[0], want) {
		t.Fatalf("our List returned\n  %+v\nwant\n  %+v", metas[0], want)
	}
	meta, rc, err := ostore.Open(name)
	if err != nil {
		t.Fatalf("our Open of hashicorp snapshot %s: %v", name, err)
	}
	if !reflect.DeepEqual(meta, want) {
		t.Fatalf("our Open returned\n  %+v\nwant\n  %+v", meta, want)
	}
	if got := readAllClose(t, "our store", rc); !bytes.Equal(got, sc.data) {
		t.Fatalf("our Open returned %d bytes that differ from the %d hashicorp wrote", len(got), len(sc.data))
	}

	// The control: with one data byte changed, hashicorp's CRC no longer
	// matches and our store must refuse the data, so the success above
	// means we checked hashicorp's CRC and found it right.
	state := filepath.Join(base, "snapshots", name, "state.bin")
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x80
	if err := os.WriteFile(state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, rc, err := ostore.Open(name); err == nil {
		_, rerr := io.ReadAll(rc)
		if cerr := rc.Close(); rerr == nil && cerr == nil {
			t.Fatal("our store served a state.bin that no longer matches hashicorp's CRC")
		}
	}
}

// TestFileSnapshotStoreOursToHashicorp writes a snapshot with our
// FileSnapshotStore and lists and opens it with hashicorp's: same values and
// data, and hashicorp's Open, which checks state.bin against the CRC in
// meta.json, accepts it. Flipping one byte of state.bin must then make
// hashicorp's Open fail, so the acceptance is a real check.
func TestFileSnapshotStoreOursToHashicorp(t *testing.T) {
	sc := newSnapshotCase(t)
	base := t.TempDir()
	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("store logs:\n%s", logs.String())
		}
	})

	ostore, err := raft.NewFileSnapshotStore(base, 2, logs)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := ostore.Create(raft.SnapshotVersionMax, sc.index, sc.term, raft.Configuration{Servers: sc.servers}, sc.confIndex, nil)
	if err != nil {
		t.Fatal(err)
	}
	for rest := sc.data; len(rest) > 0; {
		n := min(len(rest), 4099)
		if _, err := sink.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	name := onlySnapshotDir(t, base, sc)
	if sink.ID() != name {
		t.Fatalf("our sink's ID is %q, its directory %q", sink.ID(), name)
	}

	hstore, err := hraft.NewFileSnapshotStore(base, 2, logs)
	if err != nil {
		t.Fatal(err)
	}
	_, htrans := hraft.NewInmemTransport("")
	defer func() { _ = htrans.Close() }()
	hmetas, err := hstore.List()
	if err != nil {
		t.Fatalf("hashicorp List of our store: %v", err)
	}
	if len(hmetas) != 1 {
		t.Fatalf("hashicorp List shows %d snapshots, want 1: %+v", len(hmetas), hmetas)
	}
	want := &hraft.SnapshotMeta{
		Version:            hraft.SnapshotVersionMax,
		ID:                 name,
		Index:              sc.index,
		Term:               sc.term,
		Peers:              hashiPeers(t, sc, htrans),
		Configuration:      sc.hashiConfiguration(),
		ConfigurationIndex: sc.confIndex,
		Size:               int64(len(sc.data)),
	}
	if !reflect.DeepEqual(hmetas[0], want) {
		t.Fatalf("hashicorp List returned\n  %+v\nwant\n  %+v", hmetas[0], want)
	}
	meta, rc, err := hstore.Open(name)
	if err != nil {
		t.Fatalf("hashicorp Open of our snapshot %s (it checks the CRC): %v", name, err)
	}
	if !reflect.DeepEqual(meta, want) {
		t.Fatalf("hashicorp Open returned\n  %+v\nwant\n  %+v", meta, want)
	}
	if got := readAllClose(t, "hashicorp store", rc); !bytes.Equal(got, sc.data) {
		t.Fatalf("hashicorp Open returned %d bytes that differ from the %d we wrote", len(got), len(sc.data))
	}

	// The control: the same directory with one data byte changed fails
	// hashicorp's CRC check, so the success above means our CRC is right.
	state := filepath.Join(base, "snapshots", name, "state.bin")
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, rc, err := hstore.Open(name); err == nil {
		_ = rc.Close()
		t.Fatal("hashicorp Open accepted a state.bin that no longer matches its CRC")
	}
}

// hashiPeers is the legacy peer list hashicorp's own store writes for the
// case's configuration, taken from a snapshot it creates and cancels in a
// scratch directory.
func hashiPeers(t *testing.T, sc snapshotCase, trans hraft.Transport) []byte {
	t.Helper()
	scratch, err := hraft.NewFileSnapshotStore(t.TempDir(), 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := scratch.Create(hraft.SnapshotVersionMax, sc.index, sc.term, sc.hashiConfiguration(), sc.confIndex, trans)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	metas, err := scratch.List()
	if err != nil || len(metas) != 1 || len(metas[0].Peers) == 0 {
		t.Fatalf("hashicorp scratch snapshot: %v, %v", metas, err)
	}
	return metas[0].Peers
}
