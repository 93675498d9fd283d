package raft

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func snapshotConfig(threshold, trailing uint64) clusterOption {
	return withConfig(func(i int, conf *Config) {
		conf.SnapshotThreshold = threshold
		conf.TrailingLogs = trailing
		conf.SnapshotInterval = 20 * time.Millisecond
		// Thousands of writes in flight under the race detector on a busy
		// machine: timeouts long enough that leadership holds.
		conf.HeartbeatTimeout = 500 * time.Millisecond
		conf.ElectionTimeout = 500 * time.Millisecond
		conf.LeaderLeaseTimeout = 500 * time.Millisecond
	})
}

func inmemSnapshots() clusterOption {
	return withSnapshotStores(func(int) SnapshotStore { return NewInmemSnapshotStore() })
}

// writeN commits n commands through the leader, many in flight at a time.
func writeN(t *testing.T, c *cluster, prefix string, n int) {
	t.Helper()
	l := c.waitLeader()
	var futures []ApplyFuture
	for i := 0; i < n; i++ {
		futures = append(futures, c.nodes[l].Apply([]byte(fmt.Sprintf("%s-%d", prefix, i)), 0))
		if len(futures) == 256 || i == n-1 {
			for _, f := range futures {
				if err := f.Error(); err != nil {
					t.Fatalf("write: %v", err)
				}
			}
			futures = futures[:0]
		}
	}
}

func TestSnapshotCatchUpAfterCompaction(t *testing.T) {
	c := newCluster(t, 3, inmemSnapshots(), snapshotConfig(1000, 100))
	l := c.waitLeader()
	f := (l + 1) % 3
	c.disconnect(f)
	behind := c.nodes[f].LastIndex()
	writeN(t, c, "v", 10000)
	waitFor(t, 20*time.Second, "the leader to compact past the follower", func() bool {
		first, _ := c.logs[l].FirstIndex()
		return first > behind+1
	})
	c.reconnect(f)
	c.waitApplied(10000)
	c.checkSamePrefix()
	if got := c.fsms[f].count(); got != 10000 {
		t.Fatalf("follower holds %d commands", got)
	}
	if c.fsms[f].restoredCount() == 0 && c.fsms[f].restores == 0 {
		t.Fatal("the follower caught up without a snapshot: the test proves nothing")
	}
}

func TestSnapshotEmptyServerCatchesUp(t *testing.T) {
	c := newCluster(t, 3, inmemSnapshots(), snapshotConfig(500, 50))
	l := c.waitLeader()
	f := (l + 1) % 3
	writeN(t, c, "v", 3000)
	waitFor(t, 20*time.Second, "the leader to snapshot", func() bool {
		return c.nodes[l].lastSnapshotIndex() > 0
	})
	// The follower loses everything and comes back empty.
	c.crash(f)
	fresh := NewInmemStore()
	c.logs[f], c.stable[f], c.snaps[f] = fresh, fresh, NewInmemSnapshotStore()
	c.restart(f)
	c.waitApplied(3000)
	c.checkSamePrefix()
	if c.fsms[f].restoredCount() == 0 && c.fsms[f].restores == 0 {
		t.Fatal("the empty server caught up without a snapshot")
	}
	// It is a full member again: it has the configuration and votes.
	waitFor(t, 10*time.Second, "the empty server to learn the configuration", func() bool {
		return len(c.nodes[f].GetConfiguration().Configuration().Servers) == 3
	})
	writeN(t, c, "after", 10)
	c.waitApplied(3010)
}

func TestSnapshotTrailingLogsZeroRestart(t *testing.T) {
	c := newCluster(t, 1, inmemSnapshots(), snapshotConfig(1_000_000, 0))
	c.waitLeader()
	writeN(t, c, "v", 100)
	if err := c.nodes[0].Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if last, _ := c.logs[0].LastIndex(); last != 0 {
		first, _ := c.logs[0].FirstIndex()
		t.Fatalf("TrailingLogs=0 left entries %d..%d", first, last)
	}
	c.crash(0)
	c.restart(0)
	c.waitLeader()
	writeN(t, c, "after", 5)
	c.waitApplied(105)
	got := c.fsms[0].applied()
	if string(got[0]) != "v-0" || string(got[104]) != "after-4" {
		t.Fatalf("after restart the FSM holds %q ... %q", got[0], got[len(got)-1])
	}
}

// blockingSnapshotFSM's snapshots persist only when released.
type blockingSnapshotFSM struct {
	testFSM
	release chan struct{}
	started chan struct{}
}

type blockingSnapshot struct {
	testSnapshot
	f *blockingSnapshotFSM
}

