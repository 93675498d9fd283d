package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// scanResult is what reading a segment file from start to end found.
type scanResult struct {
	offsets offsetIndex
	// end is the end of the last good record.
	end int64
	// zeroTail says the file continues past end with zeros only: space
	// written ahead for appends (see allocChunk).
	zeroTail bool
	// torn says the file continues past end with the remains of an
	// interrupted write, described by tornReason.
	torn       bool
	tornReason string
}

// scanSegment reads the records of a segment file of size bytes, checking
// every header, checksum and index, and that index first comes first. Zeros
// where a header should start end the records in any segment (they are
// space written ahead), provided nothing but zeros follows. In the last
// segment (last true), a record that fails a check is the remains of an
// interrupted write, reported as torn, when only zeros follow it: writes are
// sequential, so nothing can lie beyond the point a crash stopped one.
// Anything else that fails a check is a *CorruptError naming path and the
// offset. It never allocates more than one record, bounded by MaxRecordSize
// and by what the file holds.
func scanSegment(r io.ReaderAt, size int64, path string, first uint64, last bool) (scanResult, error) {
	var res scanResult
	// Big reads for big files, but no 1 MiB buffer for a tiny one.
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(min(max(size, 4096), 1<<20)))
	var hdr [headerSize]byte
	var body []byte
	off := int64(0)
	readErr := func(err error) (scanResult, error) {
		return res, fmt.Errorf("wal: read %s at offset %d: %w", path, off, err)
	}
	// endsHere decides what a failed check at off means, once everything
	// up to the point where only zeros may follow has been consumed.
	endsHere := func(reason string) (scanResult, error) {
		zero, err := restIsZero(br)
		if err != nil {
			return readErr(err)
		}
		if !last || !zero {
			return res, corruptf(path, off, "%s", reason)
		}
		res.end, res.torn, res.tornReason = off, true, reason
		return res, nil
	}
	for off < size {
		rem := size - off
		if rem < headerSize {
			if _, err := io.ReadFull(br, hdr[:rem]); err != nil {
				return readErr(err)
			}
			if allZero(hdr[:rem]) {
				break
			}
			return endsHere(fmt.Sprintf("%d bytes, less than a header", rem))
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return readErr(err)
		}
		h, ok := parseHeader(hdr[:])
		if !ok {
			if allZero(hdr[:]) {
				zero, err := restIsZero(br)
				if err != nil {
					return readErr(err)
				}
				if zero {
					break
				}
				return res, corruptf(path, off, "zeros where a record should start")
			}
			return endsHere("header checksum mismatch")
		}
		if h.bodyLen > MaxRecordSize || h.bodyLen < fixedBodySize {
			return res, corruptf(path, off, "record length %d out of range", h.bodyLen)
		}
		if int64(h.bodyLen) > rem-headerSize {
			// The header is sound, so the file simply stops inside the
			// record: a write cut short, if this is the last segment.
			if !last {
				return res, corruptf(path, off, "record of %d bytes runs past the end of the segment", h.bodyLen)
			}
			res.end, res.torn, res.tornReason = off, true, fmt.Sprintf("record of %d bytes runs past the end of the file", h.bodyLen)
			return res, nil
		}
		if cap(body) < int(h.bodyLen) {
			body = make([]byte, h.bodyLen)
		}
		body = body[:h.bodyLen]
		if _, err := io.ReadFull(br, body); err != nil {
			return readErr(err)
		}
		if checksum(body) != h.bodyCRC {
			return endsHere("record checksum mismatch")
		}
		want := first + uint64(res.offsets.len())
		if err := checkBody(body, want); err != nil {
			return res, corruptf(path, off, "%v", err)
		}
		res.offsets.add(off)
		off += headerSize + int64(h.bodyLen)
	}
	res.end = off
	res.zeroTail = off < size
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

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// restIsZero reports whether everything left in r is zero bytes.
func restIsZero(r io.Reader) (bool, error) {
	var buf [4096]byte
	for {
		n, err := r.Read(buf[:])
		if !allZero(buf[:n]) {
			return false, nil
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}
