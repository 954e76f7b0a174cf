package query

import (
	"sort"
	"strconv"
	"strings"
)

// ValueOrder is a factor's values in the order estimands visit and
// figures draw them.
type ValueOrder struct {
	Values []string
	// Numeric: every value parses as a number (Num holds them, else nil);
	// Log: numeric, all > 0 and spanning two decades or more (1e-5 … 1e-3).
	Numeric, Log bool
	Num          map[string]float64
}

// OrderValues orders a factor's values: those listed in first (a
// preset's declared order, e.g. the authors' noun order) come first in
// that order; the rest follow numerically when every one of them parses
// as a number, else in natural order (digit runs compared as numbers:
// L2 < L10). vals is not modified.
func OrderValues(vals, first []string) ValueOrder {
	rank := make(map[string]int, len(first))
	for i, v := range first {
		rank[v] = i + 1
	}
	var ranked, rest []string
	for _, v := range vals {
		if rank[v] > 0 {
			ranked = append(ranked, v)
		} else {
			rest = append(rest, v)
		}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return rank[ranked[i]] < rank[ranked[j]] })
	o := ValueOrder{Numeric: len(rest) > 0, Num: map[string]float64{}}
	lo, hi := 0.0, 0.0
	for i, v := range rest {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			o.Numeric = false
			break
		}
		o.Num[v] = f
		if i == 0 || f < lo {
			lo = f
		}
		if i == 0 || f > hi {
			hi = f
		}
	}
	if o.Numeric {
		sort.SliceStable(rest, func(i, j int) bool { return o.Num[rest[i]] < o.Num[rest[j]] })
		o.Log = len(ranked) == 0 && lo > 0 && hi/lo >= 100
	} else {
		sort.SliceStable(rest, func(i, j int) bool { return NaturalLess(rest[i], rest[j]) })
	}
	if !o.Numeric || len(ranked) > 0 { // a preset's values are labels, not numbers
		o.Numeric, o.Num = false, nil
	}
	o.Values = append(ranked, rest...)
	return o
}

// NaturalLess compares strings with digit runs compared as numbers
// ("L2" < "L10", "p9" < "p10").
func NaturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, _ := strconv.ParseFloat(da, 64)
			nb, _ := strconv.ParseFloat(db, 64)
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
