package estimands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"leakscope/events/version"
	"leakscope/query"
)

// ErrUnknown is returned for an estimand or parameter name that does not exist.
var ErrUnknown = errors.New("estimands: unknown")

// ErrNoData is returned when the experiment lacks what an estimand needs
// (no i81 sources, no cosines, no matching pairs).
var ErrNoData = errors.New("estimands: no data")

// Analyzer runs estimands over one engine (what the HTTP API needs).
type Analyzer struct{ Engine *query.Engine }

// Analyze is Run on the analyzer's engine.
func (a Analyzer) Analyze(ctx context.Context, name, experiment string, params map[string]string) (*Result, error) {
	return Run(ctx, a.Engine, name, experiment, params)
}

// ErrScope is returned when the scope holds what an estimand cannot read
// as one (two runs of a source that differ in a factor); the message names
// the flag that narrows it.
var ErrScope = errors.New("estimands: scope")

// ErrBadParam is returned for a parameter value that does not parse or fit.
var ErrBadParam = errors.New("estimands: bad parameter")

// Param documents one parameter and its default.
type Param struct {
	Name    string `json:"name"`
	Default string `json:"default"`
	Doc     string `json:"doc"`
}

// Estimand is one named computation.
type Estimand struct {
	Name   string  `json:"name"`
	Doc    string  `json:"doc"`
	Source string  `json:"source"` // where its definition comes from
	Params []Param `json:"params"`
	// Needs lists the persona factors the estimand reads (the #81 preset's
	// kind, noun, trait, level); an experiment without them is refused
	// with the missing factors named.
	Needs []string `json:"needs,omitempty"`
	// acrossSeeds marks an estimand that reads every seed at once
	// (replicates); the others run once per seed in scope.
	acrossSeeds bool
	run         func(ctx context.Context, in *Input) (*Result, error)
}

// Input is what an estimand runs on: the engine, the experiment and the
// parsed parameters.
type Input struct {
	Engine     *query.Engine
	Experiment string
	Params     Params
	// Scope is what the scope parameters select (runs, seeds, sweeps,
	// where, include_retracted; sources where the estimand takes them).
	Scope query.Scope
	grid  *Grid
	scope []string // sources the estimand used (nil = the whole grid)
	needs []string // persona factors the estimand needs
	name  string
	// tidyRuns and tidyCells record what loadTidy read, for the provenance.
	tidyRuns  []string
	tidyCells int
}

