// Package presets loads experiment presets: an experiment's design as data
// (its ordered factors, bystander and source personas with their factors,
// question sets, negative pool) plus the estimand parameters it pins
// (DESIGN.md "Designs are data; #81 is a preset"). A preset is a JSON file;
// each preset package embeds its own and exposes it. This package names no
// experiment, and imports nothing of leakscope but events.
package presets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"leakscope/events"
)

// Persona is a persona key, its system prompt and its design factors
// (noun, trait, level, kind, …; nil when it has none).
type Persona struct {
	Key, Prompt string
	Factors     events.Factors
}

// Source is a source persona: Name is its short name as analyses print it
// ("chef" for "src_chef"); OwnCell the key of the bystander that is the
// source persona itself ("" when the design has none).
type Source struct {
	Persona
	Name, OwnCell string
}

// Preset is one experiment's design and pinned parameters. Everything is
// in the file's order; the maps are read-only after Parse.
type Preset struct {
	Name, Title, Source string
	// FactorNames lists the declared factors in the file's order.
	FactorNames []string
	// Bystanders are the evaluated personas, families expanded in order
	// (the first factor of a family's "over" varies slowest).
	Bystanders []Persona
	Sources    []Source
	// Personas are named extra personas (e.g. "assistant").
	Personas map[string]Persona
	// NegativePool is the pool negatives are drawn from; Negatives maps a
	// source key to the pool keys its published run used.
	NegativePool []Persona
	Negatives    map[string][]string
	// Questions are named question sets ("eval", "data").
	Questions map[string][]string
	// Estimands maps an estimand name to the parameter defaults the
	// preset pins (parameter → value, as the estimand parses it).
	Estimands map[string]map[string]string
	// Parameterisations maps an estimand of the preset (#81's
	// trait-ranking) to the generic estimand it is (factor-ranking) and the
	// parameters that make it so (a=trait+level, ref=absent, …).
	Parameterisations map[string]Parameterisation

	values map[string][]string
	byKey  map[string]int
}

// Values are the ordered values of a declared factor (nil if undeclared).
func (p *Preset) Values(factor string) []string { return p.values[factor] }

// Order is a factor's value order as analyses sort it: the declared
// factor's values, or for "source" the sources' names; nil otherwise.
func (p *Preset) Order(factor string) []string {
	if factor == "source" {
		out := make([]string, len(p.Sources))
		for i, s := range p.Sources {
			out[i] = s.Name
		}
		return out
	}
	return p.values[factor]
}

// Bystander returns the bystander with the key.
func (p *Preset) Bystander(key string) (Persona, bool) {
	i, ok := p.byKey[key]
	if !ok {
		return Persona{}, false
	}
	return p.Bystanders[i], true
}

// SourceNamed returns the source with the short name ("chef") or key ("src_chef").
func (p *Preset) SourceNamed(name string) (Source, bool) {
	for _, s := range p.Sources {
		if s.Name == name || s.Key == name {
			return s, true
		}
	}
	return Source{}, false
}

// Pinned returns the value the preset pins for an estimand's parameter.
func (p *Preset) Pinned(estimand, param string) (string, bool) {
	v, ok := p.Estimands[estimand][param]
	return v, ok
}

// Parameterisation is a preset's estimand as a generic estimand with
// parameters: Params are that estimand's parameter values (parameter →
// value, as the estimand parses it).
type Parameterisation struct {
	Estimand string            `json:"estimand"`
	Params   map[string]string `json:"params"`
}

// The JSON form. Unknown fields are errors, so a misspelt key is caught.
type file struct {
	Name         string                       `json:"name"`
	Title        string                       `json:"title"`
	Source       string                       `json:"source"`
	Factors      []factorJSON                 `json:"factors"`
	Tables       map[string]tableJSON         `json:"tables"`
	Bystanders   []familyJSON                 `json:"bystanders"`
	Sources      []familyJSON                 `json:"sources"`
	Personas     map[string]personaJSON       `json:"personas"`
	NegativePool []personaJSON                `json:"negative_pool"`
	Negatives    map[string][]string          `json:"negatives"`
	Questions    map[string][]string          `json:"questions"`
	Estimands    map[string]map[string]string `json:"estimands"`
	EstimandsDoc string                       `json:"estimands_doc"`
	// Parameterisations: see Preset.Parameterisations.
	Parameterisations map[string]Parameterisation `json:"parameterisations"`
}

