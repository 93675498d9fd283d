package raft

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file holds the msgpack primitives of the wire format, in the exact
// forms hashicorp/raft's codec settings produce (see testdata/wire/README.md):
// the old spec's raw family for both strings and byte slices, the smallest
// unsigned form for unsigned integers, signed forms for signed integers.
// Writing them by hand avoids reflection on the hot path; golden tests pin
// the bytes.

// msgpack format bytes used by the wire format.
const (
	mpNil      = 0xc0
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpExt8     = 0xc7
	mpExt16    = 0xc8
	mpExt32    = 0xc9
	mpFloat32  = 0xca
	mpFloat64  = 0xcb
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpFixExt1  = 0xd4
	mpFixExt16 = 0xd8
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpMap16    = 0xde
	mpMap32    = 0xdf
)

func appendNil(b []byte) []byte { return append(b, mpNil) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, mpTrue)
	}
	return append(b, mpFalse)
}

// appendUint writes an unsigned Go integer in its smallest form.
func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= math.MaxInt8:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpUint16), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, mpUint32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, mpUint64), v)
	}
}

// appendInt writes a signed Go integer. Positive values above the fixint
// range take the signed int16/32/64 forms, never int8 or an unsigned form:
// that is what the reference codec emits, and byte compatibility needs it.
func appendInt(b []byte, v int64) []byte {
	switch {
	case v > math.MaxInt8:
		switch {
		case v <= math.MaxInt16:
			return binary.BigEndian.AppendUint16(append(b, mpInt16), uint16(v))
		case v <= math.MaxInt32:
			return binary.BigEndian.AppendUint32(append(b, mpInt32), uint32(v))
		default:
			return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(v))
		}
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, mpInt8, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, mpInt16), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, mpInt32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(v))
	}
}

// appendRawHeader writes the header of an old-spec raw string of n bytes.
// str8 does not exist in the old spec, so 32..65535 bytes take str16.
func appendRawHeader(b []byte, n int) ([]byte, error) {
	switch {
	case n < 32:
		return append(b, 0xa0|byte(n)), nil
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpStr16), uint16(n)), nil
	case uint64(n) <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, mpStr32), uint32(n)), nil
	default:
		return b, fmt.Errorf("%w: %d bytes do not fit a msgpack string", ErrFrameTooLarge, n)
	}
}

// appendBytes writes a byte slice as a raw string; nil stays distinct from
// empty, as it does on the wire.
func appendBytes(b []byte, v []byte) ([]byte, error) {
	if v == nil {
		return appendNil(b), nil
	}
	b, err := appendRawHeader(b, len(v))
	if err != nil {
		return b, err
	}
	return append(b, v...), nil
}

// appendString writes a string as a raw string.
func appendString(b []byte, v string) ([]byte, error) {
	b, err := appendRawHeader(b, len(v))
	if err != nil {
		return b, err
	}
	return append(b, v...), nil
}

// appendKey writes a map key. Keys are field names, always shorter than 32
// bytes, so they take the fixstr form.
func appendKey(b []byte, k string) []byte {
	return append(append(b, 0xa0|byte(len(k))), k...)
}

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpMap16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, mpMap32), uint32(n))
	}
}

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpArray16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, mpArray32), uint32(n))
	}
}
