package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consensuskit/raft"
	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
)

// Timeouts shared by both libraries. They are short so the suite is quick,
// yet above the whole-process stalls of 600-800ms seen under -race on the
// 2-core machine (every node's timers firing late in the same millisecond):
// with a 500ms lease such a stall deposed a healthy leader mid-test.
const (
	heartbeatTimeout = 1000 * time.Millisecond
	electionTimeout  = 1000 * time.Millisecond
	leaderLease      = 1000 * time.Millisecond
	rpcTimeout       = 2 * time.Second
	// waitLimit bounds every wait on a condition. It is a deadline for a
	// hang, not a performance claim: conditions normally hold in well
	// under a second or two.
	waitLimit = 30 * time.Second
)

// library names the Raft implementation a node runs.
type library string

const (
	hashicorp library = "hashicorp"
	ours      library = "ours"
)

// applied is one command as an FSM received it.
type applied struct {
	Index, Term uint64
	Data        string
}

// recorder is the FSM of every node, whatever its library: it keeps every
// command applied, in order, so tests can compare whole histories.
type recorder struct {
	mu      sync.Mutex
	entries []applied
	// restores counts the snapshots restored into it (snapshotting FSMs
	// only; see migration_test.go).
	restores int
}

func (r *recorder) add(a applied) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, a)
	return len(r.entries)
}

func (r *recorder) history() []applied {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]applied(nil), r.entries...)
}

// errNoSnapshots is returned if a library asks for a snapshot: these tests
// keep every entry in the log, so none should be taken.
var errNoSnapshots = errors.New("interop tests do not snapshot")

// hashiFSM adapts recorder to hashicorp/raft's FSM.
type hashiFSM struct{ *recorder }

func (f hashiFSM) Apply(l *hraft.Log) interface{} {
	if l.Type != hraft.LogCommand {
		// Only commands should reach the FSM; record anything else so the
		// history comparison shows it.
		return f.add(applied{Index: l.Index, Term: l.Term, Data: fmt.Sprintf("<hashicorp log type %d>", l.Type)})
	}
	return f.add(applied{Index: l.Index, Term: l.Term, Data: string(l.Data)})
}
func (f hashiFSM) Snapshot() (hraft.FSMSnapshot, error) { return nil, errNoSnapshots }
func (f hashiFSM) Restore(rc io.ReadCloser) error       { _ = rc.Close(); return errNoSnapshots }

// oursFSM adapts recorder to our FSM.
type oursFSM struct{ *recorder }

func (f oursFSM) Apply(l *raft.Log) interface{} {
	if l.Type != raft.LogCommand {
		return f.add(applied{Index: l.Index, Term: l.Term, Data: fmt.Sprintf("<our log type %d>", l.Type)})
	}
	return f.add(applied{Index: l.Index, Term: l.Term, Data: string(l.Data)})
}
func (f oursFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errNoSnapshots }
func (f oursFSM) Restore(rc io.ReadCloser) error      { _ = rc.Close(); return errNoSnapshots }

// node is one server of a mixed cluster, of either library.
type node struct {
	id   string
	lib  library
	addr string // its transport's own address, as written in the configuration
	fsm  *recorder

	hr *hraft.Raft
	ht *hraft.NetworkTransport
	or *raft.Raft
	ot *raft.NetworkTransport

	stopped bool
}

func (n *node) String() string { return n.id }

func (n *node) isLeader() bool {
	if n.lib == hashicorp {
		return n.hr.State() == hraft.Leader
	}
	return n.or.State() == raft.Leader
}

func (n *node) state() string {
	if n.lib == hashicorp {
		return n.hr.State().String()
	}
	return n.or.State().String()
}

func (n *node) term() uint64 {
	if n.lib == hashicorp {
		return n.hr.CurrentTerm()
	}
	return n.or.CurrentTerm()
}

// leaderID is the leader this node currently knows of, "" if none.
func (n *node) leaderID() string {
	if n.lib == hashicorp {
		_, id := n.hr.LeaderWithID()
		return string(id)
	}
	_, id := n.or.LeaderWithID()
	return string(id)
}

