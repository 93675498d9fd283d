package raft

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNextConfiguration(t *testing.T) {
	base := voters("a", "b")
	cases := []struct {
		name    string
		cmd     configChangeCommand
		id      ServerID
		addr    ServerAddress
		want    map[ServerID]ServerSuffrage
		changed bool
		err     bool
	}{
		{"add voter", addVoter, "c", "c", map[ServerID]ServerSuffrage{"a": Voter, "b": Voter, "c": Voter}, true, false},
		{"add nonvoter", addNonvoter, "c", "c", map[ServerID]ServerSuffrage{"a": Voter, "b": Voter, "c": Nonvoter}, true, false},
		{"add existing voter", addVoter, "a", "a", map[ServerID]ServerSuffrage{"a": Voter, "b": Voter}, false, false},
		{"nonvoter never demotes", addNonvoter, "a", "a", map[ServerID]ServerSuffrage{"a": Voter, "b": Voter}, false, false},
		{"demote", demoteVoter, "b", "", map[ServerID]ServerSuffrage{"a": Voter, "b": Nonvoter}, true, false},
		{"remove", removeServer, "b", "", map[ServerID]ServerSuffrage{"a": Voter}, true, false},
		{"remove absent", removeServer, "z", "", map[ServerID]ServerSuffrage{"a": Voter, "b": Voter}, false, false},
		{"duplicate address", addVoter, "c", "a", nil, false, true},
	}
	for _, tc := range cases {
		next, changed, err := nextConfiguration(base, tc.cmd, tc.id, tc.addr)
		if (err != nil) != tc.err {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if tc.err {
			continue
		}
		if changed != tc.changed {
			t.Errorf("%s: changed = %v", tc.name, changed)
		}
		got := map[ServerID]ServerSuffrage{}
		for _, s := range next.Servers {
			got[s.ID] = s.Suffrage
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Removing the last voter is refused.
	if _, _, err := nextConfiguration(voters("a"), removeServer, "a", ""); !errors.Is(err, ErrInvalidConfiguration) {
		t.Errorf("removing the last voter: %v", err)
	}
}

// leaderNode returns the node that leads now, waiting for one.
func (c *cluster) leaderNode() *Raft {
	return c.nodes[c.waitLeader()]
}

// changeMembership retries a membership change on whichever node leads.
func (c *cluster) changeMembership(what string, do func(r *Raft) IndexFuture) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		f := do(c.leaderNode())
		if err = f.Error(); err == nil {
			return f.Index()
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("%s: %v", what, err)
	return 0
}

// writer applies distinct commands through the leader until stopped and
// records the acknowledged ones.
type writer struct {
	c     *cluster
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	acked []string
	errs  []error
	times []time.Time
}

func startWriter(c *cluster) *writer {
	w := &writer{c: c, stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for k := 0; ; k++ {
			select {
			case <-w.stop:
				return
			default:
			}
			var leader *Raft
			for i, r := range c.nodes {
				if !c.down[i] && r.State() == Leader {
					leader = r
				}
			}
			if leader == nil {
				time.Sleep(2 * time.Millisecond)
				continue
			}
			cmd := fmt.Sprintf("w-%d", k)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			err := leader.ApplyContext(ctx, []byte(cmd)).ErrorContext(ctx)
			cancel()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, cmd)
			} else {
				w.errs = append(w.errs, err)
				w.times = append(w.times, time.Now())
				time.Sleep(time.Millisecond)
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) halt() []string {
	close(w.stop)
	w.wg.Wait()
	return w.acked
}

func (w *writer) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// checkAcked waits until the given nodes applied everything and checks
// every acknowledged write is there exactly once.
func (c *cluster) checkAcked(acked []string, nodes ...int) {
	c.t.Helper()
	idx := c.apply([]byte("end-marker"))
	for _, i := range nodes {
		waitFor(c.t, 20*time.Second, fmt.Sprintf("node %d to apply everything", i), func() bool {
			return c.nodes[i].AppliedIndex() >= idx
		})
		seen := map[string]int{}
		for _, cmd := range c.fsms[i].applied() {
			seen[string(cmd)]++
		}
		for _, cmd := range acked {
			if seen[cmd] != 1 {
				c.t.Fatalf("node %d applied acknowledged %q %d times", i, cmd, seen[cmd])
			}
		}
	}
	c.checkSamePrefix()
}

func TestMembershipGrowAndShrink(t *testing.T) {
	c := newCluster(t, 5, withBootstrapped(1))
	c.waitLeader()
	w := startWriter(c)
	for i := 1; i < 5; i++ {
		id, addr := c.confs[i].LocalID, c.addrs[i]
		c.changeMembership("add "+string(id), func(r *Raft) IndexFuture { return r.AddVoter(id, addr, 0, time.Second) })
		if got := c.leaderNode().GetConfiguration().Configuration().voters(); got != i+1 {
			t.Fatalf("after adding %s there are %d voters", id, got)
		}
	}
	// Shrink to one server, removing followers.
	remaining := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true}
	for len(remaining) > 1 {
		leader := c.waitLeader()
		victim := -1
		for i := range remaining {
			if i != leader {
				victim = i
				break
			}
		}
		id := c.confs[victim].LocalID
		c.changeMembership("remove "+string(id), func(r *Raft) IndexFuture { return r.RemoveServer(id, 0, time.Second) })
		delete(remaining, victim)
	}
	acked := w.halt()
	if len(acked) == 0 {
		t.Fatal("no write succeeded during the changes")
	}
	var last []int
	for i := range remaining {
		last = append(last, i)
	}
	c.checkAcked(acked, last...)
	if got := c.leaderNode().GetConfiguration().Configuration().voters(); got != 1 {
		t.Fatalf("%d voters left, want 1", got)
	}
}

func TestMembershipRemoveLeader(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	c.apply([]byte("before"))
	id := c.confs[l].LocalID
	if err := c.nodes[l].RemoveServer(id, 0, time.Second).Error(); err != nil {
		t.Fatalf("removing the leader: %v", err)
	}
	waitFor(t, 10*time.Second, "the removed leader to step down", func() bool {
		s := c.nodes[l].State()
		return s == Follower || s == Shutdown
	})
	waitFor(t, 10*time.Second, "the removed leader to shut down (ShutdownOnRemove)", func() bool {
		return c.nodes[l].State() == Shutdown
	})
	c.down[l] = true
	var rest []int
	for i := 0; i < 3; i++ {
		if i != l {
			rest = append(rest, i)
		}
	}
	nl := c.waitLeader(rest...)
	if nl == l {
		t.Fatal("removed server leads")
	}
	c.apply([]byte("after"))
	c.waitApplied(2, rest...)
}

func TestMembershipRemovedServerCannotDisrupt(t *testing.T) {
	for _, preVote := range []bool{true, false} {
		t.Run(fmt.Sprintf("prevote=%v", preVote), func(t *testing.T) {
			c := newCluster(t, 3, withConfig(func(i int, conf *Config) {
				conf.PreVoteDisabled = !preVote
				conf.HeartbeatTimeout = 300 * time.Millisecond
				conf.ElectionTimeout = 300 * time.Millisecond
				conf.LeaderLeaseTimeout = 300 * time.Millisecond
			}))
			l := c.waitLeader()
			x := (l + 1) % 3
			campaigns := make(chan Observation, 64)
			c.nodes[x].RegisterObserver(NewObserver(campaigns, false, func(o *Observation) bool {
				return o.Data == Candidate
			}))
			// x is cut off while it is removed, so it never learns of its
			// removal and still believes it is a voter.
			c.disconnect(x)
			id := c.confs[x].LocalID
			c.changeMembership("remove", func(r *Raft) IndexFuture { return r.RemoveServer(id, 0, time.Second) })
			if c.nodes[x].State() == Shutdown {
				t.Fatalf("server %d led when it was removed; the test needs a follower", x)
			}
			c.reconnect(x)
			leader := c.leaderNode()
			term := leader.CurrentTerm()
			// Its election timer fires again and again while it can reach
			// the others.
			select {
			case <-campaigns:
			case <-time.After(10 * time.Second):
				t.Fatal("the removed server never campaigned")
			}
			end := time.Now().Add(2 * time.Second)
			for time.Now().Before(end) {
				for i, r := range c.nodes {
					if i == x {
						continue
					}
					if r.CurrentTerm() != term {
						t.Fatalf("node %d moved from term %d to %d because of a removed server", i, term, r.CurrentTerm())
					}
				}
				if c.leaderNode() != leader {
					t.Fatal("leadership changed because of a removed server")
				}
				time.Sleep(20 * time.Millisecond)
			}
			c.apply([]byte("still-writing"))
		})
	}
}

// slowLogStore delays every StoreLogs, like a slow disk on a new server.
type slowLogStore struct {
	*InmemStore
	delay time.Duration
}

func (s *slowLogStore) StoreLogs(logs []*Log) error {
	time.Sleep(s.delay)
	return s.InmemStore.StoreLogs(logs)
}

func TestMembershipAddVoterFarBehind(t *testing.T) {
	const behind = 50000
	c := newCluster(t, 4, withBootstrapped(3), withLogStores(func(i int) LogStore {
		if i == 3 {
			return &slowLogStore{InmemStore: NewInmemStore(), delay: 500 * time.Microsecond}
		}
		return NewInmemStore()
	}), withConfig(func(i int, conf *Config) {
		conf.HeartbeatTimeout = 500 * time.Millisecond
		conf.ElectionTimeout = 500 * time.Millisecond
		conf.LeaderLeaseTimeout = 500 * time.Millisecond
	}))
	c.waitLeader()
	writeN(t, c, "old", behind)
	w := startWriter(c)
	leader := c.leaderNode()
	id, addr := c.confs[3].LocalID, c.addrs[3]
	done := make(chan error, 1)
	go func() { done <- leader.AddVoter(id, addr, 0, time.Second).Error() }()

	sawNonvoter := false
	var writesWhileNonvoter int
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("AddVoter: %v", err)
			}
			finished = true
			continue
		case <-time.After(5 * time.Millisecond):
		}
		conf := leader.GetConfiguration().Configuration()
		s, ok := conf.server(id)
		if !ok {
			continue
		}
		lag := leader.LastIndex() - c.nodes[3].LastIndex()
		if s.Suffrage == Nonvoter && lag > behind/2 {
			if !sawNonvoter {
				writesWhileNonvoter = -w.ackedCount()
			}
			sawNonvoter = true
		}
		if s.Suffrage == Voter && lag > behind/2 {
			t.Fatalf("server promoted to voter while %d entries behind", lag)
		}
	}
	writesWhileNonvoter += w.ackedCount()
	acked := w.halt()
	if !sawNonvoter {
		t.Fatal("never saw the new server as a catching-up non-voter")
	}
	if writesWhileNonvoter <= 0 {
		t.Fatal("no write committed while the new server caught up")
	}
	if !leader.GetConfiguration().Configuration().isVoter(id) {
		t.Fatal("AddVoter returned but the server is not a voter")
	}
	t.Logf("%d writes committed during the catch-up", writesWhileNonvoter)
	c.checkAcked(acked, 0, 1, 2, 3)
}