type factorJSON struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// tableJSON is a lookup a template may use: Values keyed by the values of
// the By factors joined with "/" ("Openness/L1").
type tableJSON struct {
	By     []string          `json:"by"`
	Doc    string            `json:"doc"`
	Values map[string]string `json:"values"`
}

// familyJSON is a family of personas: one per combination of the Over
// factors' values (one persona when Over is empty), with Key and Prompt
// templates whose {name} placeholders are factor values or table lookups.
type familyJSON struct {
	Over    []string          `json:"over"`
	Factors map[string]string `json:"factors"`
	Key     string            `json:"key"`
	Prompt  string            `json:"prompt"`
	Name    string            `json:"name"`     // sources only
	OwnCell string            `json:"own_cell"` // sources only
}

type personaJSON struct {
	Key    string `json:"key"`
	Prompt string `json:"prompt"`
}

// Parse reads a preset file; errors name the file and the field
// ("i81.json: bystanders[0].prompt: …") or the line of a syntax error.
func Parse(name string, data []byte) (*Preset, error) {
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("%s:%d: %v", name, lineOf(data, se.Offset), err)
		case errors.As(err, &te):
			return nil, fmt.Errorf("%s:%d: %s: want %s, got JSON %s", name, lineOf(data, te.Offset), te.Field, te.Type, te.Value)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: more than one JSON value", name)
	}
	p, err := f.build()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// MustParse is Parse for a file embedded at build time: a bad embedded
// preset is a programming error, caught by its package's tests.
func MustParse(name string, data []byte) *Preset {
	p, err := Parse(name, data)
	if err != nil {
		panic(err)
	}
	return p
}

func lineOf(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

func fieldErr(field, format string, a ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...))
}

