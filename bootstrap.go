package raft

import (
	"errors"
	"fmt"
)

// HasExistingState reports whether the stores hold any state: a term, log
// entries or a snapshot. A node with state must not be bootstrapped.
func HasExistingState(logs LogStore, stable StableStore, snaps SnapshotStore) (bool, error) {
	term, err := stable.GetUint64([]byte(keyCurrentTerm))
	if err != nil && !errors.Is(err, ErrKeyNotFound) {
		return false, fmt.Errorf("%w: reading current term: %v", ErrStorage, err)
	}
	if term > 0 {
		return true, nil
	}
	last, err := logs.LastIndex()
	if err != nil {
		return false, fmt.Errorf("%w: reading last index: %v", ErrStorage, err)
	}
	if last > 0 {
		return true, nil
	}
	snapshots, err := snaps.List()
	if err != nil {
		return false, fmt.Errorf("listing snapshots: %w", err)
	}
	return len(snapshots) > 0, nil
}

// BootstrapCluster writes the initial configuration into the stores of a
// new node, before NewRaft is called on them. Every server of the initial
// cluster is bootstrapped with the same configuration. It fails with
// ErrCantBootstrap if the stores already hold state, and with an error
// wrapping ErrInvalidConfiguration for a bad configuration.
func BootstrapCluster(conf *Config, logs LogStore, stable StableStore, snaps SnapshotStore,
	trans Transport, configuration Configuration) error {
	has, err := validateForStart(conf, configuration, logs, stable, snaps)
	if err != nil {
		return err
	}
	if has {
		return ErrCantBootstrap
	}
	return writeBootstrap(logs, stable, configuration)
}

// validateForStart checks what BootstrapCluster and RecoverCluster are
// given, and reports whether the stores already hold state.
func validateForStart(conf *Config, configuration Configuration, logs LogStore, stable StableStore, snaps SnapshotStore) (bool, error) {
	if err := ValidateConfig(conf); err != nil {
		return false, err
	}
	if err := ValidateConfiguration(configuration); err != nil {
		return false, err
	}
	return HasExistingState(logs, stable, snaps)
}

// writeBootstrap stores term 1 and the configuration as entry 1.
func writeBootstrap(logs LogStore, stable StableStore, configuration Configuration) error {
	if err := stable.SetUint64([]byte(keyCurrentTerm), 1); err != nil {
		return fmt.Errorf("%w: persisting term: %v", ErrStorage, err)
	}
	data, err := EncodeConfiguration(configuration)
	if err != nil {
		return err
	}
	entry := &Log{Index: 1, Term: 1, Type: LogConfiguration, Data: data}
	if err := logs.StoreLog(entry); err != nil {
		return fmt.Errorf("%w: storing configuration: %v", ErrStorage, err)
	}
	return nil
}

// bootstrap is BootstrapCluster run on the node's own goroutine, which also
// updates the in-memory state.
func (r *Raft) bootstrap(configuration Configuration) error {
	if r.getCurrentTerm() > 0 || r.getLastIndex() > 0 {
		return ErrCantBootstrap
	}
	has, err := HasExistingState(r.logs, r.stable, r.snapshots)
	if err != nil {
		return err
	}
	if has {
		return ErrCantBootstrap
	}
	if err := writeBootstrap(r.logs, r.stable, configuration); err != nil {
		return err
	}
	r.currentTerm.Store(1)
	r.setLastLog(1, 1)
	r.configs.append(1, configuration)
	r.publishConfig()
	return nil
}