func (b *blockingSnapshotFSM) Snapshot() (FSMSnapshot, error) {
	s, _ := b.testFSM.Snapshot()
	return &blockingSnapshot{testSnapshot: *s.(*testSnapshot), f: b}, nil
}

func (b *blockingSnapshot) Persist(sink SnapshotSink) error {
	close(b.f.started)
	<-b.f.release
	return b.testSnapshot.Persist(sink)
}

func TestSnapshotApplyContinuesDuringPersist(t *testing.T) {
	fsm := &blockingSnapshotFSM{release: make(chan struct{}), started: make(chan struct{})}
	c := newCluster(t, 1, inmemSnapshots(), snapshotConfig(1_000_000, 10))
	c.crash(0)
	c.makeTransport(0)
	r, err := NewRaft(c.confs[0], fsm, c.logs[0], c.stable[0], c.snaps[0], c.trans[0])
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[0], c.down[0] = r, false
	c.waitLeader()
	writeN(t, c, "before", 10)
	snap := r.Snapshot()
	<-fsm.started
	// Persist is stuck; applying must go on.
	for i := 0; i < 100; i++ {
		f := r.Apply([]byte(fmt.Sprintf("during-%d", i)), 0)
		if err := f.Error(); err != nil {
			t.Fatalf("apply during persist: %v", err)
		}
	}
	if got := fsm.count(); got != 110 {
		t.Fatalf("applied %d commands while the snapshot persisted, want 110", got)
	}
	close(fsm.release)
	if err := snap.Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	meta, rc, err := snap.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var restored testFSM
	if err := restored.Restore(rc); err != nil {
		t.Fatal(err)
	}
	if restored.count() != 10 || meta.Index == 0 {
		t.Fatalf("snapshot holds %d commands at index %d, want the 10 applied before it", restored.count(), meta.Index)
	}
}

// TestSnapshotInstallKeepsOrDiscardsSuffix sends InstallSnapshot straight
// to a follower whose log past the snapshot either conflicts with it or
// matches it (paper figure 13, steps 6 and 7).
func TestSnapshotInstallKeepsOrDiscardsSuffix(t *testing.T) {
	for _, matching := range []bool{false, true} {
		t.Run(fmt.Sprintf("matching=%v", matching), func(t *testing.T) {
			store := NewInmemStore()
			// Entries 1..20: term 1, except 10..20 are term 2 when the log
			// matches a snapshot at (10, 2).
			for i := uint64(1); i <= 20; i++ {
				term := uint64(1)
				if matching && i >= 10 {
					term = 2
				}
				_ = store.StoreLog(&Log{Index: i, Term: term, Data: []byte(fmt.Sprintf("old-%d", i))})
			}
			_ = store.SetUint64([]byte(keyCurrentTerm), 2)
			addr, trans := NewInmemTransport("follower")
			_, leader := NewInmemTransport("leader")
			defer leader.Close()
			leader.Connect(addr, trans)
			fsm := &testFSM{}
			snaps := NewInmemSnapshotStore()
			r, err := NewRaft(testConfig("follower"), fsm, store, store, snaps, trans)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Shutdown()

			var data bytes.Buffer
			_ = (&testSnapshot{data: [][]byte{[]byte("snap-a"), []byte("snap-b")}}).Persist(&bufferSink{Buffer: &data})
			conf, _ := EncodeConfiguration(Configuration{Servers: []Server{{ID: "leader", Address: "leader"}, {ID: "follower", Address: addr}}})
			req := &InstallSnapshotRequest{
				RPCHeader:       RPCHeader{ProtocolVersion: 3, ID: []byte("leader"), Addr: []byte("leader")},
				SnapshotVersion: 1, Term: 3, Leader: []byte("leader"),
				LastLogIndex: 10, LastLogTerm: 2, Configuration: conf, ConfigurationIndex: 1,
				Size: int64(data.Len()),
			}
			var resp InstallSnapshotResponse
			if err := leader.InstallSnapshot("follower", addr, req, &resp, bytes.NewReader(data.Bytes())); err != nil {
				t.Fatal(err)
			}
			if !resp.Success {
				t.Fatalf("install refused: %+v", resp)
			}
			if got := fsm.applied(); len(got) != 2 || string(got[1]) != "snap-b" {
				t.Fatalf("FSM after install: %q", got)
			}
			last, _ := store.LastIndex()
			if matching {
				var l Log
				if last != 20 || store.GetLog(15, &l) != nil || string(l.Data) != "old-15" {
					t.Fatalf("matching suffix not kept: last index %d", last)
				}
				if r.LastIndex() != 20 {
					t.Fatalf("node's last index %d, want 20", r.LastIndex())
				}
			} else {
				if last != 0 {
					t.Fatalf("conflicting log not discarded: last index %d", last)
				}
				if r.LastIndex() != 10 {
					t.Fatalf("node's last index %d, want the snapshot's 10", r.LastIndex())
				}
			}
		})
	}
}

