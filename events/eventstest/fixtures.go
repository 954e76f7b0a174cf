// Package eventstest locates the team's shared fixtures — real results
// published by the original experiment's authors — for tests in any
// package. They live in ../shared/fixtures beside the checkout and are
// never copied into the project.
package eventstest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// FixturesDir returns the absolute path of ../shared/fixtures (relative to
// the module root). When it is absent the test is skipped with a message
// naming the folder — except under CI=true, where absence is a failure.
func FixturesDir(t testing.TB) string { t.Helper(); return sharedDir(t, "fixtures") }

// RatesOnlyDir is FixturesDir for ../shared/fixtures-rates-only (run-level
// run_result.json files with rates only).
func RatesOnlyDir(t testing.TB) string { t.Helper(); return sharedDir(t, "fixtures-rates-only") }

func sharedDir(t testing.TB, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0) // …/events/eventstest/fixtures.go
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", name)
	dir, _ = filepath.Abs(dir)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("fixtures absent at %s (../shared/%s beside the checkout): required under CI=true", dir, name)
		}
		t.Skipf("fixtures absent at %s: place the team's ../shared/%s beside the checkout to run this test (CI=true makes this a failure)", dir, name)
	}
	return dir
}
