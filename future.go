package raft

import (
	"context"
	"fmt"
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
}

// bootstrapFuture asks the run loop to bootstrap the node.
type bootstrapFuture struct {
	deferError
	configuration Configuration
}

// waitFor sends f on ch, bounded by timeout (0 for no bound) and by the
// node's shutdown. It returns the error a caller should see if f was not
// handed over.
func waitFor(ch chan<- interface{}, f interface{}, timeout time.Duration, shutdown <-chan struct{}) error {
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case ch <- f:
		return nil
	case <-timer:
		return fmt.Errorf("%w after %v", ErrEnqueueTimeout, timeout)
	case <-shutdown:
		return ErrRaftShutdown
	}
}
