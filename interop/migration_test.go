package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/consensuskit/raft"
	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
)

// Snapshot settings of the migration test's nodes, in both libraries: low
// enough that 2,000 writes give several snapshots and a compacted log, so
// a server that joins empty can only catch up by InstallSnapshot.
const (
	migSnapshotThreshold = 256
	migSnapshotInterval  = 200 * time.Millisecond
	migTrailingLogs      = 64
)

// snapshotJSON serialises the whole history, index and term included, so a
// restored FSM compares equal to one that applied every entry itself.
func (r *recorder) snapshotJSON() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return json.Marshal(r.entries)
}

// restoreJSON replaces the history with a snapshot's and counts the
// restore.
func (r *recorder) restoreJSON(rc io.ReadCloser) error {
	defer func() { _ = rc.Close() }()
	var entries []applied
	if err := json.NewDecoder(rc).Decode(&entries); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = entries
	r.restores++
	return nil
}

func (r *recorder) restoreCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restores
}

// snapHashiFSM is hashiFSM with real snapshots.
type snapHashiFSM struct{ hashiFSM }

func (f snapHashiFSM) Snapshot() (hraft.FSMSnapshot, error) {
	b, err := f.snapshotJSON()
	return hashiJSONSnapshot(b), err
}
func (f snapHashiFSM) Restore(rc io.ReadCloser) error { return f.restoreJSON(rc) }

type hashiJSONSnapshot []byte

func (s hashiJSONSnapshot) Persist(sink hraft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		return errors.Join(err, sink.Cancel())
	}
	return sink.Close()
}
func (s hashiJSONSnapshot) Release() {}

// snapOursFSM is oursFSM with real snapshots.
type snapOursFSM struct{ oursFSM }

func (f snapOursFSM) Snapshot() (raft.FSMSnapshot, error) {
	b, err := f.snapshotJSON()
	return oursJSONSnapshot(b), err
}
func (f snapOursFSM) Restore(rc io.ReadCloser) error { return f.restoreJSON(rc) }

type oursJSONSnapshot []byte

func (s oursJSONSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		return errors.Join(err, sink.Cancel())
	}
	return sink.Close()
}
func (s oursJSONSnapshot) Release() {}

// firstIndexer is the part of both libraries' log stores the test reads.
type firstIndexer interface{ FirstIndex() (uint64, error) }

// migration is a cluster whose membership changes while it runs.
type migration struct {
	*cluster
	members []*node                 // the servers of the current configuration
	logs    map[string]firstIndexer // each node's log store
	hlogs   map[string]*hraft.InmemStore
}

// spawn makes a node of lib with a transport on the tap network, not yet
// started.
func (m *migration) spawn(lib library, id string) *node {
	m.t.Helper()
	n := &node{id: id, lib: lib, fsm: &recorder{}}
	m.openTransport(n)
	if err := m.net.join(n.id, n.addr); err != nil {
		m.t.Fatal(err)
	}
	m.nodes = append(m.nodes, n)
	return n
}

