package importer

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// location is a file's place in the experiment tree. Naming (EXPERIMENT.md
// §8 paths are kept as published): relative to root, the first folder is the
// experiment and the rest of the directory path is the run; a file directly
// in the experiment folder is its own run, named by its stem. Files that hold
// several sources (the i81 CSV) add "/<source>" to that run.
type location struct {
	Path       string // as given or walked
	Abs        string
	Root       string // absolute root the names are relative to
	Rel        string // slash-separated path relative to Root (Run.OriginFile)
	Experiment string
	Run        string
	Stem       string // file name without extension
	DirName    string // name of the file's folder (e.g. the source of single_token_100_persona)
}

var experimentNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// locate names the file at path relative to root (both may be relative to
// the working directory).
func locate(root, path string) (location, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return location{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return location{}, err
	}
	rel, err := filepath.Rel(absRoot, abs)
	if err != nil {
		return location{}, err
	}
	rel = filepath.ToSlash(rel)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return location{}, fmt.Errorf("file is outside root %s", root)
	}
	base := filepath.Base(abs)
	loc := location{
		Path: path, Abs: abs, Root: absRoot, Rel: rel,
		Stem:    strings.TrimSuffix(base, filepath.Ext(base)),
		DirName: filepath.Base(filepath.Dir(abs)),
	}
	parts := strings.Split(rel, "/")
	switch len(parts) {
	case 1:
		// Directly in root: no experiment folder. Parse reports this for data
		// files only; other files are skipped anyway.
		return loc, nil
	case 2:
		loc.Experiment, loc.Run = parts[0], loc.Stem
	default:
		loc.Experiment, loc.Run = parts[0], strings.Join(parts[1:len(parts)-1], "/")
	}
	return loc, nil
}

// checkNamed fails for data files that cannot be named.
func (l location) checkNamed() error {
	if l.Experiment == "" {
		return fmt.Errorf("file lies directly in root %s: the experiment is the first folder under the root (pass --root with the folder above, e.g. --root %s)", l.Root, filepath.Dir(l.Root))
	}
	if !experimentNameRe.MatchString(l.Experiment) {
		return fmt.Errorf("experiment folder %q must match %s", l.Experiment, experimentNameRe)
	}
	return nil
}

// subRun is the run ID of one source inside a multi-source file.
func (l location) subRun(source string) string { return l.Run + "/" + source }

// defaultRoot is the root used when Parse is called with root "": the
// directory itself for a directory, the grandparent for a file.
func defaultRoot(path string, isDir bool) string {
	if isDir {
		return path
	}
	return filepath.Dir(filepath.Dir(path))
}
