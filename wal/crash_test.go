package wal

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/consensuskit/raft"
)

// The crash tests run a child process (this test binary again, see
// TestMain) that appends and deletes with syncs on, and prints a line after
// each operation returns. The parent kills it with SIGKILL at random moments
// or lets it kill itself at a named point inside the store, reopens the
// store, and checks it against every acknowledged operation.
//
// Child output, one line each:
//
//	A first last term   StoreLogs of [first, last] returned nil
//	P lo hi / p         DeleteRange(lo, hi) of a prefix starts / returned
//	S from / s          DeleteRange(from, last) of a suffix starts / returned
//	D / d               DeleteRange of the whole log starts / returned
//	T v / t             SetUint64("term", v) starts / returned
//	X point             the child kills itself at point
//	E message           the child hit an error

const (
	childEnv      = "WAL_CRASH_CHILD"
	childDirEnv   = "WAL_CRASH_DIR"
	childSeedEnv  = "WAL_CRASH_SEED"
	childPointEnv = "WAL_CRASH_POINT"
	childMixEnv   = "WAL_CRASH_DELETE_HEAVY"
	killsEnv      = "WAL_CRASH_KILLS"
	seedEnv       = "WAL_CRASH_SEED_PARENT"
)

// killSelf ends this process at once, as a power cut would end it: no
// deferred call, no Close. It does not return.
func killSelf() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	// Kill is delivered asynchronously to the other threads; nothing more
	// of the store may run meanwhile.
	select {}
}

// crashOptions are the child's options: syncs on, the real write path, and
// small segments so that rolls and whole-segment deletions are frequent.
func crashOptions() Options {
	return Options{SegmentSize: 4096, CacheEntries: 16, Metrics: discardMetrics()}
}

