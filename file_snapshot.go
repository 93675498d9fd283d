package raft

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// The on-disk names below are shared with hashicorp/raft's file store, so a
// directory written by either library can be read by the other.
const (
	snapshotsDirName  = "snapshots"
	snapshotMetaFile  = "meta.json"
	snapshotStateFile = "state.bin"
	snapshotTmpSuffix = ".tmp"

	// snapshotBufferSize is the buffer between the caller and state.bin in
	// both directions. It turns the many small writes an FSM typically makes
	// into few system calls while keeping memory use fixed, however large
	// the snapshot.
	snapshotBufferSize = 64 << 10

	// maxSnapshotNameTries bounds the search for an unused directory name.
	// A collision needs another snapshot of the same term and index in the
	// same millisecond, so more than a handful of tries means the directory
	// is unusable, not crowded.
	maxSnapshotNameTries = 1000
)

// FileSnapshotStore is a SnapshotStore that keeps snapshots as directories
// on disk, in the same format as hashicorp/raft's FileSnapshotStore:
// <base>/snapshots/<term>-<index>-<unix ms>/ holding meta.json and
// state.bin. A snapshot is written under a ".tmp" name and renamed only once
// its files are on stable storage, so List never sees a partial snapshot,
// even after a crash. Only the newest retain snapshots are kept.
//
// A FileSnapshotStore is safe for concurrent use.
type FileSnapshotStore struct {
	// dir is <base>/snapshots.
	dir    string
	retain int
	logger hclog.Logger

	// mu serialises the choice of new directory names, the scans done by
	// List, Open's lookup and reaping, so a reap never pulls a directory out
	// from under a listing or an Open half-way through reading it.
	mu sync.Mutex
	// lastMillis is the time part of the newest name handed out. New names
	// never reuse it, so two snapshots of the same term and index created
	// within one millisecond still get distinct directories.
	lastMillis int64
	// now is the clock for names; tests replace it to force collisions.
	now func() time.Time
	// openHook, when set by a test, runs in Open between reading meta.json
	// and opening state.bin, the window a reap must not fall into.
	openHook func()
}

// fileSnapshotMeta is the content of meta.json: the metadata followed by the
// CRC-64 (ECMA table, big-endian) of state.bin. Embedding keeps the JSON keys
// in the order hashicorp/raft writes them, with CRC last.
type fileSnapshotMeta struct {
	SnapshotMeta
	CRC []byte
}

// NewFileSnapshotStore returns a FileSnapshotStore rooted at base that keeps
// the newest retain snapshots, logging to logOutput (os.Stderr when nil). It
// creates <base>/snapshots if needed and removes ".tmp" directories left by
// a crash. It fails with ErrInvalidSnapshotRetain when retain < 1, and with
// the underlying error when the directory cannot be created or written.
func NewFileSnapshotStore(base string, retain int, logOutput io.Writer) (*FileSnapshotStore, error) {
	if logOutput == nil {
		logOutput = os.Stderr
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "snapshot",
		Output: logOutput,
		Level:  hclog.DefaultLevel,
	})
	return NewFileSnapshotStoreWithLogger(base, retain, logger)
}

// NewFileSnapshotStoreWithLogger is NewFileSnapshotStore with an hclog
// logger; a nil logger logs to os.Stderr. It fails in the same cases.
func NewFileSnapshotStoreWithLogger(base string, retain int, logger hclog.Logger) (*FileSnapshotStore, error) {
	if retain < 1 {
		return nil, fmt.Errorf("%w: retain is %d", ErrInvalidSnapshotRetain, retain)
	}
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: "snapshot", Output: os.Stderr, Level: hclog.DefaultLevel})
	}
	dir := filepath.Join(base, snapshotsDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot store: create %s: %w", dir, err)
	}
	// Fail now rather than at the first snapshot, which may be hours away
	// and is when a node least wants to discover a read-only directory.
	probe, err := os.CreateTemp(dir, "write-check-")
	if err != nil {
		return nil, fmt.Errorf("snapshot store: %s is not writable: %w", dir, err)
	}
	probeName := probe.Name()
	closeErr := probe.Close()
	if err := errors.Join(closeErr, os.Remove(probeName)); err != nil {
		return nil, fmt.Errorf("snapshot store: write check in %s: %w", dir, err)
	}
	f := &FileSnapshotStore{dir: dir, retain: retain, logger: logger, now: time.Now}
	f.removeStaleTemp()
	return f, nil
}

