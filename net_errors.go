package raft

import (
	"errors"
	"io"
	"strings"
	"syscall"
)

// Errors of the network transport. Each is a sentinel usable with errors.Is;
// the transport wraps them with the details of the failure.
var (
	// ErrUnsupportedRPC matches the error a peer returns for an RPC type it
	// does not know. A hashicorp/raft server older than pre-vote support
	// answers a RequestPreVote with an error whose text contains
	// "unexpected command"; RequestPreVote then returns an error for which
	// errors.Is(err, ErrUnsupportedRPC) holds, so the node can treat the
	// peer as an old one (and count its pre-vote as granted).
	ErrUnsupportedRPC = errors.New("peer does not support this RPC")
	// ErrMalformedFrame is wrapped by every error about bytes that are not
	// a valid request or response: a wrong msgpack type, a bad length, an
	// unknown RPC type byte, a nil log entry.
	ErrMalformedFrame = errors.New("malformed frame")
	// ErrFrameTooLarge is wrapped when a frame declares more data, or more
	// elements, than the transport's limits allow. It is detected from the
	// declared lengths, before anything of that size is allocated.
	ErrFrameTooLarge = errors.New("frame exceeds transport limits")
	// ErrNotAdvertisable is returned by the TCP and TLS constructors when
	// the address other servers would use to reach this one is unspecified
	// (such as 0.0.0.0) and no advertise address was given.
	ErrNotAdvertisable = errors.New("local bind address is not advertisable")
	// ErrNotTCP is returned by the TCP and TLS constructors when the
	// advertise address is not a TCP address.
	ErrNotTCP = errors.New("local address is not a TCP address")
	// ErrInsecureTLSConfig is returned by NewTLSStreamLayer for a
	// configuration that cannot give mutual authentication: no certificate
	// of its own, or verification of the peer turned off.
	ErrInsecureTLSConfig = errors.New("TLS configuration does not allow mutual authentication")
)

// RemoteError is an error text a peer sent back in a response: the request
// reached the peer and was answered, but the answer is a failure. It matches
// ErrUnsupportedRPC when the text is the one a peer gives for an RPC type it
// does not know.
type RemoteError struct {
	// Message is the error text exactly as the peer sent it.
	Message string
}

// Error returns the peer's text.
func (e *RemoteError) Error() string { return e.Message }

// Is reports whether target is ErrUnsupportedRPC and the peer's text says it
// did not know the command. hashicorp/raft's server uses the phrase
// "unexpected command" for that; matching on it is the only signal an old
// peer gives.
func (e *RemoteError) Is(target error) bool {
	return target == ErrUnsupportedRPC && strings.Contains(e.Message, "unexpected command")
}

// isConnDropped reports whether err says the peer closed or reset the
// connection under a request: the stream ended (cleanly or mid-frame), or
// the kernel reported a reset or a broken pipe. A peer does that when it
// restarts, when it closes a connection it found idle, when it is at its
// limit of inbound connections, and (hashicorp/raft) when it reads an RPC
// type it does not know; the error alone cannot tell these apart.
func isConnDropped(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
