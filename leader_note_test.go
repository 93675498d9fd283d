package raft

import (
	"testing"
)

// TestNoteLeaderDecodesOnlyOnChange: a follower hears the same leader on
// every request, so recording it again must not allocate or notify
// observers; a different sender must be recorded and announced, and the
// stored address must not alias the request's buffer.
func TestNoteLeaderDecodesOnlyOnChange(t *testing.T) {
	r, _, obs := stoppedNodeWithLeaderObserver(t, 16)
	expect := func(addr ServerAddress, id ServerID) {
		t.Helper()
		select {
		case o := <-obs:
			lo := o.Data.(LeaderObservation)
			if lo.LeaderAddr != addr || lo.LeaderID != id {
				t.Fatalf("observed leader %q/%q, want %q/%q", lo.LeaderAddr, lo.LeaderID, addr, id)
			}
		default:
			t.Fatalf("no observation of leader %q/%q", addr, id)
		}
		if a, i := r.LeaderWithID(); a != addr || i != id {
			t.Fatalf("LeaderWithID %q/%q, want %q/%q", a, i, addr, id)
		}
	}

	peer, id := []byte("10.0.0.1:8300"), []byte("a")
	r.noteLeader(peer, id)
	expect("10.0.0.1:8300", "a")
	if allocs := testing.AllocsPerRun(100, func() { r.noteLeader(peer, id) }); allocs != 0 {
		t.Fatalf("noting the same leader allocated %.1f times", allocs)
	}
	select {
	case o := <-obs:
		t.Fatalf("the same leader was announced again: %+v", o.Data)
	default:
	}

	// The request's buffer is reused by the transport.
	copy(peer, "10.0.0.2")
	r.noteLeader(peer, id)
	expect("10.0.0.2:8300", "a")
	r.noteLeader([]byte("10.0.0.2:8300"), []byte("b"))
	expect("10.0.0.2:8300", "b")

	// A leader set without its encoding (as a candidate does) is replaced
	// by the same leader with it, silently.
	r.setLeader("10.0.0.3:8300", "c")
	expect("10.0.0.3:8300", "c")
	r.noteLeader([]byte("10.0.0.3:8300"), []byte("c"))
	if got := r.leaderInfo.Load(); got.peer == nil {
		t.Fatal("the leader's encoding was not kept")
	}
	select {
	case o := <-obs:
		t.Fatalf("the same leader was announced again: %+v", o.Data)
	default:
	}
}