// removeStaleTemp deletes ".tmp" directories. At construction none can
// belong to a live sink of this store, so they are leftovers of a crash
// mid-snapshot. Failing to remove one is only logged: List ignores them.
func (f *FileSnapshotStore) removeStaleTemp() {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		f.logger.Warn("failed to scan for stale snapshots", "path", f.dir, "error", err)
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasSuffix(e.Name(), snapshotTmpSuffix) {
			continue
		}
		path := filepath.Join(f.dir, e.Name())
		if err := os.RemoveAll(path); err != nil {
			f.logger.Warn("failed to remove incomplete snapshot", "path", path, "error", err)
			continue
		}
		f.logger.Info("removed incomplete snapshot left by a crash", "path", path)
	}
}

// Create starts a snapshot in a new ".tmp" directory and writes a first
// meta.json (Size 0, no CRC). The returned sink must be closed to publish
// the snapshot or cancelled to discard it. Peers is filled with the legacy
// peer list: the voters encoded by trans.EncodePeer (their addresses when
// trans is nil). Create fails with ErrUnsupportedSnapshotVersion for an
// unknown version, and with the file system's error, naming the path, when
// the directory or its files cannot be created.
func (f *FileSnapshotStore) Create(version SnapshotVersion, index, term uint64, configuration Configuration,
	configurationIndex uint64, trans Transport) (SnapshotSink, error) {
	if err := checkSnapshotVersion(version); err != nil {
		return nil, err
	}
	peers, err := encodeSnapshotPeers(configuration, trans)
	if err != nil {
		return nil, err
	}
	name, err := f.makeTempDir(term, index)
	if err != nil {
		return nil, err
	}
	tmpDir := filepath.Join(f.dir, name+snapshotTmpSuffix)
	s := &fileSnapshotSink{
		store:    f,
		tmpDir:   tmpDir,
		finalDir: filepath.Join(f.dir, name),
		meta: fileSnapshotMeta{SnapshotMeta: SnapshotMeta{
			Version:            version,
			ID:                 name,
			Index:              index,
			Term:               term,
			Peers:              peers,
			Configuration:      configuration.Clone(),
			ConfigurationIndex: configurationIndex,
		}},
		hash: crc64.New(crc64.MakeTable(crc64.ECMA)),
	}
	if err := writeSnapshotMeta(tmpDir, &s.meta, false); err != nil {
		return nil, errors.Join(err, os.RemoveAll(tmpDir))
	}
	statePath := filepath.Join(tmpDir, snapshotStateFile)
	state, err := os.OpenFile(statePath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("snapshot store: create %s: %w", statePath, err), os.RemoveAll(tmpDir))
	}
	s.state = state
	s.buf = bufio.NewWriterSize(state, snapshotBufferSize)
	f.logger.Info("creating new snapshot", "path", tmpDir)
	return s, nil
}

// makeTempDir picks an unused name <term>-<index>-<ms> and creates its
// ".tmp" directory. Mkdir (not MkdirAll) makes the claim atomic, and the
// finished name is checked too, so a sink never reuses a directory.
func (f *FileSnapshotStore) makeTempDir(term, index uint64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := max(f.now().UnixMilli(), f.lastMillis+1)
	for range maxSnapshotNameTries {
		name := snapshotName(term, index, ms)
		ms++
		if _, err := os.Lstat(filepath.Join(f.dir, name)); !errors.Is(err, fs.ErrNotExist) {
			if err != nil {
				return "", fmt.Errorf("snapshot store: stat %s: %w", filepath.Join(f.dir, name), err)
			}
			continue
		}
		tmpDir := filepath.Join(f.dir, name+snapshotTmpSuffix)
		err := os.Mkdir(tmpDir, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("snapshot store: create %s: %w", tmpDir, err)
		}
		f.lastMillis = ms - 1
		return name, nil
	}
	return "", fmt.Errorf("snapshot store: no free snapshot name for term %d index %d in %s", term, index, f.dir)
}

