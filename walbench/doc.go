// Package walbench compares the wal package's LogStore with a minimal
// bbolt-backed LogStore, in one benchmark run on the same machine. It is a
// separate module so that bbolt never becomes a dependency of the library.
//
// Run it with:
//
//	cd walbench && go test -run '^$' -bench Compare -benchtime 5s -count 5
//
// BenchmarkCompare runs the two stores one after the other;
// BenchmarkCompareBlocks alternates them in blocks of batches in one
// benchmark, which is the fairer figure on a disk whose speed drifts.
package walbench
