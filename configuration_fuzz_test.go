package raft

import (
	"reflect"
	"testing"
)

// FuzzDecodeConfiguration feeds arbitrary bytes to the configuration
// decoder, which reads LogConfiguration entries and InstallSnapshot
// requests from peers and from disk. It must never panic, and whatever it
// accepts must survive re-encoding unchanged.
func FuzzDecodeConfiguration(f *testing.F) {
	seeds := []Configuration{
		{},
		{Servers: []Server{{ID: "a", Address: "10.0.0.1:8300", Suffrage: Voter}}},
		{Servers: []Server{
			{ID: "a", Address: "10.0.0.1:8300", Suffrage: Voter},
			{ID: "b", Address: "10.0.0.2:8300", Suffrage: Nonvoter},
			{ID: "c", Address: "10.0.0.3:8300", Suffrage: Staging},
		}},
	}
	for _, c := range seeds {
		b, err := EncodeConfiguration(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x81, 0xa7, 'S', 'e', 'r', 'v', 'e', 'r', 's', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeConfiguration(b)
		if err != nil {
			return
		}
		again, err := EncodeConfiguration(c)
		if err != nil {
			t.Fatalf("accepted %x but cannot encode the result: %v", b, err)
		}
		back, err := DecodeConfiguration(again)
		if err != nil {
			t.Fatalf("re-encoded configuration does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalizeConfiguration(c), normalizeConfiguration(back)) {
			t.Fatalf("round trip changed the configuration: %+v became %+v", c, back)
		}
	})
}

// normalizeConfiguration makes an empty and a nil server list compare equal.
func normalizeConfiguration(c Configuration) Configuration {
	if len(c.Servers) == 0 {
		c.Servers = nil
	}
	return c
}