// apply proposes cmd and returns a function that waits for the outcome.
func (n *node) apply(cmd []byte) func() error {
	if n.lib == hashicorp {
		f := n.hr.Apply(cmd, rpcTimeout)
		return f.Error
	}
	f := n.or.Apply(cmd, rpcTimeout)
	return f.Error
}

// stop shuts the node down and closes its transport.
func (n *node) stop() error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	if n.lib == hashicorp {
		err := n.hr.Shutdown().Error()
		if cerr := n.ht.Close(); err == nil {
			err = cerr
		}
		return err
	}
	// Our Shutdown closes the transport itself.
	err := n.or.Shutdown().Error()
	if cerr := n.ot.Close(); err == nil {
		err = cerr
	}
	return err
}

// hashiAddrs and oursAddrs resolve peers through the tap network. Each node
// gets its own, because the route depends on who dials.
type hashiAddrs struct {
	net  *tapNet
	self string
}

func (a hashiAddrs) ServerAddr(id hraft.ServerID) (hraft.ServerAddress, error) {
	addr, err := a.net.addrFor(a.self, string(id))
	return hraft.ServerAddress(addr), err
}

type oursAddrs struct {
	net  *tapNet
	self string
}

func (a oursAddrs) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	addr, err := a.net.addrFor(a.self, string(id))
	return raft.ServerAddress(addr), err
}

// lockedBuffer collects every node's log lines, shown only if a test fails.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logLevel is Info unless INTEROP_LOG names another hclog level.
func logLevel() hclog.Level {
	if v := os.Getenv("INTEROP_LOG"); v != "" {
		return hclog.LevelFromString(v)
	}
	return hclog.Info
}

// testSeed returns the seed for the test's random choices (payload sizes,
// write windows), from INTEROP_SEED when set so a failure can be replayed,
// and arranges for it to be printed if the test fails.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("INTEROP_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("INTEROP_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random seed: %d (replay with INTEROP_SEED=%d)", seed, seed)
		}
	})
	return seed
}

// cluster is a mixed cluster over loopback TCP.
type cluster struct {
	t     *testing.T
	net   *tapNet
	nodes []*node
	rng   *rand.Rand
	logs  *lockedBuffer
}

type clusterOptions struct {
	// preVoteDisabled turns pre-vote off on every node.
	preVoteDisabled bool
	// muzzled nodes cannot open connections (they still answer), so they
	// cannot campaign; isolated nodes can neither reach nor be reached.
	// Both hold from the start, so who may win the first election is
	// decided by construction rather than by timer luck.
	muzzled, isolated []string
	// firstLeader, if set, must win the first election; the network is
	// then healed. Without it the test heals when it sees fit.
	firstLeader string
}

