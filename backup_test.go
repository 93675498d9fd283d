package raft

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fastBackupRounds builds a 3-server cluster where server 2 holds
// conflictTerms terms of perTerm conflicting entries each, lets the leader
// repair it, and returns how many AppendEntries carrying a log position were
// rejected by server 2 along the way.
func fastBackupRounds(t *testing.T, conflictTerms, perTerm int) int {
	t.Helper()
	var mu sync.Mutex
	rejected := 0
	stores := make([]*InmemStore, 3)
	conf := Configuration{}
	for i := 0; i < 3; i++ {
		stores[i] = NewInmemStore()
		conf.Servers = append(conf.Servers, Server{Suffrage: Voter, ID: ServerID(fmt.Sprintf("node%d", i)), Address: ServerAddress(fmt.Sprintf("addr%d", i))})
	}
	confData, err := EncodeConfiguration(conf)
	if err != nil {
		t.Fatal(err)
	}
	// Servers 0 and 1 hold a long log of term 50; server 2 holds a
	// different history over several older terms.
	leaderTerm := uint64(50)
	for i := 0; i < 3; i++ {
		_ = stores[i].StoreLog(&Log{Index: 1, Term: 1, Type: LogConfiguration, Data: confData})
	}
	for _, s := range stores[:2] {
		for idx := uint64(2); idx <= uint64(2+conflictTerms*perTerm+10); idx++ {
			_ = s.StoreLog(&Log{Index: idx, Term: leaderTerm, Data: []byte(fmt.Sprintf("good-%d", idx))})
		}
		_ = s.SetUint64([]byte(keyCurrentTerm), leaderTerm)
	}
	idx := uint64(2)
	for term := 2; term < 2+conflictTerms; term++ {
		for k := 0; k < perTerm; k++ {
			_ = stores[2].StoreLog(&Log{Index: idx, Term: uint64(term), Data: []byte(fmt.Sprintf("bad-%d", idx))})
			idx++
		}
	}
	_ = stores[2].SetUint64([]byte(keyCurrentTerm), uint64(1+conflictTerms))

	c := &cluster{t: t, n: 3}
	for i := 0; i < 3; i++ {
		c.logs = append(c.logs, stores[i])
		c.stable = append(c.stable, stores[i])
		c.addrs = append(c.addrs, conf.Servers[i].Address)
		c.confs = append(c.confs, testConfig(conf.Servers[i].ID))
		c.fsms = append(c.fsms, &testFSM{})
		c.nodes = append(c.nodes, nil)
		c.trans = append(c.trans, nil)
		c.down = append(c.down, true)
		c.snaps = append(c.snaps, NewDiscardSnapshotStore())
	}
	c.wrap = func(i int, it *InmemTransport) Transport {
		ft := newFaultTransport(it, uint64(i))
		ft.onAppend = func(target ServerAddress, req *AppendEntriesRequest, resp *AppendEntriesResponse) {
			if target == "addr2" && req.Entries != nil && !resp.Success {
				mu.Lock()
				rejected++
				mu.Unlock()
			}
		}
		return ft
	}
	for i := 0; i < 3; i++ {
		c.makeTransport(i)
	}
	c.connectAll()
	t.Cleanup(c.shutdown)
	for i := 0; i < 3; i++ {
		c.start(i)
	}
	l := c.waitLeader()
	if l == 2 {
		t.Fatalf("server with the stale log was elected")
	}
	c.apply([]byte("final"))
	waitFor(t, 10*time.Second, "server 2 to converge", func() bool {
		f := c.fsms[2].applied()
		return len(f) > 0 && string(f[len(f)-1]) == "final"
	})
	c.checkSamePrefix()
	for _, cmd := range c.fsms[2].applied() {
		if len(cmd) > 3 && string(cmd[:4]) == "bad-" {
			t.Fatalf("server 2 applied its conflicting entry %q", cmd)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return rejected
}

func TestFastBackup(t *testing.T) {
	few := fastBackupRounds(t, 3, 20)
	many := fastBackupRounds(t, 3, 60)
	moreTerms := fastBackupRounds(t, 8, 10)
	t.Logf("rejected rounds: 3 terms x 20 = %d, 3 terms x 60 = %d, 8 terms x 10 = %d", few, many, moreTerms)
	// Repair costs about one round trip per conflicting term, so tripling
	// the entries of each term adds nothing ...
	if many > few {
		t.Fatalf("rounds grew with entries: %d for 3x20, %d for 3x60", few, many)
	}
	// ... and is far below one round per entry.
	if many > 3+2 {
		t.Fatalf("3 conflicting terms of 60 entries took %d rejected rounds", many)
	}
	// More conflicting terms cost more rounds.
	if moreTerms <= few {
		t.Fatalf("rounds did not grow with terms: %d for 3 terms, %d for 8", few, moreTerms)
	}
}
