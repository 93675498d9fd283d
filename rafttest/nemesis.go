package rafttest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// FaultKind is one kind of fault the Nemesis injects.
type FaultKind int

const (
	// FaultPartition splits the servers into two random groups.
	FaultPartition FaultKind = iota
	// FaultIsolateLeader cuts the leader off from everyone.
	FaultIsolateLeader
	// FaultOneWay cuts one direction of one link.
	FaultOneWay
	// FaultCrash crashes a server and restarts it afterwards.
	FaultCrash
	// FaultMessages drops, duplicates and delays messages.
	FaultMessages
	// FaultTransfer hands leadership to another server.
	FaultTransfer
	// FaultSnapshot forces a snapshot on a server.
	FaultSnapshot
	// FaultMembership removes a follower and adds it back.
	FaultMembership
	// FaultClockSkew makes one server's timers run slow, as a clock that
	// runs behind would (timeouts up to three times longer).
	FaultClockSkew
	numFaultKinds
)

// String names the fault.
func (k FaultKind) String() string {
	return [...]string{"partition", "isolate-leader", "one-way", "crash", "messages", "transfer", "snapshot", "membership", "clock-skew"}[k]
}

// Nemesis injects a seeded schedule of faults into a Cluster.
type Nemesis struct {
	Cluster *Cluster
	Seed    uint64
	// Kinds restricts the faults drawn; nil means all.
	Kinds []FaultKind

	rng      *rand.Rand
	schedule []string
	counts   map[FaultKind]int
	describe string
}

// Schedule returns what the nemesis did, one line per fault.
func (n *Nemesis) Schedule() string { return strings.Join(n.schedule, "\n") }

// Counts returns how many faults of each kind were injected.
func (n *Nemesis) Counts() map[FaultKind]int { return n.counts }

// Run injects faults, each held for a random time, until stop is closed,
// then heals everything.
func (n *Nemesis) Run(stop <-chan struct{}) {
	n.rng = rand.New(rand.NewPCG(n.Seed, 0xfa17))
	n.counts = map[FaultKind]int{}
	kinds := n.Kinds
	if len(kinds) == 0 {
		for k := FaultKind(0); k < numFaultKinds; k++ {
			kinds = append(kinds, k)
		}
	}
	start := time.Now()
	for step := 0; ; step++ {
		k := kinds[step%len(kinds)]
		if step >= len(kinds) {
			k = kinds[n.rng.IntN(len(kinds))]
		}
		hold := time.Duration(50+n.rng.IntN(250)) * time.Millisecond
		heal := n.inject(k)
		n.counts[k]++
		n.schedule = append(n.schedule, fmt.Sprintf("%8v %s", time.Since(start).Round(time.Millisecond), n.describe))
		select {
		case <-time.After(hold):
		case <-stop:
			heal()
			n.healAll()
			return
		}
		heal()
		select {
		case <-time.After(time.Duration(20+n.rng.IntN(100)) * time.Millisecond):
		case <-stop:
			n.healAll()
			return
		}
	}
}

// healAll restores links, clears message faults and restarts every
// crashed server.
func (n *Nemesis) healAll() {
	c := n.Cluster
	c.Heal()
	for i := range c.Nodes {
		c.Restart(i)
	}
}

// inject starts one fault and returns what undoes it. It sets n.describe.
func (n *Nemesis) inject(k FaultKind) (heal func()) {
	c := n.Cluster
	all := len(c.Nodes)
	nothing := func() {}
	switch k {
	case FaultPartition:
		perm := n.rng.Perm(all)
		cut := 1 + n.rng.IntN(all-1)
		a, b := perm[:cut], perm[cut:]
		c.Partition(a, b)
		n.describe = fmt.Sprintf("partition %v | %v", a, b)
		return c.Heal
	case FaultIsolateLeader:
		l := c.Leader()
		if l < 0 {
			n.describe = "isolate leader: none"
			return nothing
		}
		var rest []int
		for i := 0; i < all; i++ {
			if i != l {
				rest = append(rest, i)
			}
		}
		c.Partition([]int{l}, rest)
		n.describe = fmt.Sprintf("isolate leader %d", l)
		return c.Heal
	case FaultOneWay:
		from := n.rng.IntN(all)
		to := (from + 1 + n.rng.IntN(all-1)) % all
		c.CutOneWay(from, to)
		n.describe = fmt.Sprintf("cut %d -> %d", from, to)
		return c.Heal
	case FaultCrash:
		i := n.rng.IntN(all)
		c.Crash(i)
		n.describe = fmt.Sprintf("crash %d", i)
		return func() { c.Restart(i) }
	case FaultMessages:
		f := Faults{DropRequest: 0.1, DropResponse: 0.1, Duplicate: 0.05, MaxDelay: 10 * time.Millisecond}
		c.SetFaults(f)
		n.describe = fmt.Sprintf("messages %+v", f)
		return func() { c.SetFaults(Faults{}) }
	case FaultTransfer:
		l := c.Leader()
		n.describe = fmt.Sprintf("leadership transfer from %d", l)
		if l >= 0 {
			if r, _, up := c.Server(l); up {
				go func() { _ = r.LeadershipTransfer().Error() }()
			}
		}
		return nothing
	case FaultSnapshot:
		i := n.rng.IntN(all)
		n.describe = fmt.Sprintf("snapshot on %d", i)
		if r, _, up := c.Server(i); up {
			go func() { _ = r.Snapshot().Error() }()
		}
		return nothing
	case FaultClockSkew:
		i := n.rng.IntN(all)
		r, _, up := c.Server(i)
		if !up {
			n.describe = fmt.Sprintf("clock skew on %d: down", i)
			return nothing
		}
		old := r.ReloadableConfig()
		skewed := old
		factor := 1.5 + 1.5*n.rng.Float64()
		skewed.HeartbeatTimeout = time.Duration(float64(old.HeartbeatTimeout) * factor)
		skewed.ElectionTimeout = time.Duration(float64(old.ElectionTimeout) * factor)
		n.describe = fmt.Sprintf("clock skew on %d: timers x%.2f", i, factor)
		if err := r.ReloadConfig(skewed); err != nil {
			n.describe += fmt.Sprintf(" (refused: %v)", err)
			return nothing
		}
		return func() { _ = r.ReloadConfig(old) }
	case FaultMembership:
		l := c.Leader()
		fs := c.Followers()
		if l < 0 || len(fs) == 0 {
			n.describe = "membership: no leader"
			return nothing
		}
		victim := fs[n.rng.IntN(len(fs))]
		node := c.Nodes[victim]
		r, _, _ := c.Server(l)
		n.describe = fmt.Sprintf("remove %d and add it back", victim)
		removed := r.RemoveServer(node.ID, 0, time.Second).Error() == nil
		return func() {
			if !removed {
				return
			}
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if l := c.Leader(); l >= 0 {
					lr, _, _ := c.Server(l)
					if lr.AddVoter(node.ID, node.Addr, 0, time.Second).Error() == nil {
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	return nothing
}