// launch starts n with fresh, empty stores and a snapshotting FSM,
// bootstrapped with boot when it is not empty. hashicorp nodes keep
// snapshots in hashicorp's FileSnapshotStore; ours alternate between our
// FileSnapshotStore and InmemSnapshotStore.
func (m *migration) launch(n *node, boot []*node) {
	m.t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Name: n.id, Output: m.cluster.logs, Level: logLevel()})
	switch n.lib {
	case hashicorp:
		conf := hraft.DefaultConfig()
		conf.LocalID = hraft.ServerID(n.id)
		conf.HeartbeatTimeout = heartbeatTimeout
		conf.ElectionTimeout = electionTimeout
		conf.LeaderLeaseTimeout = leaderLease
		conf.SnapshotThreshold = migSnapshotThreshold
		conf.SnapshotInterval = migSnapshotInterval
		conf.TrailingLogs = migTrailingLogs
		conf.Logger = logger
		store := hraft.NewInmemStore()
		snaps, err := hraft.NewFileSnapshotStoreWithLogger(m.t.TempDir(), 2, logger)
		if err != nil {
			m.t.Fatal(err)
		}
		if len(boot) > 0 {
			var servers []hraft.Server
			for _, b := range boot {
				servers = append(servers, hraft.Server{Suffrage: hraft.Voter, ID: hraft.ServerID(b.id), Address: hraft.ServerAddress(b.addr)})
			}
			if err := hraft.BootstrapCluster(conf, store, store, snaps, n.ht, hraft.Configuration{Servers: servers}); err != nil {
				m.t.Fatalf("bootstrap %s: %v", n.id, err)
			}
		}
		r, err := hraft.NewRaft(conf, snapHashiFSM{hashiFSM{n.fsm}}, store, store, snaps, n.ht)
		if err != nil {
			m.t.Fatalf("start %s: %v", n.id, err)
		}
		n.hr = r
		m.logs[n.id] = store
		m.hlogs[n.id] = store
	case ours:
		if len(boot) > 0 {
			m.t.Fatal("the migration starts from hashicorp servers only")
		}
		conf := raft.DefaultConfig()
		conf.LocalID = raft.ServerID(n.id)
		conf.HeartbeatTimeout = heartbeatTimeout
		conf.ElectionTimeout = electionTimeout
		conf.LeaderLeaseTimeout = leaderLease
		conf.SnapshotThreshold = migSnapshotThreshold
		conf.SnapshotInterval = migSnapshotInterval
		conf.TrailingLogs = migTrailingLogs
		conf.Logger = logger
		store := raft.NewInmemStore()
		var snaps raft.SnapshotStore = raft.NewInmemSnapshotStore()
		if len(m.logs)%2 == 0 {
			fs, err := raft.NewFileSnapshotStoreWithLogger(m.t.TempDir(), 2, logger)
			if err != nil {
				m.t.Fatal(err)
			}
			snaps = fs
		}
		r, err := raft.NewRaft(conf, snapOursFSM{oursFSM{n.fsm}}, store, store, snaps, n.ot)
		if err != nil {
			m.t.Fatalf("start %s: %v", n.id, err)
		}
		n.or = r
		m.logs[n.id] = store
	}
}

// opCtx bounds one membership operation or snapshot: a hang fails the
// test instead of stalling it.
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), waitLimit)
}

// addVoter adds m as a voter through leader n.
func (n *node) addVoter(m *node) error {
	if n.lib == hashicorp {
		return n.hr.AddVoter(hraft.ServerID(m.id), hraft.ServerAddress(m.addr), 0, waitLimit).Error()
	}
	ctx, cancel := opCtx()
	defer cancel()
	return n.or.AddVoter(raft.ServerID(m.id), raft.ServerAddress(m.addr), 0, waitLimit).ErrorContext(ctx)
}

// removeServer removes m from the configuration through leader n.
func (n *node) removeServer(m *node) error {
	if n.lib == hashicorp {
		return n.hr.RemoveServer(hraft.ServerID(m.id), 0, waitLimit).Error()
	}
	ctx, cancel := opCtx()
	defer cancel()
	return n.or.RemoveServer(raft.ServerID(m.id), 0, waitLimit).ErrorContext(ctx)
}

// transferLeadership hands n's leadership to another voter.
func (n *node) transferLeadership() error {
	if n.lib == hashicorp {
		return n.hr.LeadershipTransfer().Error()
	}
	ctx, cancel := opCtx()
	defer cancel()
	return n.or.LeadershipTransfer().ErrorContext(ctx)
}

// snapshot makes leader n snapshot and compact its log now; having nothing
// new to snapshot is not an error here. A barrier first makes sure the FSM
// has applied everything, the configuration change just made included:
// hashicorp refuses to snapshot before that.
func (n *node) snapshot() error {
	if n.lib == hashicorp {
		if err := n.hr.Barrier(waitLimit).Error(); err != nil {
			return err
		}
		err := n.hr.Snapshot().Error()
		if errors.Is(err, hraft.ErrNothingNewToSnapshot) {
			return nil
		}
		return err
	}
	ctx, cancel := opCtx()
	defer cancel()
	if err := n.or.Barrier(waitLimit).ErrorContext(ctx); err != nil {
		return err
	}
	err := n.or.Snapshot().ErrorContext(ctx)
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}

// configurationIDs returns the server IDs of n's latest configuration.
func (n *node) configurationIDs() ([]string, error) {
	var ids []string
	if n.lib == hashicorp {
		f := n.hr.GetConfiguration()
		if err := f.Error(); err != nil {
			return nil, err
		}
		for _, s := range f.Configuration().Servers {
			ids = append(ids, string(s.ID)+"/"+s.Suffrage.String())
		}
		return ids, nil
	}
	f := n.or.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	for _, s := range f.Configuration().Servers {
		ids = append(ids, string(s.ID)+"/"+s.Suffrage.String())
	}
	return ids, nil
}

