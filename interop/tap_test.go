package interop

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// The tap network sits between every ordered pair of nodes: node A reaches
// node B only through the proxy for (A, B), because each node's transport is
// given a ServerAddressProvider that names that proxy. This gives the tests
// two things neither library offers over real TCP:
//
//   - partitions: a cut proxy closes its connections and refuses new ones,
//     so both libraries see ordinary network failures;
//   - evidence: the proxy decodes the protocol-version-3 stream as it
//     forwards it, so a test can assert which RPCs crossed from one library
//     to the other and how they were answered (a pre-vote granted, a
//     TimeoutNow accepted), rather than inferring it from timing.
//
// Decoding never delays or alters the bytes: they are forwarded as they are
// read, and the decoder only follows behind.

// rpcType is the type byte that starts every request on the wire.
type rpcType uint8

const (
	rpcAppendEntries   rpcType = 0
	rpcRequestVote     rpcType = 1
	rpcInstallSnapshot rpcType = 2
	rpcTimeoutNow      rpcType = 3
	rpcRequestPreVote  rpcType = 4
	// rpcReadIndex is our library's own follower-read RPC; hashicorp/raft
	// does not know it and closes the connection.
	rpcReadIndex rpcType = 5
)

func (t rpcType) String() string {
	switch t {
	case rpcAppendEntries:
		return "AppendEntries"
	case rpcRequestVote:
		return "RequestVote"
	case rpcInstallSnapshot:
		return "InstallSnapshot"
	case rpcTimeoutNow:
		return "TimeoutNow"
	case rpcRequestPreVote:
		return "RequestPreVote"
	case rpcReadIndex:
		return "ReadIndex"
	}
	return fmt.Sprintf("rpcType(%d)", uint8(t))
}

// wireFields holds the few fields of a request or response the tests look
// at. Messages are msgpack maps keyed by Go field name; decoding into this
// struct skips every other key (log entries included), which keeps the tap
// cheap.
type wireFields struct {
	Term               uint64
	Granted            bool
	Success            bool
	LeadershipTransfer bool
	ID                 []byte
	ReadIndex          uint64
	LastLogIndex       uint64 // InstallSnapshot's last included index
	Size               int64  // InstallSnapshot's data size
}

// rpcEvent is one request that crossed a proxy together with its answer.
type rpcEvent struct {
	From, To string
	Type     rpcType
	Req      wireFields
	Err      string // the error text the server sent back; "" for none
	Resp     wireFields
}

func (e rpcEvent) String() string {
	return fmt.Sprintf("%s->%s %v term=%d transfer=%v | err=%q term=%d granted=%v success=%v",
		e.From, e.To, e.Type, e.Req.Term, e.Req.LeadershipTransfer, e.Err, e.Resp.Term, e.Resp.Granted, e.Resp.Success)
}

// tapNet owns the proxies of one cluster.
type tapNet struct {
	mu       sync.Mutex
	real     map[string]string // node ID -> its transport's own address
	proxies  map[[2]string]*proxy
	isolated map[string]bool // cut in both directions
	muzzled  map[string]bool // cut for connections the node opens
	events   []rpcEvent
	decoded  []rpcEvent // every request decoded, answered or not
	decodeEr []error
	closed   bool
	wg       sync.WaitGroup
}

func newTapNet() *tapNet {
	return &tapNet{
		real:     map[string]string{},
		proxies:  map[[2]string]*proxy{},
		isolated: map[string]bool{},
		muzzled:  map[string]bool{},
	}
}

// proxy forwards connections opened by node from to node to.
type proxy struct {
	from, to string
	ln       net.Listener
	conns    map[net.Conn]struct{} // guarded by tapNet.mu
	refused  int                   // connections refused while cut; guarded by tapNet.mu
}

// addNode records a node's real address. Proxies are made by link, once
// every node is known.
func (n *tapNet) addNode(id, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.real[id] = addr
}

// link starts a proxy for every ordered pair of known nodes.
func (n *tapNet) link() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for from := range n.real {
		for to := range n.real {
			if err := n.startProxyLocked(from, to); err != nil {
				return err
			}
		}
	}
	return nil
}

