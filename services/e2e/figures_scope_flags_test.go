package e2e

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query/figures"
)

// Review attack: figures had scope flags of its own, unlike leakage,
// analyze and notebook: --run a --run b kept only b, silently; --seed=
// selected every run; --where nope=1 answered "no figure applies" instead of
// naming the factors. It now takes the shared scope flags.
func TestFiguresScopeFlagsAreTheSharedOnes(t *testing.T) {
	data := t.TempDir()
	s := startStack(t, data)
	publishRateOnlySweep(t, s, "lr_sweep")
	s.stop()
	out := filepath.Join(t.TempDir(), "figs")
	runOK(t, data, "figures", "--experiment", "lr_sweep", "--out", out, "--only", "heatmap",
		"--run", "villain_lr1e-5_ep1", "--run", "villain_lr1e-4_ep1", "--param", "rows=run", "--param", "cols=persona")
	var m figures.Meta
	readJSON(t, filepath.Join(out, "heatmap.meta.json"), &m)
	require.Equal(t, []string{"villain_lr1e-4_ep1", "villain_lr1e-5_ep1"}, m.Runs, "both --run flags count")

	stderr := runFails(t, data, "figures", "--experiment", "lr_sweep", "--out", out, "--where", "nope=1")
	require.Contains(t, stderr, `experiment "lr_sweep" has no factor "nope" (factors: epochs, lr, seed, source)`)
	stderr = runFails(t, data, "figures", "--experiment", "lr_sweep", "--out", out, "--seed=")
	require.Contains(t, stderr, "--seed is given but empty")
}

// A stranger's first hour: `figures` without --out wrote into ./figures of
// the checkout, not beside the lake where the demo puts its figures; and an
// experiment the lake lacks (a README example on a plain clone) was refused
// without naming what the lake holds.
func TestFiguresDefaultOutAndUnknownExperimentNamesWhatExists(t *testing.T) {
	data := t.TempDir()
	s := startStack(t, data)
	publishRateOnlySweep(t, s, "lr_sweep")
	s.stop()
	runOK(t, data, "figures", "--experiment", "lr_sweep", "--only", "heatmap", "--format", "png")
	require.FileExists(t, filepath.Join(data, "figures", "lr_sweep", "heatmap.png"))
	stderr := runFails(t, data, "leakage", "--experiment", "leakage_i81")
	require.Contains(t, stderr, `unknown experiment "leakage_i81"; the lake holds: lr_sweep (leakscope runs)`)
}