// startCluster builds, bootstraps and starts one node per entry of libs,
// named h1, h2, ... and o1, o2, ... by library. Everything is shut down when
// the test ends.
func startCluster(t *testing.T, libs []library, opts clusterOptions) *cluster {
	t.Helper()
	c := newCluster(t)
	counts := map[library]int{}
	for _, lib := range libs {
		counts[lib]++
		id := fmt.Sprintf("%c%d", lib[0], counts[lib])
		c.nodes = append(c.nodes, &node{id: id, lib: lib, fsm: &recorder{}})
	}
	// Transports first: their listeners pick the ports that go into the
	// configuration.
	for _, n := range c.nodes {
		c.openTransport(n)
		c.net.addNode(n.id, n.addr)
	}
	if err := c.net.link(); err != nil {
		t.Fatal(err)
	}

	var hservers []hraft.Server
	var oservers []raft.Server
	for _, n := range c.nodes {
		hservers = append(hservers, hraft.Server{Suffrage: hraft.Voter, ID: hraft.ServerID(n.id), Address: hraft.ServerAddress(n.addr)})
		oservers = append(oservers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n.id), Address: raft.ServerAddress(n.addr)})
	}
	for _, id := range opts.muzzled {
		c.net.muzzle(id)
	}
	for _, id := range opts.isolated {
		c.net.isolate(id)
	}
	for _, n := range c.nodes {
		logger := hclog.New(&hclog.LoggerOptions{Name: n.id, Output: c.logs, Level: logLevel()})
		switch n.lib {
		case hashicorp:
			conf := hraft.DefaultConfig()
			conf.LocalID = hraft.ServerID(n.id)
			conf.HeartbeatTimeout = heartbeatTimeout
			conf.ElectionTimeout = electionTimeout
			conf.LeaderLeaseTimeout = leaderLease
			conf.PreVoteDisabled = opts.preVoteDisabled
			conf.Logger = logger
			store := hraft.NewInmemStore()
			snaps := hraft.NewDiscardSnapshotStore()
			if err := hraft.BootstrapCluster(conf, store, store, snaps, n.ht, hraft.Configuration{Servers: hservers}); err != nil {
				t.Fatalf("bootstrap %s: %v", n.id, err)
			}
			r, err := hraft.NewRaft(conf, hashiFSM{n.fsm}, store, store, snaps, n.ht)
			if err != nil {
				t.Fatalf("start %s: %v", n.id, err)
			}
			n.hr = r
		case ours:
			conf := raft.DefaultConfig()
			conf.LocalID = raft.ServerID(n.id)
			conf.HeartbeatTimeout = heartbeatTimeout
			conf.ElectionTimeout = electionTimeout
			conf.LeaderLeaseTimeout = leaderLease
			conf.PreVoteDisabled = opts.preVoteDisabled
			conf.Logger = logger
			store := raft.NewInmemStore()
			snaps := raft.NewDiscardSnapshotStore()
			if err := raft.BootstrapCluster(conf, store, store, snaps, n.ot, raft.Configuration{Servers: oservers}); err != nil {
				t.Fatalf("bootstrap %s: %v", n.id, err)
			}
			r, err := raft.NewRaft(conf, oursFSM{n.fsm}, store, store, snaps, n.ot)
			if err != nil {
				t.Fatalf("start %s: %v", n.id, err)
			}
			n.or = r
		}
	}
	if opts.firstLeader != "" {
		// Cut-off nodes cannot learn of the leader until the heal, so wait
		// for the leader itself first, then for everyone.
		c.waitFor(opts.firstLeader+" to win the first election", c.node(opts.firstLeader).isLeader)
		c.net.heal()
		if leader := c.waitLeader(c.nodes); leader.id != opts.firstLeader {
			t.Fatalf("after the heal %s leads, want %s", leader.id, opts.firstLeader)
		}
	}
	return c
}

// newCluster returns a cluster with no nodes yet, whose nodes and logs are
// shut down and printed (on failure) when the test ends.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	seed := testSeed(t)
	c := &cluster{t: t, net: newTapNet(), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), logs: &lockedBuffer{}}
	// Cleanups run last-registered first: logs are printed after shutdown.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node logs:\n%s", c.logs.String())
		}
	})
	t.Cleanup(c.shutdown)
	return c
}

// openTransport gives n a TCP transport of its library on a fresh
// loopback port, resolving peers through the tap, and sets n.addr.
func (c *cluster) openTransport(n *node) {
	c.t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Name: n.id + "-net", Output: c.logs, Level: logLevel()})
	switch n.lib {
	case hashicorp:
		tr, err := hraft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &hraft.NetworkTransportConfig{
			ServerAddressProvider: hashiAddrs{net: c.net, self: n.id},
			Logger:                logger,
			MaxPool:               3,
			Timeout:               rpcTimeout,
		})
		if err != nil {
			c.t.Fatalf("hashicorp transport for %s: %v", n.id, err)
		}
		n.ht, n.addr = tr, string(tr.LocalAddr())
	case ours:
		tr, err := raft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &raft.NetworkTransportConfig{
			ServerAddressProvider: oursAddrs{net: c.net, self: n.id},
			Logger:                logger,
			MaxPool:               3,
			Timeout:               rpcTimeout,
		})
		if err != nil {
			c.t.Fatalf("our transport for %s: %v", n.id, err)
		}
		n.ot, n.addr = tr, string(tr.LocalAddr())
	}
}

