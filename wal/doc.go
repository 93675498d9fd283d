// Package wal is a durable write-ahead log for the raft library: a
// raft.LogStore and raft.StableStore backed by plain files in one directory.
//
// # Layout
//
// A store directory holds:
//
//   - segment files named by the index of their first entry, as 20 decimal
//     digits and the suffix ".seg" (00000000000000000001.seg), each a
//     sequence of framed records;
//   - "wal.meta", a small file that is only ever replaced atomically, holding
//     the format version, the first live index (moved forward by prefix
//     deletion) and, while a suffix deletion is in flight, the index after
//     which entries are void;
//   - "stable.dat", the stable store's keys and values, also replaced
//     atomically.
//
// # Record framing
//
// Every record is a 12-byte header followed by a body:
//
//	offset 0  uint32 little-endian  body length
//	offset 4  uint32 little-endian  CRC-32C (Castagnoli) of the body
//	offset 8  uint32 little-endian  CRC-32C of header bytes 0..7
//
// The header has its own checksum so that a damaged length field is detected
// before it is believed: a crash can only leave a torn header at the very end
// of a file, so a complete header that fails its checksum is corruption. The
// body is the entry: index and term (uint64), type (uint8), AppendedAt as
// Unix seconds (int64) and nanoseconds (uint32), then Data and Extensions,
// each as a uvarint length and its bytes. All integers are little-endian.
//
// # Writes
//
// StoreLogs encodes a whole batch into one buffer, issues one write and one
// fdatasync, and only then makes the entries visible to readers. Starting a
// new segment additionally syncs the directory so the new file's name is
// durable.
//
// Appends should never grow a file: a sync after a write past the end of
// the file must also commit the new size and blocks (on ext4, a journal
// commit), which costs several times the data itself. So a store that has
// written a few megabytes (or one segment, if segments are smaller) prepares
// a spare segment in the background: a file named "spare-segment.tmp" of
// zeros as long as a segment, written and synced on its own goroutine. The
// next segment is that file, renamed; when the active segment would have to
// grow and a spare is ready, the store moves on to it early. Without a spare
// (a young store, or a preparation that failed, which is logged) the active
// segment grows in 1 MiB steps of zeros, written by the same write that
// first needs them. A segment that stops taking appends is trimmed back to
// its records. A busy store thus holds up to two segments' worth of space
// ahead of its data.
//
// # Recovery
//
// Open reads every live segment and checks every record. Zeros where a
// header should start, with only zeros after them, end a segment's records:
// that is space written ahead. In the last segment, a record that fails a
// check (a header cut short or failing its checksum, a record running past
// the end of the file, a body failing its checksum) with nothing but zeros
// after it is the mark of a crash during a write that was never
// acknowledged, and is truncated away. Writes are sequential, so such a
// record is necessarily the last one; a damaged final record is therefore
// indistinguishable from a torn one, and is dropped with a warning. Anything
// else that fails a check is returned as a *CorruptError naming the file and
// offset; nothing is silently dropped.
//
// # Deletion
//
// DeleteRange of a prefix first replaces wal.meta with the new first index,
// then unlinks the segments wholly below it. DeleteRange of a suffix first
// records the new last index in wal.meta, then truncates and unlinks, then
// clears the mark. A crash at any point leaves the meta file either old or
// new, and Open finishes whatever the meta file says was decided, so the log
// is always either the old one or the new one.
//
// # Use
//
// A directory is opened by one Store at a time: Open locks it (an flock on
// "wal.lock", released by Close or by the process dying) and fails with
// ErrLocked while another Store, in this process or another, holds it.
// Outside Unix there is no lock, and the caller must ensure this. Open returns a *Store that is both the
// raft.LogStore and the raft.StableStore of one server. In the stable store
// a missing key reads as raft.ErrKeyNotFound from Get and as 0, nil from
// GetUint64.
package wal
