// Command raftbench measures a cluster of this library's servers, all in one
// process: throughput and latency of writes (Apply, each waited until
// applied) or of linearizable reads (ReadIndex, lease reads, Barrier), from
// concurrent clients talking to the leader.
//
// By default it runs 3 servers over loopback TCP with durable wal stores
// in a temporary directory, 16 clients writing 128-byte commands for 10
// seconds after a 2-second warm-up:
//
//	go run ./cmd/raftbench
//	go run ./cmd/raftbench -clients 64 -store inmem -transport inmem
//	go run ./cmd/raftbench -op readindex -duration 5s
//
// It prints the settings, then operations per second and latency
// percentiles. It exits with status 2 on bad flags and 1 when the cluster
// fails (no leader, or an operation errors).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "raftbench:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage marks errors in the command line.
var errUsage = errors.New("usage")

// run parses args, runs the benchmark and writes the report to out.
func run(args []string, out io.Writer) error {
	s, err := parseSettings(args)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, s)
	c, err := startCluster(s)
	if err != nil {
		return err
	}
	defer c.close()
	res, err := measure(c, s)
	if err != nil {
		return err
	}
	res.write(out)
	for i, w := range c.wals {
		st := w.Stats()
		fmt.Fprintf(out, "wal s%d: %d batches, %.1f entries per batch, %d file syncs\n",
			i, st.Batches, float64(st.Entries)/float64(max(st.Batches, 1)), st.FileSyncs)
	}
	return nil
}

// parseSettings reads the command line into settings, failing with an
// error matching errUsage on anything invalid.
func parseSettings(args []string) (settings, error) {
	s := settings{}
	fs := flag.NewFlagSet("raftbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&s.servers, "servers", 3, "number of servers (voters)")
	fs.IntVar(&s.clients, "clients", 16, "concurrent clients, all talking to the leader")
	fs.IntVar(&s.size, "size", 128, "bytes per command (writes)")
	fs.IntVar(&s.inflight, "inflight", 0, "AppendEntries a TCP pipeline keeps in flight (0: the transport's default)")
	fs.DurationVar(&s.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&s.warmup, "warmup", 2*time.Second, "time run before measuring")
	fs.StringVar(&s.transport, "transport", "tcp", "tcp (loopback NetworkTransport) or inmem")
	fs.StringVar(&s.store, "store", "wal", "wal (durable, fsync on) or inmem")
	fs.StringVar(&s.dir, "dir", "", "where to create the run's wal directory, removed at exit (default: the system's temporary directory)")
	fs.StringVar(&s.op, "op", "apply", "apply, readindex, lease (ReadIndex under the leader lease) or barrier")
	if err := fs.Parse(args); err != nil {
		return s, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return s, s.validate()
}
