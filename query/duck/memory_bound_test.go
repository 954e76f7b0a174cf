package duck

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// hostileStatements are read-only statements that each tried to take the
// memory of the process (issue 18: the first took RSS from 0.9 to 6.5 GB,
// the second answered 200 at 9.1 GB), with the error each must end in.
var hostileStatements = []struct {
	sql  string
	want error
}{
	{"SELECT * FROM range(700000000)", ErrTooManyRows},
	{"SELECT repeat('x', 10000000) FROM range(100)", ErrTooLarge},
	{"SELECT repeat('x', 10000000) FROM range(2048)", ErrTooLarge},
	{"SELECT [repeat('x', 10000000)] AS l, {'s': repeat('y', 1000)} AS s FROM range(2048)", ErrTooLarge},
	{"SELECT {'a': [repeat('x', 10000000)]} AS s FROM range(2048)", ErrTooLarge},
	{"SELECT map([repeat('x', 10000000)], [1]) AS m FROM range(2048)", ErrTooLarge},
	{"SELECT repeat('x', 10000000)::BLOB AS b FROM range(2048)", ErrTooLarge},
	{"SELECT list(range) FROM range(700000000)", ErrSQL},
	{"SELECT string_agg(repeat('x', 1000000), '') FROM range(5000)", ErrSQL},
	{"SELECT * FROM range(100000000) ORDER BY random()", ErrSQL},
	{"SELECT range % 50000000 AS k, count(*) FROM range(100000000) GROUP BY k", ErrSQL},
}

// vmHWM is this process's peak resident memory (VmHWM), in bytes.
func vmHWM(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	require.NotNil(t, m, "no VmHWM in /proc/self/status")
	kb, err := strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(t, err)
	return kb << 10
}

// One user statement cannot take the memory of the process: each hostile
// statement ends in a clear error, and the process's peak resident memory
// grows less than the README's bound.
func TestUserQueryMemoryBound(t *testing.T) {
	if os.Getenv("LEAKSCOPE_MEMBOUND_CHILD") != "" {
		memoryBoundChild(t)
		return
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/self/status (Linux) to measure peak memory")
	}
	// A fresh process, so its peak memory is the statements' alone. (A
	// statement beyond memory_limit fails with DuckDB's Out of Memory
	// Error, an ErrSQL; spilling is off.)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestUserQueryMemoryBound$", "-test.v")
	cmd.Env = append(os.Environ(), "LEAKSCOPE_MEMBOUND_CHILD=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	require.NoError(t, err)
	m := regexp.MustCompile(`peak growth: (\d+) bytes`).FindSubmatch(out)
	require.NotNil(t, m)
	growth, err := strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(t, err)
	// The README's bound: 2 × memory_limit + 512 MiB (measured: 1.1 GB at
	// 512 MiB, 1.6 GB at 1 GiB; before the bounds the first statement alone
	// took 5 GB at 512 MiB).
	require.Less(t, growth, int64(2*testMemoryLimit+512<<20), "peak RSS growth over the stated bound")
}

// testMemoryLimit is the DuckDB memory_limit the child runs under.
const testMemoryLimit = 512 << 20

func memoryBoundChild(t *testing.T) {
	MemoryLimit = strconv.Itoa(testMemoryLimit>>20) + "MiB"
	db := oneCompletionLake(t)
	ctx := context.Background()
	_, err := db.UserQuery(ctx, "SELECT count(*) FROM completions", 0)
	require.NoError(t, err)
	base := vmHWM(t)
	for _, s := range hostileStatements {
		_, err := db.UserQuery(ctx, s.sql, 100_000)
		t.Logf("%s: %v; peak %d MiB", s.sql, strings.SplitN(errString(err), "\n", 2)[0], vmHWM(t)>>20)
		require.ErrorIs(t, err, s.want, s.sql)
	}
	t.Logf("peak growth: %d bytes", vmHWM(t)-base)
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// Results within the bounds come back whole and in order: DESCRIBE and
// SUMMARIZE, a trailing semicolon or comment, ORDER BY, nested values.
func TestBoundedStatementsAnswerAsBefore(t *testing.T) {
	db := oneCompletionLake(t)
	ctx := context.Background()
	res, err := db.UserQuery(ctx, "SELECT range % 7 AS k, range FROM range(1000) ORDER BY k DESC, range; -- last", 10)
	require.ErrorIs(t, err, ErrTooManyRows)
	res, err = db.UserQuery(ctx, "SELECT range % 7 AS k, range FROM range(1000) ORDER BY k DESC, range LIMIT 3; -- last", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"k", "range"}, res.Columns)
	require.Equal(t, [][]any{{int64(6), int64(6)}, {int64(6), int64(13)}, {int64(6), int64(20)}}, res.Rows)
	for _, q := range []string{"DESCRIBE completions", "SUMMARIZE completions", "SHOW TABLES"} {
		res, err = db.UserQuery(ctx, q, 100)
		require.NoError(t, err, q)
		require.NotEmpty(t, res.Rows, q)
	}
	res, err = db.UserQuery(ctx, "SELECT [1, 2] AS l, {'a': 'b'} AS s, map(['k'], ['v']) AS m, 'ab'::BLOB AS b, NULL AS n", 1)
	require.NoError(t, err)
	require.Equal(t, []string{"l", "s", "m", "b", "n"}, res.Columns)
	require.Equal(t, []any{int32(1), int32(2)}, res.Rows[0][0])
	require.Equal(t, map[string]any{"a": "b"}, res.Rows[0][1])
	// Just under and just over the byte budget.
	old := MaxResultBytes
	MaxResultBytes = 1000
	defer func() { MaxResultBytes = old }()
	res, err = db.UserQuery(ctx, "SELECT repeat('x', 100) FROM range(10)", 0)
	require.NoError(t, err)
	require.Len(t, res.Rows, 10)
	_, err = db.UserQuery(ctx, "SELECT repeat('x', 100) FROM range(11)", 0)
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "limit 1000 bytes")
}

func TestStatementEnd(t *testing.T) {
	for q, want := range map[string]string{
		"SELECT 1":                        "SELECT 1",
		"SELECT 1;":                       "SELECT 1",
		"SELECT 1 ; ; -- done\n /* c */ ": "SELECT 1 ",
		"SELECT ';' AS s; -- x":           "SELECT ';' AS s",
		"SELECT 1 -- a; comment":          "SELECT 1 -- a; comment",
		"SELECT \"a;\" FROM t /* ; */":    "SELECT \"a;\" FROM t /* ; */",
		"SELECT $$;$$;":                   "SELECT $$;$$",
		"SELECT 'unterminated;":           "SELECT 'unterminated;",
	} {
		require.Equal(t, want, q[:statementEnd(q)], q)
	}
}
