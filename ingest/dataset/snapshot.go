package dataset

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Snapshot is a frozen view of the lake for readers outside leakscope:
// every file the manifests named as committed (and no compaction had
// replaced) when they were read, hard-linked (or copied) under Dir with
// the lake's layout, so a reader of Dir sees neither a file that ingest
// wrote later nor a merged file beside the files it replaced, and no file
// vanishes under it. Rows are still to be kept once per row key
// (Table.Key): a re-publication that ingest's ID index had forgotten, or
// a message stored by two writers, is in two files.
type Snapshot struct {
	// Dir is the snapshot's lake: Dir/<table>/experiment=<e>/<file>.
	Dir string
	// Files are the committed files it holds, ordered by path.
	Files []FileEntry
	// Copied counts files copied because a hard link could not be made
	// (Dir on another filesystem).
	Copied int
}

// snapshotAttempts bounds how often TakeSnapshot reads the manifests again
// after a listed file vanished (a compaction replaced it meanwhile).
const snapshotAttempts = 20

// afterSnapshotList runs between reading the manifests and linking the
// files (tests: a compaction commits there).
var afterSnapshotList = func() {}

// linkFile makes a snapshot's hard link (tests: refuse it).
var linkFile = os.Link

// TakeSnapshot links every committed file of the lake (only the
// experiment's when experiment is not "") into dir, which must not exist
// yet; it is created, and removed again on error. A listed file that is
// gone when it is linked was replaced by a compaction committed after the
// manifests were read: the manifests are read again (up to 20 times).
// Errors name the file: a committed file missing every time, or one that
// cannot be read.
func TakeSnapshot(lake, dir, experiment string) (Snapshot, error) {
	if _, err := os.Lstat(dir); err == nil {
		return Snapshot{}, fmt.Errorf("dataset: snapshot folder %s exists already", dir)
	}
	var missing string
	for range snapshotAttempts {
		files, err := CommittedFiles(lake, "")
		if err != nil {
			return Snapshot{}, err
		}
		if experiment != "" {
			var mine []FileEntry
			for _, fe := range files {
				if fe.Experiment == experiment {
					mine = append(mine, fe)
				}
			}
			files = mine
		}
		afterSnapshotList()
		snap := Snapshot{Dir: dir, Files: files}
		missing, err = snap.fill(lake)
		if err != nil || missing == "" {
			if err != nil {
				os.RemoveAll(dir)
			}
			return snap, err
		}
		if err := os.RemoveAll(dir); err != nil {
			return Snapshot{}, fmt.Errorf("dataset: snapshot: %w", err)
		}
	}
	return Snapshot{}, fmt.Errorf("dataset: snapshot of %s: committed file %s is missing (read the manifests %d times; a file the lake lost, or compaction faster than the snapshot)", lake, missing, snapshotAttempts)
}

// fill links or copies the snapshot's files from lake; missing is the
// first file that no longer exists there.
func (s *Snapshot) fill(lake string) (missing string, err error) {
	for _, fe := range s.Files {
		src, dst := filepath.Join(lake, fe.Path), filepath.Join(s.Dir, fe.Path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("dataset: snapshot: %w", err)
		}
		err := linkFile(src, dst)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			err = copyFile(src, dst) // another filesystem, or links refused
			s.Copied++
		}
		if errors.Is(err, os.ErrNotExist) {
			return fe.Path, nil
		}
		if err != nil {
			return "", fmt.Errorf("dataset: snapshot of %s: %w", fe.Path, err)
		}
	}
	return "", nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