func TestMembershipNonvoter(t *testing.T) {
	c := newCluster(t, 4, withBootstrapped(3))
	c.waitLeader()
	id, addr := c.confs[3].LocalID, c.addrs[3]
	c.changeMembership("add nonvoter", func(r *Raft) IndexFuture { return r.AddNonvoter(id, addr, 0, time.Second) })
	writeN(t, c, "x", 200)
	c.waitApplied(200, 3)
	c.checkSamePrefix()
	// Stopping the non-voter changes nothing for commits, and with one
	// voter down too a quorum of voters (2 of 3) still commits.
	c.crash(3)
	l := c.waitLeader()
	c.disconnect((l + 1) % 3)
	writeN(t, c, "y", 50)
	if c.nodes[3].State() == Leader {
		t.Fatal("non-voter leads")
	}
}

func TestMembershipConcurrentAndStaleChanges(t *testing.T) {
	c := newCluster(t, 5, withBootstrapped(3))
	leader := c.leaderNode()
	c.apply([]byte("x"))
	// node 3 is down, so adding it as a voter stalls in catch-up: a second
	// change meanwhile must fail at once.
	c.crash(3)
	first := leader.AddVoter(c.confs[3].LocalID, c.addrs[3], 0, time.Second)
	var err error
	waitFor(t, 5*time.Second, "the second change to be refused", func() bool {
		err = leader.AddNonvoter(c.confs[4].LocalID, c.addrs[4], 0, time.Second).Error()
		return errors.Is(err, ErrConfigurationChangeInProgress)
	})
	// A stale prevIndex is refused.
	leader.Shutdown()
	c.down[0], c.down[1], c.down[2] = c.nodes[0].State() == Shutdown, c.nodes[1].State() == Shutdown, c.nodes[2].State() == Shutdown
	if err := first.Error(); err == nil {
		t.Fatal("adding a server that never answered succeeded")
	} else if !errors.Is(err, ErrRaftShutdown) && !errors.Is(err, ErrLeadershipLost) && !errors.Is(err, ErrCatchUpStalled) {
		t.Fatalf("pending change after shutdown: %v", err)
	}
	var rest []int
	for i := 0; i < 3; i++ {
		if !c.down[i] {
			rest = append(rest, i)
		}
	}
	nl := c.nodes[c.waitLeader(rest...)]
	cf := nl.GetConfiguration()
	stale := cf.Index()
	waitFor(t, 10*time.Second, "a change with a fresh prevIndex", func() bool {
		return nl.AddNonvoter(c.confs[4].LocalID, c.addrs[4], stale, time.Second).Error() == nil
	})
	if err := nl.AddNonvoter("other", "other-addr", stale, time.Second).Error(); !errors.Is(err, ErrConfigurationChanged) {
		t.Fatalf("change with a stale prevIndex: %v", err)
	}
}

