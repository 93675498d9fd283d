//go:build unix

package wal

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"testing"
)

func TestOpenRefusesADirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOptions())
	storeRange(t, s, 1, 3, 1)
	if _, err := Open(dir, testOptions()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	// The refused Open changed nothing.
	checkLog(t, s, 1, 3, 1)
	closeStore(t, s)
	s = openStore(t, dir, testOptions())
	checkLog(t, s, 1, 3, 1)
}

func TestLockHeldByAnotherProcessIsFreedWhenItDies(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOptions())
	storeRange(t, s, 1, 3, 1)
	closeStore(t, s)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), lockChildEnv+"="+dir)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "open\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	if _, err := Open(dir, testOptions()); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds the store = %v, want ErrLocked", err)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	s = openStore(t, dir, testOptions())
	checkLog(t, s, 1, 3, 1)
}
