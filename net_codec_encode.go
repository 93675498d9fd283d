package raft

import (
	"fmt"
	"time"
)

// RPC type bytes, the first byte of every request frame.
const (
	rpcAppendEntries   byte = 0
	rpcRequestVote     byte = 1
	rpcInstallSnapshot byte = 2
	rpcTimeoutNow      byte = 3
	rpcRequestPreVote  byte = 4
	// rpcReadIndex is this library's own RPC; hashicorp/raft does not know
	// it and closes the connection when it sees it.
	rpcReadIndex byte = 5
)

// wireEncoder appends request and response frames to buf. Struct fields go
// out as map entries keyed by field name in byte order of the names, with
// RPCHeader's fields merged among them, which is the order the reference
// codec produces. The first error sticks and later writes are ignored.
type wireEncoder struct {
	buf     []byte
	newTime bool
	err     error
}

func (e *wireEncoder) key(k string)    { e.buf = appendKey(e.buf, k) }
func (e *wireEncoder) uint(v uint64)   { e.buf = appendUint(e.buf, v) }
func (e *wireEncoder) int(v int64)     { e.buf = appendInt(e.buf, v) }
func (e *wireEncoder) bool(v bool)     { e.buf = appendBool(e.buf, v) }
func (e *wireEncoder) mapHeader(n int) { e.buf = appendMapHeader(e.buf, n) }
func (e *wireEncoder) keyUint(k string, v uint64) {
	e.key(k)
	e.uint(v)
}

func (e *wireEncoder) bytes(v []byte) {
	if e.err == nil {
		e.buf, e.err = appendBytes(e.buf, v)
	}
}

func (e *wireEncoder) string(v string) {
	if e.err == nil {
		e.buf, e.err = appendString(e.buf, v)
	}
}

func (e *wireEncoder) time(t time.Time) {
	if e.err == nil {
		e.buf, e.err = appendTime(e.buf, t, e.newTime)
	}
}

func (e *wireEncoder) keyBytes(k string, v []byte) {
	e.key(k)
	e.bytes(v)
}

// request appends a whole request frame: type byte, then the request.
func (e *wireEncoder) request(req interface{}) error {
	switch r := req.(type) {
	case *AppendEntriesRequest:
		e.buf = append(e.buf, rpcAppendEntries)
		e.appendEntriesRequest(r)
	case *RequestVoteRequest:
		e.buf = append(e.buf, rpcRequestVote)
		e.requestVoteRequest(r)
	case *InstallSnapshotRequest:
		e.buf = append(e.buf, rpcInstallSnapshot)
		e.installSnapshotRequest(r)
	case *TimeoutNowRequest:
		e.buf = append(e.buf, rpcTimeoutNow)
		e.headerOnly(&r.RPCHeader)
	case *RequestPreVoteRequest:
		e.buf = append(e.buf, rpcRequestPreVote)
		e.requestPreVoteRequest(r)
	case *ReadIndexRequest:
		e.buf = append(e.buf, rpcReadIndex)
		e.readIndexRequest(r)
	default:
		return fmt.Errorf("%w: cannot send a %T", ErrMalformedFrame, req)
	}
	return e.err
}

// response appends a whole response frame: the error text ("" for none),
// then the response struct, or nil when there is none, as a failed RPC
// usually has.
func (e *wireEncoder) response(resp interface{}, rpcErr error) error {
	if rpcErr != nil {
		e.string(rpcErr.Error())
	} else {
		e.string("")
	}
	switch r := resp.(type) {
	case *AppendEntriesResponse:
		if r == nil {
			break
		}
		e.appendEntriesResponse(r)
		return e.err
	case *RequestVoteResponse:
		if r == nil {
			break
		}
		e.requestVoteResponse(r)
		return e.err
	case *RequestPreVoteResponse:
		if r == nil {
			break
		}
		e.requestPreVoteResponse(r)
		return e.err
	case *InstallSnapshotResponse:
		if r == nil {
			break
		}
		e.installSnapshotResponse(r)
		return e.err
	case *TimeoutNowResponse:
		if r == nil {
			break
		}
		e.headerOnly(&r.RPCHeader)
		return e.err
	case *ReadIndexResponse:
		if r == nil {
			break
		}
		e.readIndexResponse(r)
		return e.err
	case nil:
	default:
		return fmt.Errorf("%w: cannot send a %T", ErrMalformedFrame, resp)
	}
	e.buf = appendNil(e.buf)
	return e.err
}

func (e *wireEncoder) headerOnly(h *RPCHeader) {
	e.mapHeader(3)
	e.keyBytes("Addr", h.Addr)
	e.keyBytes("ID", h.ID)
	e.key("ProtocolVersion")
	e.int(int64(h.ProtocolVersion))
}

