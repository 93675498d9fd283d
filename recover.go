package raft

import (
	"errors"
	"fmt"
)

// GetConfiguration reads the latest configuration from the stores of a
// node that is not running: the newest snapshot's, overridden by any
// configuration entry in the log after it. It fails if a store cannot be
// read.
func GetConfiguration(conf *Config, fsm FSM, logs LogStore, stable StableStore, snaps SnapshotStore, trans Transport) (Configuration, error) {
	latest, _, err := storedConfiguration(logs, snaps)
	return latest.config, err
}

// storedConfiguration returns the latest configuration in the stores, and
// the index and term of the last entry they hold (log or snapshot).
func storedConfiguration(logs LogStore, snaps SnapshotStore) (configEntry, [2]uint64, error) {
	var latest configEntry
	var last [2]uint64
	metas, err := snaps.List()
	if err != nil {
		return latest, last, fmt.Errorf("listing snapshots: %w", err)
	}
	if len(metas) > 0 {
		latest = configEntry{index: metas[0].ConfigurationIndex, config: metas[0].Configuration.Clone()}
		last = [2]uint64{metas[0].Index, metas[0].Term}
	}
	first, lastIndex, err := logBounds(logs)
	if err != nil {
		return latest, last, err
	}
	for i := max(first, 1); lastIndex > 0 && i <= lastIndex; i++ {
		var l Log
		if err := logs.GetLog(i, &l); err != nil {
			if errors.Is(err, ErrLogNotFound) {
				continue
			}
			return latest, last, fmt.Errorf("%w: entry %d: %v", ErrStorage, i, err)
		}
		if l.Index > last[0] {
			last = [2]uint64{l.Index, l.Term}
		}
		if l.Type == LogConfiguration && l.Index >= latest.index {
			c, err := DecodeConfiguration(l.Data)
			if err != nil {
				return latest, last, fmt.Errorf("%w: entry %d: %v", ErrStorage, i, err)
			}
			latest = configEntry{index: l.Index, config: c}
		}
	}
	return latest, last, nil
}

// RecoverCluster forces a new configuration onto a stopped node, for when a
// quorum has been lost for good and cannot be restored. It appends the
// configuration to the node's log, so when the node starts with NewRaft it
// uses it at once; run it on every surviving server with the same
// configuration, then start them. This bypasses consensus: entries that
// only the lost servers held may be lost. It fails if the node has no state
// to recover or the configuration is invalid.
func RecoverCluster(conf *Config, fsm FSM, logs LogStore, stable StableStore, snaps SnapshotStore,
	trans Transport, configuration Configuration) error {
	has, err := validateForStart(conf, configuration, logs, stable, snaps)
	if err != nil {
		return err
	}
	if !has {
		return fmt.Errorf("refused to recover a cluster with no initial state, bootstrap it instead")
	}
	_, last, err := storedConfiguration(logs, snaps)
	if err != nil {
		return err
	}
	data, err := EncodeConfiguration(configuration)
	if err != nil {
		return err
	}
	term := max(last[1], 1)
	entry := &Log{Index: last[0] + 1, Term: term, Type: LogConfiguration, Data: data}
	if err := logs.StoreLog(entry); err != nil {
		return fmt.Errorf("%w: storing recovery configuration: %v", ErrStorage, err)
	}
	current, err := stable.GetUint64([]byte(keyCurrentTerm))
	if err != nil && !errors.Is(err, ErrKeyNotFound) {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if current < term {
		if err := stable.SetUint64([]byte(keyCurrentTerm), term); err != nil {
			return fmt.Errorf("%w: %v", ErrStorage, err)
		}
	}
	return nil
}
