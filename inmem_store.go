package raft

import (
	"fmt"
	"sync"
)

// InmemStore is a LogStore and StableStore kept in memory. It suits tests
// and examples; it loses everything when the process ends. It is safe for
// concurrent use.
type InmemStore struct {
	mu        sync.RWMutex
	lowIndex  uint64
	highIndex uint64
	logs      map[uint64]*Log
	kv        map[string][]byte
	kvInt     map[string]uint64
}

// NewInmemStore returns an empty in-memory store.
func NewInmemStore() *InmemStore {
	return &InmemStore{
		logs:  make(map[uint64]*Log),
		kv:    make(map[string][]byte),
		kvInt: make(map[string]uint64),
	}
}

// FirstIndex returns the first index held, or 0 when empty.
func (s *InmemStore) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lowIndex, nil
}

// LastIndex returns the last index held, or 0 when empty.
func (s *InmemStore) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.highIndex, nil
}

// GetLog copies the entry at index into log, or returns ErrLogNotFound.
func (s *InmemStore) GetLog(index uint64, log *Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.logs[index]
	if !ok {
		return fmt.Errorf("%w: index %d", ErrLogNotFound, index)
	}
	*log = *l
	return nil
}

// StoreLog stores one entry.
func (s *InmemStore) StoreLog(log *Log) error {
	return s.StoreLogs([]*Log{log})
}

// StoreLogs stores entries. The store keeps its own copy of each entry, so
// the caller may reuse them.
func (s *InmemStore) StoreLogs(logs []*Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range logs {
		c := *l
		s.logs[l.Index] = &c
		if s.lowIndex == 0 || l.Index < s.lowIndex {
			s.lowIndex = l.Index
		}
		if l.Index > s.highIndex {
			s.highIndex = l.Index
		}
	}
	return nil
}

// DeleteRange deletes the entries from min to max inclusive.
func (s *InmemStore) DeleteRange(min, max uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := min; i <= max; i++ {
		delete(s.logs, i)
	}
	if min <= s.lowIndex {
		s.lowIndex = max + 1
	}
	if max >= s.highIndex {
		s.highIndex = min - 1
	}
	if s.lowIndex > s.highIndex {
		s.lowIndex = 0
		s.highIndex = 0
	}
	return nil
}

// Set stores val under key.
func (s *InmemStore) Set(key []byte, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kv[string(key)] = append([]byte(nil), val...)
	return nil
}

// Get returns the value under key, or an error matching ErrKeyNotFound.
func (s *InmemStore) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.kv[string(key)]
	if !ok {
		return nil, fmt.Errorf("%w: key %q", ErrKeyNotFound, key)
	}
	return append([]byte(nil), v...), nil
}

// SetUint64 stores val under key.
func (s *InmemStore) SetUint64(key []byte, val uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kvInt[string(key)] = val
	return nil
}

// GetUint64 returns the value under key, or 0 and nil when it is missing.
func (s *InmemStore) GetUint64(key []byte) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.kvInt[string(key)], nil
}