func (e *wireEncoder) appendEntriesRequest(r *AppendEntriesRequest) {
	e.mapHeader(9)
	e.keyBytes("Addr", r.Addr)
	e.key("Entries")
	if r.Entries == nil {
		e.buf = appendNil(e.buf)
	} else {
		e.buf = appendArrayHeader(e.buf, len(r.Entries))
		for _, l := range r.Entries {
			e.log(l)
		}
	}
	e.keyBytes("ID", r.ID)
	e.keyBytes("Leader", r.Leader)
	e.keyUint("LeaderCommitIndex", r.LeaderCommitIndex)
	e.keyUint("PrevLogEntry", r.PrevLogEntry)
	e.keyUint("PrevLogTerm", r.PrevLogTerm)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.keyUint("Term", r.Term)
}

func (e *wireEncoder) log(l *Log) {
	if l == nil {
		// The peer could not use a nil entry, and ours refuse one.
		if e.err == nil {
			e.err = fmt.Errorf("%w: nil log entry", ErrMalformedFrame)
		}
		return
	}
	e.mapHeader(6)
	e.key("AppendedAt")
	e.time(l.AppendedAt)
	e.keyBytes("Data", l.Data)
	e.keyBytes("Extensions", l.Extensions)
	e.keyUint("Index", l.Index)
	e.keyUint("Term", l.Term)
	e.keyUint("Type", uint64(l.Type))
}

func (e *wireEncoder) appendEntriesResponse(r *AppendEntriesResponse) {
	e.mapHeader(7)
	e.keyBytes("Addr", r.Addr)
	e.keyBytes("ID", r.ID)
	e.keyUint("LastLog", r.LastLog)
	e.key("NoRetryBackoff")
	e.bool(r.NoRetryBackoff)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.key("Success")
	e.bool(r.Success)
	e.keyUint("Term", r.Term)
}

func (e *wireEncoder) requestVoteRequest(r *RequestVoteRequest) {
	e.mapHeader(8)
	e.keyBytes("Addr", r.Addr)
	e.keyBytes("Candidate", r.Candidate)
	e.keyBytes("ID", r.ID)
	e.keyUint("LastLogIndex", r.LastLogIndex)
	e.keyUint("LastLogTerm", r.LastLogTerm)
	e.key("LeadershipTransfer")
	e.bool(r.LeadershipTransfer)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.keyUint("Term", r.Term)
}

func (e *wireEncoder) requestVoteResponse(r *RequestVoteResponse) {
	e.mapHeader(6)
	e.keyBytes("Addr", r.Addr)
	e.key("Granted")
	e.bool(r.Granted)
	e.keyBytes("ID", r.ID)
	e.keyBytes("Peers", r.Peers)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.keyUint("Term", r.Term)
}

func (e *wireEncoder) requestPreVoteRequest(r *RequestPreVoteRequest) {
	e.mapHeader(6)
	e.keyBytes("Addr", r.Addr)
	e.keyBytes("ID", r.ID)
	e.keyUint("LastLogIndex", r.LastLogIndex)
	e.keyUint("LastLogTerm", r.LastLogTerm)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.keyUint("Term", r.Term)
}

func (e *wireEncoder) requestPreVoteResponse(r *RequestPreVoteResponse) {
	e.mapHeader(5)
	e.keyBytes("Addr", r.Addr)
	e.key("Granted")
	e.bool(r.Granted)
	e.keyBytes("ID", r.ID)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.keyUint("Term", r.Term)
}

func (e *wireEncoder) installSnapshotRequest(r *InstallSnapshotRequest) {
	e.mapHeader(12)
	e.keyBytes("Addr", r.Addr)
	e.keyBytes("Configuration", r.Configuration)
	e.keyUint("ConfigurationIndex", r.ConfigurationIndex)
	e.keyBytes("ID", r.ID)
	e.keyUint("LastLogIndex", r.LastLogIndex)
	e.keyUint("LastLogTerm", r.LastLogTerm)
	e.keyBytes("Leader", r.Leader)
	e.keyBytes("Peers", r.Peers)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.key("Size")
	e.int(r.Size)
	e.key("SnapshotVersion")
	e.int(int64(r.SnapshotVersion))
	e.keyUint("Term", r.Term)
}

func (e *wireEncoder) installSnapshotResponse(r *InstallSnapshotResponse) {
	e.mapHeader(5)
	e.keyBytes("Addr", r.Addr)
	e.keyBytes("ID", r.ID)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.key("Success")
	e.bool(r.Success)
	e.keyUint("Term", r.Term)
}

// readIndexRequest encodes this library's ReadIndex request with the same
// conventions as the others: sorted keys, header inlined.
func (e *wireEncoder) readIndexRequest(r *ReadIndexRequest) {
	e.mapHeader(4)
	e.keyBytes("Addr", r.Addr)
	e.keyBytes("ID", r.ID)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.keyUint("Term", r.Term)
}

func (e *wireEncoder) readIndexResponse(r *ReadIndexResponse) {
	e.mapHeader(6)
	e.keyBytes("Addr", r.Addr)
	e.keyBytes("ID", r.ID)
	e.key("ProtocolVersion")
	e.int(int64(r.ProtocolVersion))
	e.keyUint("ReadIndex", r.ReadIndex)
	e.key("Success")
	e.bool(r.Success)
	e.keyUint("Term", r.Term)
}
