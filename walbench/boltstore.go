package walbench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/consensuskit/raft"
	bolt "go.etcd.io/bbolt"
)

var logsBucket = []byte("logs")

// BoltStore is a raft.LogStore in one bbolt file: one bucket whose keys are
// big-endian indexes (so bbolt's key order is log order) and whose values are
// encoded entries. Each StoreLogs call is one bbolt transaction, hence one
// commit with bbolt's syncs. It exists to be measured against, not used.
type BoltStore struct {
	db *bolt.DB
}

var _ raft.LogStore = (*BoltStore)(nil)

// OpenBolt opens or creates the bbolt file at path. It fails when the file
// cannot be opened or the bucket created.
func OpenBolt(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(logsBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &BoltStore{db: db}, nil
}

// Close closes the bbolt file.
func (b *BoltStore) Close() error { return b.db.Close() }

func key(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

// FirstIndex returns the first index, or 0 when the log is empty.
func (b *BoltStore) FirstIndex() (uint64, error) {
	var first uint64
	err := b.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(logsBucket).Cursor().First(); k != nil {
			first = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return first, err
}

// LastIndex returns the last index, or 0 when the log is empty.
func (b *BoltStore) LastIndex() (uint64, error) {
	var last uint64
	err := b.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(logsBucket).Cursor().Last(); k != nil {
			last = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return last, err
}

// GetLog fills log with the entry at index, or returns raft.ErrLogNotFound.
func (b *BoltStore) GetLog(index uint64, log *raft.Log) error {
	return b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(logsBucket).Get(key(index))
		if v == nil {
			return raft.ErrLogNotFound
		}
		return decode(v, log)
	})
}

// StoreLog stores one entry in its own transaction.
func (b *BoltStore) StoreLog(log *raft.Log) error { return b.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries in one transaction.
func (b *BoltStore) StoreLogs(logs []*raft.Log) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(logsBucket)
		for _, l := range logs {
			if err := bucket.Put(key(l.Index), encode(l)); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteRange deletes the entries from lo to hi inclusive in one
// transaction.
func (b *BoltStore) DeleteRange(lo, hi uint64) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(logsBucket).Cursor()
		for k, _ := c.Seek(key(lo)); k != nil && binary.BigEndian.Uint64(k) <= hi; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// encode lays out index, term, type, AppendedAt in Unix nanoseconds, then
// Data and Extensions each behind a uvarint length.
func encode(l *raft.Log) []byte {
	b := make([]byte, 0, 25+2*binary.MaxVarintLen64+len(l.Data)+len(l.Extensions))
	b = binary.BigEndian.AppendUint64(b, l.Index)
	b = binary.BigEndian.AppendUint64(b, l.Term)
	b = append(b, byte(l.Type))
	b = binary.BigEndian.AppendUint64(b, uint64(l.AppendedAt.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	return append(b, l.Extensions...)
}

var errBadValue = errors.New("walbench: malformed stored entry")

func decode(v []byte, l *raft.Log) error {
	if len(v) < 25 {
		return errBadValue
	}
	out := raft.Log{
		Index:      binary.BigEndian.Uint64(v[0:8]),
		Term:       binary.BigEndian.Uint64(v[8:16]),
		Type:       raft.LogType(v[16]),
		AppendedAt: time.Unix(0, int64(binary.BigEndian.Uint64(v[17:25]))),
	}
	rest := v[25:]
	var err error
	if out.Data, rest, err = field(rest); err != nil {
		return err
	}
	if out.Extensions, rest, err = field(rest); err != nil {
		return err
	}
	if len(rest) != 0 {
		return errBadValue
	}
	*l = out
	return nil
}

// field reads a uvarint-prefixed byte string, copied out of bbolt's memory
// map, which is only valid inside the transaction.
func field(b []byte) ([]byte, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: bad length", errBadValue)
	}
	b = b[k:]
	return append([]byte(nil), b[:n]...), b[n:], nil
}