// bufferSink is a SnapshotSink over a buffer.
type bufferSink struct {
	*bytes.Buffer
}

func (b *bufferSink) Close() error  { return nil }
func (b *bufferSink) ID() string    { return "buffer" }
func (b *bufferSink) Cancel() error { return nil }

func TestSnapshotCorruptNewestFallsBackToOlder(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, 1, withSnapshotStores(func(int) SnapshotStore {
		s, err := NewFileSnapshotStore(dir, 2, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}), snapshotConfig(1_000_000, 1000))
	c.waitLeader()
	writeN(t, c, "a", 50)
	if err := c.nodes[0].Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	writeN(t, c, "b", 50)
	newest := c.nodes[0].Snapshot()
	if err := newest.Error(); err != nil {
		t.Fatal(err)
	}
	meta, rc, err := newest.Open()
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	c.crash(0)
	// Flip a byte of the newest snapshot's data.
	path := filepath.Join(dir, "snapshots", meta.ID, "state.bin")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c.restart(0)
	if got := c.fsms[0].restoredCount(); got != 50 {
		t.Fatalf("restored a snapshot of %d commands, want the older one of 50", got)
	}
	c.waitLeader()
	c.waitApplied(100)
	got := c.fsms[0].applied()
	if string(got[99]) != "b-49" {
		t.Fatalf("after fallback and replay the FSM ends with %q", got[99])
	}
}

func TestSnapshotUserSnapshotNothingNew(t *testing.T) {
	c := newCluster(t, 1, inmemSnapshots())
	c.waitLeader()
	writeN(t, c, "x", 3)
	if err := c.nodes[0].Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[0].Snapshot().Error(); !errors.Is(err, ErrNothingNewToSnapshot) {
		t.Fatalf("second snapshot with nothing new: %v", err)
	}
}

// failingSnapshotFSM's snapshots write half their data, then fail.
type failingSnapshotFSM struct {
	testFSM
	fail atomic.Bool
}

type halfSnapshot struct{ testSnapshot }

func (h *halfSnapshot) Persist(sink SnapshotSink) error {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(h.data)
	_, _ = sink.Write(buf.Bytes()[:buf.Len()/2])
	_ = sink.Cancel()
	return errors.New("disk full halfway")
}

func (f *failingSnapshotFSM) Snapshot() (FSMSnapshot, error) {
	s, _ := f.testFSM.Snapshot()
	if f.fail.Load() {
		return &halfSnapshot{*s.(*testSnapshot)}, nil
	}
	return s, nil
}

