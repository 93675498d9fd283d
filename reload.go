package raft

import "time"

// ReloadableConfig holds the settings that can change while a node runs,
// through ReloadConfig.
type ReloadableConfig struct {
	// TrailingLogs is Config.TrailingLogs.
	TrailingLogs uint64
	// SnapshotInterval is Config.SnapshotInterval.
	SnapshotInterval time.Duration
	// SnapshotThreshold is Config.SnapshotThreshold.
	SnapshotThreshold uint64
	// HeartbeatTimeout is Config.HeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is Config.ElectionTimeout.
	ElectionTimeout time.Duration
}

// apply copies the reloadable settings into conf.
func (rc *ReloadableConfig) apply(conf Config) Config {
	conf.TrailingLogs = rc.TrailingLogs
	conf.SnapshotInterval = rc.SnapshotInterval
	conf.SnapshotThreshold = rc.SnapshotThreshold
	conf.HeartbeatTimeout = rc.HeartbeatTimeout
	conf.ElectionTimeout = rc.ElectionTimeout
	return conf
}

// fromConfig takes the reloadable settings of conf.
func (rc *ReloadableConfig) fromConfig(conf Config) {
	rc.TrailingLogs = conf.TrailingLogs
	rc.SnapshotInterval = conf.SnapshotInterval
	rc.SnapshotThreshold = conf.SnapshotThreshold
	rc.HeartbeatTimeout = conf.HeartbeatTimeout
	rc.ElectionTimeout = conf.ElectionTimeout
}

// ReloadableConfig returns the reloadable settings in force.
func (r *Raft) ReloadableConfig() ReloadableConfig {
	return *r.reloadable.Load()
}

// ReloadConfig changes the reloadable settings of a running node. The new
// values must pass ValidateConfig together with the rest of the node's
// config, or nothing changes and the error says which field is wrong.
func (r *Raft) ReloadConfig(rc ReloadableConfig) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	merged := rc.apply(r.conf)
	if err := ValidateConfig(&merged); err != nil {
		return err
	}
	c := rc
	r.reloadable.Store(&c)
	return nil
}

// rc returns the reloadable settings in force; every goroutine reads the
// timeouts and snapshot settings through it.
func (r *Raft) rc() *ReloadableConfig {
	return r.reloadable.Load()
}