// join adds a node to a linked network, with proxies both ways between it
// and every node already known (stopped ones included: a proxy to a node
// that is down just closes what it accepts).
func (n *tapNet) join(id, addr string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.real[id] = addr
	for other := range n.real {
		if err := n.startProxyLocked(id, other); err != nil {
			return err
		}
		if err := n.startProxyLocked(other, id); err != nil {
			return err
		}
	}
	return nil
}

// startProxyLocked starts the proxy for connections from opens to to,
// unless from and to are the same node or the proxy exists.
func (n *tapNet) startProxyLocked(from, to string) error {
	if from == to || n.proxies[[2]string{from, to}] != nil {
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("proxy listener %s->%s: %w", from, to, err)
	}
	p := &proxy{from: from, to: to, ln: ln, conns: map[net.Conn]struct{}{}}
	n.proxies[[2]string{from, to}] = p
	n.wg.Add(1)
	go n.serve(p)
	return nil
}

// addrFor is the address node from must dial to reach node to: the proxy
// for the pair, or from's own address when it names itself (hashicorp/raft
// resolves its own ID to fill the Addr field of its RPC headers, which must
// carry the real address).
func (n *tapNet) addrFor(from, to string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if from == to {
		return n.real[from], nil
	}
	p, ok := n.proxies[[2]string{from, to}]
	if !ok {
		return "", fmt.Errorf("no route from %s to %s", from, to)
	}
	return p.ln.Addr().String(), nil
}

// cutLocked reports whether traffic opened by from towards to is blocked.
func (n *tapNet) cutLocked(from, to string) bool {
	return n.closed || n.isolated[from] || n.isolated[to] || n.muzzled[from]
}

// apply closes the live connections of every proxy that is now cut.
func (n *tapNet) applyLocked() {
	for _, p := range n.proxies {
		if n.cutLocked(p.from, p.to) {
			for c := range p.conns {
				_ = c.Close()
			}
		}
	}
}

// isolate cuts node id off from every other node, both ways.
func (n *tapNet) isolate(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[id] = true
	n.applyLocked()
}

// muzzle stops node id from opening connections (it can still be reached
// and answer), so it cannot campaign while others can.
func (n *tapNet) muzzle(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.muzzled[id] = true
	n.applyLocked()
}

// heal lifts every cut.
func (n *tapNet) heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated = map[string]bool{}
	n.muzzled = map[string]bool{}
}

// refusedFrom returns, for each peer, how many connections node id tried
// to open to it and had refused while cut.
func (n *tapNet) refusedFrom(id string) map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]int{}
	for _, p := range n.proxies {
		if p.from == id {
			out[p.to] = p.refused
		}
	}
	return out
}

// eventsWhere returns the recorded exchanges that match keep.
func (n *tapNet) eventsWhere(keep func(rpcEvent) bool) []rpcEvent {
	return n.eventsSince(0, keep)
}

// mark returns a position in the record, for eventsSince.
func (n *tapNet) mark() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.events)
}

// eventsSince returns the exchanges recorded after mark that match keep.
func (n *tapNet) eventsSince(mark int, keep func(rpcEvent) bool) []rpcEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []rpcEvent
	for _, e := range n.events[mark:] {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// requestsWhere returns the requests decoded so far that match keep,
// including those never answered (a connection closed on an RPC type the
// server does not know); their Err and Resp are empty.
func (n *tapNet) requestsWhere(keep func(rpcEvent) bool) []rpcEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []rpcEvent
	for _, e := range n.decoded {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// decodeErrors returns what the tap failed to decode, for failure reports.
func (n *tapNet) decodeErrors() []error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]error(nil), n.decodeEr...)
}

// close stops every proxy and waits for their goroutines.
func (n *tapNet) close() {
	n.mu.Lock()
	n.closed = true
	for _, p := range n.proxies {
		_ = p.ln.Close()
	}
	n.applyLocked()
	n.mu.Unlock()
	n.wg.Wait()
}

func (n *tapNet) serve(p *proxy) {
	defer n.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n.mu.Lock()
		if n.cutLocked(p.from, p.to) {
			p.refused++
			n.mu.Unlock()
			_ = c.Close()
			continue
		}
		n.mu.Unlock()
		n.wg.Add(1)
		go n.forward(p, c)
	}
}