func runCrashChild() int {
	dir := os.Getenv(childDirEnv)
	seed, _ := strconv.ParseInt(os.Getenv(childSeedEnv), 10, 64)
	rng := rand.New(rand.NewSource(seed))
	say := func(format string, args ...any) {
		// Unbuffered: a line is out before the next operation starts.
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	fail := func(err error) int {
		say("E %v", err)
		return 3
	}
	opts := crashOptions()
	if spec := os.Getenv(childPointEnv); spec != "" {
		point, nthStr, _ := strings.Cut(spec, "@")
		nth, _ := strconv.Atoi(nthStr)
		opts.crashHook = func(p string) {
			if p != point {
				return
			}
			if nth--; nth <= 0 {
				say("X %s", p)
				killSelf()
			}
		}
	}
	s, err := Open(dir, opts)
	if err != nil {
		return fail(err)
	}
	term := uint64(1)
	if last, _ := s.LastIndex(); last > 0 {
		var l raft.Log
		if err := s.GetLog(last, &l); err != nil {
			return fail(err)
		}
		term = l.Term
	}
	// Percentages of prefix, suffix and whole-log deletions, and the log
	// length over which prefixes are deleted.
	pPrefix, pSuffix, pAll, prefixOver := 6, 6, 1, uint64(100)
	if os.Getenv(childMixEnv) != "" {
		pPrefix, pSuffix, pAll, prefixOver = 15, 15, 5, 40
	}
	restartGap := uint64(0)
	for op := 0; op < 100000; op++ {
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		n := last - first + 1
		if last == 0 {
			n = 0
		}
		switch r := rng.Intn(100); {
		case r < pPrefix && n > prefixOver:
			hi := first + uint64(rng.Intn(int(n)-20))
			say("P %d %d", first, hi)
			if err := s.DeleteRange(first, hi); err != nil {
				return fail(err)
			}
			say("p")
		case r < pPrefix+pSuffix && n > 2:
			from := last - uint64(rng.Intn(int(min(n-1, 30))))
			say("S %d", from)
			if err := s.DeleteRange(from, last); err != nil {
				return fail(err)
			}
			say("s")
			term++
		case r < pPrefix+pSuffix+pAll && n > 0:
			say("D")
			if err := s.DeleteRange(first, last); err != nil {
				return fail(err)
			}
			say("d")
			restartGap = 1 + uint64(rng.Intn(100))
		case r < pPrefix+pSuffix+pAll+3:
			v := rng.Uint64()
			say("T %d", v)
			if err := s.SetUint64([]byte("term"), v); err != nil {
				return fail(err)
			}
			say("t")
		default:
			from := last + 1 + restartGap
			restartGap = 0
			to := from + uint64(rng.Intn(16))
			if err := s.StoreLogs(entries(from, to, term)); err != nil {
				return fail(err)
			}
			say("A %d %d %d", from, to, term)
		}
	}
	return 0
}

// crashModel is what the parent knows was acknowledged.
type crashModel struct {
	first, last uint64            // 0, 0 when empty
	terms       map[uint64]uint64 // the term of each acknowledged entry
	stable      uint64
	// pending is the operation started but not acknowledged when the child
	// died: its line, split into fields.
	pending []string
}

// apply updates the model with one line of child output.
func (m *crashModel) apply(fields []string) error {
	num := func(i int) uint64 { v, _ := strconv.ParseUint(fields[i], 10, 64); return v }
	switch fields[0] {
	case "A":
		f, l, term := num(1), num(2), num(3)
		if m.last != 0 && f != m.last+1 {
			return fmt.Errorf("child appended %d..%d after %d", f, l, m.last)
		}
		if m.last == 0 {
			m.first = f
		}
		for i := f; i <= l; i++ {
			m.terms[i] = term
		}
		m.last = l
	case "P", "S", "D", "T":
		m.pending = fields
	case "p":
		m.deletePrefix(num0(m.pending, 2) + 1)
		m.pending = nil
	case "s":
		m.deleteSuffix(num0(m.pending, 1))
		m.pending = nil
	case "d":
		m.first, m.last, m.terms = 0, 0, map[uint64]uint64{}
		m.pending = nil
	case "t":
		m.stable = num0(m.pending, 1)
		m.pending = nil
	case "X":
	case "E":
		return fmt.Errorf("child failed: %s", strings.Join(fields[1:], " "))
	default:
		return fmt.Errorf("unexpected child output %q", fields)
	}
	return nil
}

func num0(fields []string, i int) uint64 {
	v, _ := strconv.ParseUint(fields[i], 10, 64)
	return v
}

func (m *crashModel) deletePrefix(newFirst uint64) {
	for i := m.first; i < newFirst; i++ {
		delete(m.terms, i)
	}
	m.first = newFirst
}

func (m *crashModel) deleteSuffix(from uint64) {
	for i := from; i <= m.last; i++ {
		delete(m.terms, i)
	}
	m.last = from - 1
}

// verify opens the store the child left, checks it against the model, and
// adopts what it holds (unacknowledged entries that survived included) as
// the new model.
func (m *crashModel) verify(dir string) error {
	s, err := Open(dir, crashOptions())
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer s.Close()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()

	// Resolve the operation in flight: the store must show it wholly done
	// or not at all.
	if p := m.pending; p != nil {
		switch p[0] {
		case "P":
			newFirst := num0(p, 2) + 1
			switch first {
			case m.first:
			case newFirst:
				m.deletePrefix(newFirst)
			default:
				return fmt.Errorf("prefix deletion to %d in flight: first is %d, want %d or %d", newFirst, first, m.first, newFirst)
			}
		case "S":
			from := num0(p, 1)
			switch {
			case last == from-1:
				m.deleteSuffix(from)
			case last < m.last:
				return fmt.Errorf("suffix deletion from %d in flight: last is %d, want %d or at least %d", from, last, from-1, m.last)
			}
		case "D":
			if last == 0 {
				m.first, m.last, m.terms = 0, 0, map[uint64]uint64{}
			} else if first != m.first {
				return fmt.Errorf("whole-log deletion in flight: log is [%d, %d], want empty or from %d", first, last, m.first)
			}
		case "T":
			v, err := s.GetUint64([]byte("term"))
			if err != nil {
				return err
			}
			if v != m.stable && v != num0(p, 1) {
				return fmt.Errorf("stable term %d, want old %d or new %d", v, m.stable, num0(p, 1))
			}
			m.stable = v
		}
		m.pending = nil
	}
	if v, err := s.GetUint64([]byte("term")); err != nil || v != m.stable {
		return fmt.Errorf("stable term = %d, %v; want %d", v, err, m.stable)
	}
	if m.last != 0 {
		if first != m.first || last < m.last {
			return fmt.Errorf("log is [%d, %d], acknowledged [%d, %d]", first, last, m.first, m.last)
		}
	}
	for i := first; i <= last && last != 0; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			return fmt.Errorf("GetLog(%d) in [%d, %d]: %w", i, first, last, err)
		}
		if l.Index != i {
			return fmt.Errorf("GetLog(%d) returned index %d", i, l.Index)
		}
		if want, ok := m.terms[i]; ok && l.Term != want {
			return fmt.Errorf("entry %d has term %d, acknowledged with term %d", i, l.Term, want)
		}
		if err := checkEntryIntact(&l); err != nil {
			return err
		}
		m.terms[i] = l.Term
	}
	m.first, m.last = first, last
	if last == 0 {
		m.first = 0
	}
	return nil
}

// crashCampaign runs kills rounds of child-and-kill against one directory.
// pointFor returns the crash point the child of a round should kill itself
// at ("" to be killed by the parent instead); killOnStart says whether the
// parent, in a round without a point, kills as soon as a deletion or a
// stable write starts (while the child is inside it) half of the time.
// deleteHeavy makes the child delete more often. After a child kills itself
// at recrashAfter, the parent does not reopen the store itself: the next
// child is the first to open it, so a crash point inside recovery can be hit.
type crashCampaign struct {
	kills        int
	pointFor     func(round int, rng *rand.Rand, lastDiedAt string) string
	killOnStart  bool
	deleteHeavy  bool
	recrashAfter string
}

