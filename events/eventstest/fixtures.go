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
func FixturesDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0) // …/events/eventstest/fixtures.go
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "fixtures")
	dir, _ = filepath.Abs(dir)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("fixtures absent at %s (../shared/fixtures beside the checkout): required under CI=true", dir)
		}
		t.Skipf("fixtures absent at %s: place the team's ../shared/fixtures beside the checkout to run this test (CI=true makes this a failure)", dir)
	}
	return dir
}
