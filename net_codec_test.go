package raft

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// referenceEncode encodes v with the reference codec and hashicorp/raft's
// handle settings.
func referenceEncode(t *testing.T, v interface{}) []byte {
	t.Helper()
	var b []byte
	if err := codec.NewEncoderBytes(&b, newMsgpackHandle()).Encode(v); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNetCodecScalarFormsMatchReference compares our integer and raw string
// forms with the reference codec's at every size boundary.
func TestNetCodecScalarFormsMatchReference(t *testing.T) {
	ints := []int64{0, 1, 31, 32, 127, 128, 255, 256, 32767, 32768, 65535, 65536, math.MaxInt32, math.MaxInt32 + 1,
		math.MaxInt64, -1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	for _, v := range ints {
		if got, want := appendInt(nil, v), referenceEncode(t, v); !bytes.Equal(got, want) {
			t.Errorf("int %d: got %x, want %x", v, got, want)
		}
	}
	uints := []uint64{0, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	for _, v := range uints {
		if got, want := appendUint(nil, v), referenceEncode(t, v); !bytes.Equal(got, want) {
			t.Errorf("uint %d: got %x, want %x", v, got, want)
		}
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		v := bytes.Repeat([]byte{'z'}, n)
		got, err := appendBytes(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceEncode(t, v); !bytes.Equal(got, want) {
			t.Errorf("%d bytes: got %x..., want %x...", n, got[:min(4, len(got))], want[:min(4, len(want))])
		}
		if got, _ := appendString(nil, string(v)); !bytes.Equal(got, referenceEncode(t, string(v))) {
			t.Errorf("string of %d bytes differs", n)
		}
	}
	if got, want := appendBytes0(t, nil), referenceEncode(t, []byte(nil)); !bytes.Equal(got, want) {
		t.Errorf("nil bytes: got %x, want %x", got, want)
	}
}

func appendBytes0(t *testing.T, v []byte) []byte {
	b, err := appendBytes(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomBytes(rng *rand.Rand) []byte {
	switch rng.Intn(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	n := []int{rng.Intn(40), rng.Intn(300), 70000}[rng.Intn(3)]
	b := make([]byte, n)
	rng.Read(b)
	return b
}

func randomUint(rng *rand.Rand) uint64 { return rng.Uint64() >> uint(rng.Intn(64)) }

func randomHeader(rng *rand.Rand) RPCHeader {
	return RPCHeader{ProtocolVersion: int(int64(randomUint(rng)) >> 1), ID: randomBytes(rng), Addr: randomBytes(rng)}
}

func randomAppendEntries(rng *rand.Rand) *AppendEntriesRequest {
	r := &AppendEntriesRequest{RPCHeader: randomHeader(rng), Term: randomUint(rng), Leader: randomBytes(rng),
		PrevLogEntry: randomUint(rng), PrevLogTerm: randomUint(rng), LeaderCommitIndex: randomUint(rng)}
	if rng.Intn(4) > 0 {
		r.Entries = make([]*Log, rng.Intn(20))
		for i := range r.Entries {
			r.Entries[i] = &Log{Index: randomUint(rng), Term: randomUint(rng), Type: LogType(rng.Intn(256)),
				Data: randomBytes(rng), Extensions: randomBytes(rng),
				AppendedAt: time.Unix(rng.Int63n(1<<36)-1<<35, rng.Int63n(1e9)).UTC()}
		}
	}
	return r
}

// TestNetCodecMatchesReferenceCodec encodes random requests and responses
// of every type with both our encoder and the reference codec, and checks
// that the bytes are identical and that each side decodes the other's
// output to the original value.
func TestNetCodecMatchesReferenceCodec(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 100; i++ {
		values := []interface{}{
			randomAppendEntries(rng),
			&RequestVoteRequest{RPCHeader: randomHeader(rng), Term: randomUint(rng), Candidate: randomBytes(rng),
				LastLogIndex: randomUint(rng), LastLogTerm: randomUint(rng), LeadershipTransfer: rng.Intn(2) == 0},
			&RequestPreVoteRequest{RPCHeader: randomHeader(rng), Term: randomUint(rng), LastLogIndex: randomUint(rng), LastLogTerm: randomUint(rng)},
			&InstallSnapshotRequest{RPCHeader: randomHeader(rng), SnapshotVersion: SnapshotVersion(rng.Intn(3)), Term: randomUint(rng),
				Leader: randomBytes(rng), LastLogIndex: randomUint(rng), LastLogTerm: randomUint(rng), Peers: randomBytes(rng),
				Configuration: randomBytes(rng), ConfigurationIndex: randomUint(rng), Size: int64(randomUint(rng) >> 1)},
			&TimeoutNowRequest{RPCHeader: randomHeader(rng)},
		}
		for _, v := range values {
			e := wireEncoder{}
			if err := e.request(v); err != nil {
				t.Fatal(err)
			}
			if want := referenceEncode(t, v); !bytes.Equal(e.buf[1:], want) {
				t.Fatalf("%T differs from the reference codec\n got %x\nwant %x", v, e.buf[1:], want)
			}
			back := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := codec.NewDecoderBytes(e.buf[1:], newMsgpackHandle()).Decode(back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, v) {
				t.Fatalf("reference codec decoded our %T differently", v)
			}
			ours, err := fuzzReader(e.buf[1:]).readRequest(e.buf[0])
			if err != nil || !reflect.DeepEqual(ours, v) {
				t.Fatalf("our decoder: %v\n%#v\n%#v", err, ours, v)
			}
		}
		responses := []interface{}{
			&AppendEntriesResponse{RPCHeader: randomHeader(rng), Term: randomUint(rng), LastLog: randomUint(rng), Success: rng.Intn(2) == 0, NoRetryBackoff: rng.Intn(2) == 0},
			&RequestVoteResponse{RPCHeader: randomHeader(rng), Term: randomUint(rng), Peers: randomBytes(rng), Granted: rng.Intn(2) == 0},
			&RequestPreVoteResponse{RPCHeader: randomHeader(rng), Term: randomUint(rng), Granted: rng.Intn(2) == 0},
			&InstallSnapshotResponse{RPCHeader: randomHeader(rng), Term: randomUint(rng), Success: rng.Intn(2) == 0},
			&TimeoutNowResponse{RPCHeader: randomHeader(rng)},
		}
		for _, v := range responses {
			e := wireEncoder{}
			if err := e.response(v, nil); err != nil {
				t.Fatal(err)
			}
			if want := append([]byte{0xa0}, referenceEncode(t, v)...); !bytes.Equal(e.buf, want) {
				t.Fatalf("%T differs from the reference codec\n got %x\nwant %x", v, e.buf, want)
			}
			back := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := fuzzReader(e.buf).readResponse(back); err != nil || !reflect.DeepEqual(back, v) {
				t.Fatalf("our decoder: %v\n%#v\n%#v", err, back, v)
			}
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixstr returns the msgpack fixstr of s, as hex.
func fixstr(s string) string {
	return hex.EncodeToString(append([]byte{0xa0 | byte(len(s))}, s...))
}

// TestNetCodecDecodesTolerantly checks what a decoder must accept from
// peers: keys in any order, unknown keys of every type (skipped), missing
// keys (zero), wider integer forms than needed, and the str8 and bin forms
// of strings.
func TestNetCodecDecodesTolerantly(t *testing.T) {
	frame := "88" +
		fixstr("Term") + "cf0000000000000009" + // uint64 form of a small value
		fixstr("Future") + "82" + fixstr("a") + "93c0cb3ff000000000000000" + fixstr("b") + "d7ff0000000000000001" +
		fixstr("Leader") + "d903" + hex.EncodeToString([]byte("abc")) + // str8
		fixstr("ID") + "c403" + hex.EncodeToString([]byte("xyz")) + // bin8
		fixstr("ProtocolVersion") + "d00003" + // int8 form... of a positive value
		fixstr("Entries") + "91" + "83" + fixstr("Index") + "d10005" + fixstr("Zzz") + "c70301616263" + fixstr("AppendedAt") + "c0" +
		fixstr("PrevLogTerm") + "c0" + // nil reads as zero
		fixstr("Extra") + "ca3f800000"
	frame = strings.Replace(frame, "d00003", "d003", 1)
	got, err := fuzzReader(mustHex(t, frame)).readRequest(rpcAppendEntries)
	if err != nil {
		t.Fatal(err)
	}
	want := &AppendEntriesRequest{RPCHeader: RPCHeader{ProtocolVersion: 3, ID: []byte("xyz")}, Term: 9, Leader: []byte("abc"),
		Entries: []*Log{{Index: 5}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
}

// TestNetCodecTimeLayouts checks every time layout a peer may send, and the
// refusal of impossible ones.
func TestNetCodecTimeLayouts(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC)
	whole := time.Date(2026, 11, 29, 12, 0, 1, 0, time.UTC)
	old := time.Date(1900, 1, 1, 0, 0, 0, 5, time.UTC)
	bin, _ := at.MarshalBinary()
	cases := []struct {
		name, hex string
		want      time.Time
	}{
		{"binary", "af" + hex.EncodeToString(bin), at},
		{"raw 8", "a81d6f34546b0c13c0", at},
		{"raw 4", "a46b0c13c1", whole},
		{"ext 8", "d7ff1d6f34546b0c13c0", at},
		{"ext 4", "d6ff6b0c13c1", whole},
		{"nil", "c0", time.Time{}},
	}
	for _, enc := range []time.Time{old, at, whole} {
		b, err := appendTime(nil, enc, true)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct {
			name, hex string
			want      time.Time
		}{"new format " + enc.String(), hex.EncodeToString(b), enc})
		if enc == old {
			b12 := append([]byte{0xc7, 0x0c, 0xff}, b[1:]...)
			cases = append(cases, struct {
				name, hex string
				want      time.Time
			}{"ext 12", hex.EncodeToString(b12), old})
			if b[0] != 0xac {
				t.Fatalf("a time before 1970 must take the 12-byte form, got %x", b)
			}
		}
	}
	for _, c := range cases {
		got, err := fuzzReader(mustHex(t, c.hex)).readTime()
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if b, _ := appendTime(nil, time.Time{}, true); !bytes.Equal(b, []byte{mpNil}) {
		t.Errorf("zero time in the new format: %x", b)
	}
	for _, bad := range []string{"a3000000", "a8ee6b280000000000" /* nsec >= 1e9 */, "d6fe00000000", "c3"} {
		if _, err := fuzzReader(mustHex(t, bad)).readTime(); !errors.Is(err, ErrMalformedFrame) {
			t.Errorf("%s: got %v, want ErrMalformedFrame", bad, err)
		}
	}
}

// TestNetCodecLimits checks that declared sizes beyond the limits, and
// malformed structures, are refused before any allocation of that size,
// with the right sentinel.
func TestNetCodecLimits(t *testing.T) {
	deep := "81" + fixstr("X") + strings.Repeat("91", 40) + "00"
	cases := []struct {
		name, hex string
		typ       byte
		want      error
	}{
		{"str32 of 4 GiB", "81" + fixstr("Leader") + "dbffffffff", rpcAppendEntries, ErrFrameTooLarge},
		{"bin32 of 4 GiB", "81" + fixstr("Leader") + "c6ffffffff", rpcAppendEntries, ErrFrameTooLarge},
		{"array32 of 2^32-1 entries", "81" + fixstr("Entries") + "ddffffffff", rpcAppendEntries, ErrFrameTooLarge},
		{"entries above MaxEntries", "81" + fixstr("Entries") + "dc0401" + strings.Repeat("80", 1025), rpcAppendEntries, ErrFrameTooLarge},
		{"map32 of 2^32-1 pairs", "dfffffffff", rpcRequestVote, ErrFrameTooLarge},
		{"unknown array32", "81" + fixstr("X") + "ddffffffff", rpcRequestVote, ErrFrameTooLarge},
		{"unknown ext32", "81" + fixstr("X") + "c9ffffffff01", rpcRequestVote, ErrFrameTooLarge},
		{"long key", "81" + "dbffffff00", rpcRequestVote, ErrFrameTooLarge},
		{"deep nesting", deep, rpcRequestVote, ErrMalformedFrame},
		{"unknown type byte", "80", 9, ErrMalformedFrame},
		{"not a map", "93010203", rpcTimeoutNow, ErrMalformedFrame},
		{"nil entry", "81" + fixstr("Entries") + "91c0", rpcAppendEntries, ErrMalformedFrame},
		{"entries twice", "82" + fixstr("Entries") + "90" + fixstr("Entries") + "90", rpcAppendEntries, ErrMalformedFrame},
		{"negative uint", "81" + fixstr("Term") + "ff", rpcAppendEntries, ErrMalformedFrame},
		{"log type above 255", "81" + fixstr("Entries") + "9181" + fixstr("Type") + "cd0100", rpcAppendEntries, ErrMalformedFrame},
		{"negative snapshot size", "81" + fixstr("Size") + "ff", rpcInstallSnapshot, ErrMalformedFrame},
		{"string where bool", "81" + fixstr("LeadershipTransfer") + "a0", rpcRequestVote, ErrMalformedFrame},
		{"reserved byte", "81" + fixstr("X") + "c1", rpcRequestVote, ErrMalformedFrame},
	}
	for _, c := range cases {
		_, err := fuzzReader(mustHex(t, c.hex)).readRequest(c.typ)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// A frame made of many small fields still ends at the frame budget.
	many := "de" + "ffff" + strings.Repeat(fixstr("X")+"00", 0xffff)
	d := &wireReader{r: bufio.NewReader(bytes.NewReader(mustHex(t, many))), maxEntries: 10}
	d.startFrame(1000)
	if _, err := d.readRequest(rpcRequestVote); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("frame over budget: got %v", err)
	}
	// Truncation anywhere is an unexpected EOF, not a success.
	full := loadHexVector(t, "append_entries_entries.request.hex")
	for n := 1; n < len(full); n++ {
		if _, err := fuzzReader(full[1:n]).readRequest(full[0]); err == nil {
			t.Fatalf("frame cut at %d bytes decoded", n)
		}
	}
}

// TestNetCodecEncoderRefusesNilEntry checks that a nil entry is refused on
// the way out too, since the peer could not use it.
func TestNetCodecEncoderRefusesNilEntry(t *testing.T) {
	e := wireEncoder{}
	if err := e.request(&AppendEntriesRequest{Entries: []*Log{nil}}); !errors.Is(err, ErrMalformedFrame) {
		t.Fatalf("got %v", err)
	}
}
