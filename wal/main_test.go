package wal

import (
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The crash tests re-execute this binary as the process they kill.
	if os.Getenv(childEnv) != "" {
		os.Exit(runCrashChild())
	}
	if dir := os.Getenv(lockChildEnv); dir != "" {
		os.Exit(runLockChild(dir))
	}
	goleak.VerifyTestMain(m)
}

// lockChildEnv names the directory a child process opens and then holds
// until it is killed.
const lockChildEnv = "WAL_LOCK_CHILD_DIR"

// runLockChild opens the store, says so, and waits to be killed.
func runLockChild(dir string) int {
	s, err := Open(dir, testOptions())
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		return 3
	}
	defer s.Close()
	os.Stdout.WriteString("open\n")
	time.Sleep(time.Hour)
	return 0
}
