package main

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/consensuskit/raft"
)

// result is what the measured window saw.
type result struct {
	ops       int
	window    time.Duration
	latencies []time.Duration // sorted
}

// sample is one operation: when it completed and how long it took.
type sample struct {
	done    time.Time
	latency time.Duration
}

// measure runs s.clients clients against the leader through the warm-up
// and the measured window, and keeps the operations completed inside the
// window. It fails on the first operation that fails: a benchmark that
// lost its leader measured nothing worth printing.
func measure(c *cluster, s settings) (result, error) {
	leader, err := c.leader(10 * time.Second)
	if err != nil {
		return result{}, err
	}
	op := operation(leader, s)
	start := time.Now().Add(s.warmup)
	end := start.Add(s.duration)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		perCli   = make([][]sample, s.clients)
	)
	for i := range s.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				began := time.Now()
				if !began.Before(end) {
					return
				}
				if err := op(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				done := time.Now()
				if !began.Before(start) && !done.After(end) {
					perCli[i] = append(perCli[i], sample{done: done, latency: done.Sub(began)})
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, fmt.Errorf("an operation failed: %w", firstErr)
	}
	res := result{window: s.duration}
	for _, samples := range perCli {
		for _, x := range samples {
			res.latencies = append(res.latencies, x.latency)
		}
	}
	res.ops = len(res.latencies)
	slices.Sort(res.latencies)
	return res, nil
}

// operation returns one client operation of the kind s asks for.
func operation(leader *raft.Raft, s settings) func() error {
	switch s.op {
	case "readindex", "lease":
		return func() error { return leader.ReadIndex(0).Error() }
	case "barrier":
		return func() error { return leader.Barrier(0).Error() }
	default:
		cmd := make([]byte, s.size)
		return func() error { return leader.Apply(cmd, 0).Error() }
	}
}

// percentile returns the latency below which a fraction q of operations
// completed (nearest rank).
func (r result) percentile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	k := int(q*float64(len(r.latencies))+0.5) - 1
	return r.latencies[min(max(k, 0), len(r.latencies)-1)]
}

// write prints the throughput and the latency distribution.
func (r result) write(out io.Writer) {
	fmt.Fprintf(out, "ops: %d in %v = %.0f ops/s\n", r.ops, r.window, float64(r.ops)/r.window.Seconds())
	if r.ops == 0 {
		return
	}
	var sum time.Duration
	for _, l := range r.latencies {
		sum += l
	}
	fmt.Fprintf(out, "latency: mean %v p50 %v p90 %v p99 %v p99.9 %v max %v\n",
		round(sum/time.Duration(r.ops)), round(r.percentile(0.50)), round(r.percentile(0.90)),
		round(r.percentile(0.99)), round(r.percentile(0.999)), round(r.latencies[r.ops-1]))
}

func round(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