// List returns the metadata of the stored snapshots, newest first (by term,
// then index, then creation time), at most retain of them. Directories still
// being written, and directories whose meta.json is unreadable, malformed or
// of an unsupported version, are left out; the latter are logged with the
// file and the reason, and Open on them returns that error. List fails only
// when the snapshots directory itself cannot be read.
func (f *FileSnapshotStore) List() ([]*SnapshotMeta, error) {
	f.mu.Lock()
	metas, err := f.scan()
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := make([]*SnapshotMeta, 0, min(len(metas), f.retain))
	for _, m := range metas[:min(len(metas), f.retain)] {
		out = append(out, &m.SnapshotMeta)
	}
	return out, nil
}

// scan reads every finished snapshot's meta.json and returns them sorted
// newest first. The caller holds f.mu.
func (f *FileSnapshotStore) scan() ([]*fileSnapshotMeta, error) {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot store: list %s: %w", f.dir, err)
	}
	var metas []*fileSnapshotMeta
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), snapshotTmpSuffix) {
			continue
		}
		m, err := f.readMeta(e.Name())
		if err != nil {
			f.logger.Warn("ignoring unusable snapshot", "id", e.Name(), "error", err)
			continue
		}
		metas = append(metas, m)
	}
	slices.SortFunc(metas, func(a, b *fileSnapshotMeta) int {
		return compareSnapshotsNewestFirst(&a.SnapshotMeta, &b.SnapshotMeta)
	})
	return metas, nil
}

// readMeta loads and checks the meta.json of snapshot id. Errors name the
// file; damage wraps ErrSnapshotCorrupt, a missing file fs.ErrNotExist.
func (f *FileSnapshotStore) readMeta(id string) (*fileSnapshotMeta, error) {
	path := filepath.Join(f.dir, id, snapshotMetaFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot store: read %s: %w", path, err)
	}
	m := &fileSnapshotMeta{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %s at byte %d: %v", ErrSnapshotCorrupt, path, jsonErrorOffset(err, len(b)), err)
	}
	if err := checkSnapshotVersion(m.Version); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(m.CRC) != crc64.Size {
		return nil, fmt.Errorf("%w: %s: CRC is %d bytes, want %d", ErrSnapshotCorrupt, path, len(m.CRC), crc64.Size)
	}
	if m.Size < 0 {
		return nil, fmt.Errorf("%w: %s: negative size %d", ErrSnapshotCorrupt, path, m.Size)
	}
	// The directory name is what Open is called with, so it is the ID even
	// if the directory was renamed after meta.json was written.
	m.ID = id
	return m, nil
}

// Open returns the metadata of snapshot id and a reader of its data. The
// reader checks the data against the recorded CRC as it goes: the Read that
// reaches the end returns an error wrapping ErrSnapshotCorrupt, naming
// state.bin, instead of io.EOF when the data is damaged, so a restore that
// reads to EOF cannot accept a damaged snapshot. Use Verify to check a
// snapshot before handing it to a consumer that acts on data as it streams.
// Open fails with ErrSnapshotNotFound for an unknown id, with
// ErrSnapshotCorrupt when meta.json is malformed or state.bin is missing or
// of the wrong size, and with the file system's error otherwise. The caller
// closes the reader.
func (f *FileSnapshotStore) Open(id string) (*SnapshotMeta, io.ReadCloser, error) {
	if !validSnapshotID(id) {
		return nil, nil, fmt.Errorf("%w: invalid snapshot id %q", ErrSnapshotNotFound, id)
	}
	// Holding mu until state.bin is open keeps a concurrent reap from
	// removing the snapshot between reading its meta.json and opening its
	// data, which would look like corruption. Once open, removal is
	// harmless: the reader keeps the file.
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.readMeta(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrSnapshotNotFound, id, err)
	}
	if err != nil {
		return nil, nil, err
	}
	if f.openHook != nil {
		f.openHook()
	}
	path := filepath.Join(f.dir, id, snapshotStateFile)
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s is missing", ErrSnapshotCorrupt, path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot store: open %s: %w", path, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("snapshot store: stat %s: %w", path, err), fh.Close())
	}
	if fi.Size() != m.Size {
		return nil, nil, errors.Join(fmt.Errorf("%w: %s holds %d bytes, meta.json records %d",
			ErrSnapshotCorrupt, path, fi.Size(), m.Size), fh.Close())
	}
	r := &verifyingReader{
		path: path,
		file: fh,
		buf:  bufio.NewReaderSize(fh, snapshotBufferSize),
		hash: crc64.New(crc64.MakeTable(crc64.ECMA)),
		want: m.CRC,
		size: m.Size,
	}
	return &m.SnapshotMeta, r, nil
}

