package raft

import (
	"context"
	"sync"
	"time"
)

// Future is the result of an asynchronous operation.
type Future interface {
	// Error blocks until the operation completes and returns its error.
	// It may be called any number of times, from any goroutine.
	Error() error
	// ErrorContext is Error bounded by ctx: when ctx ends first it returns
	// ctx's error, and the operation goes on without the caller.
	ErrorContext(ctx context.Context) error
}

// IndexFuture is a Future for an operation that created a log entry.
type IndexFuture interface {
	Future
	// Index returns the entry's index, once Error returned nil.
	Index() uint64
}

// ApplyFuture is returned by Apply.
type ApplyFuture interface {
	IndexFuture
	// Response returns what the FSM's Apply returned for the entry, once
	// Error returned nil.
	Response() interface{}
}

// ConfigurationFuture is returned by GetConfiguration.
type ConfigurationFuture interface {
	IndexFuture
	// Configuration returns the latest configuration, once Error returned
	// nil.
	Configuration() Configuration
}

// deferError is the completion shared by every future: a channel closed
// once, with the error stored before it closes.
type deferError struct {
	once  sync.Once
	err   error
	errCh chan struct{}
}

func (d *deferError) init() {
	d.errCh = make(chan struct{})
}

// Error waits for completion.
func (d *deferError) Error() error {
	<-d.errCh
	return d.err
}

// ErrorContext waits for completion or for ctx to end.
func (d *deferError) ErrorContext(ctx context.Context) error {
	// A completed future reports its result even if ctx has also ended.
	select {
	case <-d.errCh:
		return d.err
	default:
	}
	select {
	case <-d.errCh:
		return d.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// respond completes the future. Only the first call has an effect, so every
// path that may fail a future can do so without coordinating.
func (d *deferError) respond(err error) {
	d.once.Do(func() {
		d.err = err
		close(d.errCh)
	})
}

// errorFuture is a future that failed before it started.
type errorFuture struct {
	err error
}

func (e errorFuture) Error() error                       { return e.err }
func (e errorFuture) ErrorContext(context.Context) error { return e.err }
func (e errorFuture) Index() uint64                      { return 0 }
func (e errorFuture) Response() interface{}              { return nil }
func (e errorFuture) Configuration() Configuration       { return Configuration{} }

// logFuture is the future of an entry proposed through the leader: an
// Apply, a Barrier, or a configuration change.
type logFuture struct {
	deferError
	log      Log
	response interface{}
	dispatch time.Time
}

// Index returns the entry's index.
func (l *logFuture) Index() uint64 { return l.log.Index }

// Response returns the FSM's response.
func (l *logFuture) Response() interface{} { return l.response }

// configurationFuture answers GetConfiguration.
type configurationFuture struct {
	deferError
	index  uint64
	config Configuration
}

// Index returns the index of the entry that carried the configuration.
func (c *configurationFuture) Index() uint64 { return c.index }

// Configuration returns the configuration.
func (c *configurationFuture) Configuration() Configuration { return c.config }

// verifyFuture asks the leader to prove it still leads with a round of
// heartbeats acknowledged by a quorum of voters.
type verifyFuture struct {
	deferError
	mu      sync.Mutex
	quorum  int
	granted map[ServerID]bool
	done    bool
}

// setQuorum sets how many voters must confirm.
func (v *verifyFuture) setQuorum(n int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.quorum = n
	v.granted = make(map[ServerID]bool)
}

// vote records that voter id acknowledged a heartbeat sent after the
// verification began, and completes the future once a quorum has.
func (v *verifyFuture) vote(id ServerID) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.done || v.granted == nil {
		return
	}
	v.granted[id] = true
	if len(v.granted) >= v.quorum {
		v.done = true
		v.respond(nil)
	}
}

// fail completes the future with err unless it already completed.
func (v *verifyFuture) fail(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.done = true
	v.respond(err)
}

// isDone reports whether the future has completed.
func (v *verifyFuture) isDone() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.done
}

// bootstrapFuture asks the run loop to bootstrap the node.
type bootstrapFuture struct {
	deferError
	configuration Configuration
}