// shutdown stops every node still running, then the proxies. The tap must
// have decoded every stream it carried with the reference msgpack codec:
// a stream it could not follow is a wire-format divergence (or a tap bug),
// either way worth a failure.
func (c *cluster) shutdown() {
	for _, n := range c.nodes {
		if err := n.stop(); err != nil {
			c.t.Errorf("shutting down %s: %v", n.id, err)
		}
	}
	c.net.close()
	if errs := c.net.decodeErrors(); len(errs) > 0 {
		c.t.Errorf("the tap could not decode %d streams: %v", len(errs), errs)
	}
}

func (c *cluster) node(id string) *node {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	c.t.Fatalf("no node %s", id)
	return nil
}

// first returns the first node of lib.
func (c *cluster) first(lib library) *node {
	for _, n := range c.nodes {
		if n.lib == lib {
			return n
		}
	}
	c.t.Fatalf("no %s node", lib)
	return nil
}

func (c *cluster) live() []*node {
	var out []*node
	for _, n := range c.nodes {
		if !n.stopped {
			out = append(out, n)
		}
	}
	return out
}

// status describes every node, for failure messages.
func (c *cluster) status() string {
	var b strings.Builder
	for _, n := range c.nodes {
		if n.stopped {
			fmt.Fprintf(&b, "\n  %s (%s): stopped, applied %d", n.id, n.lib, len(n.fsm.history()))
			continue
		}
		fmt.Fprintf(&b, "\n  %s (%s): %s term=%d leader=%q applied=%d",
			n.id, n.lib, n.state(), n.term(), n.leaderID(), len(n.fsm.history()))
	}
	return b.String()
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s; cluster:%s", waitLimit, what, c.status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLeader waits until one of nodes leads and every other node of the
// set names it as leader in the same term, and returns it.
func (c *cluster) waitLeader(nodes []*node) *node {
	c.t.Helper()
	var leader *node
	c.waitFor("a leader every node agrees on", func() bool {
		leader = nil
		for _, n := range nodes {
			if n.isLeader() {
				if leader != nil {
					return false
				}
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		term := leader.term()
		for _, n := range nodes {
			if n != leader && (n.leaderID() != leader.id || n.term() != term) {
				return false
			}
		}
		return leader.isLeader() && leader.term() == term
	})
	return leader
}

// command makes the i-th command of a write phase: a unique, readable
// prefix and random padding, so entries of varied sizes cross the wire.
func (c *cluster) command(prefix string, i int) []byte {
	pad := strings.Repeat("x", c.rng.IntN(256))
	return []byte(fmt.Sprintf("%s-%05d/%s", prefix, i, pad))
}

// writeStrict applies count commands through leader, in windows of
// concurrent proposals, and fails the test on any error: while the cluster
// is healthy every write must be acknowledged. It returns the commands in
// the order they were proposed, which is the order they must be applied,
// since one goroutine proposes them.
func (c *cluster) writeStrict(leader *node, prefix string, count int) []string {
	c.t.Helper()
	var acked []string
	for i := 0; i < count; {
		window := 1 + c.rng.IntN(64)
		var waits []func() error
		var cmds []string
		for ; window > 0 && i < count; window-- {
			cmd := c.command(prefix, i)
			waits = append(waits, leader.apply(cmd))
			cmds = append(cmds, string(cmd))
			i++
		}
		for k, wait := range waits {
			if err := wait(); err != nil {
				c.t.Fatalf("apply %q through %s (%s): %v; cluster:%s", cmds[k][:len(prefix)+6], leader.id, leader.lib, err, c.status())
			}
		}
		acked = append(acked, cmds...)
	}
	return acked
}

// writeAny applies count commands one at a time through whichever node
// leads, retrying a failed write under a new name (a write whose outcome is
// unknown may still commit, so it is never re-proposed as the same
// command). It returns the acknowledged commands in acknowledgement order,
// and every command proposed.
func (c *cluster) writeAny(prefix string, count int) (acked []string, proposed map[string]bool) {
	c.t.Helper()
	proposed = map[string]bool{}
	deadline := time.Now().Add(waitLimit)
	for i := 0; i < count; i++ {
		for attempt := 0; ; attempt++ {
			if time.Now().After(deadline) {
				c.t.Fatalf("writes did not complete within %v; %d acknowledged; cluster:%s", waitLimit, len(acked), c.status())
			}
			var leader *node
			for _, n := range c.live() {
				if n.isLeader() {
					leader = n
				}
			}
			if leader == nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			cmd := c.command(fmt.Sprintf("%s%d", prefix, attempt), i)
			proposed[string(cmd)] = true
			if err := leader.apply(cmd)(); err != nil {
				c.t.Logf("write %d attempt %d through %s failed: %v", i, attempt, leader.id, err)
				continue
			}
			acked = append(acked, string(cmd))
			break
		}
	}
	return acked, proposed
}

// converged waits until every node of nodes has applied as many commands as
// the furthest of them, then checks that all hold exactly the same history
// (index, term and command, in order) and returns it.
func (c *cluster) converged(nodes []*node) []applied {
	c.t.Helper()
	c.waitFor("every FSM to apply the same number of commands", func() bool {
		want := -1
		for _, n := range nodes {
			got := len(n.fsm.history())
			if want >= 0 && got != want {
				return false
			}
			want = got
		}
		return true
	})
	ref := nodes[0].fsm.history()
	for _, n := range nodes[1:] {
		if diff := firstDifference(ref, n.fsm.history()); diff != "" {
			c.t.Fatalf("FSM histories of %s (%s) and %s (%s) differ: %s", nodes[0].id, nodes[0].lib, n.id, n.lib, diff)
		}
	}
	for k := 1; k < len(ref); k++ {
		if ref[k].Index <= ref[k-1].Index || ref[k].Term < ref[k-1].Term {
			c.t.Fatalf("history goes backwards at position %d: %+v after %+v", k, ref[k], ref[k-1])
		}
	}
	return ref
}

// firstDifference describes where two histories first differ, "" if equal.
func firstDifference(a, b []applied) string {
	for k := 0; k < len(a) && k < len(b); k++ {
		if a[k] != b[k] {
			return fmt.Sprintf("at position %d: %s vs %s", k, short(a[k]), short(b[k]))
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("lengths %d vs %d", len(a), len(b))
	}
	return ""
}

func short(a applied) string {
	d := a.Data
	if i := strings.IndexByte(d, '/'); i >= 0 {
		d = d[:i]
	}
	return fmt.Sprintf("{index %d term %d %q}", a.Index, a.Term, d)
}

func commands(h []applied) []string {
	out := make([]string, len(h))
	for k, a := range h {
		out[k] = a.Data
	}
	return out
}

// checkAcked checks a history against a single writer's acknowledged
// commands: each appears exactly once and in acknowledgement order, and the
// history holds nothing that was never proposed.
func (c *cluster) checkAcked(h []applied, acked []string, proposed map[string]bool) {
	c.t.Helper()
	pos := map[string]int{}
	for k, a := range h {
		if _, dup := pos[a.Data]; dup {
			c.t.Fatalf("command %s applied twice", short(a))
		}
		pos[a.Data] = k
		if !proposed[a.Data] {
			c.t.Fatalf("history holds %s, which was never proposed", short(a))
		}
	}
	last := -1
	for _, cmd := range acked {
		k, ok := pos[cmd]
		if !ok {
			c.t.Fatalf("acknowledged write %q is missing from the history", cmd[:strings.IndexByte(cmd, '/')])
		}
		if k <= last {
			c.t.Fatalf("acknowledged write %q is applied before a write acknowledged earlier", cmd[:strings.IndexByte(cmd, '/')])
		}
		last = k
	}
}

// isPrefix reports whether p is a prefix of h.
func isPrefix(p, h []applied) bool {
	if len(p) > len(h) {
		return false
	}
	return firstDifference(p, h[:len(p)]) == ""
}
