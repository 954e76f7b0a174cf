package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// guarded serves with the Guard of a server on 127.0.0.1:8080 that also
// answers to example.com (httptest's default Host) and allowed.
func guarded(t *testing.T, allowed ...string) (http.Handler, *int) {
	t.Helper()
	served := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++; w.WriteHeader(200) })
	return Guard(h, "127.0.0.1:8080", append(allowed, "example.com")), &served
}

func do(h http.Handler, method, target, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range hdr {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A DNS-rebinding page reaches the loopback server under its own name
// (issue 18: "Host: attacker.example" was served).
func TestGuardRefusesUnknownHosts(t *testing.T) {
	h, served := guarded(t, "query.internal")
	for _, host := range []string{"attacker.example", "attacker.example:8080", "localhost.attacker.example", "127.0.0.1.nip.io:8080"} {
		w := do(h, "GET", "/api/runs", "", map[string]string{"Host": host})
		require.Equal(t, http.StatusForbidden, w.Code, host)
		require.Contains(t, w.Body.String(), "--allowed-hosts", host)
	}
	require.Zero(t, *served)
	for _, host := range []string{"127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "192.168.1.7:8080", "query.internal:8080", "query.internal."} {
		w := do(h, "GET", "/api/runs", "", map[string]string{"Host": host})
		require.Equal(t, http.StatusOK, w.Code, host)
	}
	require.Equal(t, 7, *served)
}

// A cross-site page posted SQL as text/plain (no CORS preflight) and it
// ran (issue 18); a cross-site GET of /api/sql or of an estimand runs it too.
func TestGuardRefusesCrossSiteRequests(t *testing.T) {
	h, served := guarded(t)
	cross := []struct {
		method, target string
		hdr            map[string]string
	}{
		{"POST", "/api/sql", map[string]string{"Content-Type": "text/plain", "Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}},
		{"POST", "/api/sql", map[string]string{"Content-Type": "text/plain", "Origin": "https://attacker.example"}}, // older browser: Origin only
		{"GET", "/api/sql?q=SELECT+1", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"GET", "/api/sql?q=SELECT+1", map[string]string{"Origin": "http://attacker.example"}},
		{"GET", "/api/analyze/h3?experiment=e&bootstrap=100000", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"PUT", "/anything", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"DELETE", "/anything", map[string]string{"Origin": "http://localhost:9999"}},
	}
	for _, c := range cross {
		w := do(h, c.method, c.target, "SELECT 1", c.hdr)
		require.Equal(t, http.StatusForbidden, w.Code, "%s %s %v", c.method, c.target, c.hdr)
		b, _ := io.ReadAll(w.Body)
		require.Contains(t, string(b), "refused to pages of other sites")
	}
	require.Zero(t, *served)
	ok := []struct {
		method, target string
		hdr            map[string]string
	}{
		{"POST", "/api/sql", map[string]string{"Content-Type": "text/plain"}}, // curl
		{"POST", "/api/sql", map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"POST", "/api/sql", map[string]string{"Origin": "http://example.com"}},     // httptest's Host is example.com
		{"GET", "/api/sql?q=SELECT+1", map[string]string{"Sec-Fetch-Site": "none"}}, // typed in the address bar
		{"GET", "/api/runs", map[string]string{"Sec-Fetch-Site": "cross-site"}},     // a cheap read, linked from elsewhere
	}
	for _, c := range ok {
		w := do(h, c.method, c.target, "SELECT 1", c.hdr)
		require.Equal(t, http.StatusOK, w.Code, "%s %s %v", c.method, c.target, c.hdr)
	}
}
