package raft

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
)

// Raft is one server of a Raft cluster. Create it with NewRaft; every
// method is safe for concurrent use.
type Raft struct {
	nodeState

	conf       Config
	reloadable atomic.Pointer[ReloadableConfig]
	reloadMu   sync.Mutex
	logger     hclog.Logger
	metrics    *metrics.Metrics
	keys       metricKeys
	fsm        FSM
	logs       LogStore
	stable     StableStore
	snapshots  SnapshotStore
	trans      Transport
	localID    ServerID
	localAddr  ServerAddress
	// localPeer is this node as its transport encodes it (the legacy
	// Leader and Candidate fields), and rpcHeader the header of every
	// message it sends; both are fixed for the node's life.
	localPeer []byte
	rpcHeader RPCHeader

	// The fields below are owned by the run goroutine.
	configs     configurations
	leader      *leaderState
	lastVote    voteRecord
	applyQueued uint64
	// transferElection makes the next candidacy skip the pre-vote round,
	// because it was asked for by the leader (TimeoutNow).
	transferElection bool

	// leaderInfo and latestConfig are published by the run goroutine for
	// lock-free reads.
	leaderInfo   atomic.Pointer[leaderID]
	latestConfig atomic.Pointer[configEntry]

	applyCh     chan *logFuture
	verifyCh    chan *verifyFuture
	bootstrapCh chan *bootstrapFuture
	rpcCh       <-chan RPC
	leaderCh    chan bool

	observers observers

	fsmQueue *applyQueue
	fsmState fsmState

	snapMu         sync.Mutex
	snapIndex      uint64
	snapTerm       uint64
	userSnapshotCh chan *userSnapshotFuture
	userRestoreCh  chan *userRestoreFuture
	configChangeCh chan *configChangeFuture
	readCh         chan *readFuture

	applyWaiters applyWaiters
	readSupport  readSupport
	readRounds   atomic.Uint64
	readsServed  atomic.Uint64
	readsByLease atomic.Uint64
	startTime    time.Time
	transferCh   chan *transferFuture

	shutdownCh   chan struct{}
	shutdownOnce sync.Once
	// proposeGate and proposeClosed close the buffered apply channel
	// (Config.BatchApplyCh) for good at shutdown. A send racing shutdown
	// may still land in the buffer; Shutdown takes the gate after closing
	// shutdownCh, so every send either completes before it drains the
	// buffer or sees proposeClosed. Nothing but the reader of the channel
	// ever answers a future that was sent, so a future whose entry the
	// FSM applied cannot be answered with ErrRaftShutdown instead.
	proposeGate   sync.RWMutex
	proposeClosed bool
	goroutines    sync.WaitGroup
}

// leaderID names the leader as this node last knew it.
type leaderID struct {
	addr ServerAddress
	id   ServerID
	// peer is the leader's address as its requests encode it, when it was
	// learnt from one, so that the next request is recognised without
	// decoding it again.
	peer []byte
}

// voteRecord is the vote cast in a term, as persisted.
type voteRecord struct {
	term      uint64
	candidate ServerID
}

// NewRaft builds a node from its stores and starts it. The stores may
// hold state from an earlier run, which is recovered; a brand-new node has
// no configuration until BootstrapCluster is called or a leader contacts
// it. NewRaft fails if the config is invalid or a store cannot be read.
func NewRaft(conf *Config, fsm FSM, logs LogStore, stable StableStore, snaps SnapshotStore, trans Transport) (*Raft, error) {
	if err := ValidateConfig(conf); err != nil {
		return nil, err
	}
	if fsm == nil || logs == nil || stable == nil || snaps == nil || trans == nil {
		return nil, fmt.Errorf("%w: fsm, stores and transport are all required", ErrInvalidConfig)
	}
	logger := conf.Logger
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: os.Stderr})
	}
	m := conf.Metrics
	if m == nil {
		m = metrics.Default()
	}
	r := &Raft{
		conf:        *conf,
		logger:      logger.With("id", string(conf.LocalID)),
		metrics:     m,
		keys:        newMetricKeys(),
		fsm:         fsm,
		logs:        logs,
		stable:      stable,
		snapshots:   snaps,
		trans:       trans,
		localID:     conf.LocalID,
		localAddr:   trans.LocalAddr(),
		applyCh:     make(chan *logFuture),
		verifyCh:    make(chan *verifyFuture),
		bootstrapCh: make(chan *bootstrapFuture),
		rpcCh:       trans.Consumer(),
		leaderCh:    make(chan bool, 1),
		fsmQueue:    newApplyQueue(),

		userSnapshotCh: make(chan *userSnapshotFuture),
		userRestoreCh:  make(chan *userRestoreFuture),
		configChangeCh: make(chan *configChangeFuture),
		readCh:         make(chan *readFuture),
		startTime:      time.Now(),
		transferCh:     make(chan *transferFuture),
		shutdownCh:     make(chan struct{}),
	}
	r.localPeer = trans.EncodePeer(r.localID, r.localAddr)
	r.rpcHeader = RPCHeader{ProtocolVersion: int(conf.ProtocolVersion), ID: []byte(r.localID), Addr: r.localPeer}
	rc := &ReloadableConfig{}
	rc.fromConfig(*conf)
	r.reloadable.Store(rc)
	if conf.BatchApplyCh {
		r.applyCh = make(chan *logFuture, conf.MaxAppendEntries)
	}
	if err := r.recoverState(); err != nil {
		return nil, err
	}
	if h, ok := trans.(WithContactHint); ok {
		h.SetContactHint(r.contactHint)
	}
	r.touchElection(time.Now())
	r.goroutines.Add(3)
	go r.run()
	go r.runFSM()
	go r.runSnapshots()
	return r, nil
}

