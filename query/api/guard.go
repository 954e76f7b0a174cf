package api

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Guard refuses what a web page could make a browser send to this server:
//   - a Host header naming neither this machine (an IP address, localhost,
//     the listen address's host) nor one of allowedHosts: a DNS-rebinding
//     page reaches a loopback server under its own name (403);
//   - a cross-origin request (Sec-Fetch-Site, else Origin against Host)
//     that changes state (any method but GET, HEAD, OPTIONS) or is
//     expensive (/api/sql and /api/analyze/…, any method: bootstraps and
//     permutations run for seconds): a page on another site could
//     otherwise post SQL as text/plain without a CORS preflight (403).
//
// Clients that are not browsers (curl, scripts) send neither header and
// pass. listen is the server's listen address (host:port).
func Guard(h http.Handler, listen string, allowedHosts []string) http.Handler {
	allowed := map[string]bool{"localhost": true}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		allowed[normHost(host)] = true
	}
	for _, a := range allowedHosts {
		if a = normHost(a); a != "" {
			allowed[a] = true
		}
	}
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host := normHost(r.Host); host != "" && !allowed[host] {
			if _, err := netip.ParseAddr(host); err != nil {
				writeErr(w, http.StatusForbidden, fmt.Errorf("host %q is not served here: ask by IP address or localhost, or start the server with --allowed-hosts %s (a page that rebinds its own name to this machine is refused)", r.Host, host))
				return
			}
		}
		check := r
		if expensive(r.URL.Path) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			// CrossOriginProtection passes safe methods; SQL and the
			// estimands are checked as if they were POSTs.
			check = r.Clone(r.Context())
			check.Method = http.MethodPost
		}
		if err := cop.Check(check); err != nil {
			writeErr(w, http.StatusForbidden, fmt.Errorf("%v: %s %s is refused to pages of other sites", err, r.Method, r.URL.Path))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// expensive: paths whose every request may cost seconds of CPU or memory.
func expensive(path string) bool {
	return path == "/api/sql" || path == "/api/analyze" || strings.HasPrefix(path, "/api/analyze/")
}

// normHost is a Host header's or address's host: port, IPv6 brackets and
// a trailing dot removed, lower case.
func normHost(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
