package main

import (
	"context"

	"github.com/spf13/cobra"

	"leakscope/query"
)

// scopeFlags are the scope flags of analyze, leakage, notebook and runs:
// they select runs and cells (query.Scope).
type scopeFlags struct {
	a   query.ScopeArgs
	cmd *cobra.Command // to tell a flag given empty (--seed=) from one left out
}

const scopeHelp = `
Scope (every flag repeatable; a list may also be comma-separated):
  --run R            only these runs
  --seed N           only runs trained with these seeds
  --sweep S          only runs of these sweeps
  --source P         only these source personas (src_chef or chef)
  --where k=v        only runs or bystanders whose factor k is v (alternatives: k=v1|v2),
                     e.g. --where trait=Agreeableness --where lr=1e-4|5e-4
  --include-retracted  keep retracted runs (left out by default, each named in a note)`

func (f *scopeFlags) register(cmd *cobra.Command) {
	f.cmd = cmd
	fs := cmd.Flags()
	fs.StringSliceVar(&f.a.Runs, "run", nil, "scope: only these runs (repeatable, comma-separated)")
	fs.StringSliceVar(&f.a.Seeds, "seed", nil, "scope: only runs with these training seeds (repeatable, comma-separated)")
	fs.StringSliceVar(&f.a.Sweeps, "sweep", nil, "scope: only runs of these sweeps (repeatable, comma-separated)")
	fs.StringSliceVar(&f.a.Sources, "source", nil, "scope: only these source personas, src_chef or chef (repeatable, comma-separated)")
	fs.StringArrayVar(&f.a.Where, "where", nil, "scope: factor=value filter, alternatives with | (repeatable): --where trait=Agreeableness")
	fs.BoolVar(&f.a.IncludeRetracted, "include-retracted", false, "scope: keep retracted runs")
}

func (f *scopeFlags) scope() (query.Scope, error) {
	// pflag reads --seed= as no values at all, so the flag was given empty.
	if f.cmd != nil {
		for name, list := range map[string][]string{"run": f.a.Runs, "seed": f.a.Seeds, "sweep": f.a.Sweeps, "source": f.a.Sources} {
			if fl := f.cmd.Flags().Lookup(name); fl != nil && fl.Changed && len(list) == 0 {
				return query.Scope{}, query.EmptyScopeFlag("--" + name)
			}
		}
	}
	return f.a.Scope()
}

// check parses the scope and refuses factor filters the experiment cannot
// satisfy (naming the factors and values it has).
func (f *scopeFlags) check(ctx context.Context, e *query.Engine, experiment string) (query.Scope, error) {
	s, err := f.scope()
	if err != nil {
		return s, err
	}
	return s, e.CheckWhere(ctx, experiment, s.Where)
}