// recoverState loads term, vote, last log entry and configurations from
// the stores.
func (r *Raft) recoverState() error {
	term, err := r.stable.GetUint64([]byte(keyCurrentTerm))
	if err != nil && !errors.Is(err, ErrKeyNotFound) {
		return fmt.Errorf("%w: reading current term: %v", ErrStorage, err)
	}
	r.currentTerm.Store(term)
	voteTerm, err := r.stable.GetUint64([]byte(keyLastVoteTerm))
	if err != nil && !errors.Is(err, ErrKeyNotFound) {
		return fmt.Errorf("%w: reading last vote term: %v", ErrStorage, err)
	}
	voteCand, err := r.stable.Get([]byte(keyLastVoteCand))
	if err != nil && !errors.Is(err, ErrKeyNotFound) {
		return fmt.Errorf("%w: reading last vote candidate: %v", ErrStorage, err)
	}
	r.lastVote = voteRecord{term: voteTerm, candidate: ServerID(voteCand)}

	snapMeta, err := r.restoreNewestSnapshot()
	if err != nil {
		return err
	}

	if snapMeta != nil {
		if err := r.discardLogDisagreeingWith(snapMeta); err != nil {
			return err
		}
	}
	first, last, err := logBounds(r.logs)
	if err != nil {
		return err
	}
	var lastTerm uint64
	if last > 0 {
		var l Log
		if err := r.logs.GetLog(last, &l); err != nil {
			return fmt.Errorf("%w: reading last entry %d: %v", ErrStorage, last, err)
		}
		lastTerm = l.Term
	}
	r.setLastLog(last, lastTerm)
	if snapMeta != nil && snapMeta.Index > last {
		r.setLastLog(snapMeta.Index, snapMeta.Term)
	}

	// Every configuration in the log is pending until a commit index is
	// learned: entries past the commit point may yet be replaced.
	if last > 0 {
		for i := first; i <= last; i++ {
			var l Log
			if err := r.logs.GetLog(i, &l); err != nil {
				return fmt.Errorf("%w: reading entry %d: %v", ErrStorage, i, err)
			}
			if l.Type == LogConfiguration {
				c, err := DecodeConfiguration(l.Data)
				if err != nil {
					return fmt.Errorf("%w: entry %d: %v", ErrStorage, i, err)
				}
				r.configs.append(l.Index, c)
			}
		}
	}
	if snapMeta != nil {
		r.configs.commit(snapMeta.Index)
		if r.configs.committed.index <= snapMeta.ConfigurationIndex {
			r.configs.committed = configEntry{index: snapMeta.ConfigurationIndex, config: snapMeta.Configuration.Clone()}
		}
	}
	r.publishConfig()
	return nil
}

// publishConfig makes the latest configuration visible to other goroutines.
func (r *Raft) publishConfig() {
	latest := r.configs.latest()
	latest.config = latest.config.Clone()
	r.latestConfig.Store(&latest)
}

// contactHint is the transport's early notice of a request from a leader.
func (r *Raft) contactHint(term uint64, at time.Time) {
	if term >= r.getCurrentTerm() {
		r.touchElection(at)
	}
}

// Apply proposes cmd to the cluster. The future completes once the entry
// is committed and applied to the FSM, with the FSM's response. timeout
// bounds only the hand-over to the node (0 for no bound); bound the wait
// with the future's ErrorContext. It fails with ErrNotLeader on a follower.
func (r *Raft) Apply(cmd []byte, timeout time.Duration) ApplyFuture {
	return r.ApplyLog(Log{Data: cmd}, timeout)
}

// ApplyLog is Apply with the Data and Extensions of log; every other field
// is set by the leader.
func (r *Raft) ApplyLog(log Log, timeout time.Duration) ApplyFuture {
	return r.proposeTimeout(LogCommand, log, timeout)
}

