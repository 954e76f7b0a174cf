package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Review attack: `analyze … --param level=cell --param level=source` and
// `figures … --param rows=lr --param rows=epochs` silently used the last
// value. A parameter given twice with different values is refused (before
// the lake is opened).
func TestParamGivenTwiceIsRefused(t *testing.T) {
	g := &globals{data: t.TempDir()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"analyze", "replicates", "--experiment", "x", "--param", "level=cell", "--param", "level=source"}, `--param level is given twice ("cell" and "source")`},
		{[]string{"figures", "--experiment", "x", "--out", t.TempDir(), "--param", "rows=lr", "--param", "rows=epochs"}, `--param rows is given twice ("lr" and "epochs")`},
	} {
		var cmd = newAnalyzeCmd(g)
		if c.args[0] == "figures" {
			cmd = newFiguresCmd(g)
		}
		cmd.SetArgs(c.args[1:])
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		require.ErrorContains(t, cmd.Execute(), c.want, c.args)
	}
}
