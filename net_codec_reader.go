package raft

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// wireReader reads msgpack values of one frame from a buffered stream.
//
// Nothing about a frame is trusted: every declared length or element count
// is checked against the bytes the frame may still span (remaining) before
// anything is allocated for it, and large payloads are allocated as their
// bytes arrive, so a peer that declares 4 GiB and sends nothing costs
// nothing. Every read consumes budget, so a frame ends, one way or another,
// within remaining bytes.
type wireReader struct {
	r          *bufio.Reader
	remaining  int64
	maxEntries int
	key        [32]byte
	// entriesSeen is set once the current AppendEntries frame had Entries.
	entriesSeen bool
}

// Limits for one frame. maxSkipDepth bounds the nesting of unknown values so
// a hostile frame cannot exhaust the stack.
const (
	maxSkipDepth = 32
	// payloadChunk is the largest payload allocated before its bytes have
	// been seen; longer payloads grow as they arrive.
	payloadChunk = 64 << 10
)

// startFrame gives the next frame its byte budget.
func (d *wireReader) startFrame(limit int64) { d.remaining = limit }

func malformed(format string, args ...interface{}) error {
	return fmt.Errorf("%w: "+format, append([]interface{}{ErrMalformedFrame}, args...)...)
}

// ioError reports an end of stream inside a frame as the truncation it is.
func ioError(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// spend charges n bytes to the frame, failing if the frame would exceed its
// budget.
func (d *wireReader) spend(n uint64) error {
	if n > uint64(d.remaining) {
		return fmt.Errorf("%w: %d more bytes declared, %d allowed", ErrFrameTooLarge, n, d.remaining)
	}
	d.remaining -= int64(n)
	return nil
}

func (d *wireReader) readByte() (byte, error) {
	if err := d.spend(1); err != nil {
		return 0, err
	}
	c, err := d.r.ReadByte()
	if err != nil {
		return 0, ioError(err)
	}
	return c, nil
}

// peekN returns the next n (at most 16) bytes, valid until the next read.
func (d *wireReader) peekN(n int) ([]byte, error) {
	if err := d.spend(uint64(n)); err != nil {
		return nil, err
	}
	p, err := d.r.Peek(n)
	if err != nil {
		return nil, ioError(err)
	}
	_, _ = d.r.Discard(n)
	return p, nil
}

func (d *wireReader) readUint16() (uint64, error) {
	p, err := d.peekN(2)
	if err != nil {
		return 0, err
	}
	return uint64(binary.BigEndian.Uint16(p)), nil
}

func (d *wireReader) readUint32() (uint64, error) {
	p, err := d.peekN(4)
	if err != nil {
		return 0, err
	}
	return uint64(binary.BigEndian.Uint32(p)), nil
}

func (d *wireReader) readUint64() (uint64, error) {
	p, err := d.peekN(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(p), nil
}

// integer reads any msgpack integer. neg is true when the value is below
// zero, in which case v holds it as an int64 bit pattern.
func (d *wireReader) integer() (v uint64, neg bool, err error) {
	c, err := d.readByte()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c <= 0x7f:
		return uint64(c), false, nil
	case c >= 0xe0:
		return uint64(int64(int8(c))), true, nil
	}
	switch c {
	case mpNil:
		return 0, false, nil
	case mpUint8:
		p, err := d.peekN(1)
		if err != nil {
			return 0, false, err
		}
		return uint64(p[0]), false, nil
	case mpUint16:
		v, err = d.readUint16()
		return v, false, err
	case mpUint32:
		v, err = d.readUint32()
		return v, false, err
	case mpUint64:
		v, err = d.readUint64()
		return v, false, err
	case mpInt8:
		p, err := d.peekN(1)
		if err != nil {
			return 0, false, err
		}
		s := int64(int8(p[0]))
		return uint64(s), s < 0, nil
	case mpInt16:
		v, err = d.readUint16()
		s := int64(int16(v))
		return uint64(s), s < 0, err
	case mpInt32:
		v, err = d.readUint32()
		s := int64(int32(v))
		return uint64(s), s < 0, err
	case mpInt64:
		v, err = d.readUint64()
		s := int64(v)
		return v, s < 0, err
	}
	return 0, false, malformed("expected an integer, got 0x%02x", c)
}

// readUint reads a value for an unsigned field. A nil reads as zero, as the
// reference codec does.
func (d *wireReader) readUint() (uint64, error) {
	v, neg, err := d.integer()
	if err != nil {
		return 0, err
	}
	if neg {
		return 0, malformed("negative value %d for an unsigned field", int64(v))
	}
	return v, nil
}

// readInt reads a value for a signed field.
func (d *wireReader) readInt() (int64, error) {
	v, neg, err := d.integer()
	if err != nil {
		return 0, err
	}
	if !neg && v > math.MaxInt64 {
		return 0, malformed("value %d overflows a signed field", v)
	}
	return int64(v), nil
}

func (d *wireReader) readBool() (bool, error) {
	c, err := d.readByte()
	if err != nil {
		return false, err
	}
	switch c {
	case mpTrue:
		return true, nil
	case mpFalse, mpNil:
		return false, nil
	}
	return false, malformed("expected a bool, got 0x%02x", c)
}

// rawLength decodes the length of a string or binary value whose format
// byte is c; ok is false when c starts some other type.
func (d *wireReader) rawLength(c byte) (n uint64, ok bool, err error) {
	switch {
	case c >= 0xa0 && c <= 0xbf:
		return uint64(c & 0x1f), true, nil
	case c == mpStr8 || c == mpBin8:
		p, err := d.peekN(1)
		if err != nil {
			return 0, true, err
		}
		return uint64(p[0]), true, nil
	case c == mpStr16 || c == mpBin16:
		n, err = d.readUint16()
		return n, true, err
	case c == mpStr32 || c == mpBin32:
		n, err = d.readUint32()
		return n, true, err
	}
	return 0, false, nil
}

// payload reads n bytes into a new slice. Up to payloadChunk bytes are
// allocated at once; beyond that the slice grows only as data arrives, so
// the memory a frame costs follows what the peer really sent.
func (d *wireReader) payload(n uint64) ([]byte, error) {
	if err := d.spend(n); err != nil {
		return nil, err
	}
	if n == 0 {
		return []byte{}, nil
	}
	first := n
	if first > payloadChunk {
		first = payloadChunk
	}
	buf := make([]byte, first)
	if _, err := io.ReadFull(d.r, buf); err != nil {
		return nil, ioError(err)
	}
	for uint64(len(buf)) < n {
		step := uint64(len(buf))
		if left := n - uint64(len(buf)); step > left {
			step = left
		}
		start := len(buf)
		buf = append(buf, make([]byte, step)...)
		if _, err := io.ReadFull(d.r, buf[start:]); err != nil {
			return nil, ioError(err)
		}
	}
	return buf, nil
}

// readBytes reads a []byte field: nil, or a raw string or binary value.
func (d *wireReader) readBytes() ([]byte, error) {
	c, err := d.readByte()
	if err != nil {
		return nil, err
	}
	if c == mpNil {
		return nil, nil
	}
	n, ok, err := d.rawLength(c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, malformed("expected a string, got 0x%02x", c)
	}
	return d.payload(n)
}

// readString reads a string value; nil reads as "".
func (d *wireReader) readString() (string, error) {
	b, err := d.readBytes()
	return string(b), err
}

// readKey reads a map key into a buffer reused for every key, so matching
// field names allocates nothing. A key too long to be a field name comes
// back empty, which matches no field.
func (d *wireReader) readKey() ([]byte, error) {
	c, err := d.readByte()
	if err != nil {
		return nil, err
	}
	n, ok, err := d.rawLength(c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, malformed("expected a string key, got 0x%02x", c)
	}
	if n > uint64(len(d.key)) {
		return nil, d.discard(n)
	}
	if err := d.spend(n); err != nil {
		return nil, err
	}
	p, err := d.r.Peek(int(n))
	if err != nil {
		return nil, ioError(err)
	}
	k := d.key[:copy(d.key[:], p)]
	_, _ = d.r.Discard(int(n))
	return k, nil
}

func (d *wireReader) discard(n uint64) error {
	if err := d.spend(n); err != nil {
		return err
	}
	if _, err := d.r.Discard(int(n)); err != nil {
		return ioError(err)
	}
	return nil
}

// readMapHeader reads the header of a struct. A nil stands for a zero
// struct and reads as a map of no entries.
func (d *wireReader) readMapHeader() (int, error) {
	c, err := d.readByte()
	if err != nil {
		return 0, err
	}
	n, ok, err := d.mapLength(c)
	if err != nil {
		return 0, err
	}
	if !ok {
		if c == mpNil {
			return 0, nil
		}
		return 0, malformed("expected a map, got 0x%02x", c)
	}
	return n, nil
}

func (d *wireReader) mapLength(c byte) (int, bool, error) {
	var n uint64
	var err error
	switch {
	case c >= 0x80 && c <= 0x8f:
		n = uint64(c & 0x0f)
	case c == mpMap16:
		n, err = d.readUint16()
	case c == mpMap32:
		n, err = d.readUint32()
	default:
		return 0, false, nil
	}
	if err != nil {
		return 0, true, err
	}
	// Each pair takes at least two bytes.
	if 2*n > uint64(d.remaining) {
		return 0, true, fmt.Errorf("%w: map of %d pairs in %d bytes", ErrFrameTooLarge, n, d.remaining)
	}
	return int(n), true, nil
}

// readArrayHeader reads the header of a slice. isNil tells a nil slice from
// an empty one, since the two differ on the wire.
func (d *wireReader) readArrayHeader() (n int, isNil bool, err error) {
	c, err := d.readByte()
	if err != nil {
		return 0, false, err
	}
	if c == mpNil {
		return 0, true, nil
	}
	n, ok, err := d.arrayLength(c)
	if err != nil {
		return 0, false, err
	}
	if !ok {
		return 0, false, malformed("expected an array, got 0x%02x", c)
	}
	return n, false, nil
}

func (d *wireReader) arrayLength(c byte) (int, bool, error) {
	var n uint64
	var err error
	switch {
	case c >= 0x90 && c <= 0x9f:
		n = uint64(c & 0x0f)
	case c == mpArray16:
		n, err = d.readUint16()
	case c == mpArray32:
		n, err = d.readUint32()
	default:
		return 0, false, nil
	}
	if err != nil {
		return 0, true, err
	}
	if n > uint64(d.remaining) {
		return 0, true, fmt.Errorf("%w: array of %d elements in %d bytes", ErrFrameTooLarge, n, d.remaining)
	}
	return int(n), true, nil
}

// readTime reads Log.AppendedAt in any layout a peer may use.
func (d *wireReader) readTime() (time.Time, error) {
	c, err := d.readByte()
	if err != nil {
		return time.Time{}, err
	}
	if c == mpNil {
		return time.Time{}, nil
	}
	n, ok, err := d.rawLength(c)
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		// The msgpack timestamp extension: fixext4, fixext8, or ext8 of 12.
		switch c {
		case 0xd6:
			n = 4
		case 0xd7:
			n = 8
		case mpExt8:
			l, err := d.peekN(1)
			if err != nil {
				return time.Time{}, err
			}
			n = uint64(l[0])
		default:
			return time.Time{}, malformed("expected a time, got 0x%02x", c)
		}
		typ, err := d.readByte()
		if err != nil {
			return time.Time{}, err
		}
		if typ != 0xff {
			return time.Time{}, malformed("extension type %d where a time was expected", int8(typ))
		}
	}
	if n > 16 {
		return time.Time{}, malformed("time of %d bytes", n)
	}
	p, err := d.peekN(int(n))
	if err != nil {
		return time.Time{}, err
	}
	return decodeTimeBody(p)
}