func (f *file) build() (*Preset, error) {
	if strings.TrimSpace(f.Name) == "" {
		return nil, fieldErr("name", "is empty")
	}
	p := &Preset{Name: f.Name, Title: f.Title, Source: f.Source, values: map[string][]string{}, byKey: map[string]int{},
		Personas: map[string]Persona{}, Negatives: f.Negatives, Questions: f.Questions, Estimands: f.Estimands,
		Parameterisations: f.Parameterisations}
	for i, fc := range f.Factors {
		field := fmt.Sprintf("factors[%d]", i)
		for _, v := range append([]string{"x"}, fc.Values...) { // the name, then every value, as run and cell factors are checked
			if err := (events.Factors{fc.Name: v}).Validate(field); err != nil {
				return nil, err
			}
		}
		if _, dup := p.values[fc.Name]; dup {
			return nil, fieldErr(field+".name", "%q is declared twice", fc.Name)
		}
		if len(fc.Values) == 0 {
			return nil, fieldErr(field+".values", "is empty: a factor needs at least one value")
		}
		if err := distinct(field+".values", fc.Values); err != nil {
			return nil, err
		}
		p.FactorNames = append(p.FactorNames, fc.Name)
		p.values[fc.Name] = fc.Values
	}
	for _, name := range sortedKeys(f.Tables) {
		for i, by := range f.Tables[name].By {
			if p.values[by] == nil {
				return nil, fieldErr(fmt.Sprintf("tables.%s.by[%d]", name, i), "%q is not a declared factor (declared: %s)", by, strings.Join(p.FactorNames, ", "))
			}
		}
		if p.values[name] != nil {
			return nil, fieldErr("tables."+name, "has the name of a factor: a placeholder {%s} would be ambiguous", name)
		}
	}
	for i, fam := range f.Bystanders {
		field := fmt.Sprintf("bystanders[%d]", i)
		if fam.Name != "" || fam.OwnCell != "" {
			return nil, fieldErr(field, "name and own_cell are for sources only")
		}
		ps, err := p.expand(field, fam, f.Tables)
		if err != nil {
			return nil, err
		}
		for j, b := range ps {
			if _, dup := p.byKey[b.Key]; dup {
				return nil, fieldErr(field+".key", "%q is defined twice", b.Key)
			}
			p.byKey[b.Key] = len(p.Bystanders)
			p.Bystanders = append(p.Bystanders, ps[j])
		}
	}
	seen := map[string]bool{}
	for i, fam := range f.Sources {
		field := fmt.Sprintf("sources[%d]", i)
		ps, err := p.expand(field, fam, f.Tables)
		if err != nil {
			return nil, err
		}
		for _, s := range ps {
			src := Source{Persona: s, Name: s.Key}
			if fam.Name != "" {
				if src.Name, err = fill(field+".name", fam.Name, s.Factors, f.Tables); err != nil {
					return nil, err
				}
			}
			if fam.OwnCell != "" {
				if src.OwnCell, err = fill(field+".own_cell", fam.OwnCell, s.Factors, f.Tables); err != nil {
					return nil, err
				}
				if _, ok := p.byKey[src.OwnCell]; !ok {
					return nil, fieldErr(field+".own_cell", "%q is not a bystander of the preset", src.OwnCell)
				}
			}
			if seen[src.Key] || seen[src.Name] {
				return nil, fieldErr(field+".key", "source %q is defined twice", src.Key)
			}
			seen[src.Key], seen[src.Name] = true, true
			p.Sources = append(p.Sources, src)
		}
	}
	for _, name := range sortedKeys(f.Personas) {
		pj := f.Personas[name]
		if err := checkPersona("personas."+name, pj); err != nil {
			return nil, err
		}
		p.Personas[name] = Persona{Key: pj.Key, Prompt: pj.Prompt}
	}
	pool := map[string]bool{}
	for i, pj := range f.NegativePool {
		field := fmt.Sprintf("negative_pool[%d]", i)
		if err := checkPersona(field, pj); err != nil {
			return nil, err
		}
		if pool[pj.Key] {
			return nil, fieldErr(field+".key", "%q is defined twice", pj.Key)
		}
		pool[pj.Key] = true
		p.NegativePool = append(p.NegativePool, Persona{Key: pj.Key, Prompt: pj.Prompt})
	}
	for _, src := range sortedKeys(f.Negatives) {
		if !seen[src] {
			return nil, fieldErr("negatives."+src, "is not a source of the preset")
		}
		for i, k := range f.Negatives[src] {
			if !pool[k] {
				return nil, fieldErr(fmt.Sprintf("negatives.%s[%d]", src, i), "%q is not in negative_pool", k)
			}
		}
	}
	for _, name := range sortedKeys(f.Questions) {
		qs := f.Questions[name]
		for i, q := range qs {
			if strings.TrimSpace(q) == "" {
				return nil, fieldErr(fmt.Sprintf("questions.%s[%d]", name, i), "is empty")
			}
		}
		if err := distinct("questions."+name, qs); err != nil {
			return nil, err
		}
	}
	for _, e := range sortedKeys(f.Estimands) {
		for _, k := range sortedKeys(f.Estimands[e]) {
			if k == "" {
				return nil, fieldErr("estimands."+e, "names a parameter with an empty name")
			}
		}
	}
	for _, e := range sortedKeys(f.Parameterisations) {
		pz := f.Parameterisations[e]
		switch {
		case strings.TrimSpace(pz.Estimand) == "":
			return nil, fieldErr("parameterisations."+e+".estimand", "is empty: name the generic estimand it parameterises")
		case pz.Estimand == e:
			return nil, fieldErr("parameterisations."+e+".estimand", "names the estimand itself")
		}
		for _, k := range sortedKeys(pz.Params) {
			if k == "" {
				return nil, fieldErr("parameterisations."+e+".params", "names a parameter with an empty name")
			}
		}
	}
	return p, nil
}

