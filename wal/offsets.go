package wal

// offsetBlock is how many record offsets one block of an offsetIndex holds.
const offsetBlock = 1024

// offsetIndex maps the records of a segment, by position, to their file
// offsets. It grows by fixed blocks instead of as one slice: a 64 MiB
// segment of small entries holds hundreds of thousands of records, and a
// growing slice re-copies all of their offsets every time it doubles. That
// copy ran inside appends, under the lock readers take, and cost several
// percent of append throughput; a new block copies nothing.
type offsetIndex struct {
	blocks []*[offsetBlock]int64
	n      int
}

// len returns how many records the index holds.
func (x *offsetIndex) len() int { return x.n }

// at returns the offset of record k. k must be below len: past it, within
// the last block, it would return a stale slot rather than panic, so
// callers check bounds first (span's callers check the log's bounds).
func (x *offsetIndex) at(k int) int64 { return x.blocks[k/offsetBlock][k%offsetBlock] }

// add appends the offset of the next record.
func (x *offsetIndex) add(off int64) {
	b := x.n / offsetBlock
	if b == len(x.blocks) {
		x.blocks = append(x.blocks, new([offsetBlock]int64))
	}
	x.blocks[b][x.n%offsetBlock] = off
	x.n++
}

// truncate keeps the first n records, n at most len, and lets go of the
// blocks no longer needed.
func (x *offsetIndex) truncate(n int) {
	keep := (n + offsetBlock - 1) / offsetBlock
	clear(x.blocks[keep:])
	x.blocks = x.blocks[:keep]
	x.n = n
}
