package raft

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// BenchmarkNetCodec_EncodeAppendEntries64 measures encoding a request with
// 64 entries of 128 bytes into a reused buffer.
func BenchmarkNetCodec_EncodeAppendEntries64(b *testing.B) {
	req := benchRequest(64)
	e := wireEncoder{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.buf = e.buf[:0]
		if err := e.request(req); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(e.buf)))
}

// BenchmarkNetCodec_DecodeAppendEntries64 measures decoding that request.
func BenchmarkNetCodec_DecodeAppendEntries64(b *testing.B) {
	e := wireEncoder{}
	if err := e.request(benchRequest(64)); err != nil {
		b.Fatal(err)
	}
	src := bytes.NewReader(e.buf)
	d := &wireReader{r: bufio.NewReader(src), maxEntries: defaultMaxEntries}
	b.SetBytes(int64(len(e.buf)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		src.Reset(e.buf)
		d.r.Reset(src)
		d.startFrame(defaultMaxFrameSize)
		typ, _ := d.readByte()
		if _, err := d.readRequest(typ); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNetCodec_ReferenceAppendEntries64 measures the reference codec
// on the same request, encode then decode, for comparison.
func BenchmarkNetCodec_ReferenceAppendEntries64(b *testing.B) {
	req := benchRequest(64)
	h := newMsgpackHandle()
	var buf []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = buf[:0]
		if err := codec.NewEncoderBytes(&buf, h).Encode(req); err != nil {
			b.Fatal(err)
		}
		var out AppendEntriesRequest
		if err := codec.NewDecoderBytes(buf, h).Decode(&out); err != nil {
			b.Fatal(err)
		}
	}
}