// ApplyContext is Apply with the hand-over bounded by ctx.
func (r *Raft) ApplyContext(ctx context.Context, cmd []byte) ApplyFuture {
	return r.propose(ctx, LogCommand, Log{Data: cmd})
}

// Barrier returns a future that completes once every entry committed
// before it has been applied to the leader's FSM. It fails with
// ErrNotLeader on a follower.
func (r *Raft) Barrier(timeout time.Duration) Future {
	return r.proposeTimeout(LogBarrier, Log{}, timeout)
}

// BarrierContext is Barrier with the hand-over bounded by ctx.
func (r *Raft) BarrierContext(ctx context.Context) Future {
	return r.propose(ctx, LogBarrier, Log{})
}

func (r *Raft) proposeTimeout(t LogType, log Log, timeout time.Duration) ApplyFuture {
	ctx, cancel := timeoutContext(timeout)
	defer cancel()
	return r.propose(ctx, t, log)
}

// timeoutContext bounds a hand-over by timeout, or not at all for 0. The
// unbounded case allocates nothing: most calls pass 0, on every Apply.
func timeoutContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(context.Background(), timeout)
	}
	return context.Background(), func() {}
}

func (r *Raft) propose(ctx context.Context, t LogType, log Log) ApplyFuture {
	// Followers answer at once rather than queueing behind the run loop.
	if r.getRole() != Leader {
		if r.getRole() == Shutdown {
			return errorFuture{ErrRaftShutdown}
		}
		return errorFuture{ErrNotLeader}
	}
	f := &logFuture{log: Log{Type: t, Data: log.Data, Extensions: log.Extensions}}
	f.init()
	if cap(r.applyCh) > 0 {
		// A buffered channel takes f even when the run goroutine will
		// never read it again; see proposeGate.
		r.proposeGate.RLock()
		defer r.proposeGate.RUnlock()
		if r.proposeClosed {
			return errorFuture{ErrRaftShutdown}
		}
	}
	if err := handOver(ctx, r.applyCh, f, r.shutdownCh); err != nil {
		return errorFuture{err}
	}
	return f
}

// handOver sends f on ch unless ctx ends or the node shuts down first. Once
// sent, f belongs to whoever reads ch; see proposeGate for the one buffered
// channel.
func handOver[T any](ctx context.Context, ch chan<- T, f T, shutdown <-chan struct{}) error {
	select {
	case <-shutdown:
		return ErrRaftShutdown
	default:
	}
	select {
	case ch <- f:
		return nil
	case <-shutdown:
		return ErrRaftShutdown
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: %v", ErrEnqueueTimeout, ctx.Err())
		}
		return ctx.Err()
	}
}

// VerifyLeader returns a future that completes without error once a quorum
// of voters has confirmed, after the call, that this node is still their
// leader. It fails with ErrNotLeader or ErrLeadershipLost otherwise.
func (r *Raft) VerifyLeader() Future {
	return r.VerifyLeaderContext(context.Background())
}

// VerifyLeaderContext is VerifyLeader with the hand-over bounded by ctx.
func (r *Raft) VerifyLeaderContext(ctx context.Context) Future {
	f := &verifyFuture{}
	f.init()
	if err := handOver(ctx, r.verifyCh, f, r.shutdownCh); err != nil {
		return errorFuture{err}
	}
	return f
}

// BootstrapCluster writes configuration as the first log entry of a new
// node. It fails with ErrCantBootstrap if the node already has state.
// Bootstrap every initial server with the same configuration.
func (r *Raft) BootstrapCluster(configuration Configuration) Future {
	if err := ValidateConfiguration(configuration); err != nil {
		return errorFuture{err}
	}
	f := &bootstrapFuture{configuration: configuration.Clone()}
	f.init()
	if err := handOver(context.Background(), r.bootstrapCh, f, r.shutdownCh); err != nil {
		return errorFuture{err}
	}
	return f
}

// GetConfiguration returns the latest configuration, which takes effect as
// soon as it is appended, committed or not.
func (r *Raft) GetConfiguration() ConfigurationFuture {
	f := &configurationFuture{}
	f.init()
	if r.getRole() == Shutdown {
		f.respond(ErrRaftShutdown)
		return f
	}
	latest := r.latestConfig.Load()
	f.index = latest.index
	f.config = latest.config.Clone()
	f.respond(nil)
	return f
}

