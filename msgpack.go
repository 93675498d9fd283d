package raft

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// newMsgpackHandle returns the msgpack settings hashicorp/raft uses on the
// wire and in log entries: the old spec (strings and byte slices both as raw
// strings) and time.Time encoded through its binary marshaler. A new handle
// is built per use so the library holds no shared mutable state.
func newMsgpackHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.TimeNotBuiltin = true
	h.WriteExt = false
	return h
}

// encodeMsgpack encodes v with the wire settings.
func encodeMsgpack(v interface{}) ([]byte, error) {
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, newMsgpackHandle()).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeMsgpack decodes b into v with the wire settings.
func decodeMsgpack(b []byte, v interface{}) error {
	return codec.NewDecoderBytes(b, newMsgpackHandle()).Decode(v)
}

// EncodeConfiguration returns the msgpack form of a configuration, as stored
// in LogConfiguration entries and snapshots. It fails only if the encoder
// does, which for a Configuration value it does not.
func EncodeConfiguration(c Configuration) ([]byte, error) {
	b, err := encodeMsgpack(c)
	if err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	return b, nil
}

// DecodeConfiguration parses the msgpack form of a configuration. It returns
// an error for malformed input rather than panicking.
func DecodeConfiguration(b []byte) (Configuration, error) {
	var c Configuration
	if err := decodeMsgpack(b, &c); err != nil {
		return Configuration{}, fmt.Errorf("decode configuration: %w", err)
	}
	return c, nil
}
