// Package walbench compares the wal package's LogStore with a minimal
// bbolt-backed LogStore, in one benchmark run on the same machine. It is a
// separate module so that bbolt never becomes a dependency of the library.
//
// Run it with:
//
//	cd walbench && go test -run '^$' -bench Compare -benchtime 5s
package walbench
