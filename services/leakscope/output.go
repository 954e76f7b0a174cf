package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"leakscope/query/duck"
)

// formats every query command accepts.
const formatHelp = "output format: table, csv or json"

// writeRows prints a header and rows as a table or CSV.
func writeRows(w io.Writer, format string, header []string, rows [][]string) error {
	if format == "csv" {
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return err
		}
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cellText renders one SQL value for a table or CSV.
func cellText(v any) string {
	v = plainText(v)
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	case float64:
		return fmt.Sprintf("%g", x)
	case string: // one line per row in tables and CSV readers alike
		return strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(x)
	}
	return fmt.Sprint(v)
}

// plainText is duck.Plain, except that non-finite floats stay visible.
func plainText(v any) any {
	if f, ok := v.(float64); ok {
		return f
	}
	return duck.Plain(v)
}

func fmtRate(p *float64) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("%.3f", *p)
}

func fmtSigned(p *float64) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("%+.3f", *p)
}

func fmtCount(p *int64) string {
	if p == nil {
		return ""
	}
	return fmt.Sprint(*p)
}
