package raft

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scriptedReadIndex is a follower's transport whose ReadIndex requests go
// through a script: each is numbered from 1, and script returns the error
// that request ends with, or nil to send it on to the leader for real.
type scriptedReadIndex struct {
	*InmemTransport
	mu     sync.Mutex
	sent   int
	script func(n int) error
}

func (s *scriptedReadIndex) inner() *InmemTransport { return s.InmemTransport }

func (s *scriptedReadIndex) RequestReadIndex(id ServerID, target ServerAddress, args *ReadIndexRequest, resp *ReadIndexResponse) error {
	s.mu.Lock()
	s.sent++
	n, script := s.sent, s.script
	s.mu.Unlock()
	if script != nil {
		if err := script(n); err != nil {
			return err
		}
	}
	return s.InmemTransport.RequestReadIndex(id, target, args, resp)
}

// requests returns how many ReadIndex requests the follower sent.
func (s *scriptedReadIndex) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func (s *scriptedReadIndex) setScript(script func(n int) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = script
}

// manualClock is a clock that moves only when told.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// setClock makes s read time from now, and keep marks for recheck (zero:
// the default).
func (s *readSupport) setClock(now func() time.Time, recheck time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
	s.recheck = recheck
}

// Errors as a follower's transport reports them.
var (
	errDroppedEOF   = fmt.Errorf("request read index to addr0: reading response: %w", io.EOF)
	errDroppedReset = fmt.Errorf("request read index to addr0: %w", syscall.ECONNRESET)
	errRefused      = fmt.Errorf("request read index to addr0: %w", &RemoteError{Message: "unexpected command"})
)

// readSupportFixture is a leader (node0, the only voter, so it leads for
// the whole test) and a non-voter follower (node1) whose ReadIndex
// requests go through a script and whose read-support verdicts read a
// manual clock.
type readSupportFixture struct {
	t        *testing.T
	c        *cluster
	follower *Raft
	leader   ServerID
	wire     *scriptedReadIndex
	clock    *manualClock
}

func newReadSupportFixture(t *testing.T, recheck time.Duration) *readSupportFixture {
	t.Helper()
	var wire *scriptedReadIndex
	c := newCluster(t, 2, withBootstrapped(1),
		withConfig(func(i int, conf *Config) {
			if i == 1 {
				// The follower never times its leader out, so every read
				// asks the same leader, however loaded the machine.
				conf.HeartbeatTimeout = time.Hour
				conf.ElectionTimeout = time.Hour
			}
		}),
		withTransportWrapper(func(i int, it *InmemTransport) Transport {
			if i != 1 {
				return it
			}
			wire = &scriptedReadIndex{InmemTransport: it}
			return wire
		}))
	if l := c.waitLeader(); l != 0 {
		t.Fatalf("node %d leads, want node 0, the only voter", l)
	}
	id, addr := c.confs[1].LocalID, c.addrs[1]
	c.changeMembership("add the follower", func(r *Raft) IndexFuture { return r.AddNonvoter(id, addr, 0, time.Second) })
	c.apply([]byte("x"))
	c.waitApplied(1, 1)
	leader := c.confs[0].LocalID
	waitFor(t, watchdog, "the follower to know its leader", func() bool {
		_, lid := c.nodes[1].LeaderWithID()
		return lid == leader
	})
	clock := &manualClock{t: time.Unix(1_000_000, 0)}
	c.nodes[1].readSupport.setClock(clock.now, recheck)
	return &readSupportFixture{t: t, c: c, follower: c.nodes[1], leader: leader, wire: wire, clock: clock}
}

// read runs one ReadIndex on the follower. A read that has no outcome
// within the watchdog fails the test: it hung.
func (fx *readSupportFixture) read() error {
	fx.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	err := fx.follower.ReadIndex(0).ErrorContext(ctx)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		fx.t.Fatalf("follower ReadIndex had no outcome within %v", watchdog)
	}
	return err
}

// mustRead fails the test unless a read succeeds.
func (fx *readSupportFixture) mustRead(what string) {
	fx.t.Helper()
	if err := fx.read(); err != nil {
		fx.t.Fatalf("%s: ReadIndex: %v", what, err)
	}
}

// mustFailTransient fails the test unless a read fails with an ordinary,
// retryable error that wraps want, not ErrReadIndexNotSupported.
func (fx *readSupportFixture) mustFailTransient(what string, want error) {
	fx.t.Helper()
	err := fx.read()
	if err == nil || errors.Is(err, ErrReadIndexNotSupported) || !errors.Is(err, want) {
		fx.t.Fatalf("%s: ReadIndex returned %v, want a transient error wrapping %v", what, err, want)
	}
}

// mustFailNotSupported fails the test unless a read fails with
// ErrReadIndexNotSupported.
func (fx *readSupportFixture) mustFailNotSupported(what string) {
	fx.t.Helper()
	if err := fx.read(); !errors.Is(err, ErrReadIndexNotSupported) {
		fx.t.Fatalf("%s: ReadIndex returned %v, want ErrReadIndexNotSupported", what, err)
	}
}

// mustHaveSent fails the test unless the follower sent exactly n
// ReadIndex requests so far.
func (fx *readSupportFixture) mustHaveSent(what string, n int) {
	fx.t.Helper()
	if got := fx.wire.requests(); got != n {
		fx.t.Fatalf("%s: the follower sent %d ReadIndex requests, want %d", what, got, n)
	}
}

