package walbench

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/consensuskit/raft"
)

// The comparison is only fair if the bbolt store does the same job, so it is
// held to the LogStore contract too.
func TestBoltStoreContract(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "logs.bolt"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f, _ := s.FirstIndex(); f != 0 {
		t.Fatalf("FirstIndex of empty store = %d", f)
	}
	logs := benchEntries(1, 10)
	logs[3].Extensions = []byte("ext")
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := s.GetLog(4, &l); err != nil {
		t.Fatal(err)
	}
	if l.Index != 4 || !bytes.Equal(l.Data, logs[3].Data) || string(l.Extensions) != "ext" || !l.AppendedAt.Equal(logs[3].AppendedAt) {
		t.Fatalf("GetLog(4) = %+v", l)
	}
	if err := s.DeleteRange(1, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(9, 10); err != nil {
		t.Fatal(err)
	}
	f, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if f != 4 || last != 8 {
		t.Fatalf("log is [%d, %d], want [4, 8]", f, last)
	}
	if err := s.GetLog(9, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(9) = %v", err)
	}
}

func benchEntries(first uint64, n int) []*raft.Log {
	logs := make([]*raft.Log, n)
	for i := range logs {
		data := bytes.Repeat([]byte{byte(i)}, 128)
		logs[i] = &raft.Log{Index: first + uint64(i), Term: 1, Data: data, AppendedAt: time.Now()}
	}
	return logs
}
