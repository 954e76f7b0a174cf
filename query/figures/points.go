package figures

import "encoding/json"

type cosPoint struct {
	src, by   string
	cos, rate float64
}

// toPoints reads the scatter's points back from their data form.
func toPoints(v any) []cosPoint {
	b, _ := json.Marshal(v)
	var raw []struct {
		Source, Bystander string
		Cosine, Rate      float64
	}
	_ = json.Unmarshal(b, &raw)
	out := make([]cosPoint, len(raw))
	for i, r := range raw {
		out[i] = cosPoint{r.Source, r.Bystander, r.Cosine, r.Rate}
	}
	return out
}

type rankPoint struct {
	trait, level string
	mean, se     float64
	n            int
}

func rankingPoints(v any) []rankPoint {
	b, _ := json.Marshal(v)
	var raw []struct {
		Trait, Level string
		Mean, SE     float64
		N            int
	}
	_ = json.Unmarshal(b, &raw)
	out := make([]rankPoint, len(raw))
	for i, r := range raw {
		out[i] = rankPoint{r.Trait, r.Level, r.Mean, r.SE, r.N}
	}
	return out
}
