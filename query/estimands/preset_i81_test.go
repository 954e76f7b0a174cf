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

// Every #81 estimand the preset parameterises names a registered generic
// estimand and only its parameters, and the #81 estimand's own parameters
// reach the generic where it takes them and the preset does not pin them.
func TestPresetParameterisationsNameGenericParams(t *testing.T) {
	require.Len(t, i81.Preset.Parameterisations, 3)
	for name, pz := range i81.Preset.Parameterisations {
		require.Contains(t, registry, name, "i81.json parameterises %q, which is no estimand", name)
		gen, ok := registry[pz.Estimand]
		require.True(t, ok, "%s: %q is no estimand", name, pz.Estimand)
		for k := range pz.Params {
			found := false
			for _, p := range gen.Params {
				found = found || p.Name == k
			}
			require.True(t, found, "%s: %s takes no parameter %q", name, pz.Estimand, k)
		}
	}
	gen, p, err := presetParams("axis-permutation", Params{"seed": "7", "permutations": "50", "a": "noun", "sources": "chef"})
	require.NoError(t, err)
	require.Equal(t, "factor-permutation", gen)
	require.Equal(t, "7", p["seed"])
	require.Equal(t, "50", p["permutations"])
	require.Equal(t, "trait", p["a"], "the preset's parameters win")
	require.NotContains(t, p, "sources", "a parameter the generic does not take stays out")
	_, _, err = presetParams("h2", nil)
	require.ErrorContains(t, err, "the preset i81 has no parameterisation of h2")
}
