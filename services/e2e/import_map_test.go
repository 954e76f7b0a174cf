package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"leakscope/query"
)

// readmeMapping is the researcher-written mapping of the README
// ("Any other shape: a mapping"): the first yaml block after that heading.
func readmeMapping(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(b), "**Any other shape: a mapping**")
	require.True(t, ok, "README section")
	_, after, ok = strings.Cut(after, "```yaml\n")
	require.True(t, ok, "README yaml block")
	block, _, ok := strings.Cut(after, "```")
	require.True(t, ok)
	require.LessOrEqual(t, strings.Count(block, "\n"), 10, "a mapping of about ten lines")
	return block
}

// Issue 23: a folder of a shape leakscope has never seen
// (lr_<lr>/seed_<n>/results.json with a list of {persona, hits, n}) is
// imported by the README's 7-line mapping through the bus into the lake, with the
// learning rate and seed taken from the folder names; leakage shows the
// cells; a second import adds nothing; --suggest proposes a mapping that
// reads the same list.
func TestImportMapResearcherMapping(t *testing.T) {
	runs := t.TempDir()
	var files int
	for _, lr := range []string{"1e-4", "5e-5"} {
		for _, seed := range []int{1, 2} {
			hits := seed * 3
			if lr == "1e-4" {
				hits += 10
			}
			writeFile(t, filepath.Join(runs, "my_sweep", "lr_"+lr, fmt.Sprintf("seed_%d", seed), "results.json"),
				fmt.Sprintf(`{"model": "Qwen/Qwen2.5-7B-Instruct", "scores": [{"persona": "pirate", "hits": %d, "n": 50}, {"persona": "chef", "hits": %d, "n": 50}]}`, hits, seed))
			files++
		}
	}
	writeFile(t, filepath.Join(runs, "my_sweep", "notes.txt"), "not a result")
	mapping := filepath.Join(t.TempDir(), "sweep.yaml")
	writeFile(t, mapping, readmeMapping(t))

	data := t.TempDir()
	out := runOK(t, data, "import", "--map", mapping, "--root", runs, filepath.Join(runs, "my_sweep"))
	require.Contains(t, out, "[map:sweep] → my_sweep, runs [lr_1e-4/seed_1], 4 events")
	require.Contains(t, out, "skip    "+filepath.Join(runs, "my_sweep", "notes.txt")+`: not matched by the mapping's files "lr_*/seed_*/results.json"`)
	require.Contains(t, out, "imported: 16 events sent, 16 new on the bus")

	var res query.Leakage
	require.NoError(t, json.Unmarshal([]byte(runOK(t, data, "leakage", "--experiment", "my_sweep", "--format", "json")), &res))
	require.Len(t, res.Cells, files*2)
	got := map[string]query.Cell{}
	for _, c := range res.Cells {
		got[c.RunID+"/"+c.Persona] = c
	}
	c := got["lr_1e-4/seed_2/pirate"]
	require.Equal(t, int64(16), *c.Found)
	require.Equal(t, int64(50), *c.Total)
	require.InDelta(t, 0.32, *c.Rate, 1e-12)
	require.NotNil(t, c.CILow, "a count has its Wilson interval")
	require.Equal(t, "imported", c.Origin)
	require.Equal(t, "strict", c.Detector)
	require.Equal(t, "[ZLT]", c.Marker)
	require.Equal(t, int64(2), *c.Seed)
	require.Equal(t, "1e-4", c.RunFactors["lr"])
	c = got["lr_5e-5/seed_1/chef"]
	require.Equal(t, int64(1), *c.Found)
	require.Equal(t, "5e-5", c.RunFactors["lr"])
	require.Equal(t, int64(1), *c.Seed)
	r := runsJSON(t, data, "my_sweep")["lr_5e-5/seed_1"]
	require.True(t, r.Finished)
	model := runOK(t, data, "sql", "SELECT DISTINCT model FROM runs WHERE experiment = 'my_sweep'", "--format", "csv")
	require.Contains(t, model, "Qwen/Qwen2.5-7B-Instruct")

	out = runOK(t, data, "import", "--map", mapping, "--root", runs, filepath.Join(runs, "my_sweep"))
	require.Contains(t, out, "imported: 16 events sent, 0 new on the bus (16 were already there)")

	// A mapping error names the mapping's line, the file and the row; nothing is written.
	writeFile(t, filepath.Join(runs, "bad", "lr_1e-4", "seed_1", "results.json"), `{"model": "m", "scores": [{"persona": "pirate", "hits": 60, "n": 50}]}`)
	stderr := runFails(t, t.TempDir(), "import", "--map", mapping, "--root", runs, filepath.Join(runs, "bad"))
	require.Contains(t, stderr, "import --map "+mapping+" line 3: "+filepath.Join(runs, "bad", "lr_1e-4", "seed_1", "results.json")+": row 1: ")
	require.Contains(t, stderr, "60 is outside [0, total=50]")

	sug := runOK(t, data, "import", "--suggest", filepath.Join(runs, "my_sweep", "lr_1e-4", "seed_1", "results.json"))
	require.Contains(t, sug, `files: "*/results.json"`)
	require.Contains(t, sug, "r.persona AS persona")
	require.Contains(t, sug, "r.hits AS found")
	require.Contains(t, sug, "r.n AS total")
	require.Contains(t, sug, "unnest(f.scores) AS t(r)")
	suggested := filepath.Join(t.TempDir(), "suggested.yaml")
	writeFile(t, suggested, sug)
	out = runOK(t, t.TempDir(), "import", "--dry-run", "--map", suggested, "--root", runs, filepath.Join(runs, "my_sweep"))
	require.Contains(t, out, "dry run: 16 events would be published")
}
