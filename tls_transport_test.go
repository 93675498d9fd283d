package raft

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is an in-memory certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a certificate for 127.0.0.1 usable by servers and clients,
// valid from notBefore to notAfter.
func (ca *testCA) leaf(t *testing.T, serial int64, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "raft node"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) validLeaf(t *testing.T, serial int64) tls.Certificate {
	return ca.leaf(t, serial, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// nodeTLS is the configuration of a node trusting ca and presenting cert.
func nodeTLS(ca *testCA, cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.pool, ClientCAs: ca.pool}
}

func newTLSTestTransport(t *testing.T, name string, config *tls.Config, mod func(*NetworkTransportConfig)) (*NetworkTransport, *syncBuffer) {
	t.Helper()
	logger, buf := testLogger(t, name)
	cfg := &NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second, Logger: logger}
	if mod != nil {
		mod(cfg)
	}
	trans, err := NewTLSTransportWithConfig("127.0.0.1:0", nil, config, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = trans.Close() })
	return trans, buf
}

// TestTLSTransport_MutualTLSDeliversRPCs checks that two nodes with
// certificates from the cluster's CA exchange every kind of call: a
// synchronous one, a pipelined one, and a snapshot.
func TestTLSTransport_MutualTLSDeliversRPCs(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	server, _ := newTLSTestTransport(t, "server", nodeTLS(ca, ca.validLeaf(t, 2)), nil)
	client, _ := newTLSTestTransport(t, "client", nodeTLS(ca, ca.validLeaf(t, 3)), nil)
	snapshot := make(chan []byte, 1)
	serveRPCs(t, server, func(rpc RPC) {
		switch req := rpc.Command.(type) {
		case *InstallSnapshotRequest:
			data, _ := io.ReadAll(rpc.Reader)
			snapshot <- data
			rpc.Respond(&InstallSnapshotResponse{Term: req.Term, Success: true}, nil)
		default:
			respondEcho(rpc)
		}
	})
	var resp AppendEntriesResponse
	if err := client.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{Term: 4, PrevLogEntry: 11}, &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Success || resp.LastLog != 11 {
		t.Fatalf("response %#v", resp)
	}
	p, err := client.AppendEntriesPipeline("b", server.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.AppendEntries(&AppendEntriesRequest{Term: 4, PrevLogEntry: 12}, &AppendEntriesResponse{})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-p.Consumer(); got != f || f.Error() != nil || f.Response().LastLog != 12 {
		t.Fatalf("pipelined answer %v", f.Error())
	}
	_ = p.Close()
	data := bytes.Repeat([]byte("snap"), 1000)
	var sresp InstallSnapshotResponse
	if err := client.InstallSnapshot("b", server.LocalAddr(), &InstallSnapshotRequest{Term: 4, Size: int64(len(data))}, &sresp, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := <-snapshot; !bytes.Equal(got, data) || !sresp.Success {
		t.Fatalf("snapshot of %d bytes arrived as %d", len(data), len(got))
	}
}

// TestTLSTransport_RefusesUnauthenticatedClients checks that a client
// without a certificate, with one from another CA, or with an expired one,
// is refused during the handshake and gets no request to the consumer, even
// when it sends one right after its side of the handshake.
func TestTLSTransport_RefusesUnauthenticatedClients(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	other := newTestCA(t, "other CA")
	server, logs := newTLSTestTransport(t, "server", nodeTLS(ca, ca.validLeaf(t, 2)), nil)
	var delivered atomic.Int64
	serveRPCs(t, server, func(rpc RPC) {
		delivered.Add(1)
		respondEcho(rpc)
	})
	frame := loadHexVector(t, "append_entries_heartbeat.request.hex")
	cases := []struct {
		name  string
		certs []tls.Certificate
	}{
		{"no certificate", nil},
		{"certificate from another CA", []tls.Certificate{other.validLeaf(t, 5)}},
		{"expired certificate", []tls.Certificate{ca.leaf(t, 6, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ca.pool, Certificates: c.certs}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: watchdog}, "tcp", string(server.LocalAddr()), cfg)
			if err == nil {
				// With TLS 1.3 the client's handshake ends before the
				// server has checked its certificate.
				defer conn.Close()
				_, _ = conn.Write(frame)
				_ = conn.SetReadDeadline(time.Now().Add(watchdog))
				_, err = io.Copy(io.Discard, conn)
				if err == nil {
					err = io.EOF
				}
			}
			if err == nil || strings.Contains(err.Error(), "i/o timeout") {
				t.Fatalf("connection not refused: %v", err)
			}
			pollUntil(t, "the refusal to be logged", func() bool {
				return strings.Count(logs.String(), "handshake failed") >= i+1
			})
		})
	}
	if n := delivered.Load(); n != 0 {
		t.Fatalf("%d requests from unauthenticated clients reached the consumer", n)
	}
	// Our own transport with a foreign certificate is refused the same way.
	intruder, _ := newTLSTestTransport(t, "intruder", &tls.Config{Certificates: []tls.Certificate{other.validLeaf(t, 7)}, RootCAs: ca.pool}, nil)
	var resp AppendEntriesResponse
	if err := intruder.AppendEntries("b", server.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp); err == nil {
		t.Fatal("a client with a foreign certificate got an answer")
	}
	if n := delivered.Load(); n != 0 {
		t.Fatalf("%d requests from unauthenticated clients reached the consumer", n)
	}
}

