// Package eventstest locates the team's shared fixtures — real results
// published by the original experiment's authors — for tests in any
// package. They live in ../shared/fixtures beside the checkout and are
// never copied into the project.
package eventstest

import (
	"fmt"
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
		recordSkip(t, name)
		t.Skipf("fixtures absent at %s: place the team's ../shared/%s beside the checkout to run this test (CI=true makes this a failure)", dir, name)
	}
	return dir
}

// SkipLogEnv names the file (set by `make test`) to which every test skipped
// for an absent ../shared folder appends one line, "FOLDER<TAB>PACKAGE
// DIR<TAB>TEST", so the run can count them: a stranger's green must say
// what it did not test.
const SkipLogEnv = "LEAKSCOPE_FIXTURE_SKIPS"

func recordSkip(t testing.TB, name string) {
	path := os.Getenv(SkipLogEnv)
	if path == "" {
		return
	}
	wd, _ := os.Getwd() // go test runs a package's tests in its folder
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Logf("%s: %v (this skip is not counted)", SkipLogEnv, err)
		return
	}
	defer f.Close()
	// One short write with O_APPEND: lines of parallel test binaries do not interleave.
	if _, err := fmt.Fprintf(f, "%s\t%s\t%s\n", name, wd, t.Name()); err != nil {
		t.Logf("%s: %v (this skip is not counted)", SkipLogEnv, err)
	}
}
