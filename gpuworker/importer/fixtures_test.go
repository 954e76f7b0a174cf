package importer

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"leakscope/events"
	"leakscope/events/eventstest"
)

// fixtures returns the shared fixtures directory (skipping the test when it
// is absent, failing instead when CI=true).
func fixtures(t *testing.T) string { return eventstest.FixturesDir(t) }

// testNow is the fixed import time of every test.
var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// parseFixture parses paths under the fixtures directory (relative to it),
// with the fixtures directory as root.
func parseFixture(t *testing.T, rel ...string) Plan {
	t.Helper()
	dir := fixtures(t)
	paths := []string{dir}
	if len(rel) > 0 {
		paths = nil
		for _, r := range rel {
			paths = append(paths, filepath.Join(dir, r))
		}
	}
	plan, err := Parse(dir, paths, Options{Now: testNow})
	require.NoError(t, err)
	return plan
}

// runEvents returns the events of one run.
func runEvents(plan Plan, experiment, run string) []events.Event {
	var out []events.Event
	for _, e := range plan.Events {
		if e.Experiment == experiment && e.RunID == run {
			out = append(out, e)
		}
	}
	return out
}

// payloads returns the payloads of type T among evs.
func payloads[T events.Payload](evs []events.Event) []T {
	var out []T
	for _, e := range evs {
		if p, ok := e.Payload.(T); ok {
			out = append(out, p)
		}
	}
	return out
}

// report returns the FileReport whose path ends with suffix.
func report(t *testing.T, plan Plan, suffix string) FileReport {
	t.Helper()
	for _, f := range plan.Files {
		if strings.HasSuffix(filepath.ToSlash(f.Path), suffix) {
			return f
		}
	}
	t.Fatalf("no file report for %s", suffix)
	return FileReport{}
}
