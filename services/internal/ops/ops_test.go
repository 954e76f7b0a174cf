package ops

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

type failing struct{ d *prometheus.Desc }

func (f failing) Describe(ch chan<- *prometheus.Desc) { ch <- f.d }
func (f failing) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.d, errors.New("bus down"))
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// A failing collector (the lag while the bus is down) must not take the
// other series with it; readiness names the failing check.
func TestEndpoints(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "leakscope_test_total", Help: "x"})
	c.Add(3)
	reg.MustRegister(c, failing{prometheus.NewDesc("leakscope_test_lag", "x", nil, nil)})
	dir := t.TempDir()
	mux := http.NewServeMux()
	Register(mux, reg, DirReady("lake", filepath.Join(dir, "lake")))

	code, body := get(t, mux, "/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "leakscope_test_total 3")
	require.Contains(t, body, "go_goroutines")
	require.NotContains(t, body, "leakscope_test_lag ")

	code, body = get(t, mux, "/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body = get(t, mux, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "lake "+filepath.Join(dir, "lake"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lake"), nil, 0o644))
	_, body = get(t, mux, "/readyz")
	require.Contains(t, body, "is not a directory")
	require.NoError(t, os.Remove(filepath.Join(dir, "lake")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "lake"), 0o755))
	code, _ = get(t, mux, "/readyz")
	require.Equal(t, http.StatusOK, code)
}

func TestInstrumentHTTPLabelsRoutes(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	h := InstrumentHTTP(reg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/sql") {
			w.WriteHeader(http.StatusBadRequest)
		}
	}), "/api/leakage", "/api/sql")
	get(t, h, "/api/leakage?experiment=x")
	get(t, h, "/api/sql?q=DROP")
	get(t, h, "/nope/12345")
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var got []string
	for _, m := range mfs[0].Metric {
		var l []string
		for _, p := range m.Label {
			l = append(l, p.GetName()+"="+p.GetValue())
		}
		got = append(got, strings.Join(l, ","))
	}
	require.ElementsMatch(t, []string{"code=200,method=get,route=/api/leakage", "code=400,method=get,route=/api/sql",
		"code=200,method=get,route=other"}, got, "a bounded label set whatever the URLs")
}

// Flags come from LEAKSCOPE_* when the command line leaves them unset.
func TestBindEnv(t *testing.T) {
	newCmd := func() (*cobra.Command, *string, *int) {
		var url string
		var n int
		c := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
		c.Flags().StringVar(&url, "nats-url", "", "")
		c.Flags().IntVar(&n, "replicas", 1, "")
		return c, &url, &n
	}
	t.Setenv("LEAKSCOPE_NATS_URL", "nats://env:4222")
	t.Setenv("LEAKSCOPE_REPLICAS", "3")
	c, url, n := newCmd()
	require.NoError(t, c.ParseFlags([]string{"--replicas", "5"}))
	require.NoError(t, BindEnv(c))
	require.Equal(t, "nats://env:4222", *url)
	require.Equal(t, 5, *n, "the command line wins")
	t.Setenv("LEAKSCOPE_REPLICAS", "abc")
	c, _, _ = newCmd()
	require.NoError(t, c.ParseFlags(nil))
	require.ErrorContains(t, BindEnv(c), `LEAKSCOPE_REPLICAS="abc"`)
	require.Equal(t, "LEAKSCOPE_MAX_INDEXED_IDS", EnvName("max-indexed-ids"))
}
