package wal

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// spareName is the file a spare segment is prepared in. Its tmpSuffix makes
// Open remove it, so a crash during preparation leaves nothing behind.
const spareName = "spare-segment" + tmpSuffix

// spareTrigger is how many bytes a store appends after Open (or after its
// last spare was used) before it prepares a spare segment. A store written
// this much is busy enough to be worth a segment of zeros on disk; stores
// that take a few entries, most of them in tests, never pay for one.
const spareTrigger = 4 << 20

// spare prepares the next segment file in the background: a file of zeros
// as long as a segment, written and synced before any append lands in it.
//
// Why: growing the active segment, even a chunk at a time (allocChunk),
// makes the append that grows it pay for writing the chunk and for a journal
// commit of the new blocks, about two milliseconds every megabyte on ext4.
// Appends into a prepared file only overwrite blocks the file already owns,
// so every sync carries just the appended data. The zeros are written on
// another file than the one appends sync, so appends never wait for them.
type spare struct {
	path string
	size int64
	sync func(*os.File) error
	// warn reports a preparation that failed; appends then fall back to
	// growing segments by chunks.
	warn func(msg string, args ...any)
	// hook is the store's test crash hook.
	hook func(point string)

	mu    sync.Mutex
	f     *os.File      // the prepared file, once ready
	stop  chan struct{} // closed to abandon a preparation in flight
	done  chan struct{} // closed when the preparation in flight ends
	ready bool
}

// start begins preparing a spare unless one is ready or being prepared.
func (sp *spare) start() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.ready || sp.done != nil {
		return
	}
	sp.stop = make(chan struct{})
	sp.done = make(chan struct{})
	go sp.prepare(sp.stop, sp.done)
}

// take hands over the prepared file, if one is ready, and its length. The
// caller renames it into place and owns it from then on.
func (sp *spare) take() (*os.File, int64, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.ready {
		return nil, 0, false
	}
	f := sp.f
	sp.f, sp.ready = nil, false
	return f, sp.size, true
}

// available reports whether a prepared file is ready to be taken.
func (sp *spare) available() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.ready
}

// close abandons any preparation, waits for it to end, and removes the file.
func (sp *spare) close() error {
	sp.mu.Lock()
	stop, done := sp.stop, sp.done
	sp.mu.Unlock()
	if done != nil {
		close(stop)
		<-done
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var errs []error
	if sp.f != nil {
		errs = append(errs, sp.f.Close())
		sp.f, sp.ready = nil, false
	}
	if err := os.Remove(sp.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// prepare writes the spare file and marks it ready, or removes it on failure
// or when stopped.
func (sp *spare) prepare(stop, done chan struct{}) {
	f, err := sp.write(stop)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	defer close(done)
	sp.stop, sp.done = nil, nil
	if err != nil {
		if f != nil {
			f.Close()
		}
		os.Remove(sp.path)
		if !errors.Is(err, errSpareStopped) {
			sp.warn("preparing a spare segment failed; appends will grow segments instead", "file", sp.path, "error", err)
		}
		return
	}
	sp.f, sp.ready = f, true
}

var errSpareStopped = errors.New("wal: spare preparation stopped")

// write creates the spare file and fills it with zeros, a chunk at a time so
// that a stop is noticed quickly, then syncs it.
func (sp *spare) write(stop chan struct{}) (*os.File, error) {
	f, err := os.OpenFile(sp.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", sp.path, err)
	}
	zeros := make([]byte, min(allocChunk, sp.size))
	for off := int64(0); off < sp.size; off += int64(len(zeros)) {
		select {
		case <-stop:
			return f, errSpareStopped
		default:
		}
		n := min(int64(len(zeros)), sp.size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return f, fmt.Errorf("wal: write %s at offset %d: %w", sp.path, off, err)
		}
	}
	if err := sp.sync(f); err != nil {
		return f, fmt.Errorf("wal: sync %s: %w", sp.path, err)
	}
	sp.hook("spare-prepared")
	return f, nil
}