func checkPersona(field string, pj personaJSON) error {
	switch {
	case strings.TrimSpace(pj.Key) == "":
		return fieldErr(field+".key", "is empty")
	case strings.TrimSpace(pj.Prompt) == "":
		return fieldErr(field+".prompt", "is empty: every persona needs an explicit system prompt")
	}
	return nil
}

// expand lists a family's personas: every combination of its Over
// factors' values, the first factor varying slowest.
func (p *Preset) expand(field string, fam familyJSON, tables map[string]tableJSON) ([]Persona, error) {
	if fam.Key == "" {
		return nil, fieldErr(field+".key", "is empty")
	}
	if strings.TrimSpace(fam.Prompt) == "" {
		return nil, fieldErr(field+".prompt", "is empty: every persona needs an explicit system prompt")
	}
	for i, o := range fam.Over {
		if p.values[o] == nil {
			return nil, fieldErr(fmt.Sprintf("%s.over[%d]", field, i), "%q is not a declared factor (declared: %s)", o, strings.Join(p.FactorNames, ", "))
		}
		if _, clash := fam.Factors[o]; clash {
			return nil, fieldErr(field+".factors."+o, "is also in over")
		}
	}
	if len(fam.Factors) > 0 {
		if err := events.Factors(fam.Factors).Validate(field + ".factors"); err != nil {
			return nil, err
		}
	}
	combos := []events.Factors{{}}
	for _, o := range fam.Over {
		var next []events.Factors
		for _, c := range combos {
			for _, v := range p.values[o] {
				n := events.Factors{o: v}
				for k, x := range c {
					n[k] = x
				}
				next = append(next, n)
			}
		}
		combos = next
	}
	out := make([]Persona, 0, len(combos))
	for _, c := range combos {
		for k, v := range fam.Factors {
			c[k] = v
		}
		key, err := fill(field+".key", fam.Key, c, tables)
		if err != nil {
			return nil, err
		}
		prompt, err := fill(field+".prompt", fam.Prompt, c, tables)
		if err != nil {
			return nil, err
		}
		var fs events.Factors
		if len(c) > 0 {
			fs = c
		}
		out = append(out, Persona{Key: key, Prompt: prompt, Factors: fs})
	}
	return out, nil
}

// fill replaces each {name} of tmpl by the factor's value or, for a table,
// its entry at the factors' values.
func fill(field, tmpl string, f events.Factors, tables map[string]tableJSON) (string, error) {
	var b strings.Builder
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '{')
		lit := rest
		if i >= 0 {
			lit = rest[:i]
		}
		if strings.IndexByte(lit, '}') >= 0 {
			return "", fieldErr(field, "unmatched '}' in %q", tmpl)
		}
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fieldErr(field, "unclosed '{' in %q", tmpl)
		}
		b.WriteString(rest[:i])
		name := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		if v, ok := f[name]; ok {
			b.WriteString(v)
			continue
		}
		t, ok := tables[name]
		if !ok {
			return "", fieldErr(field, "placeholder {%s} is neither a factor of this family (%s) nor a table", name, strings.Join(f.Keys(), ", "))
		}
		parts := make([]string, len(t.By))
		for k, by := range t.By {
			v, ok := f[by]
			if !ok {
				return "", fieldErr(field, "placeholder {%s} looks up by %s, which this family does not vary over", name, by)
			}
			parts[k] = v
		}
		at := strings.Join(parts, "/")
		v, ok := t.Values[at]
		if !ok {
			return "", fieldErr("tables."+name+".values", "has no entry %q (needed by %s)", at, field)
		}
		b.WriteString(v)
	}
}

func distinct(field string, vals []string) error {
	seen := map[string]bool{}
	for i, v := range vals {
		if seen[v] {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), "%q is listed twice", v)
		}
		seen[v] = true
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
