package raft

import "time"

// appendFuture is one request sent on a pipeline, in-memory or network.
type appendFuture struct {
	deferError
	start time.Time
	args  *AppendEntriesRequest
	resp  *AppendEntriesResponse
}

// Start returns when the request was written.
func (f *appendFuture) Start() time.Time { return f.start }

// Request returns the request.
func (f *appendFuture) Request() *AppendEntriesRequest { return f.args }

// Response returns the answer, valid once Error returned nil.
func (f *appendFuture) Response() *AppendEntriesResponse { return f.resp }