// LoadScoped loads the grid in scope and resolves the sources parameter against it,
// remembering the scope for the provenance.
func (in *Input) LoadScoped(ctx context.Context) (*Grid, []string, error) {
	g, err := in.Grid(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := in.checkNeeds(g); err != nil {
		return nil, nil, err
	}
	if g, err = filterBystanders(g, in.Params.Str("bystanders")); err != nil {
		return nil, nil, err
	}
	in.grid = g
	srcs, err := scopeSources(g, in.Params)
	if err != nil {
		return nil, nil, err
	}
	in.scope = srcs
	return g, srcs, nil
}

// Grid loads (once) the experiment's factorial grid.
func (in *Input) Grid(ctx context.Context) (*Grid, error) {
	if in.grid == nil {
		g, err := LoadGrid(ctx, in.Engine, in.Experiment, in.Params.Str("detector"), in.gridScope())
		if err != nil {
			return nil, err
		}
		in.grid = g
	}
	return in.grid, nil
}

// gridScope is the scope without its sources, which the grid estimands
// resolve against the grid (scopeSources) so their error names the
// sources present.
func (in *Input) gridScope() query.Scope {
	sc := in.Scope
	sc.Sources = nil
	return sc
}

// Result is an estimand's table with its provenance.
type Result struct {
	Estimand   string     `json:"estimand"`
	Columns    []string   `json:"columns"`
	Rows       [][]any    `json:"rows"`
	Notes      []string   `json:"notes"`
	Provenance Provenance `json:"provenance"`
}

// Provenance says exactly what a result was computed from.
type Provenance struct {
	Experiment  string            `json:"experiment"`
	Params      map[string]string `json:"params"`
	Seed        *uint64           `json:"seed,omitempty"`
	Runs        []string          `json:"runs"`
	CellsUsed   int               `json:"cells_in_scope"` // grid cells (or pairs) the estimand read
	LakeFiles   int               `json:"lake_files"`
	Fingerprint string            `json:"lake_fingerprint"` // SHA-256 over the lake's Parquet paths and sizes
	CodeVersion string            `json:"code_version"`
	ComputedAt  time.Time         `json:"computed_at"`
}

// Params are string parameters with typed accessors; defaults are filled
// in from the estimand's Param list before it runs.
type Params map[string]string

func (p Params) Str(k string) string { return p[k] }

func (p Params) Float(k string) (float64, error) {
	v, err := strconv.ParseFloat(p[k], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w %s=%q: want a finite number", ErrBadParam, k, p[k])
	}
	return v, nil
}

// Fraction is a parameter that must be a fraction in [0,1] (thresholds on
// rates and judge scores; 0.8, not 80).
func (p Params) Fraction(k string) (float64, error) {
	v, err := p.Float(k)
	if err != nil {
		return 0, err
	}
	if v < 0 || v > 1 {
		return 0, fmt.Errorf("%w %s=%v: want a fraction in [0,1] (e.g. 0.8, not 80)", ErrBadParam, k, v)
	}
	return v, nil
}

// Resamples is a resampling count (bootstrap, permutations): at least 1
// and at most MaxResamples, so one request cannot occupy the machine.
func (p Params) Resamples(k string) (int, error) {
	v, err := strconv.Atoi(p[k])
	if err != nil || v < 1 || v > MaxResamples {
		return 0, fmt.Errorf("%w %s=%q: want an integer in [1, %d]", ErrBadParam, k, p[k], MaxResamples)
	}
	return v, nil
}

// Seed is an RNG seed parameter: an unsigned 64-bit integer.
func (p Params) Seed(k string) (uint64, error) {
	v, err := strconv.ParseUint(p[k], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %s=%q: want an unsigned integer", ErrBadParam, k, p[k])
	}
	return v, nil
}

// Bootstrap is the resampling pair every bootstrapping estimand takes:
// the "bootstrap" resample count (Resamples) and the RNG "seed" (Seed).
func (p Params) Bootstrap() (resamples int, seed uint64, err error) {
	if resamples, err = p.Resamples("bootstrap"); err != nil {
		return 0, 0, err
	}
	if seed, err = p.Seed("seed"); err != nil {
		return 0, 0, err
	}
	return resamples, seed, nil
}

// MaxResamples bounds bootstrap and permutation counts.
const MaxResamples = 100_000

func (p Params) Int(k string) (int, error) {
	v, err := strconv.Atoi(p[k])
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%w %s=%q: want a non-negative integer", ErrBadParam, k, p[k])
	}
	return v, nil
}

// List returns a copy of the split list parameter (comma-separated).
func (p Params) List(k string) []string {
	if p[k] == "" {
		return nil
	}
	return strings.Split(p[k], ",")
}

var registry = map[string]*Estimand{}

func register(e *Estimand) {
	pin(e)
	registry[e.Name] = e
}

// commonParams every grid estimand accepts.
var detectorParam = Param{Name: "detector", Default: "strict", Doc: "detector counting hits (imported aggregates answer only for their origin's)"}

// List returns every estimand, sorted by name.
func List() []*Estimand {
	out := make([]*Estimand, 0, len(registry))
	for _, e := range registry {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run computes one estimand over the experiment with the given parameters
// (unknown names are an error; missing ones take their defaults).
func Run(ctx context.Context, e *query.Engine, name, experiment string, params map[string]string) (*Result, error) {
	est, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("%w estimand %q (leakscope analyze --list)", ErrUnknown, name)
	}
	p := Params{}
	for _, d := range est.Params {
		p[d.Name] = d.Default
	}
	for _, d := range ScopeParams {
		if _, ok := p[d.Name]; !ok {
			p[d.Name] = d.Default
		}
	}
	for k, v := range params {
		if _, ok := p[k]; !ok {
			return nil, fmt.Errorf("%w parameter %q for %s (it takes: %s)", ErrUnknown, k, name, paramNames(est))
		}
		p[k] = v
	}
	scope, err := parseScope(p)
	if err != nil {
		return nil, err
	}
	var defaultNotes []string
	if _, given := params["layer"]; !given {
		if defaultNotes, err = resolveDefaultLayer(ctx, e, experiment, p); err != nil {
			return nil, err
		}
	}
	in := &Input{Engine: e, Experiment: experiment, Params: p, Scope: scope, needs: est.Needs, name: name}
	res, err := runPerSeed(ctx, est, in)
	if err != nil {
		return nil, err
	}
	res.Estimand = name
	if res.Notes == nil {
		res.Notes = []string{}
	}
	res.Notes = append(res.Notes, defaultNotes...)
	if err := addRetractedNotes(ctx, in, res); err != nil {
		return nil, err
	}
	pv := &res.Provenance
	pv.Experiment, pv.Params, pv.CodeVersion, pv.ComputedAt = experiment, p, codeVersion(), time.Now().UTC()
	if s, ok := p["seed"]; ok {
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			pv.Seed = &v
		}
	}
	if in.grid != nil && pv.Runs == nil {
		pv.Runs, pv.CellsUsed = in.grid.used(in.scope)
	}
	if pv.Runs == nil && in.tidyRuns != nil {
		pv.Runs, pv.CellsUsed = in.tidyRuns, in.tidyCells
	}
	pv.LakeFiles, pv.Fingerprint = fingerprint(e.DB.Lake())
	return res, nil
}