// replace swaps out for in: out is removed through the leader (which
// first hands leadership over if out holds it) and stopped; then in is
// started empty and added as a voter through the leader of the remaining
// servers, whose log must have been compacted past its first entry so that
// in can only catch up by InstallSnapshot. It returns the leader that
// added in.
func (m *migration) replace(out *node, inLib library, inID string) (*node, *node) {
	m.t.Helper()
	leader := m.waitLeader(m.members)
	if leader == out {
		if err := leader.transferLeadership(); err != nil {
			m.t.Fatalf("%s (%s) could not hand leadership over before leaving: %v; cluster:%s", leader.id, leader.lib, err, m.status())
		}
		m.waitFor(out.id+" to stop leading", func() bool { return !out.isLeader() })
		leader = m.waitLeader(m.members)
		if leader == out {
			m.t.Fatalf("%s still leads after a leadership transfer", out.id)
		}
		m.t.Logf("%s (%s) handed leadership to %s (%s) before leaving", out.id, out.lib, leader.id, leader.lib)
	}
	if err := leader.removeServer(out); err != nil {
		m.t.Fatalf("%s (%s) could not remove %s: %v; cluster:%s", leader.id, leader.lib, out.id, err, m.status())
	}
	var rest []*node
	for _, n := range m.members {
		if n != out {
			rest = append(rest, n)
		}
	}
	m.members = rest
	if err := out.stop(); err != nil {
		m.t.Fatalf("stopping removed %s: %v", out.id, err)
	}
	leader = m.waitLeader(m.members)

	if err := leader.snapshot(); err != nil {
		m.t.Fatalf("snapshot on leader %s (%s): %v", leader.id, leader.lib, err)
	}
	first, err := m.logs[leader.id].FirstIndex()
	if err != nil {
		m.t.Fatal(err)
	}
	if first <= 1 {
		m.t.Fatalf("leader %s's log still starts at index %d: a new server could catch up without a snapshot", leader.id, first)
	}

	in := m.spawn(inLib, inID)
	m.launch(in, nil)
	if err := leader.addVoter(in); err != nil {
		m.t.Fatalf("%s (%s) could not add %s (%s) as a voter: %v; cluster:%s", leader.id, leader.lib, in.id, in.lib, err, m.status())
	}
	m.members = append(m.members, in)
	m.t.Logf("%s (%s) removed %s and added %s (%s); its log starts at %d", leader.id, leader.lib, out.id, in.id, in.lib, first)
	return leader, in
}

// configurationsInLog returns the configurations in hashicorp node n's log
// (entries after its snapshot), oldest first.
func (m *migration) configurationsInLog(n *node) []hraft.Configuration {
	m.t.Helper()
	store := m.hlogs[n.id]
	first, err := store.FirstIndex()
	if err != nil {
		m.t.Fatal(err)
	}
	last, err := store.LastIndex()
	if err != nil {
		m.t.Fatal(err)
	}
	var out []hraft.Configuration
	for i := first; i <= last && i > 0; i++ {
		var l hraft.Log
		if err := store.GetLog(i, &l); err != nil {
			m.t.Fatalf("%s's log entry %d: %v", n.id, i, err)
		}
		if l.Type == hraft.LogConfiguration {
			out = append(out, hraft.DecodeConfiguration(l.Data))
		}
	}
	return out
}

// installedBy returns the libraries of the nodes whose InstallSnapshot to
// id the tap saw succeed, waiting until there is at least one: the caller
// knows one was needed.
func (m *migration) installedBy(id string) map[library]bool {
	m.t.Helper()
	var events []rpcEvent
	m.waitFor("a successful InstallSnapshot to "+id, func() bool {
		events = m.net.eventsWhere(func(e rpcEvent) bool {
			return e.To == id && e.Type == rpcInstallSnapshot && e.Err == "" && e.Resp.Success
		})
		return len(events) > 0
	})
	libs := map[library]bool{}
	for _, e := range events {
		libs[m.node(e.From).lib] = true
	}
	return libs
}

