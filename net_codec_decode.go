package raft

import (
	"fmt"
	"math"
)

// structFields is implemented by a view of each wire struct: field decodes
// the value of one map key into the struct and reports whether the key was
// one of its fields. Unknown keys are skipped, so a newer peer may add
// fields.
type structFields interface {
	field(d *wireReader, key []byte) (known bool, err error)
}

// readStruct decodes one msgpack map into s. It is generic rather than
// taking the interface so that decoding entries does not allocate a value
// per struct.
func readStruct[T structFields](d *wireReader, s T) error {
	n, err := d.readMapHeader()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		key, err := d.readKey()
		if err != nil {
			return err
		}
		known, err := s.field(d, key)
		if err == nil && !known {
			err = d.skip(1)
		}
		if err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
	}
	return nil
}

// headerField decodes a field of the embedded RPCHeader.
func (d *wireReader) headerField(h *RPCHeader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Addr":
		h.Addr, err = d.readBytes()
	case "ID":
		h.ID, err = d.readBytes()
	case "ProtocolVersion":
		h.ProtocolVersion, err = d.readGoInt()
	default:
		return false, nil
	}
	return true, err
}

// readGoInt reads a value for a field of type int.
func (d *wireReader) readGoInt() (int, error) {
	v, err := d.readInt()
	if err != nil {
		return 0, err
	}
	if v > math.MaxInt || v < math.MinInt {
		return 0, malformed("value %d overflows int", v)
	}
	return int(v), nil
}

// readRequest reads the request body of a frame whose type byte was typ.
func (d *wireReader) readRequest(typ byte) (interface{}, error) {
	switch typ {
	case rpcAppendEntries:
		r := &AppendEntriesRequest{}
		d.entriesSeen = false
		return r, readStruct(d, (*appendEntriesRequestFields)(r))
	case rpcRequestVote:
		r := &RequestVoteRequest{}
		return r, readStruct(d, (*requestVoteRequestFields)(r))
	case rpcInstallSnapshot:
		r := &InstallSnapshotRequest{}
		if err := readStruct(d, (*installSnapshotRequestFields)(r)); err != nil {
			return r, err
		}
		if r.Size < 0 {
			return r, malformed("snapshot size %d", r.Size)
		}
		return r, nil
	case rpcTimeoutNow:
		r := &TimeoutNowRequest{}
		return r, readStruct(d, (*headerFields)(&r.RPCHeader))
	case rpcRequestPreVote:
		r := &RequestPreVoteRequest{}
		return r, readStruct(d, (*requestPreVoteRequestFields)(r))
	case rpcReadIndex:
		r := &ReadIndexRequest{}
		return r, readStruct(d, (*readIndexRequestFields)(r))
	}
	return nil, malformed("unknown RPC type %d", typ)
}

// readResponse reads a response frame into resp, a pointer to a response
// struct, which it resets first since absent keys mean zero values. When the
// peer sent an error text, it returns a *RemoteError with it, after reading
// the whole frame so the connection stays usable.
func (d *wireReader) readResponse(resp interface{}) error {
	msg, err := d.readString()
	if err != nil {
		return fmt.Errorf("error text: %w", err)
	}
	switch r := resp.(type) {
	case *AppendEntriesResponse:
		*r = AppendEntriesResponse{}
		err = readStruct(d, (*appendEntriesResponseFields)(r))
	case *RequestVoteResponse:
		*r = RequestVoteResponse{}
		err = readStruct(d, (*requestVoteResponseFields)(r))
	case *RequestPreVoteResponse:
		*r = RequestPreVoteResponse{}
		err = readStruct(d, (*requestPreVoteResponseFields)(r))
	case *InstallSnapshotResponse:
		*r = InstallSnapshotResponse{}
		err = readStruct(d, (*installSnapshotResponseFields)(r))
	case *TimeoutNowResponse:
		*r = TimeoutNowResponse{}
		err = readStruct(d, (*headerFields)(&r.RPCHeader))
	case *ReadIndexResponse:
		*r = ReadIndexResponse{}
		err = readStruct(d, (*readIndexResponseFields)(r))
	default:
		return fmt.Errorf("%w: cannot read a %T", ErrMalformedFrame, resp)
	}
	if err != nil {
		return err
	}
	if msg != "" {
		return &RemoteError{Message: msg}
	}
	return nil
}

type headerFields RPCHeader

func (h *headerFields) field(d *wireReader, key []byte) (bool, error) {
	return d.headerField((*RPCHeader)(h), key)
}

type appendEntriesRequestFields AppendEntriesRequest

func (r *appendEntriesRequestFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Term":
		r.Term, err = d.readUint()
	case "Leader":
		r.Leader, err = d.readBytes()
	case "PrevLogEntry":
		r.PrevLogEntry, err = d.readUint()
	case "PrevLogTerm":
		r.PrevLogTerm, err = d.readUint()
	case "Entries":
		r.Entries, err = d.readEntries()
	case "LeaderCommitIndex":
		r.LeaderCommitIndex, err = d.readUint()
	default:
		return d.headerField(&r.RPCHeader, key)
	}
	return true, err
}

// logSlab is how many entries are allocated together: fewer allocations for
// real batches, and little memory for a count that the data never backs.
const logSlab = 64