// addRetractedNotes appends the leakage matrix's note for every retracted
// run the scope left out (issue 17 item 6: retracted runs leave every
// estimand, with a note), unless the estimand already gave it.
func addRetractedNotes(ctx context.Context, in *Input, res *Result) error {
	notes, err := in.Engine.RetractedNotes(ctx, in.Experiment, in.Scope)
	if errors.Is(err, query.ErrUnknownExperiment) {
		return nil
	}
	if err != nil {
		return err
	}
	have := strings.Join(res.Notes, "\n")
	for _, n := range notes {
		if !strings.Contains(have, n) {
			res.Notes = append(res.Notes, n)
		}
	}
	return nil
}

// LakeFingerprint is the SHA-256 over the lake's Parquet paths and sizes,
// with the number of files: equal fingerprints mean equal data.
func LakeFingerprint(lake string) (files int, sha string) { return fingerprint(lake) }

// CodeVersion is the version stamped into provenance.
func CodeVersion() string { return codeVersion() }

func paramNames(e *Estimand) string {
	var n []string
	for _, p := range e.Params {
		n = append(n, p.Name)
	}
	for _, p := range ScopeParams {
		if !slicesContains(n, p.Name) {
			n = append(n, p.Name)
		}
	}
	return strings.Join(n, ", ")
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ScopeParams are accepted by every estimand: they select the runs and
// cells it reads (query.Scope). The CLI's --run/--seed/--sweep/--source/
// --where/--include-retracted and the HTTP API's parameters of the same
// names fill them.
var ScopeParams = []Param{
	{Name: "runs", Default: "", Doc: "comma-separated run IDs in scope (empty = every run)"},
	{Name: "seeds", Default: "", Doc: "comma-separated training seeds in scope (empty = every seed)"},
	{Name: "sweeps", Default: "", Doc: "comma-separated sweeps in scope (empty = every sweep)"},
	{Name: "sources", Default: "", Doc: "comma-separated source personas in scope (src_chef or chef; empty = every source)"},
	{Name: "where", Default: "", Doc: "factor filters, ';'-separated factor=value, alternatives with '|' (trait=Agreeableness;lr=1e-4|5e-4)"},
	{Name: "include_retracted", Default: "false", Doc: "true keeps retracted runs in scope"},
}

// parseScope builds the query scope from the scope parameters.
func parseScope(p Params) (query.Scope, error) {
	var s query.Scope
	s.Runs, s.Sweeps, s.Sources = query.SplitList(p["runs"]), query.SplitList(p["sweeps"]), query.SplitList(p["sources"])
	seeds, err := query.ParseSeeds(p["seeds"])
	if err != nil {
		return s, fmt.Errorf("%w seeds=%q: want comma-separated integers", ErrBadParam, p["seeds"])
	}
	s.Seeds = seeds
	var filters []string
	for _, f := range strings.Split(p["where"], ";") {
		if f = strings.TrimSpace(f); f != "" {
			filters = append(filters, f)
		}
	}
	if s.Where, err = query.ParseWhere(filters); err != nil {
		return s, fmt.Errorf("%w where=%q: %v", ErrBadParam, p["where"], err)
	}
	switch p["include_retracted"] {
	case "", "false":
	case "true":
		s.IncludeRetracted = true
	default:
		return s, fmt.Errorf("%w include_retracted=%q: want true or false", ErrBadParam, p["include_retracted"])
	}
	return s, nil
}

// fingerprint hashes the paths and sizes of the lake's Parquet files:
// files are immutable once committed, so equal fingerprints mean equal data.
func fingerprint(lake string) (int, string) {
	h := sha256.New()
	n := 0
	_ = filepath.WalkDir(lake, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == "_orphans" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			info, err := d.Info()
			if err == nil {
				rel, _ := filepath.Rel(lake, p)
				fmt.Fprintf(h, "%s\x00%d\n", rel, info.Size())
				n++
			}
		}
		return nil
	})
	return n, hex.EncodeToString(h.Sum(nil))
}

func codeVersion() string { return version.Code() }
