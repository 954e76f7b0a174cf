package mapimport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"leakscope/gpuworker/importer"
	"leakscope/query/duck"
)

// MaxRowsPerFile bounds the rows a mapping's query may give for one file
// (beyond it the import fails with duck.ErrTooManyRows); the byte budget,
// memory limit and time limit are those of `leakscope sql`
// (duck.MaxResultBytes, duck.MemoryLimit, duck.UserQueryTimeout).
var MaxRowsPerFile = 1_000_000

// Run imports the files under paths that the mapping matches: for each,
// in path order, the mapping's query runs with {file} standing for it, in
// the jail of `leakscope sql` confined to root (the import folder: no
// other file, no writes, no extensions, bounded rows, bytes, memory and
// time), and its rows go to importer.ParseMapped with opt. root "" is the
// one directory of paths. Files under paths that the glob does not match
// are listed as skipped. Errors are *Error naming the mapping's line, the
// file and the row.
func Run(ctx context.Context, m *Mapping, root string, paths []string, opt importer.Options) (importer.Plan, error) {
	if root == "" {
		if len(paths) == 1 {
			if st, err := os.Stat(paths[0]); err == nil && st.IsDir() {
				root = paths[0]
			}
		}
		if root == "" {
			return importer.Plan{}, &Error{Mapping: m.Name, Err: errors.New("give one folder, or --root: a mapping reads files under one import folder")}
		}
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return importer.Plan{}, err
	}
	if filepath.Dir(abs) == abs {
		return importer.Plan{}, &Error{Mapping: m.Name, Err: fmt.Errorf("the import folder %s is the file system's root: a mapping may read only the files of one result folder", abs)}
	}
	srcs, links, err := importer.Sources(root, paths)
	if err != nil {
		return importer.Plan{}, err
	}
	db, err := duck.OpenFolder(root)
	if err != nil {
		return importer.Plan{}, err
	}
	defer db.Close()
	var files []importer.MappedFile
	var skipped []importer.FileReport
	for _, src := range srcs {
		if !m.Matches(src.Rel) {
			skipped = append(skipped, importer.FileReport{Path: src.Path, Skipped: fmt.Sprintf("not matched by the mapping's files %q", m.Files)})
			continue
		}
		mf, err := m.mapFile(ctx, db, src)
		if err != nil {
			return importer.Plan{}, err
		}
		files = append(files, mf)
	}
	if len(files) == 0 {
		return importer.Plan{}, &Error{Mapping: m.Name, Line: m.FilesLine, Err: fmt.Errorf("files %q matches none of the %d files under %v", m.Files, len(srcs), paths)}
	}
	plan, err := importer.ParseMapped(root, files, opt)
	if err != nil {
		var fe *importer.FileError
		if errors.As(err, &fe) {
			return importer.Plan{}, &Error{Mapping: m.Name, Line: m.QueryLine, File: fe.Path, Row: fe.Pos, Err: fe.Err}
		}
		return importer.Plan{}, &Error{Mapping: m.Name, Line: m.QueryLine, Err: err}
	}
	plan.Files = append(plan.Files, skipped...)
	for _, l := range links {
		plan.Files = append(plan.Files, importer.FileReport{Path: l, Skipped: "symbolic link: not followed (import its target directly)"})
	}
	return plan, nil
}

// mapFile runs the query over one file and converts its rows.
func (m *Mapping) mapFile(ctx context.Context, db *duck.DB, src importer.Source) (importer.MappedFile, error) {
	mf := importer.MappedFile{Source: src, Format: "map:" + strings.TrimSuffix(filepath.Base(m.Name), ".yaml"), Config: m.Config}
	fail := func(row string, err error) error {
		return &Error{Mapping: m.Name, Line: m.QueryLine, File: src.Path, Row: row, Err: err}
	}
	q := strings.ReplaceAll(m.Query, FilePlaceholder, duck.Quote(src.Abs))
	res, err := db.UserQuery(ctx, q, MaxRowsPerFile)
	if err != nil {
		return mf, fail("", err)
	}
	cols, err := m.columns(res.Columns)
	if err != nil {
		return mf, fail("", err)
	}
	for i, vals := range res.Rows {
		r := rowReader{cols: cols, vals: vals, pos: fmt.Sprintf("row %d", i+1)}
		switch m.Rows {
		case RowsCells:
			c, err := r.cell()
			if err != nil {
				return mf, fail(r.where, err)
			}
			mf.Cells = append(mf.Cells, c)
		default:
			c, err := r.completion()
			if err != nil {
				return mf, fail(r.where, err)
			}
			mf.Completions = append(mf.Completions, c)
		}
	}
	return mf, nil
}

// columns checks the query's column names against the canonical fields
// of the mapping's row kind and returns their positions.
func (m *Mapping) columns(names []string) (map[string]int, error) {
	allowed := columnsOf(m.Rows)
	idx := map[string]int{}
	for i, n := range names {
		if !allowed[n] {
			return nil, fmt.Errorf("column %q is not a %s column (give %s; %s)", n, m.Rows, columnList(m.Rows), runColumnsDoc)
		}
		if _, dup := idx[n]; dup {
			return nil, fmt.Errorf("column %q is given twice", n)
		}
		idx[n] = i
	}
	for _, req := range requiredColumns[m.Rows] {
		if _, ok := idx[req]; !ok {
			return nil, fmt.Errorf("the query gives no column %q (required for %s: %s)", req, m.Rows, strings.Join(requiredColumns[m.Rows], ", "))
		}
	}
	return idx, nil
}
