package rafttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/consensuskit/raft"
)

// schedule is one chaos run's setup, derived from its seed.
type schedule struct {
	seed      uint64
	transport TransportKind
	store     StoreKind
	reads     ReadMode
	lease     bool
	duration  time.Duration
}

func scheduleFor(seed uint64, d time.Duration) schedule {
	s := schedule{seed: seed, duration: d}
	switch seed % 4 {
	case 1:
		s.store = WalStore
	case 2:
		s.transport = TCPTransport
	case 3:
		s.reads = BarrierReads
	}
	s.lease = seed%5 == 4
	return s
}

func (s schedule) String() string {
	return fmt.Sprintf("seed=%d transport=%d store=%d reads=%d lease=%v", s.seed, s.transport, s.store, s.reads, s.lease)
}

// chaosResult summarises one run.
type chaosResult struct {
	ops, faults    int
	unsynced, lost int
	counts         map[FaultKind]int
	violation      string
}

// runChaos runs a workload under the nemesis for one schedule, then checks
// the history for linearizability and the servers for agreement.
func runChaos(t *testing.T, s schedule, reads ReadMode, kinds []FaultKind) chaosResult {
	t.Helper()
	c := New(t, Options{
		Servers:   5,
		Transport: s.transport,
		Store:     s.store,
		Seed:      s.seed,
		Config: func(i int, conf *raft.Config) {
			if s.lease {
				conf.ReadConsistency = raft.ReadConsistencyLease
			}
		},
	})
	if _, err := c.WaitForLeader(10 * time.Second); err != nil {
		t.Fatalf("%v: %v", s, err)
	}
	h := NewHistory()
	w := &Workload{Cluster: c, History: h, Clients: 4, Keys: 3, Reads: reads, Seed: s.seed}
	nem := &Nemesis{Cluster: c, Seed: s.seed, Kinds: kinds}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		w.Run(stop)
		close(done)
	}()
	nemDone := make(chan struct{})
	go func() {
		nem.Run(stop)
		close(nemDone)
	}()
	time.Sleep(s.duration)
	close(stop)
	<-done
	<-nemDone

	// Healed, the cluster must elect, commit and agree.
	if _, err := c.WaitForLeader(20 * time.Second); err != nil {
		t.Fatalf("%v: after healing: %v\nschedule:\n%s", s, err, nem.Schedule())
	}
	var idx uint64
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if l := c.Leader(); l >= 0 {
			r, _, _ := c.Server(l)
			if f := r.Barrier(time.Second); f.Error() == nil {
				idx = r.AppliedIndex()
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if idx == 0 {
		t.Fatalf("%v: no barrier after healing\nschedule:\n%s", s, nem.Schedule())
	}
	if err := c.WaitForApplied(idx, 20*time.Second); err != nil {
		t.Fatalf("%v: %v\nschedule:\n%s", s, err, nem.Schedule())
	}
	if err := c.CheckSameSequence(); err != nil {
		t.Fatalf("%v: servers disagree: %v\nschedule:\n%s", s, err, nem.Schedule())
	}
	res := chaosResult{ops: h.Len(), counts: nem.Counts()}
	res.unsynced, res.lost = c.UnsyncedWrites()
	for _, n := range res.counts {
		res.faults += n
	}
	dir := os.Getenv("RAFT_CHAOS_OUT")
	if dir == "" {
		dir = t.TempDir()
	}
	check, err := h.Check(dir, 60*time.Second)
	if err != nil {
		t.Fatalf("%v: checking: %v", s, err)
	}
	if !check.Linearizable {
		res.violation = check.Visualization
		report := filepath.Join(dir, fmt.Sprintf("seed-%d.txt", s.seed))
		_ = os.WriteFile(report, []byte(fmt.Sprintf("%v\nschedule:\n%s\nvisualization: %s\n", s, nem.Schedule(), check.Visualization)), 0o644)
	}
	c.Shutdown()
	return res
}

// TestChaos runs seeded fault schedules that together cover every fault
// kind, and checks each history with porcupine. RAFT_CHAOS_DURATION=30m
// runs a soak with fresh seeds for that long instead; RAFT_CHAOS_SEED
// replays one seed.
func TestChaos(t *testing.T) {
	// About three minutes under the race detector on the CI machine.
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	per := 7 * time.Second
	var soak time.Duration
	if v := os.Getenv("RAFT_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("RAFT_CHAOS_DURATION: %v", err)
		}
		soak = d
		per = 8 * time.Second
	}
	if v := os.Getenv("RAFT_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RAFT_CHAOS_SEED: %v", err)
		}
		seeds = []uint64{s}
	}
	var schedules, ops, faults, violations, unsynced, lost int
	kinds := map[FaultKind]int{}
	run := func(seed uint64) {
		s := scheduleFor(seed, per)
		res := runChaos(t, s, s.reads, nil)
		schedules++
		ops += res.ops
		faults += res.faults
		unsynced += res.unsynced
		lost += res.lost
		for k, n := range res.counts {
			kinds[k] += n
		}
		if res.violation != "" {
			violations++
			t.Errorf("%v: history is not linearizable; visualization at %s", s, res.violation)
		}
	}
	if soak > 0 {
		end := time.Now().Add(soak)
		for seed := uint64(time.Now().UnixNano()); time.Now().Before(end); seed++ {
			run(seed)
		}
	} else {
		for _, seed := range seeds {
			run(seed)
		}
		for k := FaultKind(0); k < numFaultKinds; k++ {
			if kinds[k] == 0 && len(seeds) > 1 {
				t.Errorf("fault %v was never injected", k)
			}
		}
	}
	t.Logf("chaos: schedules=%d operations=%d faults=%d violations=%d by kind=%v; crashes caught %d writes unsynced, %d lost data", schedules, ops, faults, violations, kinds, unsynced, lost)
	fmt.Printf("chaos: schedules=%d operations=%d faults=%d violations=%d unsynced=%d lost=%d\n", schedules, ops, faults, violations, unsynced, lost)
}

// TestChaosDetectsUnsafeReads shows the checker can fail: followers that
// read their own state without ReadIndex, under partitions, serve stale
// reads, and porcupine must say so.
func TestChaosDetectsUnsafeReads(t *testing.T) {
	s := scheduleFor(100, 4*time.Second)
	res := runChaos(t, s, UnsafeLocalReads, []FaultKind{FaultPartition, FaultIsolateLeader})
	if res.violation == "" {
		t.Fatalf("porcupine accepted %d operations with unsafe follower reads under partitions", res.ops)
	}
}
