package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/consensuskit/raft"
)

// headerSize is the size of a record header: body length, body CRC, header
// CRC, each a little-endian uint32.
const headerSize = 12

// fixedBodySize is the part of a body before Data: index, term, type,
// seconds, nanoseconds.
const fixedBodySize = 8 + 8 + 1 + 8 + 4

// castagnoli is the CRC-32C table; it is computed once and only read.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// encodedSize returns the framed size of l.
func encodedSize(l *raft.Log) int {
	return headerSize + fixedBodySize +
		uvarintLen(uint64(len(l.Data))) + len(l.Data) +
		uvarintLen(uint64(len(l.Extensions))) + len(l.Extensions)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendRecord appends the framed record of l to buf.
func appendRecord(buf []byte, l *raft.Log) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	buf = binary.LittleEndian.AppendUint64(buf, l.Index)
	buf = binary.LittleEndian.AppendUint64(buf, l.Term)
	buf = append(buf, byte(l.Type))
	// Seconds and nanoseconds rather than UnixNano, which overflows outside
	// the years 1678-2262; the zero time round-trips exactly.
	buf = binary.LittleEndian.AppendUint64(buf, uint64(l.AppendedAt.Unix()))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(l.AppendedAt.Nanosecond()))
	buf = binary.AppendUvarint(buf, uint64(len(l.Data)))
	buf = append(buf, l.Data...)
	buf = binary.AppendUvarint(buf, uint64(len(l.Extensions)))
	buf = append(buf, l.Extensions...)
	body := buf[start+headerSize:]
	h := buf[start : start+headerSize]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(body)))
	binary.LittleEndian.PutUint32(h[4:8], checksum(body))
	binary.LittleEndian.PutUint32(h[8:12], checksum(h[0:8]))
	return buf
}

// header is a decoded record header.
type header struct {
	bodyLen uint32
	bodyCRC uint32
}

// parseHeader decodes h (headerSize bytes) and reports whether its own
// checksum holds.
func parseHeader(h []byte) (header, bool) {
	ok := binary.LittleEndian.Uint32(h[8:12]) == checksum(h[0:8])
	return header{
		bodyLen: binary.LittleEndian.Uint32(h[0:4]),
		bodyCRC: binary.LittleEndian.Uint32(h[4:8]),
	}, ok
}

// bodyIndex returns the index stored in a body that passed its checksum.
func bodyIndex(body []byte) (uint64, error) {
	if len(body) < 8 {
		return 0, fmt.Errorf("body of %d bytes is too short", len(body))
	}
	return binary.LittleEndian.Uint64(body), nil
}

// parseBody decodes body into a Log whose Data and Extensions alias body.
// It fails, without panicking, on any body that is not exactly one
// well-formed entry.
func parseBody(body []byte) (raft.Log, error) {
	if len(body) < fixedBodySize {
		return raft.Log{}, fmt.Errorf("body of %d bytes is shorter than %d", len(body), fixedBodySize)
	}
	sec := int64(binary.LittleEndian.Uint64(body[17:25]))
	nsec := binary.LittleEndian.Uint32(body[25:29])
	if nsec >= 1e9 {
		return raft.Log{}, fmt.Errorf("nanoseconds %d out of range", nsec)
	}
	rest := body[fixedBodySize:]
	data, rest, err := takeBytes(rest)
	if err != nil {
		return raft.Log{}, fmt.Errorf("data: %w", err)
	}
	ext, rest, err := takeBytes(rest)
	if err != nil {
		return raft.Log{}, fmt.Errorf("extensions: %w", err)
	}
	if len(rest) != 0 {
		return raft.Log{}, fmt.Errorf("%d trailing bytes", len(rest))
	}
	return raft.Log{
		Index:      binary.LittleEndian.Uint64(body[0:8]),
		Term:       binary.LittleEndian.Uint64(body[8:16]),
		Type:       raft.LogType(body[16]),
		Data:       data,
		Extensions: ext,
		// UTC, so the zero time decodes to exactly time.Time{}.
		AppendedAt: time.Unix(sec, int64(nsec)).UTC(),
	}, nil
}

// decodeBody fills l from body. When owned is false body is shared (the
// cache), so Data and Extensions are copied; otherwise they alias body.
func decodeBody(body []byte, l *raft.Log, owned bool) error {
	out, err := parseBody(body)
	if err != nil {
		return err
	}
	if !owned {
		out.Data = cloneBytes(out.Data)
		out.Extensions = cloneBytes(out.Extensions)
	}
	*l = out
	return nil
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// takeBytes reads a uvarint length and that many bytes. An empty field
// decodes as nil.
func takeBytes(b []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || k != uvarintLen(n) {
		// Only the shortest form is ever written; accepting others would
		// let two byte strings mean one entry.
		return nil, nil, fmt.Errorf("bad length")
	}
	b = b[k:]
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(b))
	}
	if n == 0 {
		return nil, b, nil
	}
	return b[:n:n], b[n:], nil
}
