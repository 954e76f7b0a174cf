package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Several ingest processes may share one lake and one durable consumer
// (issue 10: scale-out ingest). Each is a named *writer* that owns a lock,
// a manifest and the files whose names carry its name, so no file is ever
// written by two of them and each recovers only its own uncommitted files.
// The unnamed writer "" is the one-machine default: .ingest.lock,
// _manifest.jsonl and file names without a suffix, as before writers
// existed, so older lakes need no migration.

// writerPattern: a letter first, so a writer suffix never looks like the
// nanosecond stamp before it.
var writerPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)

// ValidWriter reports whether name may name a writer ("" is the default).
func ValidWriter(name string) error {
	if name == "" || writerPattern.MatchString(name) {
		return nil
	}
	return fmt.Errorf("dataset: writer name %q: want a lowercase letter, then up to 39 of a-z 0-9 _ - (e.g. ingest-1)", name)
}

func lockName(writer string) string {
	if writer == "" {
		return ".ingest.lock"
	}
	return ".ingest." + writer + ".lock"
}

// ManifestFile is the manifest's file name of a writer: ManifestName for
// the default writer, _manifest.WRITER.jsonl otherwise.
func ManifestFile(writer string) string {
	if writer == "" {
		return ManifestName
	}
	return "_manifest." + writer + ".jsonl"
}

// FileName is the name of a batch file of a writer: stream sequence range
// and a nanosecond stamp keep names unique and sortable; a named writer's
// files end in -WRITER.parquet.
func FileName(firstSeq, lastSeq uint64, now time.Time, writer string) string {
	if writer == "" {
		return fmt.Sprintf("part-%012d-%012d-%d.parquet", firstSeq, lastSeq, now.UnixNano())
	}
	return fmt.Sprintf("part-%012d-%012d-%d-%s.parquet", firstSeq, lastSeq, now.UnixNano(), writer)
}

// ownerOf returns the writer whose name a lake file (or its .tmp) carries;
// ok is false for names no writer produces (they belong to the default
// writer's recovery, as every stray file did before writers existed).
func ownerOf(name string) (writer string, ok bool) {
	name = strings.TrimSuffix(filepath.Base(name), ".tmp")
	rest, found := strings.CutPrefix(name, "part-")
	if !found {
		return "", false
	}
	rest, found = strings.CutSuffix(rest, ".parquet")
	if !found {
		return "", false
	}
	parts := strings.SplitN(rest, "-", 4)
	if len(parts) < 3 {
		return "", false
	}
	if len(parts) == 3 {
		return "", true
	}
	if ValidWriter(parts[3]) != nil {
		return "", false
	}
	return parts[3], true
}

// ownedBy reports whether the writer's recovery may move the file aside.
func ownedBy(name, writer string) bool {
	w, ok := ownerOf(name)
	if !ok {
		return writer == ""
	}
	return w == writer
}

// CommittedFiles reads every writer's manifest, read-only, and returns the
// committed files of a table ("" for all) that no compaction replaced,
// ordered by path. A manifest's
// torn last line (its writer is appending or crashed mid-line) is skipped.
// Errors name the manifest and line.
func CommittedFiles(lake, table string) ([]FileEntry, error) {
	paths, err := filepath.Glob(filepath.Join(lake, "_manifest*.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []FileEntry
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		entries, _, err := parseEntries(p, data)
		if err != nil {
			return nil, err
		}
		replaced := map[string]bool{} // a writer compacts only its own files
		for _, e := range entries {
			for _, r := range e.Replaces {
				replaced[r] = true
			}
		}
		for _, e := range entries {
			for _, fe := range e.Files {
				if replaced[fe.Path] {
					continue
				}
				if table == "" || fe.Table == table {
					out = append(out, fe)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// VouchedUnique reports whether ingest vouched that no event ID is stored
// twice among the given completions files (paths under lake): one writer
// committed them all, each in a batch it checked against every ID it had
// committed before (Entry.IDsChecked). False for a file no manifest
// names, for files of two writers (a message redelivered to a sibling may
// be stored by both) and for manifests older than the flag; readers then
// check the IDs themselves.
func VouchedUnique(lake string, files []string) (bool, error) {
	paths, err := filepath.Glob(filepath.Join(lake, "_manifest*.jsonl"))
	if err != nil {
		return false, err
	}
	want := map[string]bool{}
	for _, f := range files {
		rel, err := filepath.Rel(lake, f)
		if err != nil {
			return false, nil
		}
		want[rel] = true
	}
	checked := map[string]bool{}
	writers := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return false, fmt.Errorf("read manifest: %w", err)
		}
		entries, _, err := parseEntries(p, data)
		if err != nil {
			return false, err
		}
		replaced := map[string]bool{}
		for _, e := range entries {
			for _, r := range e.Replaces {
				if replaced[r] {
					return false, nil // merged twice: both merged files may hold its rows
				}
				replaced[r] = true
			}
		}
		holds := false
		for _, e := range entries {
			for _, fe := range e.Files {
				if want[fe.Path] && !replaced[fe.Path] {
					checked[fe.Path], holds = e.IDsChecked, true
				}
			}
		}
		if holds {
			writers++
		}
	}
	if writers != 1 {
		return false, nil
	}
	for rel := range want {
		if !checked[rel] {
			return false, nil
		}
	}
	return true, nil
}
