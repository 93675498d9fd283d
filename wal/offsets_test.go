package wal

import "testing"

// TestOffsetIndexAcrossBlocks: offsets read back as added, across block
// boundaries, and truncation keeps exactly the prefix asked for, after which
// appends continue from there.
func TestOffsetIndexAcrossBlocks(t *testing.T) {
	var x offsetIndex
	const n = 3*offsetBlock + 17
	for k := range n {
		x.add(int64(k) * 7)
	}
	check := func(want int) {
		t.Helper()
		if x.len() != want {
			t.Fatalf("len %d, want %d", x.len(), want)
		}
		for k := range want {
			if got := x.at(k); got != int64(k)*7 {
				t.Fatalf("at(%d) = %d, want %d", k, got, int64(k)*7)
			}
		}
	}
	check(n)
	for _, keep := range []int{2*offsetBlock + 5, 2 * offsetBlock, offsetBlock - 1, 0} {
		x.truncate(keep)
		check(keep)
		if want := (keep + offsetBlock - 1) / offsetBlock; len(x.blocks) != want {
			t.Fatalf("after truncate(%d): %d blocks held, want %d", keep, len(x.blocks), want)
		}
		// Grow back past the cut to show stale slots are overwritten.
		for k := keep; k < keep+offsetBlock+3; k++ {
			x.add(int64(k) * 7)
		}
		check(keep + offsetBlock + 3)
		x.truncate(keep)
	}
}
