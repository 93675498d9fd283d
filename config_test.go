package raft

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateConfig(t *testing.T) {
	valid := func() *Config {
		c := DefaultConfig()
		c.LocalID = "a"
		return c
	}
	if err := ValidateConfig(valid()); err != nil {
		t.Fatalf("default config with LocalID rejected: %v", err)
	}
	cases := []struct {
		field string
		mod   func(*Config)
	}{
		{"ProtocolVersion", func(c *Config) { c.ProtocolVersion = 2 }},
		{"LocalID", func(c *Config) { c.LocalID = "" }},
		{"HeartbeatTimeout", func(c *Config) { c.HeartbeatTimeout = time.Millisecond }},
		{"ElectionTimeout", func(c *Config) { c.ElectionTimeout = time.Millisecond }},
		{"ElectionTimeout", func(c *Config) { c.ElectionTimeout = c.HeartbeatTimeout / 2 }},
		{"CommitTimeout", func(c *Config) { c.CommitTimeout = 0 }},
		{"MaxAppendEntries", func(c *Config) { c.MaxAppendEntries = 0 }},
		{"MaxAppendEntries", func(c *Config) { c.MaxAppendEntries = 5000 }},
		{"SnapshotInterval", func(c *Config) { c.SnapshotInterval = 0 }},
		{"SnapshotThreshold", func(c *Config) { c.SnapshotThreshold = 0 }},
		{"LeaderLeaseTimeout", func(c *Config) { c.LeaderLeaseTimeout = time.Millisecond }},
		{"LeaderLeaseTimeout", func(c *Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout }},
	}
	for _, tc := range cases {
		c := valid()
		tc.mod(c)
		err := ValidateConfig(c)
		if err == nil {
			t.Errorf("%s: invalid value accepted", tc.field)
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: error %v does not wrap ErrInvalidConfig", tc.field, err)
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("error %q does not name %s", err, tc.field)
		}
	}
	if err := ValidateConfig(nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil config: %v", err)
	}
}

func TestDefaultConfigValues(t *testing.T) {
	c := DefaultConfig()
	checks := []struct {
		name      string
		got, want interface{}
	}{
		{"ProtocolVersion", c.ProtocolVersion, ProtocolVersion(3)},
		{"HeartbeatTimeout", c.HeartbeatTimeout, time.Second},
		{"ElectionTimeout", c.ElectionTimeout, time.Second},
		{"CommitTimeout", c.CommitTimeout, 50 * time.Millisecond},
		{"MaxAppendEntries", c.MaxAppendEntries, 64},
		{"LeaderLeaseTimeout", c.LeaderLeaseTimeout, 500 * time.Millisecond},
		{"TrailingLogs", c.TrailingLogs, uint64(10240)},
		{"SnapshotInterval", c.SnapshotInterval, 120 * time.Second},
		{"SnapshotThreshold", c.SnapshotThreshold, uint64(8192)},
		{"PreVoteDisabled", c.PreVoteDisabled, false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestNewRaftRejectsBadInput(t *testing.T) {
	_, trans := NewInmemTransport("")
	defer trans.Close()
	store := NewInmemStore()
	conf := DefaultConfig()
	if _, err := NewRaft(conf, &testFSM{}, store, store, NewDiscardSnapshotStore(), trans); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewRaft without LocalID: %v", err)
	}
	conf.LocalID = "x"
	if _, err := NewRaft(conf, nil, store, store, NewDiscardSnapshotStore(), trans); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewRaft without FSM: %v", err)
	}
}

func TestBootstrapTwiceFails(t *testing.T) {
	_, trans := NewInmemTransport("a")
	defer trans.Close()
	store := NewInmemStore()
	conf := DefaultConfig()
	conf.LocalID = "a"
	cfg := Configuration{Servers: []Server{{ID: "a", Address: "a"}}}
	if err := BootstrapCluster(conf, store, store, NewDiscardSnapshotStore(), trans, cfg); err != nil {
		t.Fatal(err)
	}
	if err := BootstrapCluster(conf, store, store, NewDiscardSnapshotStore(), trans, cfg); !errors.Is(err, ErrCantBootstrap) {
		t.Fatalf("second bootstrap: %v, want ErrCantBootstrap", err)
	}
	bad := Configuration{Servers: []Server{{ID: "a", Address: "a"}, {ID: "a", Address: "b"}}}
	if err := BootstrapCluster(conf, NewInmemStore(), NewInmemStore(), NewDiscardSnapshotStore(), trans, bad); !errors.Is(err, ErrInvalidConfiguration) {
		t.Fatalf("duplicate IDs: %v", err)
	}
}

func TestBootstrapMethod(t *testing.T) {
	addr, trans := NewInmemTransport("solo")
	store := NewInmemStore()
	conf := testConfig("solo")
	r, err := NewRaft(conf, &testFSM{}, store, store, NewDiscardSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	if r.State() != Follower {
		t.Fatalf("unbootstrapped node is %v", r.State())
	}
	cfg := Configuration{Servers: []Server{{ID: "solo", Address: addr}}}
	if err := r.BootstrapCluster(cfg).Error(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	waitFor(t, 5*time.Second, "bootstrapped node to lead", func() bool { return r.State() == Leader })
	if err := r.Apply([]byte("x"), 0).Error(); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := r.BootstrapCluster(cfg).Error(); !errors.Is(err, ErrCantBootstrap) {
		t.Fatalf("second bootstrap: %v", err)
	}
	got := r.GetConfiguration()
	if err := got.Error(); err != nil || len(got.Configuration().Servers) != 1 || got.Index() != 1 {
		t.Fatalf("configuration = %+v at %d (%v)", got.Configuration(), got.Index(), err)
	}
}