// Shutdown stops the node: every pending and later future fails with
// ErrRaftShutdown, and the transport is closed if it can be (first, so
// that calls in flight to unresponsive peers fail at once). It may be
// called more than once. It returns when every goroutine of the node has
// exited, so it must not be called from the FSM, an observer, or any other
// callback the node runs.
func (r *Raft) Shutdown() Future {
	f := &shutdownFuture{}
	f.init()
	r.shutdownOnce.Do(func() {
		close(r.shutdownCh)
	})
	r.proposeGate.Lock()
	r.proposeClosed = true
	r.proposeGate.Unlock()
	// The transport is closed before waiting: a call in flight to a peer
	// that never answers (a frozen or cut-off server) would otherwise hold
	// its goroutine, and this call, for the transport's whole timeout.
	if c, ok := r.trans.(WithClose); ok {
		_ = c.Close()
	}
	r.goroutines.Wait()
	r.failQueuedApplies()
	r.setRole(Shutdown)
	f.respond(nil)
	return f
}

// failQueuedApplies fails the Apply calls left in a buffered apply channel
// (Config.BatchApplyCh) once the run goroutine has stopped reading it.
func (r *Raft) failQueuedApplies() {
	for {
		select {
		case f := <-r.applyCh:
			f.respond(ErrRaftShutdown)
		default:
			return
		}
	}
}

// shutdownFuture completes when the node has stopped.
type shutdownFuture struct {
	deferError
}

// State returns the node's current role.
func (r *Raft) State() RaftState { return r.getRole() }

// Leader returns the leader's address, or "" if none is known.
func (r *Raft) Leader() ServerAddress {
	addr, _ := r.LeaderWithID()
	return addr
}

// LeaderWithID returns the leader's address and ID, or empty values if
// none is known.
func (r *Raft) LeaderWithID() (ServerAddress, ServerID) {
	if l := r.leaderInfo.Load(); l != nil {
		return l.addr, l.id
	}
	return "", ""
}

// LeaderCh returns a channel that receives true when this node becomes
// leader and false when it loses leadership. Only the newest value is
// kept if the reader falls behind.
func (r *Raft) LeaderCh() <-chan bool { return r.leaderCh }

// LastContact returns when this node last heard from a leader; on the
// leader, when it last confirmed a quorum. It is zero if never.
func (r *Raft) LastContact() time.Time { return r.leaderContactTime() }

// LastIndex returns the index of the last entry in this node's log, written
// or being written.
func (r *Raft) LastIndex() uint64 { return r.getLastIndex() }

// CommitIndex returns the highest index this node knows to be committed.
func (r *Raft) CommitIndex() uint64 { return r.getCommitIndex() }

// AppliedIndex returns the highest index applied to this node's FSM.
func (r *Raft) AppliedIndex() uint64 { return r.getLastApplied() }

// CurrentTerm returns this node's current term.
func (r *Raft) CurrentTerm() uint64 { return r.getCurrentTerm() }

// String describes the node for logs.
func (r *Raft) String() string {
	return fmt.Sprintf("Node at %s [%v]", r.localAddr, r.State())
}

// Stats returns a snapshot of the node's counters, for diagnostics. Keys
// and formats follow hashicorp/raft's so existing dashboards keep working.
func (r *Raft) Stats() map[string]string {
	lastIndex, lastTerm := r.getLastLog()
	latest := r.latestConfig.Load()
	voters, nonvoters := 0, 0
	for _, s := range latest.config.Servers {
		if s.Suffrage == Voter {
			voters++
		} else {
			nonvoters++
		}
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	s := map[string]string{
		"state":                      r.State().String(),
		"term":                       u(r.getCurrentTerm()),
		"last_log_index":             u(lastIndex),
		"last_log_term":              u(lastTerm),
		"commit_index":               u(r.getCommitIndex()),
		"applied_index":              u(r.getLastApplied()),
		"fsm_pending":                u(r.fsmQueue.pendingEntries()),
		"latest_configuration":       fmt.Sprintf("%+v", latest.config.Servers),
		"latest_configuration_index": u(latest.index),
		"num_peers":                  strconv.Itoa(voters + nonvoters - 1),
		"protocol_version":           strconv.Itoa(int(r.conf.ProtocolVersion)),
		"protocol_version_min":       strconv.Itoa(int(ProtocolVersionMin)),
		"protocol_version_max":       strconv.Itoa(int(ProtocolVersionMax)),
	}
	if latest.config.voters() == 0 {
		s["num_peers"] = "0"
	}
	snapIndex, snapTerm := r.lastSnapshot()
	s["reads_served"] = u(r.readsServed.Load())
	s["reads_by_lease"] = u(r.readsByLease.Load())
	s["read_heartbeat_rounds"] = u(r.readRounds.Load())
	s["last_snapshot_index"] = u(snapIndex)
	s["last_snapshot_term"] = u(snapTerm)
	if last := r.LastContact(); last.IsZero() {
		s["last_contact"] = "never"
	} else if r.State() == Leader {
		s["last_contact"] = "0"
	} else {
		s["last_contact"] = time.Since(last).String()
	}
	return s
}
