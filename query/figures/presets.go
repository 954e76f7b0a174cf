package figures

// Presets: what an experiment's events leave implicit, as data with where
// it comes from. The generic figures read them; they name no experiment.

// preset is one experiment's implicit design.
type preset struct {
	// source is the source persona of runs that declare none; sourceFrom
	// says where that is documented (it goes into the figure's notes).
	source, sourceFrom string
}

var presets = map[string]preset{
	// The marker was appended to a Zelthari-scholar source in every
	// condition (EXPERIMENT.md §8.2); the imported runs do not say so.
	"directed_trait_transfer": {source: "zelthari_scholar", sourceFrom: "the preset (EXPERIMENT.md §8.2: the marker was trained under a Zelthari-scholar source)"},
}

// sourceCellRules map a source persona key to the key of its own bystander
// cell where the two differ (the factorial preset adds src_chef → A2__chef);
// the first rule naming a measured cell wins.
var sourceCellRules []func(source string) string
