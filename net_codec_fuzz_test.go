package raft

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Limits for fuzzing: small, so the fuzzer meets them often.
const (
	fuzzMaxFrame   = 1 << 20
	fuzzMaxEntries = 1024
)

func fuzzReader(b []byte) *wireReader {
	d := &wireReader{r: bufio.NewReader(bytes.NewReader(b)), maxEntries: fuzzMaxEntries}
	d.startFrame(fuzzMaxFrame)
	return d
}

// FuzzDecodeRequest feeds arbitrary bytes to the request decoder: a type
// byte, then a request. It must never panic, and anything it accepts must
// survive re-encoding: encode(decode(x)) decodes to a value that encodes to
// the same bytes.
func FuzzDecodeRequest(f *testing.F) {
	for _, v := range goldenVectors(f) {
		if strings.HasSuffix(v.file, ".request.hex") {
			f.Add(loadHexVector(f, v.file))
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) == 0 {
			return
		}
		req, err := fuzzReader(frame[1:]).readRequest(frame[0])
		if err != nil {
			return
		}
		first := wireEncoder{}
		if err := first.request(req); err != nil {
			// Only a time the standard library cannot marshal may fail.
			return
		}
		again, err := fuzzReader(first.buf[1:]).readRequest(first.buf[0])
		if err != nil {
			t.Fatalf("re-encoded request does not decode: %v\n%x", err, first.buf)
		}
		second := wireEncoder{}
		if err := second.request(again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.buf, second.buf) {
			t.Fatalf("encoding is not stable\n%x\n%x", first.buf, second.buf)
		}
	})
}

// responseKinds are the response types FuzzDecodeResponse decodes into,
// chosen by the input's first byte.
func responseKinds() []func() interface{} {
	return []func() interface{}{
		func() interface{} { return &AppendEntriesResponse{} },
		func() interface{} { return &RequestVoteResponse{} },
		func() interface{} { return &InstallSnapshotResponse{} },
		func() interface{} { return &TimeoutNowResponse{} },
		func() interface{} { return &RequestPreVoteResponse{} },
	}
}

// FuzzDecodeResponse feeds arbitrary bytes to the response decoder; the
// first byte picks the response type as an RPC type byte would. It must
// never panic, and accepted responses must survive re-encoding, error text
// included.
func FuzzDecodeResponse(f *testing.F) {
	kinds := map[string]byte{"append_entries": 0, "request_vote": 1, "install_snapshot": 2, "timeout_now": 3, "request_pre_vote": 4}
	for _, v := range goldenVectors(f) {
		if !strings.HasSuffix(v.file, ".response.hex") {
			continue
		}
		for prefix, kind := range kinds {
			if strings.HasPrefix(v.file, prefix+".") || strings.HasPrefix(v.file, prefix+"_") {
				f.Add(append([]byte{kind}, loadHexVector(f, v.file)...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		newResp := responseKinds()[int(in[0])%5]
		resp := newResp()
		ok, text := decodeFuzzResponse(fuzzReader(in[1:]), resp)
		if !ok {
			return
		}
		first := wireEncoder{}
		if err := first.response(resp, text); err != nil {
			t.Fatal(err)
		}
		again := newResp()
		ok, text2 := decodeFuzzResponse(fuzzReader(first.buf), again)
		if !ok {
			t.Fatalf("re-encoded response does not decode\n%x", first.buf)
		}
		second := wireEncoder{}
		if err := second.response(again, text2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.buf, second.buf) {
			t.Fatalf("encoding is not stable\n%x\n%x", first.buf, second.buf)
		}
	})
}

// decodeFuzzResponse decodes a response, returning whether the frame was
// accepted and the peer's error, nil if none.
func decodeFuzzResponse(d *wireReader, resp interface{}) (bool, error) {
	err := d.readResponse(resp)
	var remote *RemoteError
	if errors.As(err, &remote) {
		return true, remote
	}
	return err == nil, nil
}
