package raft

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TCPStreamLayer is a StreamLayer over plain TCP, the default.
type TCPStreamLayer struct {
	advertise net.Addr
	listener  net.Listener
}

// NewTCPStreamLayer listens on bindAddr. Peers are told advertise, or the
// listener's address when advertise is nil. It fails when it cannot listen,
// with ErrNotTCP when the advertised address is not TCP, and with
// ErrNotAdvertisable when it is unspecified (such as 0.0.0.0).
func NewTCPStreamLayer(bindAddr string, advertise net.Addr) (*TCPStreamLayer, error) {
	l, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", bindAddr, err)
	}
	s := &TCPStreamLayer{advertise: advertise, listener: l}
	if err := checkAdvertisable(s.Addr()); err != nil {
		_ = l.Close()
		return nil, err
	}
	return s, nil
}

// checkAdvertisable tells whether peers can reach addr.
func checkAdvertisable(addr net.Addr) error {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("%w: %v", ErrNotTCP, addr)
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return fmt.Errorf("%w: %v", ErrNotAdvertisable, addr)
	}
	return nil
}

// Dial opens a TCP connection to address within timeout.
func (s *TCPStreamLayer) Dial(address ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", string(address))
}

// Accept waits for the next connection; it fails once the layer is closed.
func (s *TCPStreamLayer) Accept() (net.Conn, error) { return s.listener.Accept() }

// Close stops listening.
func (s *TCPStreamLayer) Close() error { return s.listener.Close() }

// Addr returns the advertised address.
func (s *TCPStreamLayer) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.listener.Addr()
}

// NewTCPTransport returns a NetworkTransport over TCP, listening on bindAddr
// and advertising advertise (or the listener's address when nil), with up to
// maxPool idle connections per peer, timeout on every network operation, and
// logs written to logOutput. It fails as NewTCPStreamLayer does.
func NewTCPTransport(bindAddr string, advertise net.Addr, maxPool int, timeout time.Duration, logOutput io.Writer) (*NetworkTransport, error) {
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft-net", Output: logOutput, Level: hclog.DefaultLevel})
	return NewTCPTransportWithLogger(bindAddr, advertise, maxPool, timeout, logger)
}

// NewTCPTransportWithLogger is NewTCPTransport with an hclog logger.
func NewTCPTransportWithLogger(bindAddr string, advertise net.Addr, maxPool int, timeout time.Duration, logger hclog.Logger) (*NetworkTransport, error) {
	return NewTCPTransportWithConfig(bindAddr, advertise, &NetworkTransportConfig{MaxPool: maxPool, Timeout: timeout, Logger: logger})
}

// NewTCPTransportWithConfig returns a NetworkTransport over TCP with the
// given configuration, whose Stream is set to the new TCP layer. It fails as
// NewTCPStreamLayer does.
func NewTCPTransportWithConfig(bindAddr string, advertise net.Addr, config *NetworkTransportConfig) (*NetworkTransport, error) {
	stream, err := NewTCPStreamLayer(bindAddr, advertise)
	if err != nil {
		return nil, err
	}
	cfg := *config
	cfg.Stream = stream
	return NewNetworkTransportWithConfig(&cfg), nil
}