func TestRecoverCluster(t *testing.T) {
	c := newCluster(t, 3)
	c.waitLeader()
	writeN(t, c, "v", 100)
	c.waitApplied(100)
	for i := range c.nodes {
		c.crash(i)
	}
	// Servers 1 and 2 are lost for good; server 0 is recovered alone.
	solo := Configuration{Servers: []Server{{Suffrage: Voter, ID: c.confs[0].LocalID, Address: c.addrs[0]}}}
	if err := RecoverCluster(c.confs[0], c.fsms[0], c.logs[0], c.stable[0], c.snaps[0], c.trans[0], solo); err != nil {
		t.Fatalf("RecoverCluster: %v", err)
	}
	got, err := GetConfiguration(c.confs[0], c.fsms[0], c.logs[0], c.stable[0], c.snaps[0], c.trans[0])
	if err != nil || len(got.Servers) != 1 {
		t.Fatalf("stored configuration after recovery: %+v (%v)", got, err)
	}
	c.restart(0)
	c.waitLeader(0)
	c.apply([]byte("after-recovery"))
	c.waitApplied(101, 0)
	if h := c.fsms[0].applied(); string(h[99]) != "v-99" {
		t.Fatalf("recovered server lost data: %q", h[99])
	}
	if err := RecoverCluster(c.confs[1], c.fsms[1], NewInmemStore(), NewInmemStore(), NewDiscardSnapshotStore(), c.trans[1], solo); err == nil {
		t.Fatal("RecoverCluster accepted a node with no state")
	}
}