// TestRollingMigration migrates a live three-server hashicorp/raft cluster
// to our library one server at a time, then back, writing throughout.
// Every server starts empty and joins a cluster whose log is compacted, so
// it is caught up by InstallSnapshot: the first of ours from a hashicorp
// leader (hashicorp's AddVoter adds it as a voter at once), the first new
// hashicorp server from our leader (our AddVoter adds it as a non-voter,
// catches it up and promotes it). After each step every member's FSM, made
// of a restored snapshot and the entries applied since, must hold the same
// history; at the end it must hold every acknowledged write, in order, and
// each removed server's history must be a prefix of it.
func TestRollingMigration(t *testing.T) {
	m := &migration{cluster: newCluster(t), logs: map[string]firstIndexer{}, hlogs: map[string]*hraft.InmemStore{}}
	for i := 1; i <= 3; i++ {
		m.members = append(m.members, m.spawn(hashicorp, "h"+strconv.Itoa(i)))
	}
	for _, n := range m.members {
		m.launch(n, m.members)
	}
	leader := m.waitLeader(m.members)
	acked := m.writeStrict(leader, "init", 2000)
	proposed := map[string]bool{}
	for _, cmd := range acked {
		proposed[cmd] = true
	}
	m.converged(m.members)
	write := func(prefix string) {
		more, prop := m.writeAny(prefix, 100)
		acked = append(acked, more...)
		for cmd := range prop {
			proposed[cmd] = true
		}
	}
	var removed []*node

	// hashicorp -> ours.
	for i := 1; i <= 3; i++ {
		out := m.node("h" + strconv.Itoa(i))
		by, in := m.replace(out, ours, "o"+strconv.Itoa(i))
		removed = append(removed, out)
		if i == 1 {
			// Only hashicorp servers were left to lead.
			if by.lib != hashicorp {
				t.Fatalf("o1 was added by %s (%s)", by.id, by.lib)
			}
			if libs := m.installedBy(in.id); !libs[hashicorp] {
				t.Fatalf("no hashicorp leader installed a snapshot on o1 (senders: %v)", libs)
			}
		}
		write(fmt.Sprintf("to-ours%d-", i))
		m.converged(m.members)
		if in.fsm.restoreCount() == 0 {
			t.Fatalf("%s joined a compacted cluster but its FSM never restored a snapshot", in.id)
		}
	}
	if idx, _ := strconv.ParseUint(m.node("o1").or.Stats()["last_snapshot_index"], 10, 64); idx == 0 {
		t.Fatalf("o1 installed a snapshot but its Stats show last_snapshot_index %d", idx)
	}

	// ours -> hashicorp.
	for i := 1; i <= 3; i++ {
		out := m.node("o" + strconv.Itoa(i))
		by, in := m.replace(out, hashicorp, "h"+strconv.Itoa(3+i))
		removed = append(removed, out)
		if i == 1 {
			// Only our servers were left to lead.
			if by.lib != ours {
				t.Fatalf("h4 was added by %s (%s)", by.id, by.lib)
			}
			if libs := m.installedBy(in.id); !libs[ours] {
				t.Fatalf("none of our leaders installed a snapshot on h4 (senders: %v)", libs)
			}
			// Our AddVoter made h4 a non-voter first and promoted it once
			// caught up: h4's own log shows both configurations, in order
			// (the promotion may commit on o2 and o3 before it reaches h4).
			var suffrages []string
			m.waitFor("h4 to receive its promotion", func() bool {
				suffrages = nil
				for _, conf := range m.configurationsInLog(in) {
					for _, s := range conf.Servers {
						if s.ID == hraft.ServerID(in.id) {
							suffrages = append(suffrages, s.Suffrage.String())
						}
					}
				}
				return len(suffrages) > 0 && suffrages[len(suffrages)-1] == "Voter"
			})
			if len(suffrages) < 2 || suffrages[0] != "Nonvoter" {
				t.Fatalf("h4's log shows it as %v; want Nonvoter first, Voter last", suffrages)
			}
			t.Logf("h4's log shows it as %v", suffrages)
		}
		write(fmt.Sprintf("to-hashi%d-", i))
		m.converged(m.members)
		if in.fsm.restoreCount() == 0 {
			t.Fatalf("%s joined a compacted cluster but its FSM never restored a snapshot", in.id)
		}
	}

	h := m.converged(m.members)
	m.checkAcked(h, acked, proposed)
	for _, n := range removed {
		if old := n.fsm.history(); !isPrefix(old, h) {
			t.Fatalf("removed %s's history is not a prefix of the final one: %s", n.id, firstDifference(old, h[:min(len(old), len(h))]))
		}
	}
	final := m.waitLeader(m.members)
	ids, err := final.configurationIDs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"h4/Voter": true, "h5/Voter": true, "h6/Voter": true}
	if len(ids) != len(want) || !want[ids[0]] || !want[ids[1]] || !want[ids[2]] {
		t.Fatalf("final configuration %v, want voters h4, h5, h6 only", ids)
	}
	t.Logf("%d writes acknowledged; final history %d entries; leader %s at term %d", len(acked), len(h), final.id, final.term())
}
