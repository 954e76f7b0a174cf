package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ManifestName is the commit log of the lake: one JSON line per committed
// batch. A Parquet file is part of the lake only once a manifest line names
// it; files written before a crash but never committed are moved aside on
// the next open (see Recover) and their messages, never acknowledged, are
// redelivered.
const ManifestName = "_manifest.jsonl"

// OrphanDir receives files that were written but never committed.
const OrphanDir = "_orphans"

// FileEntry is one committed Parquet file.
type FileEntry struct {
	Path       string `json:"path"` // relative to the lake
	Table      string `json:"table"`
	Experiment string `json:"experiment"`
	Rows       int    `json:"rows"`
}

// Entry is one committed batch.
type Entry struct {
	FirstSeq    uint64      `json:"first_seq"`
	LastSeq     uint64      `json:"last_seq"`
	Events      int         `json:"events"`
	Duplicates  int         `json:"duplicates"`
	DeadLetters int         `json:"dead_letters"`
	Files       []FileEntry `json:"files"`
	// Replaces lists the files a compaction entry's Files replace (see
	// Compact); they leave the lake when it is committed. Empty for a
	// batch.
	Replaces []string `json:"replaces,omitempty"`
	// IDsChecked says that ingest checked every event of the batch against
	// every event ID its writer had committed before (its bounded ID index
	// still held them all), so no event in it is stored twice by this
	// writer; a compaction entry has it when every batch it merged had.
	// Absent (false) in manifests written before it existed.
	IDsChecked  bool      `json:"ids_checked,omitempty"`
	CommittedAt time.Time `json:"committed_at"`
}

// Compaction reports whether the entry merged earlier files instead of
// committing a batch of events.
func (e Entry) Compaction() bool { return len(e.Replaces) > 0 }

// Manifest is the open commit log. Not safe for concurrent use: one ingest
// owns a lake (see Lock).
type Manifest struct {
	writer   string
	f        *os.File
	entries  []Entry
	files    map[string]bool
	replaced map[string]bool // files a compaction replaced
	schemaOK map[string]bool // Compact's answers per file (immutable)
	// broken is set when a failed commit's line could not be taken back:
	// whether it reached the disk is unknown until the manifest is read
	// again, so no further commit is taken (see Broken).
	broken error
}

// ErrLocked is returned by Lock when another process owns the lake.
var ErrLocked = errors.New("dataset: the lake is in use by another ingest")

