package raft

// maxBatchedRequests bounds how many queued AppendEntries requests a
// follower writes together.
const maxBatchedRequests = 32

// A follower writes the entries of each AppendEntries request with one
// StoreLogs, which on a durable store is one sync. When the leader pipelines,
// several requests wait in the queue while one is being synced, and writing
// each alone makes the follower's disk the bottleneck: measured on one
// machine with three wal stores, 16 clients committed twice as much with
// pipelining off as with it on. So a request that simply extends the log
// takes the requests queued right behind it that extend it further, from the
// same leader in the same term, and writes all their entries at once. Each
// request is still answered exactly as it would have been alone, after the
// write that holds its entries.

// canBatch reports whether req, already accepted and matched, only appends
// right after the last entry, so that the requests following it can join it.
func (r *Raft) canBatch(req *AppendEntriesRequest) bool {
	if len(req.Entries) == 0 || r.getRole() != Follower {
		return false
	}
	lastIndex, _ := r.getLastLog()
	return req.Entries[0].Index == lastIndex+1
}

// batchedRequest is one request of a batch.
type batchedRequest struct {
	rpc RPC
	req *AppendEntriesRequest
}

// appendBatch writes the entries of req and of the queued requests that
// continue it with one StoreLogs, then answers each request. It returns the
// first queued request that could not join, which the caller must handle
// next, before anything else, to keep requests in order.
func (r *Raft) appendBatch(rpc RPC, req *AppendEntriesRequest) (next *RPC) {
	batch := []batchedRequest{{rpc: rpc, req: req}}
	// Capped, so that appending a second request's entries copies rather
	// than writing into the first request's array; alone, it is not copied.
	entries := req.Entries[:len(req.Entries):len(req.Entries)]
	for len(batch) < maxBatchedRequests {
		var queued RPC
		select {
		case queued = <-r.rpcCh:
		default:
		}
		if queued.Command == nil {
			break
		}
		more, ok := queued.Command.(*AppendEntriesRequest)
		if !ok || !continues(req, entries[len(entries)-1], more) {
			// A copy, so that only this rare path puts a request on the
			// heap.
			held := queued
			next = &held
			break
		}
		// Same term and leader: this only records the contact.
		r.acceptLeader(more.Term, more.RPCHeader, more.Leader)
		batch = append(batch, batchedRequest{rpc: queued, req: more})
		entries = append(entries, more.Entries...)
	}
	if len(batch) > 1 {
		r.metrics.IncrCounter([]string{"raft", "follower", "batchedRequests"}, float32(len(batch)-1))
	}

	err := r.storeEntries(entries)
	if err != nil {
		r.logger.Error("failed to append entries", "error", err, "requests", len(batch))
	}
	for _, b := range batch {
		resp := &AppendEntriesResponse{
			RPCHeader: r.header(),
			Term:      b.req.Term,
			LastLog:   r.getLastIndex(),
		}
		if err == nil {
			r.commitVerified(b.req)
			resp.Success = true
			resp.LastLog = b.req.Entries[len(b.req.Entries)-1].Index
		}
		b.rpc.Respond(resp, nil)
	}
	return next
}

// continues reports whether more, queued behind first, carries the entries
// that come right after last, from the same leader in the same term: the
// checks it would pass if handled after first's entries were written.
func continues(first *AppendEntriesRequest, last *Log, more *AppendEntriesRequest) bool {
	return more.Term == first.Term &&
		string(more.ID) == string(first.ID) &&
		len(more.Entries) > 0 &&
		more.PrevLogEntry == last.Index &&
		more.PrevLogTerm == last.Term &&
		more.Entries[0].Index == last.Index+1
}
