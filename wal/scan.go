package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// scanResult is what reading a segment file from start to end found.
type scanResult struct {
	offsets []int64
	// end is the end of the last good record.
	end int64
	// torn says the file continues past end with the remains of an
	// interrupted write, described by tornReason.
	torn       bool
	tornReason string
}

// scanSegment reads the records of a segment file of size bytes, checking
// every header, checksum and index, and that index first comes first. In the
// last segment (last true), bytes past the last good record that can only be
// an interrupted write are reported as torn; everything else that fails a
// check is a *CorruptError naming path and the offset. It never allocates
// more than one record, bounded by MaxRecordSize and by what the file holds.
func scanSegment(r io.ReaderAt, size int64, path string, first uint64, last bool) (scanResult, error) {
	var res scanResult
	// Big reads for big files, but no 1 MiB buffer for a tiny one.
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(min(max(size, 4096), 1<<20)))
	var hdr [headerSize]byte
	var body []byte
	off := int64(0)
	tornAt := func(reason string) (scanResult, error) {
		res.end, res.torn, res.tornReason = off, true, reason
		return res, nil
	}
	for off < size {
		rem := size - off
		if rem < headerSize {
			if last {
				return tornAt(fmt.Sprintf("%d bytes, less than a header", rem))
			}
			return res, corruptf(path, off, "%d bytes at end of segment, less than a header", rem)
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return res, fmt.Errorf("wal: read %s at offset %d: %w", path, off, err)
		}
		h, ok := parseHeader(hdr[:])
		if !ok {
			if last {
				zero, err := restIsZero(hdr[:], br)
				if err != nil {
					return res, fmt.Errorf("wal: read %s at offset %d: %w", path, off, err)
				}
				if zero {
					return tornAt("zero-filled tail")
				}
			}
			return res, corruptf(path, off, "header checksum mismatch")
		}
		if h.bodyLen > MaxRecordSize || h.bodyLen < fixedBodySize {
			return res, corruptf(path, off, "record length %d out of range", h.bodyLen)
		}
		if int64(h.bodyLen) > rem-headerSize {
			if last {
				return tornAt(fmt.Sprintf("record of %d bytes runs past the end of the file", h.bodyLen))
			}
			return res, corruptf(path, off, "record of %d bytes runs past the end of the segment", h.bodyLen)
		}
		if cap(body) < int(h.bodyLen) {
			body = make([]byte, h.bodyLen)
		}
		body = body[:h.bodyLen]
		if _, err := io.ReadFull(br, body); err != nil {
			return res, fmt.Errorf("wal: read %s at offset %d: %w", path, off, err)
		}
		next := off + headerSize + int64(h.bodyLen)
		if checksum(body) != h.bodyCRC {
			if last && next == size {
				return tornAt("final record fails its checksum")
			}
			return res, corruptf(path, off, "record checksum mismatch")
		}
		want := first + uint64(len(res.offsets))
		if err := checkBody(body, want); err != nil {
			return res, corruptf(path, off, "%v", err)
		}
		res.offsets = append(res.offsets, off)
		off = next
	}
	res.end = off
	return res, nil
}

// checkBody reports whether body is a well-formed entry of index want.
func checkBody(body []byte, want uint64) error {
	if _, err := parseBody(body); err != nil {
		return err
	}
	if got, _ := bodyIndex(body); got != want {
		return fmt.Errorf("record has index %d, want %d", got, want)
	}
	return nil
}

// restIsZero reports whether head and everything left in r are zero bytes:
// the mark of space a file system allocated for a write that never landed.
func restIsZero(head []byte, r io.Reader) (bool, error) {
	for _, b := range head {
		if b != 0 {
			return false, nil
		}
	}
	var buf [4096]byte
	for {
		n, err := r.Read(buf[:])
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}
