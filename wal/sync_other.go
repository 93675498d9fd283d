//go:build !linux

package wal

import "os"

// datasync flushes f to stable storage; outside Linux there is no portable
// fdatasync, so it is a full fsync.
func datasync(f *os.File) error { return f.Sync() }
