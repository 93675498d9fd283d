package raft

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TLSStreamLayer is a StreamLayer over mutually authenticated TLS: each side
// presents a certificate and verifies the other's. A server refuses a client
// without a valid certificate during the handshake, before reading any
// request.
type TLSStreamLayer struct {
	tcp    *TCPStreamLayer
	server *tls.Config
	client *tls.Config
}

// NewTLSStreamLayer listens on bindAddr as NewTCPStreamLayer does, and
// secures every connection with config, which must carry this server's
// certificate (Certificates or GetCertificate, plus GetClientCertificate
// or Certificates for dialing) and the CAs to verify peers with: RootCAs
// for servers, ClientCAs for clients (RootCAs when ClientCAs is nil).
// Client certificates are always required and verified, and TLS 1.2 is the
// minimum. It fails with ErrInsecureTLSConfig for a nil config, one without
// a certificate, or one with InsecureSkipVerify, and as NewTCPStreamLayer
// does.
func NewTLSStreamLayer(bindAddr string, advertise net.Addr, config *tls.Config) (*TLSStreamLayer, error) {
	if config == nil {
		return nil, fmt.Errorf("%w: no configuration", ErrInsecureTLSConfig)
	}
	if config.InsecureSkipVerify {
		return nil, fmt.Errorf("%w: InsecureSkipVerify is set", ErrInsecureTLSConfig)
	}
	if len(config.Certificates) == 0 && config.GetCertificate == nil {
		return nil, fmt.Errorf("%w: no certificate", ErrInsecureTLSConfig)
	}
	server := config.Clone()
	server.ClientAuth = tls.RequireAndVerifyClientCert
	if server.ClientCAs == nil {
		server.ClientCAs = server.RootCAs
	}
	client := config.Clone()
	for _, c := range []*tls.Config{server, client} {
		if c.MinVersion < tls.VersionTLS12 {
			c.MinVersion = tls.VersionTLS12
		}
	}
	tcp, err := NewTCPStreamLayer(bindAddr, advertise)
	if err != nil {
		return nil, err
	}
	return &TLSStreamLayer{tcp: tcp, server: server, client: client}, nil
}

// Dial opens a TLS connection to address and completes the handshake,
// verifying the server's certificate against address's host unless the
// configuration names a ServerName; all within timeout.
func (s *TLSStreamLayer) Dial(address ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(address), s.client)
}

// Accept returns the next connection, as a *tls.Conn whose handshake the
// transport completes, with a deadline, on the connection's own goroutine so
// that a slow client cannot hold up others.
func (s *TLSStreamLayer) Accept() (net.Conn, error) {
	conn, err := s.tcp.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(conn, s.server), nil
}

// Close stops listening.
func (s *TLSStreamLayer) Close() error { return s.tcp.Close() }

// Addr returns the advertised address.
func (s *TLSStreamLayer) Addr() net.Addr { return s.tcp.Addr() }

// NewTLSTransport returns a NetworkTransport over mutual TLS (see
// NewTLSStreamLayer), with up to maxPool idle connections per peer and
// timeout on every network operation. It fails as NewTLSStreamLayer does.
func NewTLSTransport(bindAddr string, advertise net.Addr, tlsConfig *tls.Config, maxPool int, timeout time.Duration, logger hclog.Logger) (*NetworkTransport, error) {
	return NewTLSTransportWithConfig(bindAddr, advertise, tlsConfig, &NetworkTransportConfig{MaxPool: maxPool, Timeout: timeout, Logger: logger})
}

// NewTLSTransportWithConfig is NewTLSTransport with a full configuration,
// whose Stream is set to the new TLS layer.
func NewTLSTransportWithConfig(bindAddr string, advertise net.Addr, tlsConfig *tls.Config, config *NetworkTransportConfig) (*NetworkTransport, error) {
	stream, err := NewTLSStreamLayer(bindAddr, advertise, tlsConfig)
	if err != nil {
		return nil, err
	}
	cfg := *config
	cfg.Stream = stream
	return NewNetworkTransportWithConfig(&cfg), nil
}