// TestTLSTransport_ClientVerifiesServer checks the other direction: a
// server whose certificate the client's CA did not issue is refused by the
// client, and nothing is delivered.
func TestTLSTransport_ClientVerifiesServer(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	other := newTestCA(t, "other CA")
	// The impostor trusts our CA, so it would accept the client.
	impostor, _ := newTLSTestTransport(t, "impostor", &tls.Config{Certificates: []tls.Certificate{other.validLeaf(t, 2)}, ClientCAs: ca.pool}, nil)
	var delivered atomic.Int64
	serveRPCs(t, impostor, func(rpc RPC) {
		delivered.Add(1)
		respondEcho(rpc)
	})
	client, _ := newTLSTestTransport(t, "client", nodeTLS(ca, ca.validLeaf(t, 3)), nil)
	var resp AppendEntriesResponse
	err := client.AppendEntries("b", impostor.LocalAddr(), &AppendEntriesRequest{Term: 1}, &resp)
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want a certificate verification error", err)
	}
	if delivered.Load() != 0 {
		t.Fatal("a request reached an unverified server")
	}
}

// TestTLSTransport_HandshakeIsBounded checks that a client that connects and
// never starts its handshake is dropped after Timeout, not IdleTimeout.
func TestTLSTransport_HandshakeIsBounded(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	server, logs := newTLSTestTransport(t, "server", nodeTLS(ca, ca.validLeaf(t, 2)), func(c *NetworkTransportConfig) {
		c.Timeout = 200 * time.Millisecond
		c.IdleTimeout = time.Hour
	})
	conn := rawDial(t, server)
	awaitServerClose(t, conn)
	pollUntil(t, "the dropped handshake to be logged", func() bool { return strings.Contains(logs.String(), "handshake failed") })
}

// TestTLSTransport_ConfigValidation checks that configurations unable to
// give mutual authentication are refused.
func TestTLSTransport_ConfigValidation(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	cert := ca.validLeaf(t, 2)
	for name, cfg := range map[string]*tls.Config{
		"nil":                  nil,
		"no certificate":       {RootCAs: ca.pool},
		"insecure skip verify": {Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true},
	} {
		if _, err := NewTLSStreamLayer("127.0.0.1:0", nil, cfg); !errors.Is(err, ErrInsecureTLSConfig) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	s, err := NewTLSStreamLayer("127.0.0.1:0", nil, &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.server.ClientAuth != tls.RequireAndVerifyClientCert || s.server.ClientCAs != ca.pool || s.server.MinVersion < tls.VersionTLS12 {
		t.Fatalf("server side not mutual: %v, %v", s.server.ClientAuth, s.server.MinVersion)
	}
}

// TestTLSTransport_ProbeIsNotAWarning checks that a connection closed
// before any handshake byte, as a port probe does, is logged at debug level
// only, keeping normal operation quiet.
func TestTLSTransport_ProbeIsNotAWarning(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	server, logs := newTLSTestTransport(t, "server", nodeTLS(ca, ca.validLeaf(t, 2)), nil)
	conn := rawDial(t, server)
	_ = conn.Close()
	pollUntil(t, "the probe to be logged", func() bool {
		return strings.Contains(logs.String(), "connection closed during handshake")
	})
	if strings.Contains(logs.String(), "[WARN]") {
		t.Fatalf("a probe was logged as a warning:\n%s", logs.String())
	}
}