// readEntries reads AppendEntriesRequest.Entries. The declared count is
// checked against maxEntries before anything is allocated, and a repeated
// Entries key is refused so one frame cannot make the decoder build many
// arrays.
func (d *wireReader) readEntries() ([]*Log, error) {
	if d.entriesSeen {
		return nil, malformed("Entries appears twice")
	}
	d.entriesSeen = true
	n, isNil, err := d.readArrayHeader()
	if err != nil || isNil {
		return nil, err
	}
	if n > d.maxEntries {
		return nil, fmt.Errorf("%w: %d entries, at most %d allowed", ErrFrameTooLarge, n, d.maxEntries)
	}
	entries := make([]*Log, n)
	var slab []Log
	for i := range entries {
		c, err := d.r.Peek(1)
		if err != nil {
			return nil, ioError(err)
		}
		if c[0] == mpNil {
			return nil, malformed("nil log entry at position %d", i)
		}
		if len(slab) == 0 {
			slab = make([]Log, min(n-i, logSlab))
		}
		entries[i] = &slab[0]
		slab = slab[1:]
		if err := readStruct(d, (*logFields)(entries[i])); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return entries, nil
}

type logFields Log

func (l *logFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Index":
		l.Index, err = d.readUint()
	case "Term":
		l.Term, err = d.readUint()
	case "Type":
		var v uint64
		v, err = d.readUint()
		if err == nil && v > math.MaxUint8 {
			err = malformed("log type %d", v)
		}
		l.Type = LogType(v)
	case "Data":
		l.Data, err = d.readBytes()
	case "Extensions":
		l.Extensions, err = d.readBytes()
	case "AppendedAt":
		l.AppendedAt, err = d.readTime()
	default:
		return false, nil
	}
	return true, err
}

type appendEntriesResponseFields AppendEntriesResponse

func (r *appendEntriesResponseFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Term":
		r.Term, err = d.readUint()
	case "LastLog":
		r.LastLog, err = d.readUint()
	case "Success":
		r.Success, err = d.readBool()
	case "NoRetryBackoff":
		r.NoRetryBackoff, err = d.readBool()
	default:
		return d.headerField(&r.RPCHeader, key)
	}
	return true, err
}

type requestVoteRequestFields RequestVoteRequest

func (r *requestVoteRequestFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Term":
		r.Term, err = d.readUint()
	case "Candidate":
		r.Candidate, err = d.readBytes()
	case "LastLogIndex":
		r.LastLogIndex, err = d.readUint()
	case "LastLogTerm":
		r.LastLogTerm, err = d.readUint()
	case "LeadershipTransfer":
		r.LeadershipTransfer, err = d.readBool()
	default:
		return d.headerField(&r.RPCHeader, key)
	}
	return true, err
}

type requestVoteResponseFields RequestVoteResponse

func (r *requestVoteResponseFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Term":
		r.Term, err = d.readUint()
	case "Peers":
		r.Peers, err = d.readBytes()
	case "Granted":
		r.Granted, err = d.readBool()
	default:
		return d.headerField(&r.RPCHeader, key)
	}
	return true, err
}

type requestPreVoteRequestFields RequestPreVoteRequest

func (r *requestPreVoteRequestFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Term":
		r.Term, err = d.readUint()
	case "LastLogIndex":
		r.LastLogIndex, err = d.readUint()
	case "LastLogTerm":
		r.LastLogTerm, err = d.readUint()
	default:
		return d.headerField(&r.RPCHeader, key)
	}
	return true, err
}

type requestPreVoteResponseFields RequestPreVoteResponse

func (r *requestPreVoteResponseFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Term":
		r.Term, err = d.readUint()
	case "Granted":
		r.Granted, err = d.readBool()
	default:
		return d.headerField(&r.RPCHeader, key)
	}
	return true, err
}

type installSnapshotRequestFields InstallSnapshotRequest

func (r *installSnapshotRequestFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "SnapshotVersion":
		var v int
		v, err = d.readGoInt()
		r.SnapshotVersion = SnapshotVersion(v)
	case "Term":
		r.Term, err = d.readUint()
	case "Leader":
		r.Leader, err = d.readBytes()
	case "LastLogIndex":
		r.LastLogIndex, err = d.readUint()
	case "LastLogTerm":
		r.LastLogTerm, err = d.readUint()
	case "Peers":
		r.Peers, err = d.readBytes()
	case "Configuration":
		r.Configuration, err = d.readBytes()
	case "ConfigurationIndex":
		r.ConfigurationIndex, err = d.readUint()
	case "Size":
		r.Size, err = d.readInt()
	default:
		return d.headerField(&r.RPCHeader, key)
	}
	return true, err
}

type installSnapshotResponseFields InstallSnapshotResponse

func (r *installSnapshotResponseFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Term":
		r.Term, err = d.readUint()
	case "Success":
		r.Success, err = d.readBool()
	default:
		return d.headerField(&r.RPCHeader, key)
	}
	return true, err
}

type readIndexRequestFields ReadIndexRequest

func (r *readIndexRequestFields) field(d *wireReader, key []byte) (bool, error) {
	if string(key) != "Term" {
		return d.headerField(&r.RPCHeader, key)
	}
	var err error
	r.Term, err = d.readUint()
	return true, err
}

type readIndexResponseFields ReadIndexResponse

func (r *readIndexResponseFields) field(d *wireReader, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "Term":
		r.Term, err = d.readUint()
	case "ReadIndex":
		r.ReadIndex, err = d.readUint()
	case "Success":
		r.Success, err = d.readBool()
	default:
		return d.headerField(&r.RPCHeader, key)
	}
	return true, err
}