// Lock takes a writer's lock (flock on lake/.ingest.lock for the default
// writer "", lake/.ingest.WRITER.lock for a named one), released by the
// returned func or when the process dies. Two processes never write as one
// writer; different writers share a lake (see writers.go).
func Lock(lake, writer string) (func(), error) {
	if err := ValidWriter(writer); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(lake, 0o755); err != nil {
		return nil, fmt.Errorf("create lake: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(lake, lockName(writer)), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if writer != "" {
			return nil, fmt.Errorf("%w (%s, writer %s): %v", ErrLocked, lake, writer, err)
		}
		return nil, fmt.Errorf("%w (%s): %v", ErrLocked, lake, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// OpenManifest reads a writer's manifest (ManifestFile), creating it if absent. A final
// line cut short by a crash is dropped (its batch was never acknowledged).
func OpenManifest(lake, writer string) (*Manifest, error) {
	path := filepath.Join(lake, ManifestFile(writer))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	m := &Manifest{writer: writer, f: f, files: map[string]bool{}, replaced: map[string]bool{}, schemaOK: map[string]bool{}}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	entries, good, err := parseEntries(path, data)
	if err != nil {
		f.Close()
		return nil, err
	}
	for _, e := range entries {
		m.add(e)
	}
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, fmt.Errorf("truncate torn manifest line: %w", err)
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// parseEntries reads a manifest's lines. Lines are written whole with
// their newline; bytes after the last newline are a torn write of an
// unacknowledged batch, left out (good is where they start). Errors name
// the manifest and line.
func parseEntries(path string, data []byte) (entries []Entry, good int, err error) {
	good = bytes.LastIndexByte(data, '\n') + 1
	for i, raw := range bytes.Split(data[:good], []byte("\n")) {
		if len(raw) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, 0, fmt.Errorf("manifest %s line %d: %w", path, i+1, err)
		}
		entries = append(entries, e)
	}
	return entries, good, nil
}

func (m *Manifest) add(e Entry) {
	m.entries = append(m.entries, e)
	for _, fe := range e.Files {
		m.files[fe.Path] = true
	}
	for _, p := range e.Replaces {
		delete(m.files, p)
		m.replaced[p] = true
	}
}

// Commit appends one batch and fsyncs. After it returns nil the batch's
// files are part of the lake and its messages may be acknowledged.
func (m *Manifest) Commit(e Entry) error {
	if m.broken != nil {
		return m.broken
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	end, err := m.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("append manifest: %w", err)
	}
	_, err = m.f.Write(append(line, '\n'))
	if err == nil {
		err = m.f.Sync()
	}
	if err != nil {
		// Take back a partial line so the next commit starts clean. If
		// that fails too, the line may be on disk and committed: the
		// caller must read the manifest again before anything else.
		terr := m.f.Truncate(end)
		if terr == nil {
			_, terr = m.f.Seek(end, io.SeekStart)
		}
		if terr != nil {
			m.broken = fmt.Errorf("%w: append failed (%v) and the line could not be taken back (%v)", ErrManifestUnknown, err, terr)
			return m.broken
		}
		return fmt.Errorf("append manifest: %w", err)
	}
	m.add(e)
	return nil
}

// ErrManifestUnknown: a failed commit may or may not have reached the
// manifest; reopen it (OpenManifest, Recover) to know.
var ErrManifestUnknown = errors.New("dataset: the manifest's last commit is in doubt; reopen the lake")

// Broken returns the error that put the manifest in doubt (nil when the
// in-memory state is the file's): until it is reopened, every file a
// failed commit wrote may be committed and must be left in place.
func (m *Manifest) Broken() error { return m.broken }

// Entries returns the committed batches in commit order.
func (m *Manifest) Entries() []Entry { return m.entries }

// Committed reports whether a file (relative path) is committed and not
// replaced by a compaction.
func (m *Manifest) Committed(rel string) bool { return m.files[rel] }

// Replaced reports whether a compaction replaced the file (relative path).
func (m *Manifest) Replaced(rel string) bool { return m.replaced[rel] }

// Files lists the committed files of one table (all tables when table is
// ""), leaving out files a compaction replaced.
func (m *Manifest) Files(table string) []FileEntry {
	var out []FileEntry
	for _, e := range m.entries {
		for _, fe := range e.Files {
			if m.replaced[fe.Path] {
				continue
			}
			if table == "" || fe.Table == table {
				out = append(out, fe)
			}
		}
	}
	return out
}

// Close closes the manifest file.
func (m *Manifest) Close() error { return m.f.Close() }

// Recover moves every Parquet or temporary file of the manifest's writer
// (by name: see ownedBy) that the manifest does not name into
// lake/_orphans/ (kept, never deleted), and returns their relative paths;
// other writers' files are theirs to recover. Temporary files are looked
// for under lake/_tmp/ and, as older versions wrote them, in the table
// folders; either way one is kept as _orphans/<table>/…/<name>.tmp.
// Files a committed compaction replaced (a crash came before their
// deletion) are deleted: their rows are in the merged file. Run it under
// the writer's Lock, before ingesting.
func Recover(lake string, m *Manifest) ([]string, error) {
	var moved []string
	for _, t := range Tables {
		for _, base := range []string{lake, filepath.Join(lake, TmpDir)} {
			root := filepath.Join(base, t.Name)
			err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					if errors.Is(err, os.ErrNotExist) {
						return nil
					}
					return err
				}
				if d.IsDir() {
					return nil
				}
				rel, _ := filepath.Rel(base, p)
				inTable := base == lake // a file under _tmp/ is never committed
				if inTable && strings.HasSuffix(p, ".parquet") && m.Committed(rel) || !ownedBy(p, m.writer) {
					return nil
				}
				if inTable && m.Replaced(rel) {
					return os.Remove(p)
				}
				dst := filepath.Join(lake, OrphanDir, rel)
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return err
				}
				if err := os.Rename(p, dst); err != nil {
					return err
				}
				moved = append(moved, rel)
				return nil
			})
			if err != nil {
				return moved, fmt.Errorf("recover %s: %w", t.Name, err)
			}
		}
	}
	return moved, nil
}
