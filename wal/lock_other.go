//go:build !unix

package wal

import "os"

// lockDir takes no lock outside Unix: there, nothing stops two Stores from
// opening one directory, and the caller must ensure it never happens.
func lockDir(string) (*os.File, error) { return nil, nil }