// skip reads past one value of any type: the fields a newer peer may add.
func (d *wireReader) skip(depth int) error {
	if depth > maxSkipDepth {
		return malformed("values nested deeper than %d", maxSkipDepth)
	}
	c, err := d.readByte()
	if err != nil {
		return err
	}
	switch {
	case c <= 0x7f, c >= 0xe0, c == mpNil, c == mpTrue, c == mpFalse:
		return nil
	}
	if n, ok, err := d.rawLength(c); ok || err != nil {
		if err != nil {
			return err
		}
		return d.discard(n)
	}
	if n, ok, err := d.mapLength(c); ok || err != nil {
		for i := 0; err == nil && i < 2*n; i++ {
			err = d.skip(depth + 1)
		}
		return err
	}
	if n, ok, err := d.arrayLength(c); ok || err != nil {
		for i := 0; err == nil && i < n; i++ {
			err = d.skip(depth + 1)
		}
		return err
	}
	switch c {
	case mpUint8, mpInt8:
		return d.discard(1)
	case mpUint16, mpInt16:
		return d.discard(2)
	case mpUint32, mpInt32, mpFloat32:
		return d.discard(4)
	case mpUint64, mpInt64, mpFloat64:
		return d.discard(8)
	case mpExt8, mpExt16, mpExt32:
		var n uint64
		switch c {
		case mpExt8:
			p, err := d.peekN(1)
			if err != nil {
				return err
			}
			n = uint64(p[0])
		case mpExt16:
			n, err = d.readUint16()
		default:
			n, err = d.readUint32()
		}
		if err != nil {
			return err
		}
		return d.discard(n + 1)
	}
	if c >= mpFixExt1 && c <= mpFixExt16 {
		return d.discard(1 + 1<<(c-mpFixExt1))
	}
	return malformed("invalid format byte 0x%02x", c)
}
