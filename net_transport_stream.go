package raft

import (
	"net"
	"time"
)

// StreamLayer is the connection layer under a NetworkTransport: a listener
// for the connections peers open, and a way to open connections to them.
// TCPStreamLayer and TLSStreamLayer implement it.
type StreamLayer interface {
	net.Listener

	// Dial opens a connection to address, failing if that takes longer
	// than timeout.
	Dial(address ServerAddress, timeout time.Duration) (net.Conn, error)
}
