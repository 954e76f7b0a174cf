package webui

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// The browser's scale must be the static figures' scale, stop for stop.
func TestScaleJSMatchesGo(t *testing.T) {
	js, err := os.ReadFile("assets/leakscope.js")
	if err != nil {
		t.Fatal(err)
	}
	want := "const LS_SCALE = " + SequentialJS() + ";"
	if !strings.Contains(string(js), want) {
		t.Fatalf("assets/leakscope.js lacks %s", want)
	}
}

func TestRateEndsAndUndefined(t *testing.T) {
	if Rate(0) != Sequential[0] || Rate(1) != Sequential[len(Sequential)-1] || Rate(7) != Sequential[len(Sequential)-1] {
		t.Fatalf("ends: %v %v", Rate(0), Rate(1))
	}
	nan := 0.0
	if c := Rate(nan / nan); c.R != 200 || c.G != 200 {
		t.Fatalf("NaN gives %v, want grey", c)
	}
}

func TestPageFrameEscapesAndServesAssets(t *testing.T) {
	var sb strings.Builder
	if err := Render(&sb, Page{Title: "<x>", Active: "SQL"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "&lt;x&gt;") || !strings.Contains(sb.String(), `href="/sql" class="active"`) {
		t.Fatalf("frame: %s", sb.String())
	}
	rec := httptest.NewRecorder()
	Assets().ServeHTTP(rec, httptest.NewRequest("GET", "/assets/leakscope.css", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "--ls-accent") {
		t.Fatalf("css: %d", rec.Code)
	}
}