func TestLeadershipTransfer(t *testing.T) {
	c := newCluster(t, 3, withConfig(func(i int, conf *Config) {
		conf.HeartbeatTimeout = 500 * time.Millisecond
		conf.ElectionTimeout = 500 * time.Millisecond
		conf.LeaderLeaseTimeout = 500 * time.Millisecond
	}))
	old := c.waitLeader()
	w := startWriter(c)
	waitFor(t, 5*time.Second, "writes to flow", func() bool { return w.ackedCount() > 20 })

	start := time.Now()
	if err := c.nodes[old].LeadershipTransfer().Error(); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	end := time.Now()
	nl := c.waitLeader()
	if nl == old {
		t.Fatal("leadership did not move")
	}
	// To a chosen server.
	target := (nl + 1) % 3
	start2 := time.Now()
	if err := c.nodes[nl].LeadershipTransferToServer(c.confs[target].LocalID, c.addrs[target]).Error(); err != nil {
		t.Fatalf("transfer to %d: %v", target, err)
	}
	end2 := time.Now()
	if got := c.waitLeader(); got != target {
		t.Fatalf("leader is %d after transferring to %d", got, target)
	}
	acked := w.halt()
	w.mu.Lock()
	for k, err := range w.errs {
		if errors.Is(err, ErrLeadershipTransferInProgress) {
			at := w.times[k]
			in1 := !at.Before(start) && !at.After(end.Add(50*time.Millisecond))
			in2 := !at.Before(start2) && !at.After(end2.Add(50*time.Millisecond))
			if !in1 && !in2 {
				t.Fatalf("write refused for a transfer outside any transfer, at %v", at)
			}
		}
	}
	w.mu.Unlock()
	c.checkAcked(acked, 0, 1, 2)
}

