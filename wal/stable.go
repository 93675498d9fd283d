package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/consensuskit/raft"
)

// stableName is the file holding the stable store's keys and values. It is
// small and only ever replaced whole.
const stableName = "stable.dat"

const (
	stableMagic   = "CKWS"
	stableVersion = 1
	// maxStableSize bounds what Open reads from the stable file: it holds a
	// handful of keys (term, vote), so anything larger is not ours.
	maxStableSize = 16 << 20
)

// stableStore is the key-value half of a Store.
type stableStore struct {
	mu     sync.Mutex
	values map[string][]byte
}

func (st *stableStore) load(dir string) error {
	path := filepath.Join(dir, stableName)
	b, err := readSmallFile(path, maxStableSize)
	if errors.Is(err, fs.ErrNotExist) {
		st.values = map[string][]byte{}
		return nil
	}
	if err != nil {
		return err
	}
	values, err := decodeStable(path, b)
	if err != nil {
		return err
	}
	st.values = values
	return nil
}

// readSmallFile reads a file that is expected to be small, refusing one
// larger than limit rather than allocating for it.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, corruptf(path, limit, "file larger than %d bytes", limit)
	}
	return b, nil
}

// encodeStable lays out: magic, version, 3 zero bytes, count (uint32), then
// per key in sorted order a uvarint key length, key, uvarint value length,
// value, and last a CRC-32C of everything before it.
func encodeStable(values map[string][]byte) []byte {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := append([]byte(stableMagic), stableVersion, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(values[k])))
		b = append(b, values[k]...)
	}
	return binary.LittleEndian.AppendUint32(b, checksum(b))
}

func decodeStable(path string, b []byte) (map[string][]byte, error) {
	const fixed = 4 + 4 + 4
	if len(b) < fixed+4 {
		return nil, corruptf(path, 0, "stable file of %d bytes is too short", len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if checksum(body) != sum {
		return nil, corruptf(path, int64(len(body)), "stable file checksum mismatch")
	}
	if string(body[0:4]) != stableMagic {
		return nil, corruptf(path, 0, "bad magic %q", body[0:4])
	}
	if body[4] != stableVersion {
		return nil, corruptf(path, 4, "unsupported format version %d", body[4])
	}
	// The writer leaves the reserved bytes zero and sorts the keys, each
	// once; anything else passed the checksum but was not written by it.
	if body[5] != 0 || body[6] != 0 || body[7] != 0 {
		return nil, corruptf(path, 5, "reserved bytes %x are not zero", body[5:8])
	}
	count := binary.LittleEndian.Uint32(body[8:12])
	values := map[string][]byte{}
	rest := body[fixed:]
	var prev []byte
	for i := uint32(0); i < count; i++ {
		at := int64(len(body) - len(rest))
		k, r, err := takeBytes(rest)
		if err != nil {
			return nil, corruptf(path, at, "key %d: %v", i, err)
		}
		if i > 0 && string(k) <= string(prev) {
			return nil, corruptf(path, at, "key %d is out of order or repeated", i)
		}
		prev = k
		v, r, err := takeBytes(r)
		if err != nil {
			return nil, corruptf(path, at, "value %d: %v", i, err)
		}
		values[string(k)] = cloneBytes(v)
		rest = r
	}
	if len(rest) != 0 {
		return nil, corruptf(path, int64(len(body)-len(rest)), "%d trailing bytes", len(rest))
	}
	return values, nil
}

// Set durably stores val under key: when it returns nil the value survives
// a crash. It fails with ErrClosed after Close, or with the I/O error that
// kept the file from being replaced, in which case the old value remains.
func (s *Store) Set(key []byte, val []byte) error {
	if s.closed.Load() {
		return ErrClosed
	}
	st := &s.stable
	st.mu.Lock()
	defer st.mu.Unlock()
	next := make(map[string][]byte, len(st.values)+1)
	for k, v := range st.values {
		next[k] = v
	}
	next[string(key)] = cloneBytes(val)
	if err := s.replaceFile(stableName, encodeStable(next)); err != nil {
		return err
	}
	st.values = next
	return nil
}

// Get returns a copy of the value stored under key. A missing key returns
// raft.ErrKeyNotFound itself (not wrapped, for callers that compare errors
// with ==). It fails with ErrClosed after Close.
func (s *Store) Get(key []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	st := &s.stable
	st.mu.Lock()
	defer st.mu.Unlock()
	v, ok := st.values[string(key)]
	if !ok {
		return nil, raft.ErrKeyNotFound
	}
	if v == nil {
		return []byte{}, nil
	}
	return cloneBytes(v), nil
}

// SetUint64 durably stores val under key as 8 big-endian bytes; see Set.
func (s *Store) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns the value stored under key by SetUint64. A missing key
// returns 0 and nil, as a new server has term 0 and no vote. A value that is
// not 8 bytes (stored by Set) is an error.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if errors.Is(err, raft.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("wal: value of key %q is %d bytes, not a uint64", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
