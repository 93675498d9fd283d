package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const segmentSuffix = ".seg"

// segment is one segment file and the in-memory index of its records.
type segment struct {
	// first is the index in the file name: the index its first record has
	// or, for an empty file, will have.
	first uint64
	path  string
	f     *os.File
	// offsets holds, at position i, the file offset of the record of index
	// first+i.
	offsets offsetIndex
	// size is the end of the last complete record, where the next write
	// goes.
	size int64
	// alloc is the length of the file: past size it holds only zeros,
	// written ahead so that appends do not grow the file (see allocChunk).
	alloc int64
}

func segmentName(first uint64) string {
	return fmt.Sprintf("%020d%s", first, segmentSuffix)
}

// parseSegmentName returns the first index named by a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || first == 0 {
		return 0, false
	}
	return first, true
}

// last returns the index of the segment's last record, or first-1 when it
// holds none.
func (sg *segment) last() uint64 { return sg.first + uint64(sg.offsets.len()) - 1 }

// span returns where the record of index i lies; i must be in the segment.
func (sg *segment) span(i uint64) (off, n int64) {
	k := int(i - sg.first)
	off = sg.offsets.at(k)
	end := sg.size
	if k+1 < sg.offsets.len() {
		end = sg.offsets.at(k + 1)
	}
	return off, end - off
}

// listSegments returns the segments of dir sorted by first index, files not
// yet opened.
func listSegments(dir string) ([]*segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", dir, err)
	}
	var segs []*segment
	for _, e := range entries {
		if first, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, &segment{first: first, path: filepath.Join(dir, e.Name())})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// findSegment returns the segment holding index i among segs sorted by
// first index, or nil.
func findSegment(segs []*segment, i uint64) *segment {
	k := sort.Search(len(segs), func(k int) bool { return segs[k].first > i })
	if k == 0 {
		return nil
	}
	sg := segs[k-1]
	if i > sg.last() {
		return nil
	}
	return sg
}