func TestObserversAndReload(t *testing.T) {
	ch := make(chan Observation, 1024)
	var leaders, peers, states, failed atomic.Int64
	c := newCluster(t, 4, withBootstrapped(3))
	for _, r := range c.nodes {
		r.RegisterObserver(NewObserver(ch, false, nil))
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case o := <-ch:
				switch o.Data.(type) {
				case LeaderObservation:
					leaders.Add(1)
				case PeerObservation:
					peers.Add(1)
				case RaftState:
					states.Add(1)
				case FailedHeartbeatObservation:
					failed.Add(1)
				}
			case <-done:
				return
			}
		}
	}()
	defer close(done)
	l := c.waitLeader()
	c.changeMembership("add", func(r *Raft) IndexFuture { return r.AddNonvoter(c.confs[3].LocalID, c.addrs[3], 0, time.Second) })
	c.disconnect(3)
	waitFor(t, 10*time.Second, "observations", func() bool {
		return peers.Load() > 0 && states.Load() > 0 && failed.Load() > 0
	})
	_ = leaders.Load()

	rc := c.nodes[l].ReloadableConfig()
	rc.TrailingLogs = 77
	if err := c.nodes[l].ReloadConfig(rc); err != nil {
		t.Fatal(err)
	}
	if got := c.nodes[l].ReloadableConfig().TrailingLogs; got != 77 {
		t.Fatalf("TrailingLogs after reload = %d", got)
	}
	rc.ElectionTimeout = time.Millisecond
	if err := c.nodes[l].ReloadConfig(rc); err == nil || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("invalid reload accepted: %v", err)
	}
}

// TestMembershipDemoteVoter: a demoted voter stays in the configuration as
// a non-voter, keeps receiving the log, and no longer counts toward a
// quorum: with it and one voter cut off, the last voter cannot commit.
func TestMembershipDemoteVoter(t *testing.T) {
	c := newCluster(t, 3)
	l := c.waitLeader()
	d := (l + 1) % 3
	id := c.confs[d].LocalID
	c.changeMembership("demote", func(r *Raft) IndexFuture { return r.DemoteVoter(id, 0, time.Second) })
	future := c.leaderNode().GetConfiguration()
	if err := future.Error(); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range future.Configuration().Servers {
		if s.ID == id {
			found = true
			if s.Suffrage != Nonvoter {
				t.Fatalf("demoted server has suffrage %v", s.Suffrage)
			}
		}
	}
	if !found {
		t.Fatal("demoted server left the configuration")
	}
	writeN(t, c, "x", 50)
	c.waitApplied(50, d)
	c.checkSamePrefix()

	// The two voters are the leader and one other; without that other,
	// the demoted server's acknowledgements must not make a quorum.
	l = c.waitLeader()
	if l == d {
		t.Fatalf("demoted server %d leads", d)
	}
	other := 3 - l - d
	c.disconnect(other)
	f := c.nodes[l].Apply([]byte("no quorum"), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := f.ErrorContext(ctx); err == nil {
		t.Fatal("a write committed with only the leader and a non-voter")
	}
	for _, i := range []int{l, d} {
		for _, cmd := range c.fsms[i].applied() {
			if string(cmd) == "no quorum" {
				t.Fatalf("node %d applied a write only the leader and a non-voter hold", i)
			}
		}
	}
}
