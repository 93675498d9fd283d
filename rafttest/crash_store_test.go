package rafttest

import (
	"errors"
	"testing"
	"time"

	"github.com/consensuskit/raft"
)

func crashTestEntries(from, to uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, &raft.Log{Index: i, Term: 1, Data: []byte{byte(i)}})
	}
	return out
}

// waitUnsynced waits until c holds n writes in their unsynced window.
func waitUnsynced(t *testing.T, c *crashStore, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.batches) + len(c.sets)
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes unsynced, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCrashStoreKeepsAcknowledgedWrites(t *testing.T) {
	inner := raft.NewInmemStore()
	c := newCrashStore(inner, inner, 1)
	if err := c.StoreLogs(crashTestEntries(1, 10)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUint64([]byte("term"), 7); err != nil {
		t.Fatal(err)
	}
	if caught, lost := c.crash(); caught != 0 || lost != 0 {
		t.Fatalf("crash caught %d writes and lost %d with none in flight", caught, lost)
	}
	if last, _ := inner.LastIndex(); last != 10 {
		t.Fatalf("last index %d after the crash, want 10", last)
	}
	if v, _ := inner.GetUint64([]byte("term")); v != 7 {
		t.Fatalf("term %d after the crash, want 7", v)
	}
	if err := c.StoreLogs(crashTestEntries(11, 11)); !errors.Is(err, ErrCrashed) {
		t.Fatalf("StoreLogs after the crash = %v, want ErrCrashed", err)
	}
	if err := c.SetUint64([]byte("term"), 8); !errors.Is(err, ErrCrashed) {
		t.Fatalf("SetUint64 after the crash = %v, want ErrCrashed", err)
	}
	if err := c.DeleteRange(1, 5); !errors.Is(err, ErrCrashed) {
		t.Fatalf("DeleteRange after the crash = %v, want ErrCrashed", err)
	}
	var l raft.Log
	if err := c.GetLog(10, &l); err != nil || l.Index != 10 {
		t.Fatalf("GetLog after the crash = %v, %+v", err, l)
	}
}

// A crash inside a batch's unsynced window keeps a prefix of it, from none
// to all, and fails the write; over seeds every outcome occurs.
func TestCrashStoreTearsAnUnsyncedBatch(t *testing.T) {
	outcomes := map[string]int{}
	for seed := uint64(1); seed <= 40; seed++ {
		inner := raft.NewInmemStore()
		c := newCrashStore(inner, inner, seed)
		if err := c.StoreLogs(crashTestEntries(1, 10)); err != nil {
			t.Fatal(err)
		}
		c.fixedWindow = time.Hour
		done := make(chan error)
		go func() { done <- c.StoreLogs(crashTestEntries(11, 20)) }()
		waitUnsynced(t, c, 1)
		if caught, _ := c.crash(); caught != 1 {
			t.Fatalf("seed %d: crash caught %d writes, want 1", seed, caught)
		}
		if err := <-done; !errors.Is(err, ErrCrashed) {
			t.Fatalf("seed %d: the interrupted StoreLogs returned %v, want ErrCrashed", seed, err)
		}
		last, _ := inner.LastIndex()
		switch {
		case last == 10:
			outcomes["lost"]++
		case last == 20:
			outcomes["kept"]++
		case last > 10 && last < 20:
			outcomes["torn"]++
		default:
			t.Fatalf("seed %d: last index %d after the crash, want 10 to 20", seed, last)
		}
		for i := uint64(1); i <= last; i++ {
			var l raft.Log
			if err := inner.GetLog(i, &l); err != nil || l.Data[0] != byte(i) {
				t.Fatalf("seed %d: entry %d after the crash: %v %+v", seed, i, err, l)
			}
		}
	}
	for _, o := range []string{"lost", "kept", "torn"} {
		if outcomes[o] == 0 {
			t.Errorf("no seed left the batch %s; outcomes %v", o, outcomes)
		}
	}
}

// A crash inside a stable write's unsynced window keeps the new value or
// restores the old one; over seeds both occur.
func TestCrashStoreUndoesAnUnsyncedStableWrite(t *testing.T) {
	outcomes := map[uint64]int{}
	for seed := uint64(1); seed <= 30; seed++ {
		inner := raft.NewInmemStore()
		c := newCrashStore(inner, inner, seed)
		if err := c.SetUint64([]byte("term"), 4); err != nil {
			t.Fatal(err)
		}
		if err := c.Set([]byte("vote"), []byte("a")); err != nil {
			t.Fatal(err)
		}
		c.fixedWindow = time.Hour
		done := make(chan error, 2)
		go func() { done <- c.SetUint64([]byte("term"), 5) }()
		go func() { done <- c.Set([]byte("vote"), []byte("b")) }()
		waitUnsynced(t, c, 2)
		c.crash()
		for range 2 {
			if err := <-done; !errors.Is(err, ErrCrashed) {
				t.Fatalf("seed %d: interrupted write returned %v, want ErrCrashed", seed, err)
			}
		}
		term, _ := inner.GetUint64([]byte("term"))
		vote, _ := inner.Get([]byte("vote"))
		if (term != 4 && term != 5) || (string(vote) != "a" && string(vote) != "b") {
			t.Fatalf("seed %d: term %d vote %q after the crash", seed, term, vote)
		}
		outcomes[term]++
		outcomes[100+uint64(vote[0])]++
	}
	for _, o := range []uint64{4, 5, 100 + 'a', 100 + 'b'} {
		if outcomes[o] == 0 {
			t.Errorf("an outcome never occurred; outcomes %v", outcomes)
		}
	}
}
