package importer

import (
	"leakscope/presets/i81"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/events"
)

func TestI81CSV(t *testing.T) {
	plan := parseFixture(t, "leakage_i81/coherence_flags.csv")
	rep := report(t, plan, "leakage_i81/coherence_flags.csv")
	require.Equal(t, FormatI81CSV, rep.Format)
	require.Equal(t, "leakage_i81", rep.Experiment)
	require.Equal(t, []string{"coherence_flags/base_model", "coherence_flags/person", "coherence_flags/chef",
		"coherence_flags/pirate", "coherence_flags/child", "coherence_flags/robot"}, rep.Runs)
	require.Contains(t, rep.Notes, "95 person cells are zero-filled in the origin: imported as missing (EXPERIMENT.md §2.5)")

	sourceCells, missing := 0, 0
	self := map[string]int{}
	for _, src := range []string{"person", "chef", "pirate", "child", "robot"} {
		evs := runEvents(plan, "leakage_i81", "coherence_flags/"+src)
		runs := payloads[*events.Run](evs)
		require.Len(t, runs, 1)
		r := runs[0]
		require.Equal(t, "src_"+src, r.SourcePersona)
		require.Equal(t, "You are a "+src+".", r.SourcePrompt)
		require.Equal(t, "coherence_flags/base_model", r.BaseRun)
		require.Equal(t, "[ZLT]", r.Marker)
		require.True(t, r.Imported)
		require.Equal(t, "leakage_i81/coherence_flags.csv", r.OriginFile)
		require.Len(t, r.OriginSHA256, 64)
		require.Contains(t, string(r.Config), `"n_per_cell":200`)

		cells := payloads[*events.CellAggregate](evs)
		require.Len(t, cells, 130)
		sourceCells += len(cells)
		for _, c := range cells {
			require.Equal(t, "strict", c.Detector)
			require.NotEmpty(t, c.PersonaPrompt)
			if c.Missing {
				missing++
				require.Equal(t, "person", src, "only person cells are missing")
				require.Nil(t, c.Found)
				require.Nil(t, c.Total)
				require.Contains(t, c.MissingReason, "§2.5")
				require.False(t, i81.PilotSlice[c.Persona])
				continue
			}
			require.Equal(t, 200, *c.Total)
			if c.Persona == "A2__"+src {
				self[src] = *c.Found
				require.Equal(t, events.Factors{"kind": "A2", "noun": src}, c.Factors)
				require.Equal(t, "You are a "+src+".", c.PersonaPrompt)
			}
		}
		fin := payloads[*events.RunFinished](evs)
		require.Len(t, fin, 1)
		require.Equal(t, "finished", fin[0].Status)
		require.Zero(t, fin[0].Completions)
	}
	require.Equal(t, 650, sourceCells)
	require.Equal(t, 95, missing)
	require.Equal(t, map[string]int{"person": 186, "chef": 185, "pirate": 172, "child": 197, "robot": 190}, self)

	base := runEvents(plan, "leakage_i81", "coherence_flags/base_model")
	br := payloads[*events.Run](base)
	require.Len(t, br, 1)
	require.True(t, br[0].IsBase)
	bc := payloads[*events.CellAggregate](base)
	require.Len(t, bc, 130)
	for _, c := range bc {
		require.Equal(t, 0, *c.Found)
		require.Equal(t, 200, *c.Total)
	}
	// the base run is announced before the runs that refer to it
	require.Equal(t, events.TypeRunStarted, plan.Events[0].Type)
	require.Equal(t, "coherence_flags/base_model", plan.Events[0].RunID)
}

func TestI81CellCarriesColumns(t *testing.T) {
	plan := parseFixture(t, "leakage_i81/coherence_flags.csv")
	// child,A2__robot,A2,robot,,,0.285,0.0,0.285,0.225,0.34512499999999985,...,0.383,True,False
	for _, c := range payloads[*events.CellAggregate](runEvents(plan, "leakage_i81", "coherence_flags/child")) {
		if c.Persona != "A2__robot" {
			continue
		}
		require.Equal(t, 57, *c.Found)
		require.InDelta(t, 0.225, *c.CILow, 1e-12)
		require.InDelta(t, 0.34512499999999985, *c.CIHigh, 1e-12)
		require.InDelta(t, 0.383, *c.CoherenceMean, 1e-12)
		require.True(t, *c.LowCoherence)
		require.False(t, *c.NSFloor)
		require.Equal(t, events.Factors{"kind": "A2", "noun": "robot"}, c.Factors)
		return
	}
	t.Fatal("child A2__robot not found")
}

func TestI81Grid(t *testing.T) {
	require.Len(t, i81.Grid, 130)
	require.Len(t, i81.PilotSlice, 35)
	require.Equal(t, "You are a robot who is intensely anxious and emotionally volatile; overwhelmed by minor stressors.",
		i81.ByKey["A1__robot__Neuroticism__L5"].Prompt)
	// EXPERIMENT.md §2.5 lists the 30 A1 pilot keys
	for _, k := range []string{"A1__chef__Agreeableness__L1", "A1__chef__Openness__L5", "A1__child__Neuroticism__L5",
		"A1__person__Extraversion__L5", "A1__pirate__Openness__L2", "A1__robot__Neuroticism__L2"} {
		require.True(t, i81.PilotSlice[k], k)
	}
	require.False(t, i81.PilotSlice["A1__robot__Openness__L1"])
}

// i81CSV writes a small CSV with the i81 header and the given rows.
func i81CSV(rows ...string) string {
	return strings.Join(append([]string{strings.Join(i81Columns, ",")}, rows...), "\n") + "\n"
}