// track registers a connection with its proxy so a cut can close it. It
// reports false, closing c, if the proxy is cut already.
func (n *tapNet) track(p *proxy, c net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cutLocked(p.from, p.to) {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (n *tapNet) untrack(p *proxy, c net.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(p.conns, c)
}

func (n *tapNet) record(e rpcEvent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, e)
}

func (n *tapNet) decodeFailed(p *proxy, what string, err error) {
	// A connection cut by the test or closed by either end is not a decode
	// failure; anything else means the tap lost track of the stream.
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return
	}
	// The codec wraps read errors in its own text without keeping the
	// chain, so closes are recognised by their message too.
	for _, closed := range []string{"EOF", "use of closed network connection", "connection reset by peer", "broken pipe"} {
		if strings.Contains(err.Error(), closed) {
			return
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.decodeEr = append(n.decodeEr, fmt.Errorf("%s->%s %s: %w", p.from, p.to, what, err))
}

// pendingReq is a decoded request waiting for its response.
type pendingReq struct {
	typ rpcType
	req wireFields
}

// forward carries one client connection to the target node, decoding
// requests on the way in and responses on the way back. Responses come back
// in request order, so a queue pairs them up.
func (n *tapNet) forward(p *proxy, client net.Conn) {
	defer n.wg.Done()
	n.mu.Lock()
	target := n.real[p.to]
	n.mu.Unlock()
	server, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		// The target is down: the client sees its connection closed.
		_ = client.Close()
		return
	}
	if !n.track(p, client) {
		_ = server.Close()
		return
	}
	if !n.track(p, server) {
		_ = client.Close()
		n.untrack(p, client)
		return
	}
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = client.Close()
			_ = server.Close()
			n.untrack(p, client)
			n.untrack(p, server)
		})
	}
	pending := make(chan pendingReq, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer closeBoth()
		n.requests(p, client, server, pending)
	}()
	n.responses(p, server, client, pending)
	closeBoth()
	<-done
}

// msgpackHandle decodes the v3 wire format closely enough for wireFields.
func msgpackHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.TimeNotBuiltin = true
	return h
}

// requests forwards client bytes to server and decodes them as requests.
func (n *tapNet) requests(p *proxy, client, server net.Conn, pending chan<- pendingReq) {
	defer close(pending)
	// The tee forwards every chunk the moment it is read; the buffer only
	// serves the decoder.
	br := bufio.NewReaderSize(io.TeeReader(client, server), 64<<10)
	dec := codec.NewDecoder(br, msgpackHandle())
	for {
		var typ uint8
		if err := dec.Decode(&typ); err != nil {
			n.decodeFailed(p, "request type", err)
			return
		}
		var req wireFields
		if err := dec.Decode(&req); err != nil {
			n.decodeFailed(p, fmt.Sprintf("%v request", rpcType(typ)), err)
			_, _ = io.Copy(io.Discard, br)
			return
		}
		n.mu.Lock()
		n.decoded = append(n.decoded, rpcEvent{From: p.from, To: p.to, Type: rpcType(typ), Req: req})
		n.mu.Unlock()
		pending <- pendingReq{typ: rpcType(typ), req: req}
		if rpcType(typ) == rpcInstallSnapshot {
			// Raw snapshot bytes follow and the connection is not reused:
			// forward the rest without decoding.
			_, _ = io.Copy(io.Discard, br)
			return
		}
	}
}

// responses forwards server bytes to client and decodes them as responses.
func (n *tapNet) responses(p *proxy, server, client net.Conn, pending <-chan pendingReq) {
	br := bufio.NewReaderSize(io.TeeReader(server, client), 64<<10)
	dec := codec.NewDecoder(br, msgpackHandle())
	for {
		var errText string
		if err := dec.Decode(&errText); err != nil {
			n.decodeFailed(p, "response error", err)
			return
		}
		var resp wireFields
		if err := dec.Decode(&resp); err != nil {
			n.decodeFailed(p, "response", err)
			_, _ = io.Copy(io.Discard, br)
			return
		}
		req, ok := <-pending
		if !ok {
			n.decodeFailed(p, "response", errors.New("response without a request"))
			_, _ = io.Copy(io.Discard, br)
			return
		}
		n.record(rpcEvent{From: p.from, To: p.to, Type: req.typ, Req: req.req, Err: errText, Resp: resp})
	}
}