// A dropped connection on a leader of ours (a restart, an idle connection
// it closed, its inbound limit) is a transient failure: it must not stop
// follower reads, and answers in between keep clearing the evidence, so
// drops that never reach the threshold in a row never mark the leader.
func TestFollowerReadSurvivesTransientDrops(t *testing.T) {
	fx := newReadSupportFixture(t, 0)
	drops := map[int]error{1: errDroppedReset, 3: errDroppedEOF, 4: errDroppedEOF, 6: errDroppedReset, 7: errDroppedEOF}
	fx.wire.setScript(func(n int) error { return drops[n] })
	for n := 1; n <= 12; n++ {
		what := fmt.Sprintf("request %d", n)
		if err, ok := drops[n]; ok {
			fx.mustFailTransient(what, err)
		} else {
			fx.mustRead(what)
		}
	}
	fx.mustHaveSent("after twelve reads", 12)
}

// A leader that drops every ReadIndex (as hashicorp/raft does for an RPC
// type it does not know) is taken for one without ReadIndex after
// readIndexDropThreshold attempts; until then the reads fail as transient,
// and afterwards they fail fast with ErrReadIndexNotSupported without a
// request.
func TestFollowerReadMarksLeaderThatAlwaysDrops(t *testing.T) {
	fx := newReadSupportFixture(t, 0)
	fx.wire.setScript(func(int) error { return errDroppedEOF })
	for n := 1; n < readIndexDropThreshold; n++ {
		fx.mustFailTransient(fmt.Sprintf("drop %d", n), io.EOF)
	}
	fx.mustFailNotSupported(fmt.Sprintf("drop %d, the threshold", readIndexDropThreshold))
	for k := 0; k < 5; k++ {
		fx.mustFailNotSupported("a read of a marked leader")
	}
	fx.mustHaveSent("after the leader was marked", readIndexDropThreshold)
}

// Drops that one event causes to several attempts under way together are
// one piece of evidence, however many attempts there were.
func TestFollowerReadConcurrentDropsCountOnce(t *testing.T) {
	fx := newReadSupportFixture(t, 0)
	const together = 2*readIndexDropThreshold + 2
	cut := make(chan struct{})
	fx.wire.setScript(func(n int) error {
		if n > together {
			return nil
		}
		<-cut
		return errDroppedEOF
	})
	futures := make([]IndexFuture, together)
	for i := range futures {
		futures[i] = fx.follower.ReadIndex(0)
	}
	waitFor(t, watchdog, "every read to be under way", func() bool { return fx.wire.requests() == together })
	close(cut)
	for i, f := range futures {
		ctx, cancel := context.WithTimeout(context.Background(), watchdog)
		err := f.ErrorContext(ctx)
		cancel()
		if err == nil || errors.Is(err, ErrReadIndexNotSupported) || !errors.Is(err, io.EOF) {
			t.Fatalf("read %d, cut with the others: %v, want a transient error wrapping EOF", i, err)
		}
	}
	fx.mustRead("the read after the cut")
	fx.mustHaveSent("after the cut and one read", together+1)
}

// "unexpected command" is a definitive answer: it marks the leader at once,
// even one that answered ReadIndex before (a server ID now running a peer
// without ReadIndex).
func TestFollowerReadUnexpectedCommandMarksAtOnce(t *testing.T) {
	fx := newReadSupportFixture(t, 0)
	fx.wire.setScript(func(n int) error {
		if n <= 2 {
			return nil
		}
		return errRefused
	})
	fx.mustRead("request 1")
	fx.mustRead("request 2")
	fx.mustFailNotSupported("request 3, refused")
	fx.mustFailNotSupported("a read of a marked leader")
	fx.mustFailNotSupported("a read of a marked leader")
	fx.mustHaveSent("after the refusal", 3)
}

// A mark lasts defaultReadSupportRecheck; then the leader is asked again,
// and one that now answers (a server ID upgraded in place to this library)
// serves reads, with the evidence against it cleared.
func TestFollowerReadAsksAgainAfterRecheck(t *testing.T) {
	fx := newReadSupportFixture(t, 0)
	fx.wire.setScript(func(n int) error {
		switch n {
		case 1:
			return errRefused
		case 3:
			return errDroppedEOF
		}
		return nil
	})
	fx.mustFailNotSupported("request 1, refused")
	fx.clock.advance(defaultReadSupportRecheck - time.Millisecond)
	fx.mustFailNotSupported("a read just before the recheck")
	fx.mustHaveSent("before the recheck", 1)
	fx.clock.advance(time.Millisecond)
	fx.mustRead("the read at the recheck, the leader upgraded")
	fx.mustHaveSent("at the recheck", 2)
	fx.mustFailTransient("a drop right after the upgrade", io.EOF)
	fx.mustRead("the read after that drop")
	fx.mustHaveSent("at the end", 4)
}

// Once a mark expires, a leader that still drops ReadIndex is marked again
// by the first drop: the evidence that earned the mark was not
// contradicted. The interval is the one the fixture sets.
func TestFollowerReadRemarksAfterRecheck(t *testing.T) {
	const recheck = 10 * time.Second
	fx := newReadSupportFixture(t, recheck)
	fx.wire.setScript(func(int) error { return errDroppedEOF })
	for n := 1; n < readIndexDropThreshold; n++ {
		fx.mustFailTransient(fmt.Sprintf("drop %d", n), io.EOF)
	}
	fx.mustFailNotSupported("the drop that reaches the threshold")
	fx.clock.advance(recheck)
	fx.mustFailNotSupported("the read at the recheck, dropped again")
	fx.mustHaveSent("at the recheck", readIndexDropThreshold+1)
	fx.mustFailNotSupported("a read after the renewed mark")
	fx.mustHaveSent("after the renewed mark", readIndexDropThreshold+1)
}
