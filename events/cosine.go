package events

import (
	"fmt"
	"math"
	"strconv"
)

// Centering variants of persona-centroid cosines (EXPERIMENT.md §5).
const (
	CenteringRaw                  = "raw"
	CenteringAssistantSubtracted  = "assistant_subtracted"
	CenteringGlobalMeanSubtracted = "global_mean_subtracted"
)

// Cosine carries cosine similarities of persona representations at one layer
// and centering: either a square Matrix over Personas, or a list of Pairs.
// Set names the group within the run (e.g. the source persona of a pair
// list, or "matrix"), so several groups of one run have distinct IDs.
type Cosine struct {
	Set       string `json:"set"`
	Layer     int    `json:"layer"`
	Centering string `json:"centering"`
	// Method says which token/aggregation the vectors came from, when known.
	Method   string       `json:"method,omitempty"`
	Personas []string     `json:"personas,omitempty"`
	Matrix   [][]float64  `json:"matrix,omitempty"`
	Pairs    []CosinePair `json:"pairs,omitempty"`
}

// CosinePair is the cosine similarity of persona A and persona B, in [-1,1].
type CosinePair struct {
	A      string  `json:"a"`
	B      string  `json:"b"`
	Cosine float64 `json:"cosine"`
}

func (*Cosine) EventType() Type { return TypeCosine }

func (c *Cosine) NaturalKey() []string {
	return []string{c.Set, strconv.Itoa(c.Layer), c.Centering, c.Method}
}

// cosineSlack admits float32 round-off above 1 (stored cosines of 1.0000002).
const cosineSlack = 1e-4

func (c *Cosine) Validate() error {
	switch {
	case c.Set == "":
		return fieldErr("", "set", "is empty")
	case c.Layer < 0:
		return fieldErr("", "layer", "is negative")
	case c.Centering != CenteringRaw && c.Centering != CenteringAssistantSubtracted && c.Centering != CenteringGlobalMeanSubtracted:
		return fieldErr("", "centering", fmt.Sprintf("%q must be raw, assistant_subtracted or global_mean_subtracted", c.Centering))
	case (len(c.Matrix) == 0) == (len(c.Pairs) == 0): // an empty list is as absent as a missing one (omitempty drops it)
		return fieldErr("", "matrix", "exactly one of matrix and pairs must be given")
	}
	bad := func(v float64) bool { return math.IsNaN(v) || v < -1-cosineSlack || v > 1+cosineSlack }
	if len(c.Matrix) > 0 {
		if len(c.Matrix) != len(c.Personas) || len(c.Personas) == 0 {
			return fieldErr("", "matrix", fmt.Sprintf("has %d rows for %d personas", len(c.Matrix), len(c.Personas)))
		}
		for i, row := range c.Matrix {
			if len(row) != len(c.Personas) {
				return fieldErr("", fmt.Sprintf("matrix[%d]", i), fmt.Sprintf("has %d columns for %d personas", len(row), len(c.Personas)))
			}
			for j, v := range row {
				if bad(v) {
					return fieldErr("", fmt.Sprintf("matrix[%d][%d]", i, j), fmt.Sprintf("%v is not a cosine", v))
				}
			}
		}
	}
	for i, p := range c.Pairs {
		switch {
		case p.A == "" || p.B == "":
			return fieldErr("", fmt.Sprintf("pairs[%d].a", i), "persona names must not be empty")
		case bad(p.Cosine):
			return fieldErr("", fmt.Sprintf("pairs[%d].cosine", i), fmt.Sprintf("%v is not a cosine", p.Cosine))
		}
	}
	return nil
}
