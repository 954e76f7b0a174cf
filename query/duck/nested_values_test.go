package duck

import (
	"context"
	"encoding/json"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/stretchr/testify/require"
)

// Attack: NaN, ±Inf, decimals, intervals and BLOBs inside lists, structs,
// maps and unions. Plain made only top-level values plain, so JSON failed
// on a nested NaN (HTTP 500) and a nested decimal printed its fields.
func TestPlainNestedValues(t *testing.T) {
	db, err := Open(t.TempDir())
	require.NoError(t, err)
	defer db.Close()
	res, err := db.UserQuery(context.Background(), `SELECT [1.0/0, 'nan'::DOUBLE, 2.5] l,
  {'a': 'nan'::DOUBLE, 'd': [1.5::DECIMAL(4,1)], 'i': [INTERVAL 1 DAY], 'b': ['\xAA'::BLOB]} s,
  MAP {'k': 'inf'::DOUBLE, 'j': 1.0} m, MAP {'nan'::DOUBLE: 1, 2.0: 2} nk, union_value(x := 'nan'::DOUBLE) u`, 0)
	require.NoError(t, err)
	got := make([]string, len(res.Rows[0]))
	for i, v := range res.Rows[0] {
		b, err := json.Marshal(Plain(v))
		require.NoError(t, err, res.Columns[i])
		got[i] = string(b)
	}
	require.Equal(t, []string{`[null,null,2.5]`,
		`{"a":null,"b":["aa"],"d":[1.5],"i":["0 months 1 days 0 µs"]}`,
		`{"k":null,"j":1}`, `{"NaN":1,"2":2}`, `{"value":null,"tag":"x"}`}, got)
}

// Attack: one MAP of many entries. The driver builds a map with a linear
// search per key (n² in Go, past the statement's timeout: 100,000 entries
// took 19 s); a map over MaxMapEntries fails with ErrBigMap instead, at
// any depth, and its entries as a list still come back.
func TestUserQueryRefusesHugeMaps(t *testing.T) {
	db, err := Open(t.TempDir())
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	big := "map_from_entries(list_transform(range(5000), x -> {'k': x, 'v': 1}))"
	for _, q := range []string{"SELECT " + big + " m", "SELECT [" + big + "] l", "SELECT {'s': " + big + "} s"} {
		_, err := db.UserQuery(ctx, q, 0)
		require.ErrorIs(t, err, ErrBigMap, q)
	}
	res, err := db.UserQuery(ctx, "SELECT map_entries("+big+") e", 0)
	require.NoError(t, err)
	require.Len(t, res.Rows[0][0], 5000)
	res, err = db.UserQuery(ctx, "SELECT map_from_entries(list_transform(range(1000), x -> {'k': x, 'v': 1})) m", 0)
	require.NoError(t, err, "a map of MaxMapEntries entries comes back")
	m := Plain(res.Rows[0][0]).(duckdb.OrderedMap)
	require.Equal(t, 1000, m.Len())
}
