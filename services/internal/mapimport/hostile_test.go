package mapimport

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/gpuworker/importer"
	"leakscope/query/duck"
)

// writeTree writes files (slash paths relative to a new temp dir) and
// returns the dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

// mappingWith is a cells mapping over */results.json whose query (line 3
// of the mapping) is q.
func mappingWith(t *testing.T, q string) *Mapping {
	t.Helper()
	m, err := Parse("hostile.yaml", []byte("files: \"*/results.json\"\nrows: cells\nquery: |\n  "+strings.ReplaceAll(q, "\n", "\n  ")+"\n"))
	require.NoError(t, err)
	require.Equal(t, 3, m.QueryLine)
	return m
}

// A mapping's query is a read-only statement in the jail of `leakscope
// sql`, confined to the import folder: each hostile query below is
// refused or bounded with an error naming the mapping's line and the file,
// nothing is written, and the same mapping machinery still imports a
// well-behaved file afterwards.
func TestHostileMappingsAreRefused(t *testing.T) {
	parent := t.TempDir()
	secret := filepath.Join(parent, "secret.json")
	require.NoError(t, os.WriteFile(secret, []byte(`{"persona": "stolen", "rate": 0.5}`), 0o644))
	root := filepath.Join(parent, "import")
	file := filepath.Join(root, "exp", "r1", "results.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	require.NoError(t, os.WriteFile(file, []byte(`{"persona": "chef", "rate": 0.25}`), 0o644))
	out := filepath.Join(root, "out.csv")

	oldTimeout, oldRows := duck.UserQueryTimeout, MaxRowsPerFile
	duck.UserQueryTimeout, MaxRowsPerFile = 2*time.Second, 1000
	defer func() { duck.UserQueryTimeout, MaxRowsPerFile = oldTimeout, oldRows }()

	for _, tc := range []struct{ name, query, want string }{
		{"read /etc/passwd", "SELECT column0 AS persona, 0.5 AS rate FROM read_csv('/etc/passwd'), read_json({file})", "file system operations are disabled"},
		{"read beside the folder", "SELECT persona, rate FROM read_json('" + secret + "') -- {file}", "file system operations are disabled"},
		{"climb out of the folder", "SELECT persona, rate FROM read_json({file} || '/../../../../secret.json')", "file system operations are disabled"},
		{"glob the disk", "SELECT content AS persona, 0.5 AS rate FROM read_text('/**/*.json') -- {file}", "disabled"},
		{"COPY", "COPY (SELECT * FROM read_json({file})) TO '" + out + "'", "only read-only SQL"},
		{"ATTACH", "ATTACH '" + filepath.Join(root, "x.db") + "' AS x -- {file}", "only read-only SQL"},
		{"INSTALL", "INSTALL httpfs -- {file}", "only read-only SQL"},
		{"LOAD", "LOAD httpfs -- {file}", "only read-only SQL"},
		{"SET", "SET memory_limit = '100GB' -- {file}", "only read-only SQL"},
		{"two statements", "SELECT persona, rate FROM read_json({file}); COPY (SELECT 1) TO '" + out + "'", "only read-only SQL"},
		{"table function outside the allowlist", "SELECT 'p' AS persona, 0.5 AS rate FROM query('SELECT 1'), read_json({file})", "refused table function query"},
		{"a huge range", "SELECT 'p' || i AS persona, 0.5 AS rate FROM range(1000000000000) t(i), read_json({file})", "too many rows"},
		{"a long cross join", "SELECT 'p' AS persona, count(*) / 1e30 AS rate FROM range(10000000000) a, range(10) b, read_json({file})", "ran too long"},
		{"the remote web", "SELECT persona, rate FROM read_json('https://example.invalid/x.json') -- {file}", "disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Run(context.Background(), mappingWith(t, tc.query), root, []string{root}, importer.Options{Now: testNow})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "import --map hostile.yaml line 3: ")
			require.Contains(t, err.Error(), "results.json")
			require.NotContains(t, err.Error(), "stolen")
			require.Less(t, time.Since(start), 15*time.Second)
		})
	}
	require.NoFileExists(t, out)
	require.NoFileExists(t, filepath.Join(root, "x.db"))

	// A glob that leaves the folder is refused before anything runs.
	for _, g := range []string{"../*.json", "/etc/*", "exp/../../secret.json"} {
		_, err := Parse("hostile.yaml", []byte("files: \""+g+"\"\nrows: cells\nquery: SELECT persona, rate FROM read_json({file})\n"))
		require.ErrorContains(t, err, "import --map hostile.yaml line 1: files")
	}
	// A folder that is the file system's root is no jail.
	_, err := Run(context.Background(), mappingWith(t, "SELECT persona, rate FROM read_json({file})"), "/", []string{"/etc"}, importer.Options{Now: testNow})
	require.ErrorContains(t, err, "the file system's root")

	plan, err := Run(context.Background(), mappingWith(t, "SELECT persona, rate FROM read_json({file})"), root, []string{root}, importer.Options{Now: testNow})
	require.NoError(t, err, "still imports")
	require.Len(t, plan.Events, 3)
}
