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
// times RFC 3339. Other values pass unchanged.
func Plain(v any) any {
	switch x := v.(type) {
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
