// Package interop holds tests that run mixed clusters of
// github.com/consensuskit/raft and github.com/hashicorp/raft nodes over
// loopback TCP, to show that the two interoperate on the wire (protocol
// version 3). It has no exported API; see README.md.
package interop
