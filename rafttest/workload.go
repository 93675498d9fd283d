package rafttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consensuskit/raft"
)

// ReadMode chooses how workload clients read.
type ReadMode int

const (
	// ReadIndexReads read through Raft.ReadIndex on any running server,
	// then the server's KV.
	ReadIndexReads ReadMode = iota
	// BarrierReads read on the leader after a Barrier.
	BarrierReads
	// UnsafeLocalReads read a follower's KV without any coordination. They
	// are not linearizable; they exist to show the checker catches that.
	UnsafeLocalReads
)

// Workload runs clients that put and get keys of a Cluster's KV FSMs and
// record every operation in a History.
type Workload struct {
	Cluster *Cluster
	History *History
	Clients int
	Keys    int
	Reads   ReadMode
	Seed    uint64
	// OpTimeout bounds each operation.
	OpTimeout time.Duration

	puts, gets, unknown atomic.Int64
}

// WorkloadStats counts what a workload did.
type WorkloadStats struct {
	Puts, Gets, Unknown int64
}

// Stats returns the counts so far.
func (w *Workload) Stats() WorkloadStats {
	return WorkloadStats{Puts: w.puts.Load(), Gets: w.gets.Load(), Unknown: w.unknown.Load()}
}

// Run runs the clients until stop is closed.
func (w *Workload) Run(stop <-chan struct{}) {
	if w.OpTimeout == 0 {
		w.OpTimeout = time.Second
	}
	var wg sync.WaitGroup
	for c := 0; c < w.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(w.Seed, uint64(c)))
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("k%d", rng.IntN(w.Keys))
				if rng.IntN(2) == 0 {
					w.put(c, key, fmt.Sprintf("c%d-%d", c, seq))
				} else {
					w.get(c, key, rng)
				}
			}
		}(c)
	}
	wg.Wait()
}

// definitelyNotApplied reports errors returned before the write could
// reach the log.
func definitelyNotApplied(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrEnqueueTimeout) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress)
}

func (w *Workload) put(client int, key, value string) {
	l := w.Cluster.Leader()
	if l < 0 {
		time.Sleep(2 * time.Millisecond)
		return
	}
	r, _, up := w.Cluster.Server(l)
	if !up {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
	defer cancel()
	call := w.History.Call()
	err := r.ApplyContext(ctx, EncodePut(key, value)).ErrorContext(ctx)
	switch {
	case err == nil:
		w.puts.Add(1)
		w.History.Put(client, key, value, call, true)
	case definitelyNotApplied(err):
	default:
		w.unknown.Add(1)
		w.History.Put(client, key, value, call, false)
	}
}

func (w *Workload) get(client int, key string, rng *rand.Rand) {
	var i int
	switch w.Reads {
	case BarrierReads:
		i = w.Cluster.Leader()
	case UnsafeLocalReads:
		fs := w.Cluster.Followers()
		if len(fs) == 0 {
			return
		}
		i = fs[rng.IntN(len(fs))]
	default:
		i = rng.IntN(len(w.Cluster.Nodes))
	}
	if i < 0 {
		time.Sleep(2 * time.Millisecond)
		return
	}
	r, fsm, up := w.Cluster.Server(i)
	kv, ok := fsm.(*KV)
	if !up || !ok {
		time.Sleep(2 * time.Millisecond)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
	defer cancel()
	call := w.History.Call()
	switch w.Reads {
	case BarrierReads:
		if err := r.BarrierContext(ctx).ErrorContext(ctx); err != nil {
			return
		}
	case ReadIndexReads:
		if err := r.ReadIndexContext(ctx).ErrorContext(ctx); err != nil {
			return
		}
	}
	w.gets.Add(1)
	w.History.Get(client, key, kv.Get(key), call)
}
