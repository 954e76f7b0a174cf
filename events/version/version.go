// Package version is the code version every producer stamps into what it
// writes (run configs, estimand provenance): the VCS revision, "+dirty"
// when the tree had changes, or the override set at link time.
package version

import "runtime/debug"

// Override is set at link time by the Makefile
// (-X leakscope/events/version.Override=$(git describe …)), since
// `go test` and some builds carry no VCS stamp.
var Override string

// Code returns the code version: Override, else the VCS revision from the
// build info (with "+dirty" for a modified tree), else the module version.
func Code() string {
	if Override != "" {
		return Override
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v, dirty := bi.Main.Version, false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		v += "+dirty"
	}
	return v
}
