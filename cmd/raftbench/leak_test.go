package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a benchmark run leaves a goroutine behind: the
// command must shut its whole cluster down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