// Verify reads snapshot id to the end and checks it against its recorded
// size and CRC, without keeping any of it. It returns nil for a sound
// snapshot and otherwise the error Open or reading returns: ErrSnapshotNotFound,
// ErrSnapshotCorrupt (naming the damaged file), or an I/O error. An engine
// can call it before a restore so that a damaged snapshot is rejected before
// the FSM has consumed any of it, at the cost of reading the data twice.
func (f *FileSnapshotStore) Verify(id string) error {
	_, rc, err := f.Open(id)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, rc)
	return errors.Join(err, rc.Close())
}

// reap deletes the finished snapshots beyond the newest retain. A failure
// is logged, not returned: the snapshot just published is durable, and a
// leftover old one costs disk space, not correctness.
func (f *FileSnapshotStore) reap() {
	f.mu.Lock()
	defer f.mu.Unlock()
	metas, err := f.scan()
	if err != nil {
		f.logger.Error("failed to list snapshots for reaping", "error", err)
		return
	}
	for _, m := range metas[min(len(metas), f.retain):] {
		path := filepath.Join(f.dir, m.ID)
		if err := os.RemoveAll(path); err != nil {
			f.logger.Error("failed to reap snapshot", "path", path, "error", err)
			continue
		}
		f.logger.Info("reaped snapshot", "path", path)
	}
}

// fileSnapshotSink writes one snapshot into its ".tmp" directory.
type fileSnapshotSink struct {
	store    *FileSnapshotStore
	tmpDir   string
	finalDir string

	// mu guards everything below. An FSM writes from one goroutine, but the
	// engine may cancel from another (on shutdown, say).
	mu    sync.Mutex
	meta  fileSnapshotMeta
	state *os.File
	buf   *bufio.Writer
	hash  hash.Hash64
	done  bool
}

// ID returns the snapshot's ID, the name its directory will have.
func (s *fileSnapshotSink) ID() string { return s.meta.ID }

// Write appends p to state.bin through the buffer and the running CRC.
// It fails with ErrSnapshotSinkClosed after Close or Cancel, or with the
// file system's error naming the file.
func (s *fileSnapshotSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return 0, fmt.Errorf("%w: snapshot %s", ErrSnapshotSinkClosed, s.meta.ID)
	}
	n, err := s.buf.Write(p)
	s.hash.Write(p[:n])
	s.meta.Size += int64(n)
	if err != nil {
		return n, fmt.Errorf("snapshot store: write %s: %w", s.state.Name(), err)
	}
	return n, nil
}

