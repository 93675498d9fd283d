package main

import (
	"fmt"
	"time"
)

// settings are what one benchmark run does.
type settings struct {
	servers, clients, size int
	inflight               int
	duration, warmup       time.Duration
	transport, store, dir  string
	op                     string
}

// validate reports the first setting that cannot work, as an errUsage.
func (s settings) validate() error {
	switch {
	case s.servers < 1:
		return fmt.Errorf("%w: -servers must be at least 1", errUsage)
	case s.clients < 1:
		return fmt.Errorf("%w: -clients must be at least 1", errUsage)
	case s.size < 0:
		return fmt.Errorf("%w: -size must not be negative", errUsage)
	case s.duration <= 0:
		return fmt.Errorf("%w: -duration must be positive", errUsage)
	case s.inflight < 0:
		return fmt.Errorf("%w: -inflight must not be negative", errUsage)
	case s.warmup < 0:
		return fmt.Errorf("%w: -warmup must not be negative", errUsage)
	case s.transport != "tcp" && s.transport != "inmem":
		return fmt.Errorf("%w: -transport must be tcp or inmem, not %q", errUsage, s.transport)
	case s.store != "wal" && s.store != "inmem":
		return fmt.Errorf("%w: -store must be wal or inmem, not %q", errUsage, s.store)
	case s.op != "apply" && s.op != "readindex" && s.op != "lease" && s.op != "barrier":
		return fmt.Errorf("%w: -op must be apply, readindex, lease or barrier, not %q", errUsage, s.op)
	}
	return nil
}

// String is the settings as the report's first line.
func (s settings) String() string {
	what := fmt.Sprintf("%d-byte commands", s.size)
	if s.op != "apply" {
		what = "reads"
	}
	return fmt.Sprintf("raftbench: op=%s servers=%d clients=%d transport=%s store=%s duration=%v warmup=%v (%s)",
		s.op, s.servers, s.clients, s.transport, s.store, s.duration, s.warmup, what)
}