func TestSnapshotFailedPersistKeepsPrevious(t *testing.T) {
	dir := t.TempDir()
	store, err := NewFileSnapshotStore(dir, 3, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fsm := &failingSnapshotFSM{}
	c := newCluster(t, 1, withSnapshotStores(func(int) SnapshotStore { return store }), snapshotConfig(1_000_000, 1000))
	c.crash(0)
	c.makeTransport(0)
	r, err := NewRaft(c.confs[0], fsm, c.logs[0], c.stable[0], c.snaps[0], c.trans[0])
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[0], c.down[0] = r, false
	c.waitLeader()
	writeN(t, c, "a", 20)
	good := r.Snapshot()
	if err := good.Error(); err != nil {
		t.Fatal(err)
	}
	writeN(t, c, "b", 20)
	fsm.fail.Store(true)
	if err := r.Snapshot().Error(); err == nil {
		t.Fatal("a snapshot whose Persist failed reported success")
	}
	metas, err := store.List()
	if err != nil {
		t.Fatal(err)
	}
	goodMeta, rc, err := good.Open()
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if len(metas) != 1 || metas[0].ID != goodMeta.ID {
		t.Fatalf("listed %d snapshots after a failed one; want only %s", len(metas), goodMeta.ID)
	}
	// The previous snapshot is still the one a restart restores.
	c.crash(0)
	c.restart(0)
	if got := c.fsms[0].restoredCount(); got != 20 {
		t.Fatalf("restart restored %d commands, want the 20 of the good snapshot", got)
	}
	c.waitLeader()
	c.waitApplied(40)
}

// heapWatcher samples the heap until stopped and reports the peak.
type heapWatcher struct {
	stop chan struct{}
	done chan uint64
}

func watchHeap() *heapWatcher {
	h := &heapWatcher{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		var peak uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return h
}

func (h *heapWatcher) peak() uint64 {
	close(h.stop)
	return <-h.done
}

// bigFSM's snapshot is size bytes generated on the fly; Restore reads a
// snapshot through without keeping it, and records what it read.
type bigFSM struct {
	testFSM
	size      int64
	restoreMu sync.Mutex
	gotBytes  int64
}

type bigSnapshot struct{ size int64 }

// bigBlock is the 64 KiB pattern a big snapshot repeats; comparing whole
// blocks keeps the race detector from instrumenting every byte.
var bigBlock = func() []byte {
	b := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

func (b *bigSnapshot) Persist(sink SnapshotSink) error {
	for off := int64(0); off < b.size; off += int64(len(bigBlock)) {
		n := min(int64(len(bigBlock)), b.size-off)
		if _, err := sink.Write(bigBlock[:n]); err != nil {
			_ = sink.Cancel()
			return err
		}
	}
	return sink.Close()
}

func (b *bigSnapshot) Release() {}

func (f *bigFSM) Snapshot() (FSMSnapshot, error) { return &bigSnapshot{size: f.size}, nil }

func (f *bigFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	buf := make([]byte, len(bigBlock))
	var n int64
	for {
		k, err := io.ReadFull(rc, buf)
		if k > 0 && !bytes.Equal(buf[:k], bigBlock[:k]) {
			return fmt.Errorf("snapshot block at %d corrupted", n)
		}
		n += int64(k)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	f.restoreMu.Lock()
	f.gotBytes = n
	f.restoreMu.Unlock()
	return nil
}

func TestSnapshotInstallIsStreamed(t *testing.T) {
	const size = 256 << 20
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	fsms := []*bigFSM{{size: size}, {size: size}, {size: size}}
	c := newCluster(t, 3, withSnapshotStores(func(i int) SnapshotStore {
		s, err := NewFileSnapshotStore(dirs[i], 1, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}), snapshotConfig(1_000_000, 0), withConfig(func(i int, conf *Config) {
		conf.HeartbeatTimeout = time.Second
		conf.ElectionTimeout = time.Second
		conf.LeaderLeaseTimeout = 500 * time.Millisecond
	}))
	for i := range c.nodes {
		c.crash(i)
	}
	for i := range c.nodes {
		c.makeTransport(i)
	}
	c.connectAll()
	for i := range c.nodes {
		r, err := NewRaft(c.confs[i], fsms[i], c.logs[i], c.stable[i], c.snaps[i], c.trans[i])
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[i], c.down[i] = r, false
	}
	l := c.waitLeader()
	f := (l + 1) % 3
	c.disconnect(f)
	if err := c.nodes[l].Apply([]byte("x"), 0).Error(); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[l].Snapshot().Error(); err != nil {
		t.Fatalf("leader snapshot: %v", err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	w := watchHeap()
	c.reconnect(f)
	waitFor(t, 120*time.Second, "the follower to install the 256 MiB snapshot", func() bool {
		fsms[f].restoreMu.Lock()
		defer fsms[f].restoreMu.Unlock()
		return fsms[f].gotBytes == size
	})
	peak := w.peak()
	grew := int64(peak) - int64(base)
	t.Logf("heap grew by %d KiB while a %d MiB snapshot was installed", grew>>10, size>>20)
	if grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB while installing a %d MiB snapshot: it is not streamed", grew>>20, size>>20)
	}
}

func TestSnapshotUserRestore(t *testing.T) {
	c := newCluster(t, 3, inmemSnapshots(), snapshotConfig(1_000_000, 1000))
	l := c.waitLeader()
	writeN(t, c, "a", 100)
	meta, data := takeSnapshotBytes(t, c.nodes[l])
	writeN(t, c, "b", 100)
	f := (l + 1) % 3
	if err := c.nodes[f].Restore(meta, bytes.NewReader(data), 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Restore on a follower: %v", err)
	}
	if err := c.nodes[l].Restore(meta, bytes.NewReader(data), 0); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	writeN(t, c, "c", 10)
	// Every server ends with the snapshot's 100 writes and the 10 after it.
	for i := range c.nodes {
		waitFor(t, 20*time.Second, fmt.Sprintf("node %d to hold the restored state", i), func() bool {
			got := c.fsms[i].applied()
			return len(got) == 110 && string(got[99]) == "a-99" && string(got[100]) == "c-0"
		})
	}
}

// takeSnapshotBytes takes a user snapshot on r and returns its metadata
// and data.
func takeSnapshotBytes(t *testing.T, r *Raft) (*SnapshotMeta, []byte) {
	t.Helper()
	snap := r.Snapshot()
	if err := snap.Error(); err != nil {
		t.Fatal(err)
	}
	meta, rc, err := snap.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return meta, data
}