// Close publishes the snapshot: it flushes and fsyncs state.bin, rewrites
// meta.json with the final size and CRC and fsyncs it, renames the ".tmp"
// directory to its final name, fsyncs the parent directory, then deletes
// snapshots beyond the retained number. If any step fails the snapshot is
// removed and the error, naming the file, is returned; nothing of it is
// listed. Closing twice, or after Cancel, fails with ErrSnapshotSinkClosed.
func (s *fileSnapshotSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return fmt.Errorf("%w: snapshot %s", ErrSnapshotSinkClosed, s.meta.ID)
	}
	s.done = true
	renamed, err := s.publish()
	if err != nil {
		// Remove whichever directory the snapshot is in, so that a Close
		// that reports failure never leaves a snapshot that List returns.
		dir := s.tmpDir
		if renamed {
			dir = s.finalDir
		}
		err = errors.Join(err, os.RemoveAll(dir))
		s.store.logger.Error("failed to finish snapshot", "id", s.meta.ID, "error", err)
		return err
	}
	s.store.logger.Info("snapshot complete", "path", s.finalDir, "size", s.meta.Size)
	s.store.reap()
	return nil
}

// publish does the work of Close and reports whether the rename happened.
// On return state.bin is closed whatever the outcome.
func (s *fileSnapshotSink) publish() (renamed bool, err error) {
	statePath := s.state.Name()
	if err := s.buf.Flush(); err != nil {
		return false, errors.Join(fmt.Errorf("snapshot store: write %s: %w", statePath, err), s.state.Close())
	}
	if err := s.state.Sync(); err != nil {
		return false, errors.Join(fmt.Errorf("snapshot store: fsync %s: %w", statePath, err), s.state.Close())
	}
	if err := s.state.Close(); err != nil {
		return false, fmt.Errorf("snapshot store: close %s: %w", statePath, err)
	}
	s.meta.CRC = s.hash.Sum(nil)
	if err := writeSnapshotMeta(s.tmpDir, &s.meta, true); err != nil {
		return false, err
	}
	// The directory's own entries must be durable before the rename makes
	// it visible, or a crash could publish a directory missing a file.
	if err := syncDir(s.tmpDir); err != nil {
		return false, err
	}
	if err := os.Rename(s.tmpDir, s.finalDir); err != nil {
		return false, fmt.Errorf("snapshot store: rename %s: %w", s.tmpDir, err)
	}
	if err := syncDir(filepath.Dir(s.finalDir)); err != nil {
		return true, err
	}
	return true, nil
}

// Cancel abandons the snapshot and deletes its ".tmp" directory. It is a
// no-op after Close or a previous Cancel, so it is safe to defer. It fails
// only when the directory cannot be removed; List ignores it regardless.
func (s *fileSnapshotSink) Cancel() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	// The close error is moot: the data is being thrown away.
	_ = s.state.Close()
	if err := os.RemoveAll(s.tmpDir); err != nil {
		return fmt.Errorf("snapshot store: remove %s: %w", s.tmpDir, err)
	}
	s.store.logger.Info("snapshot cancelled", "id", s.meta.ID)
	return nil
}

// verifyingReader streams state.bin and checks its size and CRC at the end.
type verifyingReader struct {
	path string
	file *os.File
	buf  *bufio.Reader
	hash hash.Hash64
	want []byte
	size int64
	read int64
}

// Read reads from state.bin. At the end of the data it returns io.EOF if
// the size and CRC match meta.json and an error wrapping
// ErrSnapshotCorrupt, naming the file, if they do not.
func (r *verifyingReader) Read(p []byte) (int, error) {
	// Reads after the end get io.EOF from bufio again and so repeat the
	// check: a caller retrying after a corruption error never sees io.EOF.
	n, err := r.buf.Read(p)
	r.hash.Write(p[:n])
	r.read += int64(n)
	switch {
	case err == io.EOF:
		err = r.check()
	case err != nil:
		err = fmt.Errorf("snapshot store: read %s: %w", r.path, err)
	}
	return n, err
}

// check compares what was read with meta.json's record.
func (r *verifyingReader) check() error {
	if r.read != r.size {
		return fmt.Errorf("%w: %s: read %d bytes, meta.json records %d", ErrSnapshotCorrupt, r.path, r.read, r.size)
	}
	if got := r.hash.Sum(nil); !bytes.Equal(got, r.want) {
		return fmt.Errorf("%w: %s: CRC-64 is %x, meta.json records %x", ErrSnapshotCorrupt, r.path, got, r.want)
	}
	return io.EOF
}

// Close closes state.bin.
func (r *verifyingReader) Close() error {
	return r.file.Close()
}

