package webui

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// Columns group by the factors most of them declare, the one changing
// least along the given order outermost; a one-valued factor groups
// nothing; columns without factors keep their place at the end.
func TestGroupColumnsNestsByFactors(t *testing.T) {
	cols := []Column{
		{Persona: "solo"},
		{Persona: "t1", Factors: map[string]string{"noun": "b", "trait": "1", "model": "m"}},
		{Persona: "u1", Factors: map[string]string{"noun": "a", "trait": "1", "model": "m"}},
		{Persona: "t2", Factors: map[string]string{"noun": "b", "trait": "2", "model": "m"}},
		{Persona: "u2", Factors: map[string]string{"noun": "a", "trait": "2", "model": "m"}},
	}
	by := GroupColumns(cols)
	if want := []string{"trait", "noun"}; !reflect.DeepEqual(by, want) {
		t.Fatalf("group by %v, want %v (trait changes twice along the order, noun three times)", by, want)
	}
	var got []string
	for _, c := range cols {
		got = append(got, c.Persona)
	}
	if want := []string{"t1", "u1", "t2", "u2", "solo"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if by := GroupColumns(nil); by == nil || len(by) != 0 {
		t.Fatalf("no columns: %#v, want an empty list", by)
	}
}

func TestHeatmapScriptIsServed(t *testing.T) {
	rec := httptest.NewRecorder()
	Assets().ServeHTTP(rec, httptest.NewRequest("GET", "/assets/leakscope-heatmap.js", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "function lsHeatmap(") {
		t.Fatalf("leakscope-heatmap.js: %d", rec.Code)
	}
}
