package estimands

import (
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/presets/i81"
)

// Every parameter the #81 preset pins names a registered estimand and one
// of its parameters, and is that estimand's default.
func TestPresetPinsAreDefaults(t *testing.T) {
	require.NotEmpty(t, i81.Preset.Estimands)
	for name, params := range i81.Preset.Estimands {
		e, ok := registry[name]
		require.True(t, ok, "i81.json pins parameters of %q, which is no estimand", name)
		for k, v := range params {
			found := false
			for _, p := range e.Params {
				if p.Name == k {
					found = true
					require.Equal(t, v, p.Default, "%s %s", name, k)
				}
			}
			require.True(t, found, "i81.json pins %s.%s, which the estimand does not take", name, k)
		}
	}
	for _, p := range registry["h2"].Params {
		if p.Name == "sources" {
			require.Equal(t, "chef,pirate,child,robot", p.Default, "the pinned sources reach the registry")
		}
	}
}

// Factor values sort in the preset's order first, then numerically or
// naturally.
func TestOrderValuesUsesThePreset(t *testing.T) {
	require.Equal(t, []string{"person", "robot", "aardvark"}, orderValues("noun", []string{"aardvark", "robot", "person"}))
	require.Equal(t, []string{"chef", "child", "villain"}, orderValues("source", []string{"villain", "child", "chef"}))
	require.Equal(t, []string{"5e-5", "1e-4", "5e-4"}, orderValues("lr", []string{"1e-4", "5e-4", "5e-5"}))
	require.Equal(t, []string{"p2", "p10"}, orderValues("pair", []string{"p10", "p2"}))
}
