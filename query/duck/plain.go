package duck

import (
	"fmt"
	"math"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Plain turns a value as the DuckDB driver returns it into one that JSON
// and text output show faithfully: NaN and ±Inf become nil (JSON has no
// such numbers), decimals become float64, UUIDs and intervals strings,
// times RFC 3339, BLOBs hex — also inside lists, structs, maps and unions
// (a nested NaN made JSON fail, a nested decimal printed its fields). Map
// keys that would become nil keep their text ("NaN"). Other values pass
// unchanged.
func Plain(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Plain(e)
		}
		return out
	case duckdb.OrderedMap:
		return plainMap(&x)
	case *duckdb.OrderedMap:
		return plainMap(x)
	case duckdb.Map:
		var out duckdb.OrderedMap
		for k, e := range x {
			out.Set(plainKey(k), Plain(e))
		}
		return out
	case duckdb.Union:
		return duckdb.Union{Tag: x.Tag, Value: Plain(x.Value)}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
	case duckdb.Decimal:
		return x.Float64()
	case duckdb.UUID:
		return x.String()
	case *duckdb.UUID:
		return x.String()
	case duckdb.Interval:
		return fmt.Sprintf("%d months %d days %d µs", x.Months, x.Days, x.Micros)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []byte:
		return fmt.Sprintf("%x", x)
	}
	return v
}

// plainMap is m with its keys and values made plain, in m's key order.
func plainMap(m *duckdb.OrderedMap) duckdb.OrderedMap {
	// Set searches linearly: user maps hold at most MaxMapEntries.
	var out duckdb.OrderedMap
	keys, vals := m.Keys(), m.Values()
	for i, k := range keys {
		out.Set(plainKey(k), Plain(vals[i]))
	}
	return out
}

// plainKey is a map key made plain; one that would become nil (NaN, ±Inf)
// keeps its text, so that distinct keys stay distinct.
func plainKey(k any) any {
	if p := Plain(k); p != nil || k == nil {
		return p
	}
	return fmt.Sprint(k)
}
