// Package gpuworker is where events come from: producers that publish
// runs, completions and marker hits on the bus through the same
// events/bus publishing path. Today it holds the importer (gpuworker/importer),
// which re-publishes the authors' published result files as events; the
// worker daemon that takes jobs from the bus and drives the replay and GPU
// engines (gpuworker/engine, Python: transformers + peft) builds on the same
// path (issues 5 and 6).
package gpuworker
