// Package rafttest runs clusters of raft servers in one process, for this
// library's tests and its users': a Cluster harness over the in-memory or
// loopback TCP transport and in-memory or wal stores, a FaultTransport that
// drops, delays, duplicates and reorders messages and cuts links, a seeded
// Nemesis that schedules faults, a replicated key-value FSM, and a
// linearizability checker (porcupine) for the histories clients record.
//
// A crash (Cluster.Crash) is a process death, not a shutdown: the server
// stops sending and receiving at that instant, and a write its stores had
// not yet acknowledged may be kept, kept in part or lost.
package rafttest