func (c crashCampaign) run(t *testing.T) map[string]int {
	seed := time.Now().UnixNano()
	if v := os.Getenv(seedEnv); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	m := &crashModel{terms: map[uint64]uint64{}}
	hits := map[string]int{}
	fail := func(round int, format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (rerun with %s=%d), round %d: %s", seed, seedEnv, seed, round, fmt.Sprintf(format, args...))
	}
	diedAt := ""
	for round := 0; round < c.kills; round++ {
		point := c.pointFor(round, rng, diedAt)
		diedAt = ""
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			childEnv+"=1", childDirEnv+"="+dir,
			childSeedEnv+"="+strconv.FormatInt(rng.Int63(), 10),
			childPointEnv+"="+point)
		if c.deleteHeavy {
			cmd.Env = append(cmd.Env, childMixEnv+"=1")
		}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A child told to kill itself is still killed by the parent if it
		// never reaches its point.
		killAfter := 1 + rng.Intn(30)
		if point != "" {
			killAfter = 300
		}
		killed := false
		kill := func() {
			if !killed {
				killed = true
				if err := cmd.Process.Kill(); err != nil {
					t.Errorf("kill: %v", err)
				}
			}
		}
		sc := bufio.NewScanner(out)
		lines := 0
		var protoErr error
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 {
				continue
			}
			if fields[0] == "X" {
				hits[fields[1]]++
				diedAt = fields[1]
			}
			if err := m.apply(fields); err != nil && protoErr == nil {
				protoErr = err
				kill()
			}
			lines++
			start := strings.Contains("PSDT", fields[0])
			if lines >= killAfter || (c.killOnStart && point == "" && start && rng.Intn(2) == 0) {
				kill()
			}
		}
		if err := sc.Err(); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		werr := cmd.Wait()
		if protoErr != nil {
			fail(round, "%v", protoErr)
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			fail(round, "child did not die of SIGKILL: %v", werr)
		}
		if c.recrashAfter != "" && diedAt == c.recrashAfter {
			continue
		}
		if err := m.verify(dir); err != nil {
			fail(round, "after kill (point %q): %v", point, err)
		}
	}
	t.Logf("seed %d: %d kills, log now [%d, %d], crash points hit: %v", seed, c.kills, m.first, m.last, hits)
	return hits
}

// crashPoints are the hook points inside the store, each a moment where a
// crash must leave the old state or the new one.
var crashPoints = []string{
	"append-after-write",
	"replace-before-rename:" + metaName,
	"replace-before-rename:" + stableName,
	"prefix-after-meta",
	"all-after-meta",
	"suffix-after-mark",
	"removed-segment",
	"suffix-after-cut",
	"spare-prepared",
	"segment-from-spare",
}

func TestCrashRandomKills(t *testing.T) {
	kills := 200
	if v := os.Getenv(killsEnv); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	crashCampaign{
		kills: kills,
		pointFor: func(round int, rng *rand.Rand, _ string) string {
			if rng.Intn(4) != 0 {
				return ""
			}
			return crashPoints[rng.Intn(len(crashPoints))] + "@1"
		},
	}.run(t)
}

func TestCrashAroundSpares(t *testing.T) {
	points := []string{"spare-prepared", "segment-from-spare"}
	hits := crashCampaign{
		kills: 8 * len(points),
		pointFor: func(round int, _ *rand.Rand, _ string) string {
			if round%2 == 1 {
				return ""
			}
			// The first spare of a child, and a later one.
			return points[round/2%len(points)] + "@" + strconv.Itoa(1+round/4%2*2)
		},
	}.run(t)
	for _, p := range points {
		if hits[p] == 0 {
			t.Errorf("no child crashed at %q; hits: %v", p, hits)
		}
	}
}

func TestCrashDuringDeletion(t *testing.T) {
	points := []string{
		"replace-before-rename:" + metaName,
		"prefix-after-meta",
		"all-after-meta",
		"suffix-after-mark",
		"removed-segment",
		"suffix-after-cut",
	}
	hits := crashCampaign{
		kills: 8 * len(points),
		pointFor: func(round int, rng *rand.Rand, lastDiedAt string) string {
			switch {
			case lastDiedAt == "suffix-after-mark":
				// The crash left a suffix deletion marked: crash
				// again while Open completes it.
				return "recover-truncated@1"
			case round%2 == 0:
				return points[round/2%len(points)] + "@1"
			default:
				return ""
			}
		},
		killOnStart:  true,
		deleteHeavy:  true,
		recrashAfter: "suffix-after-mark",
	}.run(t)
	for _, p := range append(points, "recover-truncated") {
		if hits[p] == 0 {
			t.Errorf("no child crashed at %q; hits: %v", p, hits)
		}
	}
}
