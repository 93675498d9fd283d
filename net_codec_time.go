package raft

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Log.AppendedAt goes on the wire as a raw string, in one of two layouts:
//
//   - by default, the 15 bytes of time.Time.MarshalBinary (16 when the zone
//     offset has seconds), which is what hashicorp/raft sends;
//   - with MsgpackUseNewTimeFormat, the body of a msgpack timestamp (4, 8
//     or 12 bytes), still inside a raw string, and nil for the zero time.
//
// A decoder cannot know which one a peer uses, so it accepts both, and the
// msgpack timestamp extension (type -1) as well.

// appendTime writes t in the layout selected by newFormat.
func appendTime(b []byte, t time.Time, newFormat bool) ([]byte, error) {
	if !newFormat {
		bin, err := t.MarshalBinary()
		if err != nil {
			return b, fmt.Errorf("encode time %v: %w", t, err)
		}
		return appendBytes(b, bin)
	}
	if t.IsZero() {
		return appendNil(b), nil
	}
	sec, nsec := t.Unix(), uint64(t.Nanosecond())
	switch {
	case uint64(sec)>>34 == 0 && nsec == 0 && sec>>32 == 0:
		b = append(b, 0xa4)
		return binary.BigEndian.AppendUint32(b, uint32(sec)), nil
	case uint64(sec)>>34 == 0:
		b = append(b, 0xa8)
		return binary.BigEndian.AppendUint64(b, nsec<<34|uint64(sec)), nil
	default:
		b = append(b, 0xac)
		b = binary.BigEndian.AppendUint32(b, uint32(nsec))
		return binary.BigEndian.AppendUint64(b, uint64(sec)), nil
	}
}

// decodeTimeBody turns the payload of a time raw string or timestamp
// extension into a time.
func decodeTimeBody(p []byte) (time.Time, error) {
	var sec int64
	var nsec uint32
	switch len(p) {
	case 15, 16:
		var t time.Time
		if err := t.UnmarshalBinary(p); err != nil {
			return time.Time{}, fmt.Errorf("%w: time: %v", ErrMalformedFrame, err)
		}
		return t, nil
	case 4:
		sec = int64(binary.BigEndian.Uint32(p))
	case 8:
		v := binary.BigEndian.Uint64(p)
		nsec = uint32(v >> 34)
		sec = int64(v & (1<<34 - 1))
	case 12:
		nsec = binary.BigEndian.Uint32(p)
		sec = int64(binary.BigEndian.Uint64(p[4:]))
	default:
		return time.Time{}, fmt.Errorf("%w: time of %d bytes", ErrMalformedFrame, len(p))
	}
	if nsec >= uint32(time.Second) {
		return time.Time{}, fmt.Errorf("%w: time with %d nanoseconds", ErrMalformedFrame, nsec)
	}
	return time.Unix(sec, int64(nsec)).UTC(), nil
}
