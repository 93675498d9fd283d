package raft

// StableStore holds the small amount of state that must survive a restart:
// the current term and the vote cast in it. Writes must be durable before
// they return, because the library answers votes only after them.
type StableStore interface {
	// Set durably stores val under key.
	Set(key []byte, val []byte) error
	// Get returns the value under key. A missing key returns an error
	// matching ErrKeyNotFound, or an empty value and nil.
	Get(key []byte) ([]byte, error)
	// SetUint64 durably stores val under key.
	SetUint64(key []byte, val uint64) error
	// GetUint64 returns the value under key. A missing key returns an error
	// matching ErrKeyNotFound, or 0 and nil.
	GetUint64(key []byte) (uint64, error)
}

// Keys of the stable store. They match hashicorp/raft's so that a store
// written by one library reads the same in the other.
const (
	keyCurrentTerm  = "CurrentTerm"
	keyLastVoteTerm = "LastVoteTerm"
	keyLastVoteCand = "LastVoteCand"
)