// jsonErrorOffset returns where in the input a JSON decoding error was
// found, so a damaged meta.json can be inspected at the right place; errors
// that carry no offset are reported at the end of the input.
func jsonErrorOffset(err error, size int) int64 {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return syntax.Offset
	case errors.As(err, &typ):
		return typ.Offset
	default:
		return int64(size)
	}
}

// writeSnapshotMeta writes meta.json into dir as one line of JSON, fsyncing
// it when durable is set. Errors name the file.
func writeSnapshotMeta(dir string, m *fileSnapshotMeta, durable bool) error {
	path := filepath.Join(dir, snapshotMetaFile)
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("snapshot store: encode %s: %w", path, err)
	}
	b = append(b, '\n')
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("snapshot store: create %s: %w", path, err)
	}
	if _, err := fh.Write(b); err != nil {
		return errors.Join(fmt.Errorf("snapshot store: write %s: %w", path, err), fh.Close())
	}
	if durable {
		if err := fh.Sync(); err != nil {
			return errors.Join(fmt.Errorf("snapshot store: fsync %s: %w", path, err), fh.Close())
		}
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("snapshot store: close %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so that entries created, removed or renamed in
// it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot store: open %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		return errors.Join(fmt.Errorf("snapshot store: fsync %s: %w", dir, err), d.Close())
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("snapshot store: close %s: %w", dir, err)
	}
	return nil
}

// checkSnapshotVersion rejects versions this library cannot read or write.
func checkSnapshotVersion(v SnapshotVersion) error {
	if v < SnapshotVersionMin || v > SnapshotVersionMax {
		return fmt.Errorf("%w: %d (supported %d..%d)", ErrUnsupportedSnapshotVersion, v, SnapshotVersionMin, SnapshotVersionMax)
	}
	return nil
}

// encodeSnapshotPeers builds the legacy Peers field: a msgpack array of the
// voters as the transport encodes them. Older peers read membership from it;
// nonvoters have no place in that format and are left out. Without a
// transport the addresses are used, which is what the network transports'
// EncodePeer returns.
func encodeSnapshotPeers(c Configuration, trans Transport) ([]byte, error) {
	var peers [][]byte
	for _, s := range c.Servers {
		if s.Suffrage != Voter {
			continue
		}
		if trans != nil {
			peers = append(peers, trans.EncodePeer(s.ID, s.Address))
		} else {
			peers = append(peers, []byte(s.Address))
		}
	}
	b, err := encodeMsgpack(peers)
	if err != nil {
		return nil, fmt.Errorf("snapshot store: encode peers: %w", err)
	}
	return b, nil
}

// snapshotName is the ID and directory name of a snapshot.
func snapshotName(term, index uint64, unixMillis int64) string {
	return fmt.Sprintf("%d-%d-%d", term, index, unixMillis)
}

// snapshotMillis extracts the creation time from an ID made by
// snapshotName, or -1 for an ID of another shape.
func snapshotMillis(id string) int64 {
	i := strings.LastIndexByte(id, '-')
	ms, err := strconv.ParseInt(id[i+1:], 10, 64)
	if i < 0 || err != nil {
		return -1
	}
	return ms
}

// compareSnapshotsNewestFirst orders snapshots for List: higher term first,
// then higher index, then later creation. The ID breaks remaining ties so
// the order is total and stable across calls.
func compareSnapshotsNewestFirst(a, b *SnapshotMeta) int {
	if c := cmp.Compare(b.Term, a.Term); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Index, a.Index); c != 0 {
		return c
	}
	if c := cmp.Compare(snapshotMillis(b.ID), snapshotMillis(a.ID)); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// validSnapshotID reports whether id can name a finished snapshot directory,
// rejecting anything that would reach outside the snapshots directory.
func validSnapshotID(id string) bool {
	return id != "" && id != "." && id != ".." &&
		!strings.ContainsAny(id, `/\`) && !strings.ContainsRune(id, os.PathSeparator) &&
		!strings.HasSuffix(id, snapshotTmpSuffix)
}
